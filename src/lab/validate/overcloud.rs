//! Overcloud node groups, VirtualBMC, deploy options, live migration, the plan's totals and
//! the TripleO release.

use super::{Report, node_count, node_names, vms};
use super::{fields, paths};
use crate::lab::model::{Lab, Role};

pub const GROUP_COUNT_MAX: u32 = 100;
/// What NFS mount options may hold besides letters and digits (`context=system_u:...:s0`,
/// `vers=4.2`, `sec=sys`): they reach a YAML file, then puppet and `mount -o`.
pub const MOUNT_OPTION_PUNCTUATION: &str = ",=:._-/+@";
/// IPMI 2.0 limits passwords to 20 bytes (pyghmi, and so vbmc, rejects longer ones).
pub const IPMI_PASSWORD_MAX: usize = 20;
/// Plans above these totals get a warning: more than a usual single lab machine offers.
pub const TOTAL_MEMORY_WARN_MIB: u64 = 48 * 1024;
pub const TOTAL_VCPUS_WARN: u64 = 48;
pub const TOTAL_DISK_WARN_GIB: u64 = 1024;

pub fn overcloud(lab: &Lab, r: &mut Report) {
    groups(lab, r);
    vbmc(lab, r);
    deploy(lab, r);
    live_migration(lab, r);
    totals(lab, r);
    release(lab, r);
}

/// `tripleo.release`: one whose deploy flow labwarp implements.
fn release(lab: &Lab, r: &mut Report) {
    let name = lab.tripleo.release.as_str();
    let supported = crate::lab::release::supported_names();
    let fix = format!(
        "use `{}` (supported: {supported})",
        crate::lab::release::DEFAULT_RELEASE
    );
    match crate::lab::release::release(name) {
        Some(rel) if rel.supported => release_fits(lab, rel, r),
        Some(_) => r.error(
            "tripleo.release",
            name,
            format!(
                "labwarp does not deploy {name}: it implements the deploy flow of Wallaby and later (nodes provisioned with `overcloud node provision`, then `overcloud deploy` of those servers); supported releases: {supported}"
            ),
            fix,
        ),
        None => r.error(
            "tripleo.release",
            name,
            format!("not a TripleO release labwarp knows; supported releases: {supported}"),
            fix,
        ),
    }
}

/// What a supported release needs of the rest of the lab: image sources that can be
/// fetched, and roles its deploy flow can deploy.
fn release_fits(lab: &Lab, rel: &crate::lab::release::Release, r: &mut Report) {
    // Each as it will be fetched: a lab entry without a source takes the release's URL.
    for img in lab.tripleo.images().into_iter().flatten() {
        super::hosts::source(img.field, &img.source, r);
    }
    if rel.ceph_in_deploy {
        return;
    }
    for (j, g) in lab.overcloud.nodes.iter().enumerate() {
        if g.role == Role::Ceph {
            r.error(
                format!("overcloud.nodes[{j}].role"),
                "ceph",
                format!(
                    "TripleO {} deploys CephStorage nodes only after `openstack overcloud ceph deploy`, which labwarp does not run",
                    rel.name
                ),
                "set tripleo.release to wallaby (Ceph during the deploy: add environments/cephadm/cephadm.yaml to overcloud.deploy.environment_files), or remove this group",
            );
        }
    }
}

fn groups(lab: &Lab, r: &mut Report) {
    for (j, g) in lab.overcloud.nodes.iter().enumerate() {
        let p = format!("overcloud.nodes[{j}]");
        if g.count > GROUP_COUNT_MAX {
            r.error(
                format!("{p}.count"),
                g.count,
                format!("at most {GROUP_COUNT_MAX} nodes per group"),
                "lower the count",
            );
        }
        vms::sizes(&p, g.vcpus, g.memory_mib, &g.disks, r);
    }
    // Each group is one TripleO role of the baremetal deployment and the roles data.
    let mut roles: Vec<(String, usize)> = Vec::new();
    for (j, g) in lab.overcloud.nodes.iter().enumerate() {
        let (role, spec) = g.tripleo_role();
        // Two groups of one prefix are already refused: their node names clash.
        if let Some((_, first)) = roles.iter().find(|(r, _)| *r == role)
            && lab.overcloud.nodes[*first].prefix() != g.prefix()
        {
            r.error(
                format!("overcloud.nodes[{j}].name"),
                g.prefix(),
                format!(
                    "this group would be TripleO role {role}, as overcloud.nodes[{first}] is: one role per group"
                ),
                format!(
                    "rename the group, e.g. `{}2` (its role is {} followed by the group's name in CamelCase)",
                    g.prefix(),
                    spec.split(':').next().unwrap_or_default()
                ),
            );
        } else {
            roles.push((role, j));
        }
    }
    if node_count(lab) == 0 {
        r.warning(
            "overcloud.nodes",
            "[]",
            "the lab has no overcloud nodes",
            "add a group, e.g. `- {role: controller, count: 1}`",
        );
    }
}

