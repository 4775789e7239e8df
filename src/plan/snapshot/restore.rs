//! `snapshot restore NAME`: the lab's VMs, state file, pinned host keys and VirtualBMC
//! entries brought back to the moment of the snapshot. Refused, with why, when the snapshot
//! no longer matches the lab (another lab's, a VM added or removed since). Repeatable: a
//! restore killed half-way is finished by running it again.

use super::store::{Manifest, open, p, read, recover, root, sh};
use crate::engine::fault;
use crate::engine::state::StateStore;
use crate::plan::Ctx;
use crate::virt::ResumeAs;
use anyhow::{Context, bail};

#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Overcloud nodes made since the snapshot are allowed (a respin: they are powered off
    /// and the run redeploys them) instead of refusing.
    pub allow_new_nodes: bool,
}

/// Why a snapshot does not match the lab as it is now; `None` when it does.
async fn mismatch(
    ctx: &Ctx,
    m: &Manifest,
    opts: &RestoreOptions,
) -> anyhow::Result<(Option<String>, Vec<String>)> {
    let snap: Vec<&str> = m.vms.iter().map(|v| v.domain.as_str()).collect();
    let nodes: Vec<String> = ctx
        .lab
        .nodes()
        .iter()
        .map(|n| ctx.lab.domain_name(&n.name))
        .collect();
    // The lab now: what lab.yaml names plus every domain carrying the lab's prefix.
    let mut now = super::lab_domains(&ctx.lab);
    let prefix = format!("{}-", ctx.lab.name);
    for d in ctx.libvirt.domains().await? {
        if (d.name.starts_with(&prefix) || d.labwarp_lab.as_deref() == Some(&ctx.lab.name))
            && !now.contains(&d.name)
        {
            now.push(d.name);
        }
    }
    let mut extra_nodes = Vec::new();
    let mut added = Vec::new();
    for d in &now {
        if snap.contains(&d.as_str()) {
            continue;
        }
        let exists = ctx.libvirt.domain_exists(d).await?;
        if opts.allow_new_nodes && nodes.contains(d) {
            if exists {
                extra_nodes.push(d.clone());
            }
        } else {
            added.push(format!(
                "{d} ({})",
                if exists {
                    "exists now"
                } else {
                    "in lab.yaml now"
                }
            ));
        }
    }
    let removed: Vec<&str> = snap
        .iter()
        .copied()
        .filter(|d| !now.iter().any(|n| n == d))
        .collect();
    let mut why = Vec::new();
    if !added.is_empty() {
        why.push(format!(
            "VM(s) added since the snapshot: {}",
            added.join(", ")
        ));
    }
    if !removed.is_empty() {
        why.push(format!(
            "VM(s) in the snapshot that the lab no longer has: {}",
            removed.join(", ")
        ));
    }
    Ok(((!why.is_empty()).then(|| why.join("; ")), extra_nodes))
}

/// The state file after a restore: the snapshot's, plus the records of what labwarp made on
/// the hypervisor since (the disks and console logs of nodes added after it, a network, a
/// BMC entry, a changed qemu.conf's backup). A restore puts back the VMs' disks and memory,
/// not the hypervisor: those things are still there, and without their records labwarp
/// could neither prove them its own nor remove them (`clean` left a respun lab's node disks
/// behind, and the next build refused their console logs as in the way). What was made
/// inside the undercloud VM since (`reverted`) is gone with its disk, and so are its records.
fn restored_state(
    mut snap: crate::engine::state::State,
    now: &crate::engine::state::State,
    reverted: impl Fn(&crate::plan::Resource) -> bool,
) -> crate::engine::state::State {
    for e in &now.resources {
        if !reverted(&e.resource) && !snap.resources.iter().any(|k| k.resource == e.resource) {
            snap.resources.push(e.clone());
        }
    }
    snap
}

