//! Teardown: what a clean at a level will remove (as data, for `--dry-run` and the TUI's
//! guided cleanup), and removal that converges in one run whatever state things are in.
//!
//! The list comes from two sources, merged: the state file, and discovery on the live
//! hosts (libvirt objects named with the lab prefix or carrying labwarp's ownership
//! metadata, containers labelled with the lab, and every resource the plan would create
//! that exists now). So a half-created lab, or one whose state.yaml was lost, is still
//! cleaned. Every removal treats "already gone" as success, and one failure does not stop
//! the others.

use super::state::{ResourceStatus, State, StateStore};
use crate::host::{Cmd, HostError};
use crate::plan::job::Job;
use crate::plan::resource::ABSENT_MARKER;
use crate::plan::steps::vbmc::{self, VbmcPaths};
use crate::plan::{Ctx, HostRole, Level, Plan, Resource};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Label every container labwarp starts carries (`labwarp.lab=<lab name>`).
pub const CONTAINER_LABEL: &str = "labwarp.lab";
/// Comment (GECOS) of a user labwarp created: only such users are ever removed.
pub fn user_comment(lab: &str) -> String {
    format!("labwarp lab {lab}")
}

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
}

/// What a clean at `level` would remove, in removal order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanPlan {
    pub lab: String,
    pub level: Level,
    pub items: Vec<CleanItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CleanReport {
    pub removed: Vec<String>,
    pub failed: Vec<(String, String)>,
}

impl CleanReport {
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
    }
}

/// Builds the removal list from the state file, the plan and discovery on the live hosts.
pub async fn inventory(
    ctx: &Ctx,
    state: &State,
    plan: &Plan,
    level: Level,
) -> anyhow::Result<CleanPlan> {
    let mut items: Vec<CleanItem> = Vec::new();
    let mut add = |r: Resource, by: FoundBy, st: Option<ResourceStatus>| {
        if r.level() > level {
            return;
        }
        match items.iter_mut().find(|i| i.resource == r) {
            Some(i) => {
                if i.found_by != by {
                    i.found_by = FoundBy::Both;
                }
                if st.is_some() {
                    i.state = st;
                }
            }
            None => items.push(CleanItem {
                what: r.to_string(),
                resource: r,
                found_by: by,
                state: st,
            }),
        }
    };
    for e in &state.resources {
        add(e.resource.clone(), FoundBy::State, Some(e.status));
    }
    for r in discover(ctx, plan).await? {
        add(r, FoundBy::Discovery, None);
    }
    items.sort_by_key(|i| i.resource.removal_rank());
    Ok(CleanPlan {
        lab: ctx.lab.name.clone(),
        level,
        items,
    })
}

/// Resources that exist now and are labwarp's: the plan's own resources found on the
/// hosts, plus containers labelled with the lab.
pub async fn discover(ctx: &Ctx, plan: &Plan) -> anyhow::Result<Vec<Resource>> {
    let mut out: Vec<Resource> = Vec::new();
    for stage in plan {
        for p in &stage.steps {
            for r in p.step.resources() {
                if out.contains(&r) || lives_in_undercloud_vm(ctx, &r) {
                    continue;
                }
                if exists(ctx, &r).await? {
                    out.push(r);
                }
            }
        }
    }
    // libvirt objects named with the lab prefix, or carrying labwarp's ownership metadata.
    let prefix = format!("{}-", ctx.lab.name);
    for d in ctx.libvirt.domains().await? {
        let ours = d.name.starts_with(&prefix) || d.labwarp_lab.as_deref() == Some(&ctx.lab.name);
        let r = Resource::Domain { name: d.name };
        if ours && !out.contains(&r) {
            out.push(r);
        }
    }
    for n in ctx.libvirt.networks().await? {
        let r = Resource::Network {
            name: n.name.clone(),
        };
        if n.name.starts_with(&prefix) && !out.contains(&r) {
            out.push(r);
        }
    }
    for p in ctx.libvirt.pools().await? {
        let r = Resource::Pool {
            name: p.name.clone(),
        };
        if p.name.starts_with(&prefix) && !out.contains(&r) {
            out.push(r);
        }
    }
    // VirtualBMC: every entry in the lab's directory (a node the lab no longer has, too),
    // and its daemon when one runs or left a pid file.
    if !ctx.facts.test_driver {
        let paths = VbmcPaths::of(ctx);
        for node in vbmc::existing_entries(ctx, &paths).await? {
            let r = Resource::VbmcEntry { node };
            if !out.contains(&r) {
                out.push(r);
            }
        }
        let d = Resource::VbmcDaemon {
            dir: paths.dir.clone(),
        };
        if !out.contains(&d) && exists(ctx, &d).await? {
            out.push(d);
        }
    }
    // In the sandbox both roles are this machine: look once, as the undercloud.
    let roles: &[HostRole] = if ctx.facts.sandbox {
        &[HostRole::Undercloud]
    } else {
        &[HostRole::Virthost]
    };
    for role in roles.iter().copied() {
        for name in labelled_containers(ctx, role).await? {
            let r = Resource::Container { host: role, name };
            if !out.contains(&r) {
                out.push(r);
            }
        }
    }
    Ok(out)
}

