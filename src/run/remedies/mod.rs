//! Fixes that act on a diagnosed failure: what the troubleshoot screen's `f` and
//! `labwarp run --fix` do. A remedy is *prepared* first, on the hosts as they are now (the
//! preflight fixes it names, and the live state a probe reads: host routes, UDP ports,
//! leftover domains, the pool's file system, a lock's holder), so that exactly what will change is shown and
//! confirmed; then that prepared change, and nothing else, is applied.
//!
//! Safety rules, for every probe: a lab.yaml change is written atomically and must still
//! validate; only what `run::ownership` proves is this lab's is removed; anything else is
//! shown as the command to run by hand, and nothing is touched.

mod lab_file;
mod leftover;
mod net_range;
mod pool_space;
mod stale_lock;
mod vbmc_port;

use super::signatures::Remedy;
use super::state::State;
use crate::checks::{self, Fix, HostView};
use crate::host::Cmd;
use crate::lab::Lab;
use crate::plan::{Ctx, HostRole};
use std::path::{Path, PathBuf};

/// A remedy that reads the live state before it can say what to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Probe {
    /// A lab network's range collides with a host route: a free range in lab.yaml.
    NetworkRange,
    /// A VirtualBMC UDP port is taken: this lab's stale vbmcd stopped, or free ports.
    VbmcPort,
    /// A leftover domain (an earlier lab's) stands where the lab's VM goes.
    LeftoverDomain,
    /// The pool's file system is full: what labwarp can prove is its own and unneeded.
    PoolSpace,
    /// A lock (vbmcd's pid file) whose holder is dead.
    StaleLock,
}

impl Probe {
    /// What the fix does, before the live state says exactly how.
    pub fn describe(self) -> &'static str {
        match self {
            Probe::NetworkRange => "move the lab's network to a free range in lab.yaml",
            Probe::VbmcPort => "stop this lab's stale vbmcd, or move the lab to free VBMC ports",
            Probe::LeftoverDomain => "remove the leftover domain when it is provably this lab's",
            Probe::PoolSpace => "remove what labwarp made there and no longer needs",
            Probe::StaleLock => "remove the stale lock when its holder is proven dead",
        }
    }
}

/// One change of a prepared remedy.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// lab.yaml rewritten (atomically) to `text`, which loads and validates as `lab`.
    EditLab {
        file: PathBuf,
        text: String,
        lab: Box<Lab>,
    },
    /// A command run as root on one of the lab's hosts.
    Run { host: HostRole, argv: Vec<String> },
    /// A libvirt domain this lab made, stopped and undefined (its disks stay).
    RemoveDomain { name: String },
    /// A libvirt network this lab made, stopped and undefined.
    RemoveNetwork { name: String },
    /// This lab's vbmcd (and the BMCs it started) stopped; its stage starts it again.
    StopVbmcd,
}

impl Action {
    /// The change as the confirmation shows it.
    pub fn line(&self) -> String {
        match self {
            Action::EditLab { file, .. } => {
                format!(
                    "write {} (atomically; its other settings kept, comments inside it are not)",
                    file.display()
                )
            }
            Action::Run { argv, .. } => format!("$ {}", checks::fix_text::command(argv)),
            Action::RemoveDomain { name } => {
                format!("remove domain {name} (virsh destroy + undefine; its disks stay)")
            }
            Action::RemoveNetwork { name } => {
                format!("remove network {name} (virsh net-destroy + net-undefine)")
            }
            Action::StopVbmcd => {
                "stop this lab's vbmcd and its BMCs (its stage starts it again)".into()
            }
        }
    }
}

/// A remedy read on the hosts as they are now: what was found, exactly what will change.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Prepared {
    /// What was found and what will change, in the order shown.
    pub lines: Vec<String>,
    /// The preflight fixes named by the remedy that apply now.
    pub fixes: Vec<Fix>,
    pub actions: Vec<Action>,
    /// When labwarp cannot act safely: what to do by hand (nothing is changed).
    pub by_hand: Option<String>,
}

