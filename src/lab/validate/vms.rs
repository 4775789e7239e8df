//! VM sizes and wiring, and the rules across all VMs: unique names and MACs, NICs on
//! networks that exist.

use super::Report;
use super::fields;
use crate::lab::model::{Disk, Lab};
use std::collections::HashMap;

pub const VCPUS_MAX: u32 = 256;
pub const MEMORY_MIN_MIB: u64 = 256;
pub const MEMORY_MAX_MIB: u64 = 1024 * 1024;
pub const DISK_MAX_GIB: u32 = 16 * 1024;
pub const DISKS_MAX: usize = 16;
pub const NICS_MAX: usize = 16;

/// vCPUs, memory and disks of one VM (or one node group) at path `p`.
pub fn sizes(p: &str, vcpus: u32, memory_mib: u64, disks: &[Disk], r: &mut Report) {
    if !(1..=VCPUS_MAX).contains(&vcpus) {
        r.error(
            format!("{p}.vcpus"),
            vcpus,
            format!("vCPUs must be between 1 and {VCPUS_MAX}"),
            if p.starts_with("undercloud") {
                "use `6` (quickstart's undercloud)"
            } else {
                "use `2` (quickstart's node)"
            },
        );
    }
    if !(MEMORY_MIN_MIB..=MEMORY_MAX_MIB).contains(&memory_mib) {
        r.error(
            format!("{p}.memory_mib"),
            memory_mib,
            format!("memory must be between {MEMORY_MIN_MIB} and {MEMORY_MAX_MIB} MiB"),
            "give the size in MiB, e.g. 8192 for 8 GiB",
        );
    }
    if disks.is_empty() {
        r.error(
            format!("{p}.disks"),
            "[]",
            "a VM needs a root disk",
            "add one: `disks: [{size_gib: 50}]`",
        );
    }
    if disks.len() > DISKS_MAX {
        r.error(
            format!("{p}.disks"),
            disks.len(),
            format!("at most {DISKS_MAX} disks per VM"),
            "remove disks",
        );
    }
    for (k, d) in disks.iter().enumerate() {
        if !(1..=DISK_MAX_GIB).contains(&d.size_gib) {
            r.error(
                format!("{p}.disks[{k}].size_gib"),
                d.size_gib,
                format!("a disk must be between 1 and {DISK_MAX_GIB} GiB"),
                "give the size in GiB, e.g. 50",
            );
        }
    }
}

pub fn cross(lab: &Lab, r: &mut Report) {
    vm_names(lab, r);
    let known: Vec<&str> = lab.networks.iter().map(|n| n.name.as_str()).collect();
    let vm = &lab.undercloud.vm;
    if vm.nics.is_empty() {
        r.error(
            "undercloud.vm.nics",
            "[]",
            "the undercloud needs NICs: one to reach it, one on the provisioning network",
            "add `nics: [{network: external}, {network: overcloud}]`",
        );
    }
    if vm.nics.len() > NICS_MAX {
        r.error(
            "undercloud.vm.nics",
            vm.nics.len(),
            format!("at most {NICS_MAX} NICs per VM"),
            "remove NICs",
        );
    }
    let mut macs: HashMap<String, usize> = HashMap::new();
    for (k, nic) in vm.nics.iter().enumerate() {
        let p = format!("undercloud.vm.nics[{k}]");
        network_ref(&format!("{p}.network"), &nic.network, &known, r);
        if let Some(mac) = &nic.mac
            && r.check(format!("{p}.mac"), mac, fields::mac(mac)).is_some()
            && let Some(first) = macs.insert(mac.to_ascii_lowercase(), k)
        {
            r.error(
                format!("{p}.mac"),
                mac,
                format!("undercloud.vm.nics[{first}] already has this MAC"),
                "give every NIC its own MAC, or leave mac out to have one generated",
            );
        }
    }
    for (j, g) in lab.overcloud.nodes.iter().enumerate() {
        let p = format!("overcloud.nodes[{j}].networks");
        if g.networks.is_empty() {
            r.error(
                p.clone(),
                "[]",
                "nodes need at least the provisioning network (their PXE NIC)",
                "add `networks: [overcloud]`",
            );
        }
        if g.networks.len() > NICS_MAX {
            r.error(
                p.clone(),
                g.networks.len(),
                format!("at most {NICS_MAX} NICs per VM"),
                "remove networks",
            );
        }
        for (k, net) in g.networks.iter().enumerate() {
            network_ref(&format!("{p}[{k}]"), net, &known, r);
        }
    }
}

fn network_ref(path: &str, name: &str, known: &[&str], r: &mut Report) {
    if known.contains(&name) {
        return;
    }
    let fix = match crate::lab::diagnose::suggest(name, known.iter().copied()) {
        Some(s) => format!("did you mean `{s}`? (networks: {})", known.join(", ")),
        None if known.is_empty() => "define the network under `networks:` first".to_string(),
        None => format!("use one of the networks: {}", known.join(", ")),
    };
    r.error(path, name, "no network has this name", fix);
}

/// Every VM gets a libvirt domain `<lab>-<vm>`: two VMs with one name would be one domain.
fn vm_names(lab: &Lab, r: &mut Report) {
    let uc = &lab.undercloud.vm.name;
    r.check("undercloud.vm.name", uc, fields::name(uc, 63));
    let mut seen: HashMap<String, String> = HashMap::new();
    seen.insert(uc.clone(), "undercloud.vm.name".into());
    for (j, g) in lab.overcloud.nodes.iter().enumerate() {
        let p = format!("overcloud.nodes[{j}].name");
        if !g.name.is_empty()
            && r.check(p.clone(), &g.name, fields::name(&g.name, 56))
                .is_none()
        {
            continue;
        }
        // Capped: a count above the maximum is reported by the group checks.
        for i in 0..g.count.min(super::overcloud::GROUP_COUNT_MAX + 1) {
            let node = format!("{}-{i}", g.prefix());
            if let Some(owner) = seen.get(&node) {
                r.error(
                    p.clone(),
                    g.prefix(),
                    format!("node `{node}` clashes with the VM from {owner}"),
                    "give this group its own `name:` prefix",
                );
                break;
            }
            seen.insert(node, p.clone());
        }
    }
}