fn vbmc(lab: &Lab, r: &mut Report) {
    let v = &lab.overcloud.vbmc;
    let p = "overcloud.vbmc";
    let nodes = node_count(lab);
    if v.base_port == 0 {
        r.error(
            format!("{p}.base_port"),
            0,
            "port 0 is not a valid UDP port",
            "use 6230 (the usual VirtualBMC base port)",
        );
    } else if u64::from(v.base_port) + nodes.saturating_sub(1) > u64::from(u16::MAX) {
        let last = u64::from(v.base_port) + nodes - 1;
        let fix = match (u64::from(u16::MAX) + 1).checked_sub(nodes) {
            Some(max) if max >= 1 => format!("use `6230` (a base port of at most {max})"),
            _ => "use fewer nodes: each needs its own UDP port".to_string(),
        };
        r.error(
            format!("{p}.base_port"),
            v.base_port,
            format!(
                "{nodes} nodes need ports {} to {last}, past 65535",
                v.base_port
            ),
            fix,
        );
    } else if v.base_port < 1024 {
        r.warning(
            format!("{p}.base_port"),
            v.base_port,
            "ports below 1024 need root and clash with system services (IPMI itself is 623)",
            "use 6230",
        );
    }
    r.check(format!("{p}.address"), &v.address, fields::ip(&v.address));
    if v.username.is_empty()
        || !v
            .username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c))
        || v.username.len() > 16
    {
        r.error(
            format!("{p}.username"),
            &v.username,
            "an IPMI user name is 1 to 16 letters, digits, `.`, `_`, `@` or `-`",
            "use admin",
        );
    }
    if let Some(pw) = &v.password {
        let pw = pw.expose();
        // `%` and surrounding spaces do not survive VirtualBMC's INI config (configparser
        // interpolation and trimming).
        if pw.is_empty()
            || pw.len() > IPMI_PASSWORD_MAX
            || pw.chars().any(|c| c.is_control())
            || pw.contains('%')
            || pw.trim() != pw
        {
            // Never echo the secret itself.
            r.error(
                format!("{p}.password"),
                "***",
                format!(
                    "an IPMI password is 1 to {IPMI_PASSWORD_MAX} characters on one line, without `%` or surrounding spaces"
                ),
                "choose another password (at most 20 characters, no `%`), or remove the key to have one generated",
            );
        }
    }
}

fn deploy(lab: &Lab, r: &mut Report) {
    let d = &lab.overcloud.deploy;
    r.check(
        "overcloud.deploy.templates",
        &d.templates,
        fields::abs_path(&d.templates)
            .and_then(|()| paths::plain_chars(&d.templates))
            .and_then(|()| paths::normal(&d.templates)),
    );
    for (k, f) in d.environment_files.iter().enumerate() {
        r.check(
            format!("overcloud.deploy.environment_files[{k}]"),
            f,
            paths::plain_chars(f).and_then(|()| paths::normal(f)),
        );
    }
}

fn live_migration(lab: &Lab, r: &mut Report) {
    let m = &lab.overcloud.live_migration;
    if !m.enabled {
        return;
    }
    let p = "overcloud.live_migration";
    let computes: u32 = lab
        .overcloud
        .nodes
        .iter()
        .filter(|g| g.role == Role::Compute)
        .map(|g| g.count)
        .sum();
    if computes < 2 {
        r.error(
            format!("{p}.enabled"),
            "true",
            format!("live migration needs at least 2 computes; the lab has {computes}"),
            "set count: 2 on a compute group, or set enabled: false",
        );
    }
    let node_names = node_names(lab);
    if m.nfs_server != "undercloud" && !node_names.contains(&m.nfs_server) {
        r.check(
            format!("{p}.nfs_server"),
            &m.nfs_server,
            fields::host(&m.nfs_server).map_err(|b| fields::Bad {
                fix: format!(
                    "write `undercloud`, a node name ({}) or an address",
                    node_names.join(", ")
                ),
                ..b
            }),
        );
    }
    r.check(
        format!("{p}.export_path"),
        &m.export_path,
        paths::export(&m.export_path),
    );
    if !["3", "4", "4.0", "4.1", "4.2"].contains(&m.nfs_version.as_str()) {
        r.error(
            format!("{p}.nfs_version"),
            &m.nfs_version,
            "not an NFS version",
            "use `4` (or 3, 4.1, 4.2)",
        );
    }
    if !m
        .mount_options
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || MOUNT_OPTION_PUNCTUATION.contains(c))
    {
        r.error(
            format!("{p}.mount_options"),
            &m.mount_options,
            format!(
                "mount options are one comma-separated word of letters, digits and `{MOUNT_OPTION_PUNCTUATION}`"
            ),
            "separate options with commas, without spaces, quotes or shell characters, e.g. context=system_u:object_r:nfs_t:s0",
        );
    }
}

/// What the whole plan asks of the hypervisor. Preflight compares it with the real host;
/// here only sizes most single machines cannot give are flagged.
fn totals(lab: &Lab, r: &mut Report) {
    let uc = &lab.undercloud.vm;
    let mut memory = uc.memory_mib;
    let mut vcpus = u64::from(uc.vcpus);
    let mut disk: u64 = uc.disks.iter().map(|d| u64::from(d.size_gib)).sum();
    for g in &lab.overcloud.nodes {
        let n = u64::from(g.count);
        memory = memory.saturating_add(n.saturating_mul(g.memory_mib));
        vcpus = vcpus.saturating_add(n.saturating_mul(u64::from(g.vcpus)));
        disk = disk.saturating_add(
            n.saturating_mul(g.disks.iter().map(|d| u64::from(d.size_gib)).sum::<u64>()),
        );
    }
    if memory > TOTAL_MEMORY_WARN_MIB || vcpus > TOTAL_VCPUS_WARN || disk > TOTAL_DISK_WARN_GIB {
        r.warning(
            "overcloud.nodes",
            format!("{memory} MiB RAM, {vcpus} vCPUs, {disk} GiB disk"),
            format!(
                "the plan is large (warning above {TOTAL_MEMORY_WARN_MIB} MiB, {TOTAL_VCPUS_WARN} vCPUs or {TOTAL_DISK_WARN_GIB} GiB)"
            ),
            "make sure the hypervisor has this much free (labwarp's preflight checks), or use fewer or smaller nodes",
        );
    }
}