impl Prepared {
    /// Whether applying it changes anything.
    pub fn changes(&self, remedy: &Remedy) -> bool {
        !self.fixes.is_empty() || !self.actions.is_empty() || !remedy.commands.is_empty()
    }
}

/// What a remedy did, and the lab as it is now when it changed lab.yaml (a run after it
/// must use that one).
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub done: String,
    pub lab: Option<Box<Lab>>,
}

/// Whether the lab's hypervisor is this machine (the one locality rule).
fn local(ctx: &Ctx) -> bool {
    ctx.lab.hypervisors.first().is_some_and(|h| h.is_local())
}

/// Reads what `remedy` would change now. `lab_file`: the file the lab was loaded from
/// (a lab.yaml change goes there; `None` for a preset, which cannot be edited).
pub async fn prepare(
    ctx: &Ctx,
    state: &State,
    lab_file: Option<&Path>,
    remedy: &Remedy,
) -> anyhow::Result<Prepared> {
    let mut p = Prepared::default();
    if !remedy.findings.is_empty() {
        let view = HostView::system(ctx.virthost.as_ref(), local(ctx));
        for (id, fix) in super::signatures::remedy_fixes(&view, &ctx.lab, remedy).await {
            p.lines.push(format!("{id}:"));
            p.lines
                .extend(checks::fix_text::lines_with_changes(&view, &fix).await);
            p.fixes.push(fix);
        }
    }
    match remedy.probe {
        Some(Probe::NetworkRange) => net_range::prepare(ctx, state, lab_file, &mut p).await?,
        Some(Probe::VbmcPort) => vbmc_port::prepare(ctx, lab_file, &mut p).await?,
        Some(Probe::LeftoverDomain) => leftover::prepare(ctx, state, &mut p).await?,
        Some(Probe::PoolSpace) => pool_space::prepare(ctx, state, &mut p).await?,
        Some(Probe::StaleLock) => stale_lock::prepare(ctx, &mut p).await?,
        None => {}
    }
    p.lines.extend(p.actions.iter().map(Action::line));
    p.lines.extend(remedy.lines());
    Ok(p)
}

/// Applies exactly what was prepared (and the remedy's own commands), in order; the first
/// failure stops it, named.
pub async fn apply(ctx: &Ctx, remedy: &Remedy, prepared: &Prepared) -> anyhow::Result<Applied> {
    if let Some(h) = &prepared.by_hand {
        anyhow::bail!("labwarp changes nothing here: {h}");
    }
    let mut done = Vec::new();
    let mut lab = None;
    if !prepared.fixes.is_empty() {
        let view = HostView::system(ctx.virthost.as_ref(), local(ctx));
        for fix in &prepared.fixes {
            done.extend(checks::apply_fix(&view, fix).await?.steps);
        }
    }
    for a in &prepared.actions {
        match a {
            Action::EditLab { file, text, lab: l } => {
                lab_file::write(file, text)?;
                lab = Some(l.clone());
            }
            Action::Run { host, argv } => {
                let h = ctx.host(*host);
                let out = h.exec(&Cmd::new(argv.iter().cloned()).sudo()).await?;
                if !out.success() {
                    anyhow::bail!(
                        "{}: `{}` failed: {}",
                        h.name(),
                        checks::fix_text::command(argv),
                        out.stderr_str().trim()
                    );
                }
            }
            Action::RemoveDomain { name } => {
                crate::plan::steps::libvirt::remove_domain(&ctx.libvirt, name).await?;
            }
            Action::RemoveNetwork { name } => {
                let _ = ctx.libvirt.undefine_network(name).await?;
            }
            Action::StopVbmcd => {
                let paths = crate::plan::steps::vbmc::VbmcPaths::new(&ctx.lab, &ctx.facts);
                crate::plan::steps::vbmc::stop_daemon(ctx, &paths, &mut |_| {}).await?;
            }
        }
        done.push(a.line());
    }
    if !remedy.commands.is_empty() {
        done.push(super::signatures::apply(ctx, remedy).await?);
    }
    Ok(Applied {
        done: done.join("; "),
        lab,
    })
}
