//! Carries out the app's effects off the UI path: file I/O, loading presets, and (through
//! the library's back end) checks, plans, runs and cleanup. Every result comes back to the
//! app as a message; nothing here touches the screen.

use super::app::{Effect, Found, Msg};
use crate::checks::Fix;
use crate::engine::event::{Event, LogStream};
use crate::host::Cancel;
use crate::lab::{self, Lab};
use crate::plan::Selection;
use crate::run::cleanup::{self, CleanPlan};
use crate::run::containers;
use crate::run::monitor::{self, Monitor};
use crate::run::remedies;
use crate::run::session::Session;
use crate::run::signatures::Remedy;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::UnboundedSender;

/// What the event loop itself must do for an effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    Continue,
    Quit,
    /// Hand the terminal to this command (argv) and take it back after.
    Suspend(Vec<String>),
}

mod calls;
mod snapshot_fx;

use calls::*;

/// The open session and the lab it was opened for.
/// The open session, with the monitor that keeps its VM and podman panes live (dropped,
/// and so stopped, when another lab's session replaces it).
type SessionSlot = Arc<tokio::sync::Mutex<Option<(Lab, Arc<Session>, Monitor)>>>;

/// How often the live panes re-read what has no event (addresses, containers).
const PANE_REFRESH: std::time::Duration = std::time::Duration::from_secs(2);

type RemedySlot = Arc<Mutex<Option<(Remedy, remedies::Prepared)>>>;

pub struct Driver {
    tx: UnboundedSender<Msg>,
    /// Directory searched at start for an existing lab.
    workspace: PathBuf,
    /// The fixes of the last preflight, by finding id, with the lab they were found for.
    fixes: Arc<Mutex<HashMap<String, (Fix, Lab)>>>,
    /// One engine session per lab, kept for plan, run and cleanup alike (libvirt's test
    /// driver forgets everything when its connection closes).
    session: SessionSlot,
    /// The troubleshooting remedy last shown, as prepared: exactly that is applied on
    /// confirmation.
    remedy: RemedySlot,
    /// Cancels the run in progress.
    cancel: Arc<Mutex<Option<Cancel>>>,
    /// What the last cleanup dry run listed: exactly this is removed on confirmation.
    clean: Arc<Mutex<Option<CleanPlan>>>,
}

impl Driver {
    pub fn new(tx: UnboundedSender<Msg>, workspace: PathBuf) -> Driver {
        Driver {
            tx,
            workspace,
            fixes: Arc::default(),
            session: Arc::default(),
            cancel: Arc::default(),
            clean: Arc::default(),
            remedy: Arc::default(),
        }
    }

    /// Runs `f` with the lab's session (opened on first use, reopened when the lab changed);
    /// its error goes back as the message `on_err` makes.
    fn with_session<F, Fut>(&self, lab: Lab, on_err: fn(String) -> Msg, f: F)
    where
        F: FnOnce(Arc<Session>, UnboundedSender<Msg>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let (tx, slot) = (self.tx.clone(), self.session.clone());
        tokio::spawn(async move {
            let session = {
                let mut guard = slot.lock().await;
                match guard.as_ref() {
                    Some((l, s, _)) if *l == lab => Ok(s.clone()),
                    _ => {
                        let (etx, mut erx) = tokio::sync::mpsc::unbounded_channel();
                        let fwd = tx.clone();
                        tokio::spawn(async move {
                            while let Some(e) = erx.recv().await {
                                if fwd.send(Msg::Engine(e)).is_err() {
                                    break;
                                }
                            }
                        });
                        match Session::open(lab.clone(), None, etx).await {
                            Ok(s) => {
                                let s = Arc::new(s);
                                let live = monitor::spawn(s.ctx.clone(), PANE_REFRESH);
                                *guard = Some((lab, s.clone(), live));
                                Ok(s)
                            }
                            Err(e) => Err(format!("{e:#}")),
                        }
                    }
                }
            };
            match session {
                Ok(s) => f(s, tx).await,
                Err(e) => {
                    let _ = tx.send(on_err(e));
                }
            }
        });
    }