/// Restores snapshot `name`; `say` narrates. The session's state store is replaced with
/// the snapshot's state file.
pub async fn restore(
    ctx: &Ctx,
    store: &StateStore,
    name: &str,
    opts: &RestoreOptions,
    say: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<()> {
    for line in recover(ctx).await? {
        say(line);
    }
    let Some(m) = open(ctx, name).await? else {
        bail!("the lab has no snapshot named {name} (labwarp snapshot list)");
    };
    let (why, extra_nodes) = mismatch(ctx, &m, opts).await?;
    if let Some(why) = why {
        bail!(
            "snapshot {name} no longer matches lab {}: {why}. Restoring it would leave the lab half in one moment and half in another; take a new snapshot, or delete this one (labwarp snapshot delete {name})",
            ctx.lab.name
        );
    }
    let dir = root(ctx).join(name);
    // Every VM of the snapshot off, and nodes made since (respin) powered off too: all at
    // once, as libvirt waits for each qemu to end (about 1.6 s for a TCG guest here).
    let stops = m
        .vms
        .iter()
        .map(|v| &v.domain)
        .chain(extra_nodes.iter())
        .map(|vm| async move {
            if ctx.libvirt.domain_exists(vm).await? {
                ctx.libvirt.destroy(vm).await?;
            }
            anyhow::Ok(())
        });
    futures::future::try_join_all(stops).await?;
    for n in &extra_nodes {
        say(format!(
            "{n}: made after the snapshot; powered off for the redeploy"
        ));
    }
    fault::point(&ctx.workspace, "snapshot/restore", "after-stop").await?;
    for vm in &m.vms {
        if vm.persistent {
            let xml = read(ctx, &dir.join(&vm.xml)).await?;
            ctx.libvirt
                .define_domain(&String::from_utf8_lossy(&xml))
                .await
                .with_context(|| format!("redefining {}", vm.domain))?;
        }
        for d in &vm.disks {
            sh(
                ctx,
                "cp --sparse=always -- \"$1\" \"$2\"",
                &[&p(&dir.join(&d.copy)), &d.source],
            )
            .await
            .with_context(|| format!("copying disk {} of {} back", d.target, vm.domain))?;
        }
    }
    say(format!("{} VM(s) stopped, disks copied back", m.vms.len()));
    fault::point(&ctx.workspace, "snapshot/restore", "before-memory").await?;
    for vm in &m.vms {
        if let Some(mem) = &vm.memory {
            let as_ = if vm.state == "paused" {
                ResumeAs::Paused
            } else {
                ResumeAs::Running
            };
            ctx.libvirt
                .restore_memory(&p(&dir.join(mem)), as_)
                .await
                .with_context(|| format!("restoring the memory of {}", vm.domain))?;
            say(format!("{}: {} from its memory image", vm.domain, vm.state));
        }
    }
    if m.state_file {
        let text = read(ctx, &dir.join("state.yaml")).await?;
        let st: crate::engine::state::State = serde_yaml::from_slice(&text).with_context(|| {
            format!(
                "{}: not a labwarp state file",
                dir.join("state.yaml").display()
            )
        })?;
        store.update(|s| {
            *s = restored_state(st, s, |r| {
                crate::plan::ownership::lives_in_undercloud_vm(ctx, r)
            })
        })?;
    }
    if m.known_hosts {
        let kh = read(ctx, &dir.join("known_hosts")).await?;
        crate::engine::state::write_atomic(&ctx.workspace.join("known_hosts"), &kh)?;
    }
    if m.vbmc_entries {
        let nodes = ctx.facts.vbmc_dir.join("nodes");
        sh(
            ctx,
            "mkdir -p -- \"$2\" && cp -a -- \"$1/.\" \"$2/\"",
            &[&p(&dir.join("vbmc-nodes")), &p(&nodes)],
        )
        .await?;
    }
    say("state file, pinned host keys and VirtualBMC entries restored".into());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::restored_state;
    use crate::engine::resource::{HostRole, Level, Resource};
    use crate::engine::state::ResourceStatus;
    use crate::engine::state::State;

    fn file(host: HostRole, path: &str) -> Resource {
        Resource::File {
            host,
            path: path.into(),
            level: Level::Nodes,
        }
    }

    fn with(rs: &[&Resource]) -> State {
        let mut s = State::default();
        for r in rs {
            s.record_resource(r, ResourceStatus::Created, "stage/step");
        }
        s
    }

    #[test]
    fn what_the_hypervisor_gained_since_stays_recorded_and_the_undercloud_goes_back() {
        let uc_disk = file(HostRole::Virthost, "/pool/lab-undercloud.qcow2");
        let uc_conf = file(HostRole::Undercloud, "/home/stack/undercloud.conf");
        let node_disk = file(HostRole::Virthost, "/pool/lab-compute-0.qcow2");
        let node_console = file(HostRole::Virthost, "/pool/lab-compute-0-console.log");
        let node = Resource::Domain {
            name: "lab-compute-0".into(),
        };
        let uc_file_since = file(HostRole::Undercloud, "/home/stack/instackenv.json");
        let uc_job_since = Resource::Job {
            host: HostRole::Undercloud,
            dir: "/home/stack/.labwarp-jobs".into(),
            name: "overcloud-deploy".into(),
        };
        let snap = with(&[&uc_disk, &uc_conf]);
        let now = with(&[
            &uc_disk,
            &uc_conf,
            &node_disk,
            &node_console,
            &node,
            &uc_file_since,
            &uc_job_since,
        ]);
        // What a real undercloud VM holds goes back with it (`lives_in_undercloud_vm`).
        let in_vm = |r: &Resource| {
            matches!(
                r,
                Resource::File {
                    host: HostRole::Undercloud,
                    ..
                } | Resource::Job {
                    host: HostRole::Undercloud,
                    ..
                }
            )
        };
        let got: Vec<Resource> = restored_state(snap.clone(), &now, in_vm)
            .resources
            .into_iter()
            .map(|e| e.resource)
            .collect();
        assert_eq!(
            got,
            vec![
                uc_disk.clone(),
                uc_conf.clone(),
                node_disk.clone(),
                node_console.clone(),
                node.clone()
            ]
        );
        // The sandbox's undercloud is a directory no restore puts back: its records stay.
        let sandbox = restored_state(snap, &now, |_| false);
        assert_eq!(sandbox.resources.len(), 7);
        assert!(sandbox.resources.iter().any(|e| e.resource == uc_job_since));
    }
}
