//! `labwarp run`: executes the plan headless, printing events as text or JSON lines.
//! Exit 0 when every selected stage finished, 1 otherwise, 130 when cancelled.

use super::EXIT_INVALID;
use super::common::{LabArgs, confirm, lab_and_runtime, open_session};
use crate::engine::event::Event;
use crate::host::Cancel;
use crate::plan::Selection;
use crate::run::session::Session;
use crate::run::{print, signatures};
use std::process::ExitCode;
use tokio::sync::mpsc;

pub const EXIT_CANCELLED: u8 = 130;

/// Cancels on Ctrl-C (SIGINT) or SIGTERM.
pub fn cancel_on_signals(cancel: Cancel) {
    tokio::spawn(async move {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        match term {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        eprintln!("labwarp: stopping (signal received); state is recorded, run again to resume");
        cancel.cancel();
    });
}

/// Says so when the last run died without recording its end (SIGKILL, power loss): what it
/// left half-made is in the state file, and this run checks every step again.
fn interrupted_note(st: &crate::engine::state::State) -> Option<String> {
    let r = st.last_run.as_ref()?;
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(r.pid as i32), None).is_ok();
    (r.finished.is_none() && !alive).then(|| {
        format!(
            "the last run (pid {}) stopped without finishing; resuming: every step is checked again",
            r.pid
        )
    })
}

/// The run's failed steps with their stage's last log lines, for the diagnosis printed
/// once the run ends: what the TUI's troubleshoot screen shows, from the same signatures.
#[derive(Default)]
struct Failures {
    tails: std::collections::HashMap<String, std::collections::VecDeque<String>>,
    failed: Vec<(String, String, String, Vec<String>)>,
}

impl Failures {
    fn see(&mut self, e: &Event) {
        match e {
            Event::Log { stage, line, .. } => {
                let t = self.tails.entry(stage.clone()).or_default();
                if t.len() == signatures::TAIL {
                    t.pop_front();
                }
                t.push_back(line.clone());
            }
            Event::StepFailed { stage, step, error } => {
                let tail = self
                    .tails
                    .get(stage)
                    .map(|t| t.iter().cloned().collect())
                    .unwrap_or_default();
                self.failed
                    .push((stage.clone(), step.clone(), error.clone(), tail));
            }
            _ => {}
        }
    }

    /// `distro`: the hypervisor's family, for the package manager of a remedy.
    fn print(&self, json: bool, distro: crate::lab::DistroFamily) {
        for (stage, step, error, tail) in &self.failed {
            let hits = signatures::diagnose_for(error, tail.iter().map(String::as_str), distro);
            if json {
                let v = serde_json::json!({
                    "event": "diagnosis",
                    "stage": stage,
                    "step": step,
                    "error": error,
                    "log_tail": tail,
                    "matches": hits,
                });
                println!("{v}");
                continue;
            }
            println!("\ndiagnosis of {stage}/{step}: {error}");
            if hits.is_empty() {
                println!(
                    "  no known signature matches; the log lines above and workspace/logs/{stage}.log are the evidence"
                );
            }
            for d in hits {
                println!("  {}", d.title);
                println!("    {}", d.explanation);
                println!("    fix: {}", d.fix);
                if let Some(r) = &d.remedy {
                    println!(
                        "    labwarp run --fix: {} (the exact change is shown and confirmed first)",
                        r.description
                    );
                }
            }
        }
    }

    /// The first failed step whose diagnosis carries a fix labwarp can apply.
    fn fixable(&self, distro: crate::lab::DistroFamily) -> Option<super::run_fix::Fixable> {
        self.failed.iter().find_map(|(stage, step, error, tail)| {
            signatures::diagnose_for(error, tail.iter().map(String::as_str), distro)
                .into_iter()
                .find_map(|d| {
                    Some(super::run_fix::Fixable {
                        stage: stage.clone(),
                        step: step.clone(),
                        title: d.title,
                        remedy: d.remedy?,
                    })
                })
        })
    }
}

/// What `labwarp run` was asked to do beyond the lab.
pub struct RunOptions {
    pub yes: bool,
    pub json: bool,
    pub selection: Selection,
    /// Tear the lab down to this level first (once).
    pub fresh: Option<crate::plan::Level>,
    /// Fix a failure with a safe fix and run again (at most three times).
    pub fix: bool,
    /// Respin first (once).
    pub respin: Option<crate::run::respin::Respin>,
    /// Take no snapshot after the undercloud install.
    pub no_snapshot: bool,
    /// Restart running VMs for drifted fields that wait for the next boot.
    pub restart: bool,
}

/// Runs the lab; with `fix`, a failure whose diagnosis has a fix labwarp can apply is
/// fixed (shown and confirmed first) and the run starts again, at most three times.
pub fn run(args: LabArgs, mut o: RunOptions) -> ExitCode {
    let mut rounds = 0;
    loop {
        let (code, fixable) = run_once(&args, &o);
        // A teardown or respin happens once: a run again after a fix resumes from there.
        o.fresh = None;
        o.respin = None;
        match fixable {
            Some(f) if o.fix && rounds < 3 => {
                rounds += 1;
                if !super::run_fix::fix(&args, o.yes, o.json, &f) {
                    return code;
                }
            }
            _ => return code,
        }
    }
}

