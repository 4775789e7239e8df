//! Teardown: what a clean at a level will remove (as data, for `--dry-run` and the TUI's
//! guided cleanup), and removal that converges in one run whatever state things are in.
//!
//! labwarp removes only what it can prove it made (`super::ownership`): what the state
//! file recorded, or what carries the lab's marks (name *and* identity). Candidates come
//! from the state file and from discovery on the live hosts (the plan's own resources,
//! libvirt objects named with the lab prefix or carrying labwarp metadata, containers
//! labelled with or named after the lab, the lab's snapshots); each is proven the lab's, and removed, or
//! reported as left alone with the reason and the command that removes it by hand. A
//! directory is removed only once it holds nothing labwarp did not make (or, `whole`, when
//! it is labwarp's own through and through). Every removal treats "already gone" as
//! success, and one failure does not stop the others.

use crate::engine::state::{ResourceStatus, State, StateStore};
use crate::host::HostError;
use crate::plan::ownership::{self, Proof};
use crate::plan::steps::vbmc::{self, VbmcPaths};
use crate::plan::{Ctx, HostRole, Level, Plan, Resource};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub use crate::plan::ownership::{lives_in_undercloud_vm, user_comment};
pub use crate::plan::remove::{exists, remove};
use crate::plan::remove::{list_dir, summarise};
pub use crate::workspace::owner::CONTAINER_LABEL;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FoundBy {
    State,
    Discovery,
    Both,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanItem {
    pub resource: Resource,
    /// Human-readable form (`domain lab-undercloud`).
    pub what: String,
    pub found_by: FoundBy,
    /// Its status in the state file, when it is there.
    pub state: Option<ResourceStatus>,
    /// How labwarp knows it is the lab's.
    #[serde(default)]
    pub proof: String,
}

/// Something found that looks like the lab's but that labwarp will not remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptItem {
    pub what: String,
    /// Why it is left alone.
    pub why: String,
    /// The command that removes it by hand, for whoever knows it is not needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_hand: Option<String>,
}

/// What a clean at `level` would remove, in removal order, and what it leaves alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanPlan {
    pub lab: String,
    pub level: Level,
    pub items: Vec<CleanItem>,
    /// Found, looks like the lab's, left alone (and why).
    #[serde(default)]
    pub kept: Vec<KeptItem>,
    /// Recorded in the state file but already gone, or inside a directory removed whole
    /// (they go with it): forgotten from the state file by the clean.
    #[serde(default)]
    pub gone: Vec<Resource>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CleanReport {
    pub removed: Vec<String>,
    pub failed: Vec<(String, String)>,
    /// Left alone while removing (a directory that turned out to hold foreign files).
    #[serde(default)]
    pub kept: Vec<(String, String)>,
}

impl CleanReport {
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
    }
}

