//! Snapshots of the whole lab: every VM of the lab at one moment, plus what labwarp needs to
//! trust the lab afterwards (the state file, the pinned host keys, the VirtualBMC entries).
//!
//! libvirt's own snapshots do not fit the lab's VMs (the tiny guest boots a kernel with no
//! disk or raw disks, and internal qcow2 snapshots need qcow2 everywhere; reverting external
//! ones needs libvirt ≥ 9.7), so a labwarp snapshot is a directory labwarp manages on the
//! hypervisor: per VM its definition, its memory image (`virDomainSaveFlags`, written by
//! libvirtd) when it ran, and a sparse copy of each disk taken while every VM is stopped —
//! all VMs are paused together first, so the copies are of one moment. It is written into
//! `.partial-NAME` with a journal and renamed into place once complete: a listed snapshot
//! is always whole; a save killed half-way is recovered (its VMs brought back from their
//! images) and its partial directory removed by the next snapshot command or `clean`.
//!
//! One job per file: `store.rs` the directory on the hypervisor (names, listing, markers),
//! `save.rs`, `restore.rs`; the run's `undercloud-installed` snapshot and respin: `run::respin`.

mod journal;
mod restore;
mod save;
mod store;

pub use restore::{RestoreOptions, restore};
pub use save::{save, save_after_install};
pub use store::{
    Manifest, SnapshotInfo, check_name, clean_candidate, delete, list, manifest, recover, root,
};

/// The lab's VM domains as lab.yaml names them: the undercloud first, then every node.
pub fn lab_domains(lab: &crate::lab::Lab) -> Vec<String> {
    let mut out = vec![lab.domain_name(&lab.undercloud.vm.name)];
    out.extend(lab.nodes().iter().map(|n| lab.domain_name(&n.name)));
    out
}

/// `3.2 GiB`, `640 KiB`.
pub fn human_size(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// `42 s`, `5 min`, `3 h`, `2 d`.
pub fn human_age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

/// The name of the run's snapshot after the undercloud install, `None` when it is off
/// (`--no-snapshot`, or an empty name in lab.yaml); a bad name is an error naming the field.
pub fn snapshot_name(lab: &crate::lab::Lab, off: bool) -> anyhow::Result<Option<String>> {
    let name = &lab.snapshots.after_undercloud_install;
    if off || name.is_empty() {
        return Ok(None);
    }
    check_name(name).map_err(|e| anyhow::anyhow!("snapshots.after_undercloud_install: {e}"))?;
    Ok(Some(name.clone()))
}
