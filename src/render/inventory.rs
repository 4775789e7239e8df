//! Ansible inventory (YAML) of the lab: the hand-off to other engines (tripleo-quickstart,
//! kayobe, infrared) and to the user's own playbooks.
//!
//! Groups: `hypervisor`, `undercloud`, and `overcloud` with children `controller`, `compute`,
//! `ceph` and `custom` (always present, possibly empty, so playbooks can target them). Hosts
//! behind a jump host get `ansible_ssh_common_args` with `-F <ssh.config>` (so the jump host
//! resolves with its own user, key and port) plus `ProxyJump`, the workspace known_hosts and
//! `StrictHostKeyChecking=yes`; every word is shell-quoted because Ansible splits the string
//! with shlex.

use super::{RenderContext, RenderError, Result, host_address, ssh_config};
use crate::lab::{Lab, Role};
use crate::quote::shell_quote;
use serde_yaml::{Mapping, Value};

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    let mut m = Mapping::new();
    for (k, v) in entries {
        m.insert(s(k), v);
    }
    Value::Mapping(m)
}

fn common_args(ctx: &RenderContext, jump: Option<&str>) -> String {
    let mut words = Vec::new();
    if let Some(j) = jump {
        words.push("-F".to_string());
        words.push(ctx.ssh_config.display().to_string());
        words.push("-o".into());
        words.push(format!("ProxyJump={j}"));
    }
    words.push("-o".into());
    words.push(format!("UserKnownHostsFile={}", ctx.known_hosts.display()));
    words.push("-o".into());
    words.push("StrictHostKeyChecking=yes".into());
    words.push("-o".into());
    words.push("IdentitiesOnly=yes".into());
    words
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

fn ssh_host(
    ctx: &RenderContext,
    address: Option<&str>,
    user: &str,
    port: u16,
    jump: Option<&str>,
) -> Value {
    let mut v = Vec::new();
    if let Some(a) = address {
        v.push(("ansible_host", s(a)));
    }
    v.push(("ansible_user", s(user)));
    v.push(("ansible_port", Value::Number(port.into())));
    v.push((
        "ansible_ssh_private_key_file",
        s(ctx.ssh_private_key.display().to_string()),
    ));
    v.push(("ansible_ssh_common_args", s(common_args(ctx, jump))));
    map(v)
}

fn group(hosts: Mapping, vars: Option<Value>) -> Value {
    let mut g = Mapping::new();
    g.insert(s("hosts"), Value::Mapping(hosts));
    if let Some(vars) = vars {
        g.insert(s("vars"), vars);
    }
    Value::Mapping(g)
}

pub fn render(lab: &Lab, ctx: &RenderContext) -> Result<String> {
    let mut hypervisors = Mapping::new();
    for (i, hv) in lab.hypervisors.iter().enumerate() {
        let host = if hv.is_local() {
            map(vec![("ansible_connection", s("local"))])
        } else {
            host_address(&format!("hypervisors[{i}].address"), &hv.address)?;
            ssh_host(ctx, Some(&hv.address), &hv.ssh_user, hv.ssh_port, None)
        };
        hypervisors.insert(s(hv.name.as_str()), host);
    }
    let first = lab
        .hypervisors
        .first()
        .ok_or_else(|| RenderError::Missing {
            what: "a hypervisor".into(),
            fix: "add one entry to `hypervisors`".into(),
        })?;
    let jump = (!first.is_local()).then_some(first.name.as_str());
    let hv_vars = map(vec![
        ("labwarp_libvirt_uri", s(first.libvirt_uri.as_str())),
        ("labwarp_stack_user", s(first.stack_user.as_str())),
    ]);

    let uc_ip = super::undercloud_address(ctx)?.to_string();
    let uc_alias = ssh_config::undercloud_alias(lab)?;
    let mut undercloud = Mapping::new();
    undercloud.insert(
        s(uc_alias.as_str()),
        ssh_host(ctx, Some(&uc_ip), &lab.undercloud.cloud_init.user, 22, jump),
    );
    let uc_vars = map(vec![(
        "labwarp_ctlplane_ip",
        s(super::undercloud_ctlplane_ip(lab)?.to_string()),
    )]);

    let roles = [Role::Controller, Role::Compute, Role::Ceph, Role::Custom];
    let mut by_role: Vec<Mapping> = roles.iter().map(|_| Mapping::new()).collect();
    for node in lab.nodes() {
        let idx = roles
            .iter()
            .position(|r| *r == node.group.role)
            .unwrap_or(roles.len() - 1);
        let address = ctx.node_addresses.get(&node.name).map(String::as_str);
        if let Some(a) = address {
            host_address(&format!("address of {}", node.name), a)?;
        }
        by_role[idx].insert(
            s(node.name.as_str()),
            ssh_host(ctx, address, &ctx.overcloud_user, 22, Some(&uc_alias)),
        );
    }
    let mut children = Mapping::new();
    for (role, hosts) in roles.iter().zip(by_role) {
        children.insert(s(role.as_str()), group(hosts, None));
    }
    let mut overcloud = Mapping::new();
    overcloud.insert(s("children"), Value::Mapping(children));
    let lm = &lab.overcloud.live_migration;
    if lm.enabled {
        overcloud.insert(
            s("vars"),
            map(vec![
                ("labwarp_nova_nfs_enabled", Value::Bool(true)),
                (
                    "labwarp_nova_nfs_share",
                    s(super::nova_nfs::nfs_share(lab, ctx)?),
                ),
                ("labwarp_nova_nfs_version", s(lm.nfs_version.as_str())),
                ("labwarp_nova_nfs_options", s(lm.mount_options.as_str())),
            ]),
        );
    }

    let mut top = Mapping::new();
    top.insert(s("hypervisor"), group(hypervisors, Some(hv_vars)));
    top.insert(s("undercloud"), group(undercloud, Some(uc_vars)));
    top.insert(s("overcloud"), Value::Mapping(overcloud));
    let all = map(vec![(
        "all",
        map(vec![
            ("vars", map(vec![("labwarp_lab", s(lab.name.as_str()))])),
            ("children", Value::Mapping(top)),
        ]),
    )]);
    let body = serde_yaml::to_string(&all).map_err(|e| RenderError::Serialise {
        format: "YAML",
        reason: e.to_string(),
    })?;
    Ok(format!(
        "# Ansible inventory of lab '{}', rendered by labwarp.\n{body}",
        lab.name.escape_debug()
    ))
}