/// Builds the removal list from the state file, the plan and discovery on the live hosts:
/// every candidate proven the lab's is listed for removal, the others are listed as kept.
pub async fn inventory(
    ctx: &Ctx,
    state: &State,
    plan: &Plan,
    level: Level,
) -> anyhow::Result<CleanPlan> {
    let mut out = CleanPlan {
        lab: ctx.lab.name.clone(),
        level,
        items: Vec::new(),
        kept: Vec::new(),
        gone: Vec::new(),
    };
    let mut seen: Vec<Resource> = Vec::new();
    let mut not_ours: Vec<(Resource, String)> = Vec::new();
    let mut candidates: Vec<(Resource, FoundBy)> = Vec::new();
    for e in &state.resources {
        candidates.push((e.resource.clone(), FoundBy::State));
    }
    let (found, notes) = discover(ctx, plan).await?;
    out.kept.extend(notes);
    for r in found {
        match candidates.iter_mut().find(|(c, _)| *c == r) {
            Some((_, by)) => *by = FoundBy::Both,
            None => candidates.push((r, FoundBy::Discovery)),
        }
    }
    for (r, by) in candidates {
        if r.level() > level || seen.contains(&r) {
            continue;
        }
        seen.push(r.clone());
        let st = state
            .resources
            .iter()
            .find(|e| e.resource == r)
            .map(|e| e.status);
        if lives_in_undercloud_vm(ctx, &r) {
            if st.is_some() {
                out.items.push(CleanItem {
                    what: r.to_string(),
                    resource: r,
                    found_by: by,
                    state: st,
                    proof: "inside the undercloud VM: goes with it".into(),
                });
            }
            continue;
        }
        match ownership::prove(ctx, state, &r).await? {
            Proof::Absent => {
                if st.is_some() {
                    out.gone.push(r);
                }
            }
            Proof::Ours(proof) => out.items.push(CleanItem {
                what: r.to_string(),
                resource: r,
                found_by: by,
                state: st,
                proof,
            }),
            Proof::NotOurs(why) => not_ours.push((r, why)),
        }
    }
    out.items.sort_by_key(|i| i.resource.removal_rank());
    // What lies inside a directory removed whole goes with it.
    let wholes: Vec<(HostRole, std::path::PathBuf)> = out
        .items
        .iter()
        .filter_map(|i| match &i.resource {
            Resource::Dir {
                host,
                path,
                whole: true,
                ..
            } => Some((*host, path.clone())),
            _ => None,
        })
        .collect();
    let inside_whole = |r: &Resource| match r {
        Resource::File { host, path, .. } | Resource::Dir { host, path, .. } => wholes
            .iter()
            .any(|(h, w)| (h == host || ctx.facts.sandbox) && path != w && path.starts_with(w)),
        _ => false,
    };
    let (covered, items): (Vec<CleanItem>, Vec<CleanItem>) = std::mem::take(&mut out.items)
        .into_iter()
        .partition(|i| inside_whole(&i.resource));
    out.items = items;
    out.gone.extend(covered.into_iter().map(|i| i.resource));
    for (r, why) in not_ours {
        if !inside_whole(&r) {
            out.kept.push(KeptItem {
                what: r.to_string(),
                why: format!("looks like the lab's, not removed: {why}"),
                by_hand: ownership::by_hand(ctx, &r),
            });
        }
    }
    // A directory that would still hold what labwarp did not make stays, and says so.
    let mut i = 0;
    while i < out.items.len() {
        let leftovers = match &out.items[i].resource {
            Resource::Dir {
                host,
                path,
                whole: false,
                ..
            } => foreign_entries(ctx, *host, path, &out.items).await?,
            _ => Vec::new(),
        };
        if leftovers.is_empty() {
            i += 1;
        } else {
            let item = out.items.remove(i);
            out.kept.push(KeptItem {
                why: format!(
                    "holds what labwarp did not make, so it stays: {}",
                    summarise(&leftovers)
                ),
                by_hand: ownership::by_hand(ctx, &item.resource),
                what: item.what,
            });
        }
    }
    Ok(out)
}

/// Entries of `dir` (but its marker) that no item of the list removes.
async fn foreign_entries(
    ctx: &Ctx,
    role: HostRole,
    dir: &Path,
    items: &[CleanItem],
) -> anyhow::Result<Vec<String>> {
    let removed: Vec<&Path> = items
        .iter()
        .filter_map(|i| match &i.resource {
            // In the sandbox both roles are this machine.
            Resource::File { host, path, .. } | Resource::Dir { host, path, .. }
                if *host == role || ctx.facts.sandbox =>
            {
                Some(path.as_path())
            }
            _ => None,
        })
        .collect();
    Ok(list_dir(ctx, role, dir)
        .await?
        .into_iter()
        .filter(|n| !removed.contains(&dir.join(n).as_path()))
        .collect())
}