    fn start_run(&self, lab: Lab, selection: Selection) {
        let cancel = Cancel::new();
        if let Ok(mut c) = self.cancel.lock() {
            *c = Some(cancel.clone());
        }
        self.with_session(lab, Msg::Notice, move |s, tx| async move {
            let r =
                crate::run::run(&s.plan, s.ctx.clone(), s.store.clone(), &selection, &cancel).await;
            if let Err(e) = r {
                let _ = tx.send(Msg::Notice(format!("the run could not start: {e:#}")));
            }
        });
    }

    /// The preflight checks (`deep`: with the probe guest), findings sent as they are known.
    fn checks(&self, lab: Lab, deep: bool) {
        let (tx, fixes) = (self.tx.clone(), self.fixes.clone());
        tokio::spawn(async move {
            let r = run_checks(lab, deep, &tx, &fixes).await;
            let _ = tx.send(Msg::ChecksDone(r));
        });
    }

    /// Connects to the lab's hypervisor once (a person waits on the connection screen) and
    /// says how it went; `trust` pins a confirmed key.
    fn probe(&self, lab: Lab, trust: crate::host::TrustPolicy) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            use crate::host::lab::{Reach, probe_hypervisor};
            let reach = match (lab.hypervisors.first(), workspace_of(&lab)) {
                (Some(hv), Ok(ws)) => probe_hypervisor(hv, &ws, trust).await,
                (None, _) => Reach::Failed("the lab names no hypervisor".into()),
                (_, Err(e)) => Reach::Failed(e),
            };
            let _ = tx.send(Msg::Reach(reach));
        });
    }

    fn send(&self, msg: Msg) {
        // The receiver only goes away when the app is quitting.
        let _ = self.tx.send(msg);
    }

    /// Start-up: the preset list and any lab already in the workspace.
    pub fn start(&self) {
        let presets = lab::presets()
            .into_iter()
            .map(|p| (p.name, p.description))
            .collect();
        self.send(Msg::Presets(presets));
        let lab_path = crate::workspace::lab_file(&self.workspace);
        if lab_path.is_file() {
            let name = std::fs::read_to_string(&lab_path)
                .ok()
                .and_then(|t| lab::parse_str(&t, &lab_path.display().to_string()).ok())
                .map(|l| l.name)
                .unwrap_or_else(|| "lab".into());
            self.send(Msg::Found(Found {
                has_state: crate::workspace::state_file(&self.workspace).is_file(),
                lab_path,
                name,
            }));
        }
    }

    /// The lab of the open session, if any (for effects that do not carry one).
    fn current_lab(&self) -> Option<Lab> {
        self.session
            .try_lock()
            .ok()
            .and_then(|g| g.as_ref().map(|(l, _, _)| l.clone()))
    }

    pub fn execute(&mut self, effect: Effect) -> Control {
        tracing::debug!(effect = effect_name(&effect), "effect");
        match effect {
            Effect::Quit => return Control::Quit,
            Effect::LoadPreset(name) => {
                let msg = match lab::load_preset(&name) {
                    Ok(lab) => {
                        let path = crate::workspace::lab_file(&lab.workspace);
                        Msg::LabLoaded {
                            lab: Box::new(lab),
                            path,
                            warnings: Vec::new(),
                        }
                    }
                    Err(e) => Msg::LoadFailed(e.to_string()),
                };
                self.send(msg);
            }
            Effect::LoadFile(path) => self.send(load_file(&path)),
            Effect::SaveLab { lab, path } => {
                let tx = self.tx.clone();
                tokio::task::spawn_blocking(move || {
                    // A typed VBMC password goes to the workspace's 0600 file, not lab.yaml.
                    let mut lab = lab;
                    let r = crate::run::session::workspace_dir(&lab, None)
                        .map_err(|e| e.to_string())
                        .and_then(|ws| {
                            crate::secrets::stash_vbmc_password(&mut lab, &ws)
                                .map_err(|e| format!("VirtualBMC password: {e}"))
                        })
                        .and_then(|_| {
                            crate::workspace::write_atomic_mkdir(
                                &path,
                                lab::to_yaml(&lab).as_bytes(),
                                0o600,
                            )
                            .map_err(|e| format!("{}: {e}", path.display()))
                        })
                        .map(|_| path.clone());
                    let _ = tx.send(Msg::Saved(r));
                });
            }
            Effect::SaveLog { path, lines } => {
                let tx = self.tx.clone();
                tokio::task::spawn_blocking(move || {
                    let mut text = lines.join("\n");
                    text.push('\n');
                    let r = crate::workspace::write_atomic_mkdir(&path, text.as_bytes(), 0o600)
                        .map(|_| path.clone())
                        .map_err(|e| format!("{}: {e}", path.display()));
                    let _ = tx.send(Msg::LogSaved(r));
                });
            }
            Effect::ProbeHost(lab) => self.probe(*lab, crate::host::TrustPolicy::PinnedOnly),
            Effect::PinHostKey { lab, fingerprint } => {
                // Pins only a key with exactly this fingerprint; another one is refused.
                self.probe(*lab, crate::host::TrustPolicy::Fingerprint(fingerprint))
            }
            Effect::Bootstrap { lab, password } => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let r = match (lab.hypervisors.first(), workspace_of(&lab)) {
                        (Some(hv), Ok(ws)) => {
                            crate::host::lab::bootstrap_hypervisor(hv, &ws, password.take())
                                .await
                                .map_err(|e| e.to_string())
                        }
                        (None, _) => Err("the lab names no hypervisor".into()),
                        (_, Err(e)) => Err(e),
                    };
                    let _ = tx.send(Msg::Bootstrapped(r));
                });
            }
            Effect::RunChecks(lab) => self.checks(*lab, false),
            Effect::RunDeepChecks(lab) => self.checks(*lab, true),
            Effect::ApplyFix { id } => {
                let (tx, fixes) = (self.tx.clone(), self.fixes.clone());
                tokio::spawn(async move {
                    let found = fixes.lock().ok().and_then(|f| f.get(&id).cloned());
                    let result = match found {
                        Some((fix, lab)) => apply_fix(&lab, &fix).await,
                        None => Err(format!("no fix recorded for {id}: re-run the checks")),
                    };
                    let _ = tx.send(Msg::FixApplied { id, result });
                });
            }
            Effect::MakePlan(lab) => {
                self.with_session(
                    *lab,
                    |e| Msg::Plan(Err(e)),
                    |s, tx| async move {
                        let _ = tx.send(Msg::Plan(Ok(survey(&s).await)));
                    },
                );
            }
            Effect::StartRun { lab, resume: _ } => {
                // Resume and respin are the same run: every step checks first, so what is
                // already done is skipped and an interrupted step is redone.
                self.start_run(*lab, Selection::All);
            }
            Effect::RetryStep { stage, step: _ } => {
                let lab = self.current_lab();
                match lab {
                    Some(lab) => self.start_run(lab, Selection::From(stage)),
                    None => self.send(Msg::Notice("nothing to retry: no run yet".into())),
                }
            }
            Effect::CancelRun => {
                if let Some(c) = self.cancel.lock().ok().and_then(|c| c.clone()) {
                    c.cancel();
                }
            }
            Effect::CleanupDryRun { lab, level } => {
                let keep = self.clean.clone();
                self.with_session(
                    *lab,
                    |e| Msg::CleanupPreview(Err(e)),
                    move |s, tx| async move {
                        let state = s.store.snapshot();
                        let r = cleanup::inventory(&s.ctx, &state, &s.plan, level).await;
                        let msg = match r {
                            Ok(plan) => {
                                let items = crate::tui::screens::cleanup::Preview {
                                    remove: plan.items.iter().map(|i| i.what.clone()).collect(),
                                    kept: plan
                                        .kept
                                        .iter()
                                        .map(|k| match &k.by_hand {
                                            Some(c) => {
                                                format!("{}: {} (by hand: {c})", k.what, k.why)
                                            }
                                            None => format!("{}: {}", k.what, k.why),
                                        })
                                        .collect(),
                                };
                                if let Ok(mut k) = keep.lock() {
                                    *k = Some(plan);
                                }
                                Ok(items)
                            }
                            Err(e) => Err(format!("{e:#}")),
                        };
                        let _ = tx.send(Msg::CleanupPreview(msg));
                    },
                );
            }
            Effect::StartCleanup { lab, level } => {
                let shown = self.clean.lock().ok().and_then(|mut k| k.take());
                self.with_session(
                    *lab,
                    |e| Msg::CleanupFinished(Err(e)),
                    move |s, tx| async move {
                        let plan = match shown {
                            Some(p) if p.level == (level) => p,
                            _ => {
                                let _ = tx.send(Msg::CleanupFinished(Err(
                                    "the list shown is out of date: run the dry run again".into(),
                                )));
                                return;
                            }
                        };
                        let report = cleanup::execute(&s.ctx, &s.store, &plan).await;
                        let failed = report
                            .failed
                            .iter()
                            .map(|(w, e)| format!("{w}: {e}"))
                            .collect();
                        let _ = tx.send(Msg::CleanupFinished(Ok((report.removed.len(), failed))));
                    },
                );
            }
            Effect::Snapshot { lab, op } => snapshot_fx::carry_out(self, *lab, op),
            Effect::ContainerLogs { name } => {
                let Some(lab) = self.current_lab() else {
                    return Control::Continue;
                };
                self.with_session(lab, Msg::Notice, move |s, tx| async move {
                    let stage = format!("podman:{name}");
                    match containers::logs(&s.ctx, &name, 2000).await {
                        Ok(lines) => {
                            for l in lines {
                                let stream = match l.stream {
                                    crate::host::Stream::Stdout => LogStream::Stdout,
                                    crate::host::Stream::Stderr => LogStream::Stderr,
                                };
                                let _ = tx.send(Msg::Engine(Event::Log {
                                    stage: stage.clone(),
                                    step: None,
                                    stream,
                                    line: l.line,
                                }));
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Msg::Notice(format!("podman logs {name}: {e}")));
                        }
                    }
                });
            }
            Effect::ContainerRestart { name } => {
                let Some(lab) = self.current_lab() else {
                    return Control::Continue;
                };
                self.with_session(lab, Msg::Notice, move |s, tx| async move {
                    let note = match containers::restart(&s.ctx, &name).await {
                        Ok(()) => format!("Restarted {name}"),
                        Err(e) => format!("podman restart {name}: {e}"),
                    };
                    let _ = tx.send(Msg::Notice(note));
                });
            }
            Effect::ContainerShell { name } => {
                // The back end builds the argv (this machine, or ssh -t with the pinned
                // ssh.config, sudo when not root); the terminal is handed over once it is known.
                let Some(lab) = self.current_lab() else {
                    return Control::Continue;
                };
                self.with_session(lab, Msg::Notice, move |s, tx| async move {
                    let msg = match containers::shell_argv(&s.ctx, &name).await {
                        Ok(argv) => Msg::Shell(argv),
                        Err(e) => Msg::Notice(format!("shell in {name}: {e}")),
                    };
                    let _ = tx.send(msg);
                });
            }
            Effect::RunInTerminal(argv) => return Control::Suspend(argv),
            Effect::PrepareRemedy {
                stage,
                step,
                remedy,
                lab_file,
            } => {
                let Some(lab) = self.current_lab() else {
                    return Control::Continue;
                };
                let keep = self.remedy.clone();
                self.with_session(lab, Msg::Notice, move |s, tx| async move {
                    let state = s.store.snapshot();
                    let file = lab_file.is_file().then_some(lab_file.as_path());
                    let lines = match remedies::prepare(&s.ctx, &state, file, &remedy).await {
                        Ok(p) if p.by_hand.is_some() => Err(format!(
                            "labwarp changes nothing: {}",
                            p.by_hand.unwrap_or_default()
                        )),
                        Ok(p) => {
                            let lines = if p.changes(&remedy) {
                                p.lines.clone()
                            } else {
                                vec![]
                            };
                            if let Ok(mut k) = keep.lock() {
                                *k = Some((remedy.clone(), p));
                            }
                            Ok(lines)
                        }
                        Err(e) => Err(format!("Cannot read what to change: {e:#}")),
                    };
                    let _ = tx.send(Msg::RemedyPrepared {
                        stage,
                        step,
                        remedy,
                        lines,
                    });
                });
            }
            Effect::ApplyRemedy {
                stage,
                step,
                remedy,
            } => {
                let Some(lab) = self.current_lab() else {
                    return Control::Continue;
                };
                // Exactly what was shown (a remedy of commands alone is shown as they are).
                let shown = self
                    .remedy
                    .lock()
                    .ok()
                    .and_then(|mut k| k.take())
                    .filter(|(r, _)| *r == remedy)
                    .map(|(_, p)| p);
                self.with_session(lab, Msg::Notice, move |s, tx| async move {
                    let result = match shown {
                        Some(p) => remedies::apply(&s.ctx, &remedy, &p).await,
                        None if remedy.findings.is_empty() && remedy.probe.is_none() => {
                            remedies::apply(&s.ctx, &remedy, &Default::default()).await
                        }
                        None => Err(anyhow::anyhow!(
                            "the change shown is out of date: press f again"
                        )),
                    };
                    let _ = tx.send(Msg::RemedyApplied {
                        stage,
                        step,
                        result: result.map_err(|e| format!("{e:#}")),
                    });
                });
            }
        }
        Control::Continue
    }
}

