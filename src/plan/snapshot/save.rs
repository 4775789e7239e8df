//! `snapshot save NAME`: every VM of the lab paused together (one moment), each running
//! VM's memory saved to an image (which stops it), every disk copied while all are stopped,
//! the VMs brought back from their images, then the workspace's state file, pinned host
//! keys and the VirtualBMC entries added; the partial directory is renamed into place last.

use super::journal::{Journal, memory_file};
use super::store::{
    DiskCopy, FORMAT, MANIFEST, Manifest, PARTIAL, SnapshotInfo, VmImage, check_name, make_marked,
    open, p, recover, root, sh,
};
use crate::engine::fault;
use crate::plan::{Ctx, HostRole};
use crate::virt::{DomainState, ResumeAs};
use anyhow::{Context, bail};

/// Saves the lab as snapshot `name`; `say` narrates each stage of it.
pub async fn save(
    ctx: &Ctx,
    name: &str,
    say: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<SnapshotInfo> {
    save_with(ctx, name, None, say).await
}

/// The run's own snapshot once the undercloud is installed: its manifest records the md5 of
/// the undercloud.conf installed from (`undercloud_conf_md5`).
pub async fn save_after_install(
    ctx: &Ctx,
    name: &str,
    undercloud_conf_md5: &str,
    say: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<SnapshotInfo> {
    save_with(ctx, name, Some(undercloud_conf_md5.to_string()), say).await
}

async fn save_with(
    ctx: &Ctx,
    name: &str,
    undercloud_conf_md5: Option<String>,
    say: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<SnapshotInfo> {
    check_name(name)?;
    for line in recover(ctx).await? {
        say(line);
    }
    if open(ctx, name).await?.is_some() {
        bail!(
            "the lab already has a snapshot named {name}: delete it first (labwarp snapshot delete {name}) or choose another name"
        );
    }
    // The lab's VMs that exist now (lab.yaml's, plus any other domain of the lab's name).
    let mut vms = Vec::new();
    for d in super::lab_domains(&ctx.lab) {
        match ctx.libvirt.domain(&d).await {
            Ok(i) => vms.push(i),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    if vms.is_empty() {
        bail!(
            "no VM of lab {} exists: nothing to snapshot (labwarp run builds it)",
            ctx.lab.name
        );
    }
    let root = root(ctx);
    let dir = root.join(format!("{PARTIAL}{name}"));
    sh(ctx, "rm -rf -- \"$1\"", &[&p(&dir)]).await?;
    make_marked(ctx, &dir).await?;
    Journal::start(ctx, &dir).await?;

    // One moment: every running VM paused before any is saved.
    for v in &vms {
        match v.state {
            DomainState::Running => {
                ctx.libvirt.suspend(&v.name).await?;
                Journal::note(ctx, &dir, &format!("paused {}", v.name)).await?;
            }
            DomainState::Paused => {
                Journal::note(ctx, &dir, &format!("was-paused {}", v.name)).await?;
            }
            _ => {}
        }
    }
    say(format!(
        "{} VM(s) paused together",
        vms.iter().filter(|v| v.active).count()
    ));
    let mut images = Vec::new();
    for v in &vms {
        let xml = if v.persistent {
            ctx.libvirt.domain_xml_inactive(&v.name).await?
        } else {
            ctx.libvirt.domain_xml(&v.name).await?
        };
        let live = ctx.libvirt.domain_xml(&v.name).await?;
        let xml_file = format!("{}.xml", v.name);
        ctx.host(HostRole::Virthost)
            .write_root_file(&dir.join(&xml_file), xml.as_bytes(), 0o600)
            .await?;
        let memory = if v.active {
            let f = memory_file(&v.name);
            let as_ = if v.state == DomainState::Paused {
                ResumeAs::Paused
            } else {
                ResumeAs::Running
            };
            Journal::note(ctx, &dir, &format!("saving {}", v.name)).await?;
            ctx.libvirt
                .save_memory(&v.name, &p(&dir.join(&f)), as_)
                .await
                .with_context(|| format!("saving the memory of {}", v.name))?;
            Journal::note(ctx, &dir, &format!("saved {}", v.name)).await?;
            say(format!("{}: memory saved", v.name));
            // Tests kill -9 here: a VM stopped with its image written, the others paused.
            fault::point(&ctx.workspace, "snapshot/save", "after-memory").await?;
            Some(f)
        } else {
            None
        };
        let parsed = crate::virt::xml::parse(&live)
            .map_err(|e| anyhow::anyhow!("domain {} XML: {e}", v.name))?;
        let mut disks = Vec::new();
        for (i, d) in crate::virt::xml::domain_disks(&parsed)
            .into_iter()
            .enumerate()
        {
            let (true, Some(src)) = (d.device == "disk", d.path) else {
                continue;
            };
            let target = d.target.unwrap_or_else(|| format!("disk{i}"));
            disks.push(DiskCopy {
                copy: format!("{}-{target}.disk", v.name),
                target,
                source: src,
            });
        }
        images.push(VmImage {
            domain: v.name.clone(),
            state: v.state.as_str().to_string(),
            persistent: v.persistent,
            memory,
            xml: xml_file,
            disks,
        });
    }
    // Every VM is stopped (or was off): the disks are quiet.
    for vm in &images {
        for d in &vm.disks {
            sh(
                ctx,
                "cp --sparse=always -- \"$1\" \"$2\"",
                &[&d.source, &p(&dir.join(&d.copy))],
            )
            .await
            .with_context(|| format!("copying disk {} of {}", d.target, vm.domain))?;
        }
    }
    say("disks copied".into());
    fault::point(&ctx.workspace, "snapshot/save", "before-resume").await?;
    for vm in &images {
        if let Some(m) = &vm.memory {
            let as_ = if vm.state == "paused" {
                ResumeAs::Paused
            } else {
                ResumeAs::Running
            };
            ctx.libvirt.restore_memory(&p(&dir.join(m)), as_).await?;
            Journal::note(ctx, &dir, &format!("resumed {}", vm.domain)).await?;
        }
    }
    say("VMs running again from their images".into());
    let host = ctx.host(HostRole::Virthost).clone();
    // What labwarp needs to trust the lab afterwards.
    let state = std::fs::read(ctx.workspace.join("state.yaml")).ok();
    if let Some(s) = &state {
        host.write_root_file(&dir.join("state.yaml"), s, 0o600)
            .await?;
    }
    let kh = std::fs::read(ctx.workspace.join("known_hosts")).ok();
    if let Some(k) = &kh {
        host.write_root_file(&dir.join("known_hosts"), k, 0o600)
            .await?;
    }
    let nodes = ctx.facts.vbmc_dir.join("nodes");
    let vbmc = !ctx.facts.test_driver && super::store::exists(ctx, &nodes).await?;
    if vbmc {
        sh(
            ctx,
            "cp -a -- \"$1\" \"$2\"",
            &[&p(&nodes), &p(&dir.join("vbmc-nodes"))],
        )
        .await?;
    }
    let manifest = Manifest {
        format: FORMAT,
        name: name.to_string(),
        lab: ctx.lab.name.clone(),
        lab_id: ctx.facts.lab_id.clone(),
        created: crate::engine::state::now(),
        vms: images,
        state_file: state.is_some(),
        known_hosts: kh.is_some(),
        vbmc_entries: vbmc,
        undercloud_conf_md5,
    };
    host.write_root_file(
        &dir.join(MANIFEST),
        serde_json::to_string_pretty(&manifest)?.as_bytes(),
        0o600,
    )
    .await?;
    fault::point(&ctx.workspace, "snapshot/save", "before-rename").await?;
    // Complete: the rename makes it a snapshot (and drops the journal with it).
    sh(
        ctx,
        "rm -f -- \"$1/journal\" && mv -T -- \"$1\" \"$2\"",
        &[&p(&dir), &p(&root.join(name))],
    )
    .await?;
    super::list(ctx)
        .await?
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| anyhow::anyhow!("snapshot {name} was written but is not listed"))
}