/// Candidates found on the live hosts (each still to be proven the lab's), and notes on
/// what could not be looked at.
pub async fn discover(ctx: &Ctx, plan: &Plan) -> anyhow::Result<(Vec<Resource>, Vec<KeptItem>)> {
    let mut out: Vec<Resource> = Vec::new();
    let mut notes = Vec::new();
    let mut add = |r: Resource| {
        if !out.contains(&r) {
            out.push(r);
        }
    };
    for stage in plan {
        for p in &stage.steps {
            for r in p.step.resources() {
                if !lives_in_undercloud_vm(ctx, &r) {
                    add(r);
                }
            }
        }
    }
    // libvirt objects named with the lab prefix, or whose metadata names the lab.
    let prefix = format!("{}-", ctx.lab.name);
    for d in ctx.libvirt.domains().await? {
        if d.name.starts_with(&prefix) || d.labwarp_lab.as_deref() == Some(&ctx.lab.name) {
            add(Resource::Domain { name: d.name });
        }
    }
    for n in ctx.libvirt.networks().await? {
        if n.name.starts_with(&prefix) {
            add(Resource::Network { name: n.name });
        }
    }
    for p in ctx.libvirt.pools().await? {
        if p.name.starts_with(&prefix) {
            add(Resource::Pool { name: p.name });
        }
    }
    // VirtualBMC: every entry in the lab's directory (a node the lab no longer has, too),
    // and its daemon.
    if !ctx.facts.test_driver {
        let paths = VbmcPaths::of(ctx);
        for node in vbmc::existing_entries(ctx, &paths).await? {
            add(Resource::VbmcEntry { node });
        }
        add(Resource::VbmcDaemon {
            dir: paths.dir.clone(),
        });
    }
    // The lab's snapshots (`plan::snapshot`): their directory, marked with the lab's identity.
    if let Some(r) = crate::plan::snapshot::clean_candidate(ctx).await? {
        add(r);
    }
    // Containers labelled with the lab's name or named after it. In the sandbox both
    // roles are this machine: look once, as the undercloud.
    let role = if ctx.facts.sandbox {
        HostRole::Undercloud
    } else {
        HostRole::Virthost
    };
    let podman = crate::podman::Podman::new(ctx.host(role).clone());
    match podman.list().await {
        Ok(list) => {
            for c in list {
                let labelled = c.labels.get(CONTAINER_LABEL) == Some(&ctx.lab.name);
                if labelled || c.name.starts_with(&prefix) {
                    add(Resource::Container {
                        host: role,
                        name: c.name,
                    });
                }
            }
        }
        Err(e) if podman_missing(&e) => {}
        Err(e) => notes.push(KeptItem {
            what: format!("containers on {}", ctx.host(role).name()),
            why: format!("podman could not list them ({e}): none of them is removed"),
            by_hand: None,
        }),
    }
    Ok((out, notes))
}

/// podman not installed there: nothing labwarp could have started.
fn podman_missing(e: &crate::podman::PodmanError) -> bool {
    match e {
        crate::podman::PodmanError::Host(HostError::Io(io)) => {
            io.kind() == std::io::ErrorKind::NotFound
        }
        // Over SSH a missing program is the shell's 127.
        crate::podman::PodmanError::Failed { code, .. } => code == "127",
        _ => false,
    }
}

/// Removes everything in `plan` (in its order), dropping each removed resource from the
/// state file. Failures are collected, not fatal: the rest is still removed.
pub async fn execute(ctx: &Ctx, store: &StateStore, plan: &CleanPlan) -> CleanReport {
    let mut report = CleanReport::default();
    let sc = ctx.stage("clean");
    for (n, item) in plan.items.iter().enumerate() {
        let mut log = |l: String| sc.info(l);
        // Tests pause (and kill -9) a clean half-way here: `clean/item-N@before-remove`.
        if let Err(e) =
            super::fault::point(&ctx.workspace, &format!("clean/item-{n}"), "before-remove").await
        {
            report.failed.push((item.what.clone(), format!("{e:#}")));
            continue;
        }
        if lives_in_undercloud_vm(ctx, &item.resource) {
            sc.info(format!("{}: goes with the undercloud VM", item.what));
            let _ = store.update(|s| s.forget_resource(&item.resource));
            report.removed.push(item.what.clone());
            continue;
        }
        match remove(ctx, &item.resource, &mut log).await {
            Ok(None) => {
                let _ = store.update(|s| s.forget_resource(&item.resource));
                report.removed.push(item.what.clone());
            }
            // Still the lab's (recorded, marked): a later clean removes it once emptied.
            Ok(Some(why)) => report.kept.push((item.what.clone(), why)),
            Err(e) => {
                sc.info(format!("could not remove {}: {e:#}", item.what));
                report.failed.push((item.what.clone(), format!("{e:#}")));
            }
        }
    }
    let _ = store.update(|s| {
        for r in &plan.gone {
            s.forget_resource(r);
        }
    });
    // Step outcomes describe resources that may now be gone: the next run re-checks anyway.
    // Every level removes the VMs: their addresses and the host keys pinned for them go too.
    let kh =
        crate::host::known_hosts::KnownHosts::new(crate::workspace::known_hosts(&ctx.workspace));
    for addr in store.snapshot().addresses.values() {
        if let Err(e) = kh.replace(addr, 22, &[]) {
            sc.info(format!("could not unpin the host key of {addr}: {e}"));
        }
    }
    let _ = store.update(|s| {
        s.steps.clear();
        s.addresses.clear();
    });
    report
}