fn effect_name(e: &Effect) -> &'static str {
    match e {
        Effect::LoadPreset(_) => "load preset",
        Effect::LoadFile(_) => "open lab file",
        Effect::SaveLab { .. } => "save lab",
        Effect::ProbeHost(_) => "connect to the hypervisor",
        Effect::PinHostKey { .. } => "pin host key",
        Effect::Bootstrap { .. } => "install the workspace key",
        Effect::RunChecks(_) => "preflight checks",
        Effect::RunDeepChecks(_) => "deep preflight checks",
        Effect::ApplyFix { .. } => "apply fix",
        Effect::MakePlan(_) => "plan",
        Effect::StartRun { .. } => "run",
        Effect::CancelRun => "cancel run",
        Effect::RetryStep { .. } => "retry step",
        Effect::SaveLog { .. } => "save log",
        Effect::ContainerLogs { .. } => "container logs",
        Effect::ContainerRestart { .. } => "container restart",
        Effect::ContainerShell { .. } => "container shell",
        Effect::RunInTerminal(_) => "hand over the terminal",
        Effect::ApplyRemedy { .. } => "apply a troubleshooting fix",
        Effect::PrepareRemedy { .. } => "read a troubleshooting fix",
        Effect::CleanupDryRun { .. } => "cleanup dry run",
        Effect::StartCleanup { .. } => "cleanup",
        Effect::Snapshot { .. } => "snapshot",
        Effect::Quit => "quit",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unparsable_lab_file_is_an_error_with_its_location_and_a_wrong_one_still_opens() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, "name: [unclosed\n").unwrap();
        match load_file(&bad) {
            Msg::LoadFailed(e) => assert!(e.contains("bad.yaml:"), "{e}"),
            other => panic!("expected an error, got {other:?}"),
        }
        let wrong = dir.path().join("wrong.yaml");
        std::fs::write(
            &wrong,
            "preset: demo\nhypervisors:\n  - address: 'bad host!'\n",
        )
        .unwrap();
        match load_file(&wrong) {
            Msg::LabLoaded { warnings, .. } => {
                assert!(
                    warnings
                        .iter()
                        .any(|w| w.starts_with("hypervisors[0].address")),
                    "{warnings:?}"
                )
            }
            other => panic!("a lab with problems still opens in the forms, got {other:?}"),
        }
    }
}
