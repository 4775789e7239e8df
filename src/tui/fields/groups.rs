//! The overcloud form's node-group table: the fields of one row (`overcloud.nodes[i]`), a new
//! row, and what all the VMs together ask for.

use super::convert::{disk0, into_lines, into_number, into_text, set_disk0, text, to_u32};
use super::spec::{Spec, specs, stepper};
use super::{Kind, Value};
use crate::lab::{Lab, NodeGroup, Role, VmSpec};

/// A field of one row of the overcloud form's node-group table (`overcloud.nodes[i]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupField {
    Role,
    Name,
    Count,
    Vcpus,
    Memory,
    Disk,
    Networks,
}

const ROLES: &[&str] = &["controller", "compute", "ceph", "custom"];

/// Paths are below `overcloud.nodes[i]`.
pub const FIELDS: &[Spec<GroupField>] = specs! {
    GroupField::Role => "role", "Role", Kind::Select(ROLES),
        "controller, compute, ceph or custom (← → to change).";
    GroupField::Name => "name", "Name prefix", Kind::Line,
        "Node name prefix (<prefix>-0, <prefix>-1…); empty uses the role.";
    GroupField::Count => "count", "Count", stepper(0, 64, 1, ""),
        "How many nodes of this group.";
    GroupField::Vcpus => "vcpus", "vCPUs", stepper(1, 256, 1, ""),
        "vCPUs per node.";
    GroupField::Memory => "memory_mib", "Memory", stepper(512, 1 << 20, 1024, "MiB"),
        "Memory per node in MiB (controllers need 8192 or more).";
    GroupField::Disk => "disks[0].size_gib", "Disk", stepper(1, 65536, 10, "GiB"),
        "Root disk per node in GiB.";
    GroupField::Networks => "networks", "Networks", Kind::Line,
        "Networks in NIC order, comma separated; the first is PXE.";
};

pub fn get(lab: &Lab, i: usize, f: GroupField) -> Value {
    let default_group = NodeGroup::default();
    let g = lab.overcloud.nodes.get(i).unwrap_or(&default_group);
    match f {
        GroupField::Role => text(g.role.as_str()),
        GroupField::Name => text(&g.name),
        GroupField::Count => Value::Number(u64::from(g.count)),
        GroupField::Vcpus => Value::Number(u64::from(g.vcpus)),
        GroupField::Memory => Value::Number(g.memory_mib),
        GroupField::Disk => Value::Number(disk0(&g.disks)),
        GroupField::Networks => text(&g.networks.join(", ")),
    }
}

pub fn set(lab: &mut Lab, i: usize, f: GroupField, v: Value) -> Result<(), String> {
    let Some(g) = lab.overcloud.nodes.get_mut(i) else {
        return Err(format!("node group {i} no longer exists"));
    };
    match f {
        GroupField::Role => {
            g.role = match into_text(v).as_str() {
                "compute" => Role::Compute,
                "ceph" => Role::Ceph,
                "custom" => Role::Custom,
                _ => Role::Controller,
            }
        }
        GroupField::Name => g.name = into_text(v),
        GroupField::Count => g.count = to_u32(into_number(v)?)?,
        GroupField::Vcpus => g.vcpus = to_u32(into_number(v)?)?,
        GroupField::Memory => g.memory_mib = into_number(v)?,
        GroupField::Disk => set_disk0(&mut g.disks, into_number(v)?)?,
        GroupField::Networks => g.networks = into_lines(v),
    }
    Ok(())
}

/// A new node group for the overcloud table: a compute sized like the last group.
pub fn new_group(lab: &Lab) -> NodeGroup {
    let template = lab.overcloud.nodes.last().cloned().unwrap_or_default();
    NodeGroup {
        role: Role::Compute,
        name: String::new(),
        count: 1,
        ..template
    }
}

/// Sum of what the VMs ask for: (vCPUs, MiB, GiB), for the totals line.
pub fn totals(lab: &Lab) -> (u64, u64, u64) {
    let vm = |v: &VmSpec| {
        (
            u64::from(v.vcpus),
            v.memory_mib,
            v.disks.iter().map(|d| u64::from(d.size_gib)).sum::<u64>(),
        )
    };
    let (mut c, mut m, mut d) = vm(&lab.undercloud.vm);
    for g in &lab.overcloud.nodes {
        let n = u64::from(g.count);
        c += n * u64::from(g.vcpus);
        m += n * g.memory_mib;
        d += n * g.disks.iter().map(|x| u64::from(x.size_gib)).sum::<u64>();
    }
    (c, m, d)
}