/// One run; a failed one also gives the first failure labwarp can fix.
fn run_once(args: &LabArgs, o: &RunOptions) -> (ExitCode, Option<super::run_fix::Fixable>) {
    let (yes, json, selection, fresh) = (o.yes, o.json, &o.selection, o.fresh);
    let (respin, no_snapshot, restart) = (o.respin, o.no_snapshot, o.restart);
    let (mut lab, rt) = match lab_and_runtime(args) {
        Ok(v) => v,
        Err(code) => return (code, None),
    };
    rt.block_on(async move {
        let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
        let recorded = lab.clone();
        if no_snapshot {
            lab.snapshots.after_undercloud_install.clear();
        }
        let s = match open_session("run", lab, args, tx).await {
            Ok(s) => s,
            Err(code) => return (code, None),
        };
        if let Err(e) = selection.mask(&s.plan) {
            eprintln!("labwarp run: {e}");
            return (ExitCode::from(EXIT_INVALID), None);
        }
        if !json {
            println!(
                "lab {}: workspace {}, domain type {} ({})",
                s.ctx.lab.name,
                s.ctx.workspace.display(),
                s.ctx.facts.domain_type,
                s.ctx.facts.domain_type_reason
            );
            for n in &s.ctx.facts.notes {
                println!("note: {n}");
            }
            if let Some(n) = interrupted_note(&s.store.snapshot()) {
                println!("note: {n}");
            }
        }
        // --fresh LEVEL: what a clean at that level removes, shown, then removed first.
        let teardown = match fresh {
            Some(level) => {
                let state = s.store.snapshot();
                match crate::run::cleanup::inventory(&s.ctx, &state, &s.plan, level).await {
                    Ok(list) => {
                        if !json {
                            super::clean::print_list(&list);
                        }
                        Some(list)
                    }
                    Err(e) => {
                        eprintln!("labwarp run --fresh: cannot list what to remove: {e:#}");
                        return (ExitCode::from(EXIT_INVALID), None);
                    }
                }
            }
            None => None,
        };
        // What differs from lab.yaml, and whether VMs may be restarted for it.
        super::drift::review(&s, !yes && teardown.is_none(), restart, json).await;
        let question = match &teardown {
            Some(t) => format!(
                "Remove these {} item(s) (clean --level {}), then build lab {}?",
                t.items.len(),
                t.level.as_str(),
                s.ctx.lab.name
            ),
            None => format!("Build lab {} now?", s.ctx.lab.name),
        };
        if respin.is_none() && !yes && !confirm(&question) {
            return (ExitCode::from(EXIT_INVALID), None);
        }
        if let Some(r) = respin
            && let Err(code) = super::respin::prepare(&s, r, json, yes).await
        {
            return (code, None);
        }
        if let Some(t) = &teardown {
            let report = crate::run::cleanup::execute(&s.ctx, &s.store, t).await;
            if !report.ok() {
                for (what, err) in &report.failed {
                    eprintln!("labwarp run --fresh: could not remove {what}: {err}");
                }
                eprintln!("labwarp run --fresh: the teardown did not finish; nothing was built (run again: it converges)");
                return (ExitCode::from(1), None);
            }
            if !json {
                println!(
                    "fresh: removed {} item(s) at level {}; building anew",
                    report.removed.len(),
                    t.level.as_str()
                );
            }
        }
        if let Err(e) =
            crate::run::session::record_lab(&recorded, &s.ctx.workspace, args.source().as_deref())
        {
            eprintln!("labwarp run: could not record the lab in the workspace: {e:#}");
        }
        let distro = recorded
            .hypervisors
            .first()
            .map(|h| h.distro)
            .unwrap_or_default();
        let printer = tokio::spawn(async move {
            let mut failures = Failures::default();
            while let Some(e) = rx.recv().await {
                failures.see(&e);
                if json {
                    println!("{}", print::json(&e));
                } else {
                    println!("{}", print::text(&e));
                }
            }
            failures.print(json, distro);
            failures.fixable(distro)
        });
        let cancel = Cancel::new();
        cancel_on_signals(cancel.clone());
        let Session {
            ctx,
            plan,
            store,
            log_task,
        } = s;
        let result = crate::run::run(&plan, ctx.clone(), store, selection, &cancel).await;
        drop(ctx);
        let _ = log_task.await;
        let fixable = printer.await.ok().flatten();
        if let Ok(sum) = &result
            && !sum.unverified.is_empty()
            && !json
        {
            // Not done, not failed: counted apart, never as done (a rerun checks again).
            println!(
                "run: {} step(s) UNVERIFIED (could not be checked here, so not counted as done): {}",
                sum.unverified.len(),
                sum.unverified.join(", ")
            );
        }
        match result {
            Ok(sum) if sum.cancelled => (ExitCode::from(EXIT_CANCELLED), None),
            Ok(sum) if sum.ok => (ExitCode::SUCCESS, None),
            Ok(_) => (ExitCode::from(1), fixable),
            Err(e) => {
                eprintln!("labwarp run: {e:#}");
                (ExitCode::from(EXIT_INVALID), None)
            }
        }
    })
}
