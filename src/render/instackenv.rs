//! `instackenv.json`: the overcloud nodes as Ironic enrols them (`openstack overcloud node
//! import`), one IPMI endpoint per node served by VirtualBMC.
//!
//! Field values follow tripleo-quickstart's `instackenv.json.j2` (strings for cpu, memory,
//! disk and port); `ports` holds the PXE NIC (the node's first), the form
//! `tripleo_common.utils.nodes.validate_nodes` accepts: it refuses the older `mac` list
//! ("no longer supported, use ports"), and Ironic's node registration creates ports only
//! from `ports`, so a `mac` would be silently dropped. A `profile:` capability per role lets
//! TripleO match nodes to flavors without a separate tagging step.

use super::{RenderContext, RenderError, Result, VmRole, lab_vms};
use crate::lab::{Lab, Role};
use serde::Serialize;

#[derive(Serialize)]
struct Node<'a> {
    name: &'a str,
    pm_type: &'static str,
    pm_addr: &'a str,
    pm_port: String,
    pm_user: &'a str,
    pm_password: &'a str,
    ports: Vec<Port<'a>>,
    cpu: String,
    memory: String,
    disk: String,
    arch: &'a str,
    capabilities: String,
}

/// One Ironic port: the NIC's MAC address.
#[derive(Serialize)]
struct Port<'a> {
    address: &'a str,
}

#[derive(Serialize)]
struct InstackEnv<'a> {
    nodes: Vec<Node<'a>>,
}

/// TripleO's flavor profile of a role (`control`, `compute`, `ceph-storage`).
pub fn profile(role: Role, group_prefix: &str) -> String {
    match role {
        Role::Controller => "control".into(),
        Role::Compute => "compute".into(),
        Role::Ceph => "ceph-storage".into(),
        Role::Custom => group_prefix.into(),
    }
}

pub fn render(lab: &Lab, ctx: &RenderContext) -> Result<String> {
    let password = ctx
        .vbmc_password
        .as_ref()
        .ok_or_else(|| RenderError::Missing {
            what: "the VirtualBMC password (overcloud.vbmc.password)".into(),
            fix: "set overcloud.vbmc.password, or let labwarp generate one into the workspace"
                .into(),
        })?;
    let vms = lab_vms(lab)?;
    let nodes = lab.nodes();
    let mut out = Vec::new();
    // lab_vms lists the undercloud first, then the nodes in lab.nodes() order.
    for (vm, node) in vms
        .iter()
        .filter(|v| v.role != VmRole::Undercloud)
        .zip(&nodes)
    {
        out.push(Node {
            name: &vm.name,
            pm_type: "ipmi",
            pm_addr: &lab.overcloud.vbmc.address,
            pm_port: node.vbmc_port.to_string(),
            pm_user: &lab.overcloud.vbmc.username,
            pm_password: password.expose(),
            ports: vm
                .nics
                .first()
                .map(|n| Port {
                    address: n.mac.as_str(),
                })
                .into_iter()
                .collect(),
            cpu: vm.vcpus.to_string(),
            memory: vm.memory_mib.to_string(),
            disk: vm.disks_gib.first().copied().unwrap_or(0).to_string(),
            arch: &ctx.arch,
            capabilities: format!(
                "profile:{},boot_option:local",
                profile(node.group.role, node.group.prefix())
            ),
        });
    }
    let mut s = serde_json::to_string_pretty(&InstackEnv { nodes: out }).map_err(|e| {
        RenderError::Serialise {
            format: "JSON",
            reason: e.to_string(),
        }
    })?;
    s.push('\n');
    Ok(s)
}