/// Containers carrying the lab's label on a host (none when podman is not installed).
async fn labelled_containers(ctx: &Ctx, role: HostRole) -> anyhow::Result<Vec<String>> {
    let cmd = Cmd::new([
        "podman".to_string(),
        "ps".into(),
        "-a".into(),
        "--filter".into(),
        format!("label={CONTAINER_LABEL}={}", ctx.lab.name),
        "--format".into(),
        "{{.Names}}".into(),
    ])
    .sudo();
    match ctx.host(role).exec(&cmd).await {
        Ok(out) if out.success() => Ok(out
            .stdout_str()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()),
        // podman missing or failing: nothing labwarp could have started there.
        Ok(_) => Ok(Vec::new()),
        Err(HostError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// Resources inside a real undercloud VM go with the VM (its disk is removed at `nodes`):
/// nothing to do for them one by one. In the sandbox they live on this machine.
pub fn lives_in_undercloud_vm(ctx: &Ctx, r: &Resource) -> bool {
    let role = match r {
        Resource::Container { host, .. }
        | Resource::Job { host, .. }
        | Resource::File { host, .. }
        | Resource::Dir { host, .. }
        | Resource::User { host, .. }
        | Resource::ConfigBackup { host, .. } => *host,
        _ => HostRole::Virthost,
    };
    role == HostRole::Undercloud && !ctx.facts.sandbox
}

/// Whether a resource exists now.
pub async fn exists(ctx: &Ctx, r: &Resource) -> anyhow::Result<bool> {
    Ok(match r {
        Resource::File { host, path, .. } | Resource::Dir { host, path, .. } => {
            ctx.host(*host).exists(path).await?
        }
        Resource::ConfigBackup { host, backup, .. } => ctx.host(*host).exists(backup).await?,
        Resource::Container { host, name } => {
            let out = ctx
                .host(*host)
                .exec(&Cmd::new(["podman", "container", "exists", name]).sudo())
                .await;
            matches!(out, Ok(o) if o.success())
        }
        Resource::Job { host, dir, name } => {
            Job::new(dir, name).exists(ctx.host(*host).as_ref()).await?
        }
        Resource::User { host, name } => {
            let out = ctx
                .host(*host)
                .exec(&Cmd::new(["getent", "passwd", name]))
                .await?;
            // Only a user labwarp created (its comment names the lab) counts as ours.
            out.success() && out.stdout_str().contains(&user_comment(&ctx.lab.name))
        }
        Resource::Domain { name } => ctx.libvirt.domain_exists(name).await?,
        Resource::Network { name } => ctx
            .libvirt
            .networks()
            .await?
            .iter()
            .any(|n| &n.name == name),
        Resource::Pool { name } => ctx.libvirt.pools().await?.iter().any(|p| &p.name == name),
        Resource::VbmcEntry { node } => {
            let paths = VbmcPaths::of(ctx);
            ctx.virthost.exists(&paths.node_dir(node)).await?
        }
        Resource::VbmcDaemon { dir } => {
            let paths = VbmcPaths::of(ctx).with_dir(dir);
            ctx.virthost.exists(&paths.pid_file()).await?
                || ctx.virthost.exists(&paths.unit_path()).await?
        }
        Resource::VbmcVenv { path } => ctx.virthost.exists(&vbmc::venv_marker(path)).await?,
        Resource::FirewallPort { port } => {
            let (fw, _) = vbmc::detect_firewall(ctx).await?;
            match fw {
                vbmc::Firewall::None(_) => false,
                fw => vbmc::port_open(ctx, &fw, *port).await?,
            }
        }
    })
}

/// Refuses paths whose removal would be a disaster whatever the state file says.
fn safe_to_remove(path: &Path) -> anyhow::Result<()> {
    let depth = path.components().count();
    if !path.is_absolute() || depth < 3 {
        anyhow::bail!(
            "refusing to remove {}: labwarp only removes absolute paths at least two levels deep",
            path.display()
        );
    }
    Ok(())
}

/// Removes one resource; "already gone" is success. `log` narrates what was done.
pub async fn remove(
    ctx: &Ctx,
    r: &Resource,
    log: &mut (dyn FnMut(String) + Send),
) -> anyhow::Result<()> {
    match r {
        Resource::File { host, path, .. } => {
            safe_to_remove(path)?;
            let h = ctx.host(*host);
            if h.exists(path).await? {
                run_ok(ctx, *host, Cmd::new(["rm", "-f", "--"]).arg_path(path)).await?;
                log(format!("removed file {}", path.display()));
            }
        }
        Resource::Dir { host, path, .. } => {
            safe_to_remove(path)?;
            let h = ctx.host(*host);
            if h.exists(path).await? {
                run_ok(ctx, *host, Cmd::new(["rm", "-rf", "--"]).arg_path(path)).await?;
                log(format!("removed directory {}", path.display()));
            }
        }
        Resource::Container { host, name } => {
            // `rm -f` stops a running or paused container; `--ignore` makes a missing one fine.
            run_ok(
                ctx,
                *host,
                Cmd::new(["podman", "rm", "-f", "--ignore", "-t", "0", name]).sudo(),
            )
            .await?;
            log(format!("removed container {name}"));
        }
        Resource::Job { host, dir, name } => {
            let job = Job::new(dir, name);
            safe_to_remove(&job.base())?;
            let h = ctx.host(*host);
            // No pid file, no worker: the files alone say whether anything is there.
            if job.exists(h.as_ref()).await? {
                for line in job.stop_and_remove(h.as_ref()).await? {
                    log(line);
                }
            }
        }
        Resource::User { host, name } => {
            if exists(ctx, r).await? {
                // Processes first (quickstart: pkill, then pkill -9), then the user and home.
                let h = ctx.host(*host);
                let _ = h
                    .exec(&Cmd::new(["pkill", "-KILL", "-u", name]).sudo())
                    .await;
                run_ok(ctx, *host, Cmd::new(["userdel", "-r", "-f", name]).sudo()).await?;
                log(format!("removed user {name}"));
            }
        }
        Resource::ConfigBackup { host, path, backup } => {
            let h = ctx.host(*host);
            if h.exists(backup).await? {
                let saved = h.read_file(backup).await?;
                if saved == ABSENT_MARKER.as_bytes() {
                    if h.exists(path).await? {
                        run_ok(ctx, *host, Cmd::new(["rm", "-f", "--"]).arg_path(path)).await?;
                    }
                    log(format!(
                        "removed {} (it did not exist before labwarp)",
                        path.display()
                    ));
                } else {
                    // Keep the file's mode (qemu.conf is 0600): the backup was written with it.
                    let mode = h
                        .exec(&Cmd::new(["stat", "-c", "%a", "--"]).arg_path(backup))
                        .await
                        .ok()
                        .filter(|o| o.success())
                        .and_then(|o| u32::from_str_radix(o.stdout_str().trim(), 8).ok())
                        .unwrap_or(0o644);
                    h.write_file(path, &saved, mode).await?;
                    log(format!(
                        "restored {} from {}",
                        path.display(),
                        backup.display()
                    ));
                }
                run_ok(ctx, *host, Cmd::new(["rm", "-f", "--"]).arg_path(backup)).await?;
            }
        }
        Resource::Domain { name } => {
            let u = crate::plan::steps::libvirt::remove_domain(&ctx.libvirt, name).await?;
            if u.outcome != crate::virt::Outcome::AlreadyAbsent {
                log(format!(
                    "removed domain {name}{}{}",
                    if u.destroyed {
                        " (was running: destroyed first)"
                    } else {
                        ""
                    },
                    if u.removed_volumes.is_empty() {
                        String::new()
                    } else {
                        format!(", volumes {}", u.removed_volumes.join(", "))
                    }
                ));
            }
        }
        Resource::Network { name } => {
            if ctx.libvirt.undefine_network(name).await? != crate::virt::Outcome::AlreadyAbsent {
                log(format!("removed network {name} (and its bridge)"));
            }
        }
        Resource::Pool { name } => {
            // Stops it first; the pool's directory is a separate `Dir` resource.
            if ctx.libvirt.undefine_pool(name).await? != crate::virt::Outcome::AlreadyAbsent {
                log(format!("removed storage pool {name}"));
            }
        }
        Resource::VbmcEntry { node } => {
            vbmc::remove_entry(ctx, &VbmcPaths::of(ctx), node, log).await?;
        }
        Resource::VbmcDaemon { dir } => {
            vbmc::stop_daemon(ctx, &VbmcPaths::of(ctx).with_dir(dir), log).await?;
        }
        Resource::VbmcVenv { path } => {
            vbmc::remove_venv(ctx, path, log).await?;
        }
        Resource::FirewallPort { port } => {
            if vbmc::close_port(ctx, *port).await? {
                log(format!("closed UDP {port} in the firewall"));
            }
        }
    }
    Ok(())
}

async fn run_ok(ctx: &Ctx, role: HostRole, cmd: Cmd) -> anyhow::Result<()> {
    let out = ctx.host(role).exec(&cmd).await?;
    if !out.success() {
        anyhow::bail!(
            "`{}` on {} failed: {}",
            cmd.to_shell(),
            ctx.host(role).name(),
            out.stderr_str().trim()
        );
    }
    Ok(())
}

trait ArgPath {
    fn arg_path(self, p: &Path) -> Self;
}

impl ArgPath for Cmd {
    fn arg_path(mut self, p: &Path) -> Self {
        self.argv.push(p.to_string_lossy().into_owned());
        self.sudo = true;
        self
    }
}

/// Removes everything in `plan` (in its order), dropping each removed resource from the
/// state file. Failures are collected, not fatal: the rest is still removed.
pub async fn execute(ctx: &Ctx, store: &StateStore, plan: &CleanPlan) -> CleanReport {
    let mut report = CleanReport::default();
    let sc = ctx.stage("clean");
    for item in &plan.items {
        let mut log = |l: String| sc.info(l);
        if lives_in_undercloud_vm(ctx, &item.resource) {
            sc.info(format!("{}: goes with the undercloud VM", item.what));
            let _ = store.update(|s| s.forget_resource(&item.resource));
            report.removed.push(item.what.clone());
            continue;
        }
        match remove(ctx, &item.resource, &mut log).await {
            Ok(()) => {
                let _ = store.update(|s| s.forget_resource(&item.resource));
                report.removed.push(item.what.clone());
            }
            Err(e) => {
                sc.info(format!("could not remove {}: {e:#}", item.what));
                report.failed.push((item.what.clone(), format!("{e:#}")));
            }
        }
    }
    // Step outcomes describe resources that may now be gone: the next run re-checks anyway.
    // Every level removes the VMs: their addresses and the host keys pinned for them go too.
    let kh = crate::host::known_hosts::KnownHosts::new(ctx.workspace.join("known_hosts"));
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
