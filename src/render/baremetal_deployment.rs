//! `overcloud-baremetal-deploy.yaml`: the baremetal deployment file `openstack overcloud node
//! provision` reads (Wallaby and later), one role per node group.
//!
//! Each role's count is the group's, its `hostname_format` the group's node names
//! (`controller-%index%`: the overcloud hostnames are the VM names), and each instance pins
//! its hostname to the Ironic node of the same name (instackenv.json's `name`). The nodes are
//! matched by the flavor profile instackenv.json gives them, and attach only to the ctlplane
//! (their first NIC, the provisioning network). tripleo-ansible's `baremetal_deploy`
//! (`validate_roles`, `expand`) judges the result in `tests/quick/tripleo_contract.rs`.

use super::instackenv::profile;
use super::{RenderError, Result};
use crate::lab::{Lab, NodeGroup, Role};
use serde::Serialize;

#[derive(Serialize)]
struct RoleEntry<'a> {
    name: String,
    count: u32,
    hostname_format: String,
    defaults: Defaults,
    instances: Vec<Instance<'a>>,
}

#[derive(Serialize)]
struct Defaults {
    profile: String,
    networks: Vec<NetworkRef>,
}

#[derive(Serialize)]
struct NetworkRef {
    network: &'static str,
    vif: bool,
}

#[derive(Serialize)]
struct Instance<'a> {
    hostname: &'a str,
    /// The Ironic node (its name in instackenv.json).
    name: &'a str,
}

/// The roles `openstack overcloud roles generate` gets for this lab, in node-group order
/// (the first is the primary role: a controller group first).
pub fn roles_to_generate(lab: &Lab) -> Vec<String> {
    let mut groups: Vec<&NodeGroup> = lab.overcloud.nodes.iter().collect();
    groups.sort_by_key(|g| g.role != Role::Controller);
    let mut out: Vec<String> = Vec::new();
    for g in groups {
        let (_, spec) = g.tripleo_role();
        if !out.contains(&spec) {
            out.push(spec);
        }
    }
    out
}

pub fn render(lab: &Lab) -> Result<String> {
    let nodes = lab.nodes();
    let mut roles: Vec<RoleEntry> = Vec::new();
    for group in &lab.overcloud.nodes {
        let (name, _) = group.tripleo_role();
        // Validation refuses two groups of one TripleO role; a lab that skipped it too.
        if roles.iter().any(|r| r.name == name) {
            return Err(RenderError::BadValue {
                field: "overcloud.nodes".into(),
                value: group.prefix().into(),
                problem: format!("is a second node group of TripleO role {name}"),
            });
        }
        roles.push(RoleEntry {
            name,
            count: group.count,
            hostname_format: format!("{}-%index%", group.prefix()),
            defaults: Defaults {
                profile: profile(group.role, group.prefix()),
                networks: vec![NetworkRef {
                    network: "ctlplane",
                    vif: true,
                }],
            },
            instances: nodes
                .iter()
                .filter(|n| std::ptr::eq(n.group, group))
                .map(|n| Instance {
                    hostname: &n.name,
                    name: &n.name,
                })
                .collect(),
        });
    }
    let yaml = serde_yaml::to_string(&roles).map_err(|e| RenderError::Serialise {
        format: "YAML",
        reason: e.to_string(),
    })?;
    Ok(format!(
        "# written by labwarp: `openstack overcloud node provision` deploys these nodes\n{yaml}"
    ))
}
