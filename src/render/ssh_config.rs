//! OpenSSH client config for the lab (`ssh -F ssh.config HOST`).
//!
//! Hosts, following tripleo-quickstart's and the lab guide's names:
//! - `<hypervisor>` (e.g. `virthost`) as the hypervisor's SSH user (root), and
//!   `<hypervisor>-stack` as its unprivileged lab user;
//! - `undercloud` (the undercloud VM's name, as the cloud-init user) and `undercloud-root`,
//!   through `ProxyJump` via the first hypervisor (its NAT network is only reachable from
//!   there);
//! - each overcloud node whose address is known, as the overcloud user, via `ProxyJump`
//!   through the undercloud (nodes live on the provisioning network behind it).
//!
//! Every host uses the workspace key only, and the workspace known_hosts with
//! `StrictHostKeyChecking yes`: labwarp pins host keys itself and never lets ssh accept one
//! blindly. Values are checked to stay on their line; paths with spaces are double-quoted.

use super::{RenderContext, RenderError, Result, bad, host_address, single_line};
use crate::lab::Lab;
use std::fmt::Write as _;

/// One `Host` block.
struct HostBlock<'a> {
    alias: String,
    hostname: String,
    port: u16,
    user: &'a str,
    proxy_jump: Option<String>,
}

/// A config word: refused if it could escape its line or quoting, double-quoted if it has
/// spaces (ssh_config's own quoting).
fn word(field: &str, value: &str) -> Result<String> {
    single_line(field, value)?;
    if value.contains('"') {
        return Err(bad(field, value, "contains a double quote; remove it"));
    }
    if value.is_empty() {
        return Err(bad(field, value, "is empty; give a value"));
    }
    if value.chars().any(char::is_whitespace) {
        Ok(format!("\"{value}\""))
    } else {
        Ok(value.to_string())
    }
}

/// A Host alias: a plain name, no pattern characters (`*`, `?`, `!`, `,`) or spaces.
fn alias(field: &str, value: &str) -> Result<String> {
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(value.to_string())
    } else {
        Err(bad(
            field,
            value,
            "cannot be an ssh_config Host name; use letters, digits, '-', '_' and '.'",
        ))
    }
}

/// The name ssh.config gives the stack user's access to a hypervisor.
pub fn stack_alias(hypervisor: &str) -> String {
    format!("{hypervisor}-stack")
}

/// The undercloud's alias: its VM name (`undercloud`; kayobe's preset calls it `seed`).
pub fn undercloud_alias(lab: &Lab) -> Result<String> {
    alias("undercloud.vm.name", &lab.undercloud.vm.name)
}

/// The alias for root on the undercloud (`undercloud-root`).
pub fn undercloud_root_alias(lab: &Lab) -> Result<String> {
    Ok(format!("{}-root", undercloud_alias(lab)?))
}

pub fn render(lab: &Lab, ctx: &RenderContext) -> Result<String> {
    let mut blocks = Vec::new();
    for (i, hv) in lab.hypervisors.iter().enumerate() {
        if hv.is_local() {
            continue;
        }
        let name = alias(&format!("hypervisors[{i}].name"), &hv.name)?;
        host_address(&format!("hypervisors[{i}].address"), &hv.address)?;
        blocks.push(HostBlock {
            alias: name.clone(),
            hostname: word(&format!("hypervisors[{i}].address"), &hv.address)?,
            port: hv.ssh_port,
            user: &hv.ssh_user,
            proxy_jump: None,
        });
        blocks.push(HostBlock {
            alias: stack_alias(&name),
            hostname: word(&format!("hypervisors[{i}].address"), &hv.address)?,
            port: hv.ssh_port,
            user: &hv.stack_user,
            proxy_jump: None,
        });
    }
    let first = lab
        .hypervisors
        .first()
        .ok_or_else(|| RenderError::Missing {
            what: "a hypervisor".into(),
            fix: "add one entry to `hypervisors`".into(),
        })?;
    let jump = (!first.is_local()).then(|| first.name.clone());
    let uc_ip = super::undercloud_address(ctx)?.to_string();
    let uc_alias = undercloud_alias(lab)?;
    blocks.push(HostBlock {
        alias: uc_alias.clone(),
        hostname: uc_ip.clone(),
        port: 22,
        user: &lab.undercloud.cloud_init.user,
        proxy_jump: jump.clone(),
    });
    blocks.push(HostBlock {
        alias: undercloud_root_alias(lab)?,
        hostname: uc_ip,
        port: 22,
        user: "root",
        proxy_jump: jump,
    });
    let mut unknown = Vec::new();
    for node in lab.nodes() {
        match ctx.node_addresses.get(&node.name) {
            Some(addr) => blocks.push(HostBlock {
                alias: alias("overcloud.nodes[].name", &node.name)?,
                hostname: {
                    host_address(&format!("address of {}", node.name), addr)?;
                    word(&format!("address of {}", node.name), addr)?
                },
                port: 22,
                user: &ctx.overcloud_user,
                proxy_jump: Some(uc_alias.clone()),
            }),
            None => unknown.push(node.name),
        }
    }

    let key = word(
        "ssh private key path",
        &ctx.ssh_private_key.display().to_string(),
    )?;
    let known = word("known_hosts path", &ctx.known_hosts.display().to_string())?;
    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(
        out,
        "# ssh.config of lab '{}', rendered by labwarp. Use: ssh -F <this file> HOST",
        lab.name.escape_debug()
    );
    let _ = writeln!(
        out,
        "# Host keys are pinned in the workspace known_hosts; ssh never accepts a new one."
    );
    if !unknown.is_empty() {
        let _ = writeln!(
            out,
            "# Not listed until deployed (address unknown yet): {}",
            unknown.join(", ").escape_debug()
        );
    }
    for b in &blocks {
        let _ = writeln!(out, "\nHost {}", b.alias);
        let _ = writeln!(out, "  HostName {}", b.hostname);
        let _ = writeln!(out, "  Port {}", b.port);
        let _ = writeln!(
            out,
            "  User {}",
            word(&format!("user of {}", b.alias), b.user)?
        );
        if let Some(j) = &b.proxy_jump {
            let _ = writeln!(out, "  ProxyJump {j}");
        }
        let _ = writeln!(out, "  IdentityFile {key}");
        let _ = writeln!(out, "  IdentitiesOnly yes");
        let _ = writeln!(out, "  UserKnownHostsFile {known}");
        let _ = writeln!(out, "  StrictHostKeyChecking yes");
        let _ = writeln!(out, "  ServerAliveInterval 30");
    }
    Ok(out)
}
