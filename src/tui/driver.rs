//! Carries out the app's effects off the UI path: file I/O, loading presets, and (through
//! the library's back end) checks, plans, runs and cleanup. Every result comes back to the
//! app as a message; nothing here touches the screen.

use super::app::{Effect, Found, Msg};
use crate::checks::{self, CheckContext, CheckOptions, Finding, Fix, HostView};
use crate::host::{LocalHost, shell_quote};
use crate::lab::{self, Lab};
use crate::run::event::{Event, FindingRow};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
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

pub struct Driver {
    tx: UnboundedSender<Msg>,
    /// Directory searched at start for an existing lab.
    workspace: PathBuf,
    /// The fixes of the last preflight, by finding id, with the lab they were found for.
    fixes: Arc<Mutex<HashMap<String, (Fix, Lab)>>>,
}

impl Driver {
    pub fn new(tx: UnboundedSender<Msg>, workspace: PathBuf) -> Driver {
        Driver {
            tx,
            workspace,
            fixes: Arc::default(),
        }
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
        let lab_path = self.workspace.join("lab.yaml");
        if lab_path.is_file() {
            let name = std::fs::read_to_string(&lab_path)
                .ok()
                .and_then(|t| lab::parse_str(&t, &lab_path.display().to_string()).ok())
                .map(|l| l.name)
                .unwrap_or_else(|| "lab".into());
            self.send(Msg::Found(Found {
                has_state: self.workspace.join("state.yaml").is_file(),
                lab_path,
                name,
            }));
        }
    }

    pub fn execute(&mut self, effect: Effect) -> Control {
        tracing::debug!(effect = effect_name(&effect), "effect");
        match effect {
            Effect::Quit => return Control::Quit,
            Effect::LoadPreset(name) => {
                let msg = match lab::load_preset(&name) {
                    Ok(lab) => {
                        let path = lab.workspace.join("lab.yaml");
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
                    let r = write_atomic(&path, lab::to_yaml(&lab).as_bytes())
                        .map(|_| path.clone())
                        .map_err(|e| format!("{}: {e}", path.display()));
                    let _ = tx.send(Msg::Saved(r));
                });
            }
            Effect::SaveLog { path, lines } => {
                let tx = self.tx.clone();
                tokio::task::spawn_blocking(move || {
                    let mut text = lines.join("\n");
                    text.push('\n');
                    let r = write_atomic(&path, text.as_bytes())
                        .map(|_| path.clone())
                        .map_err(|e| format!("{}: {e}", path.display()));
                    let _ = tx.send(Msg::LogSaved(r));
                });
            }
            Effect::RunChecks(lab) => {
                let (tx, fixes) = (self.tx.clone(), self.fixes.clone());
                tokio::spawn(async move {
                    let r = run_checks(*lab, &tx, &fixes).await;
                    let _ = tx.send(Msg::ChecksDone(r));
                });
            }
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
            other => {
                self.send(Msg::Notice(format!(
                    "{} is not available in this build yet",
                    effect_name(&other)
                )));
            }
        }
        Control::Continue
    }
}

/// `address: local`, `localhost` or a loopback address: this machine, no SSH.
fn is_this_machine(address: &str) -> bool {
    address == "local"
        || address == "localhost"
        || address
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn hypervisor_host(lab: &Lab) -> Result<LocalHost, String> {
    let hv = lab
        .hypervisors
        .first()
        .ok_or("hypervisors: the lab names no hypervisor")?;
    if !is_this_machine(&hv.address) {
        return Err(format!(
            "hypervisor {} is at {}: checking a remote hypervisor needs the SSH transport, which \
             labwarp does not drive yet; run labwarp on the hypervisor itself (address: local)",
            hv.name, hv.address
        ));
    }
    Ok(LocalHost::named(hv.name.clone()))
}

/// Runs every preflight check for the lab, sending each finding as it is known and keeping
/// the fixes so a later ApplyFix can run exactly what was shown.
async fn run_checks(
    lab: Lab,
    tx: &UnboundedSender<Msg>,
    fixes: &Mutex<HashMap<String, (Fix, Lab)>>,
) -> Result<usize, String> {
    let host = hypervisor_host(&lab)?;
    let view = HostView::system(&host, true);
    let ctx = CheckContext::for_lab(lab.clone(), CheckOptions::default());
    let report = checks::run(&view, &ctx).await;
    let mut rows = Vec::new();
    for f in &report.findings {
        let fix_text = match &f.fix {
            Some(fix) => Some(describe_fix(&view, fix).await),
            None => None,
        };
        rows.push(row(f, fix_text));
    }
    if let Ok(mut map) = fixes.lock() {
        map.clear();
        for f in &report.findings {
            if let Some(fix) = f.fix.as_ref().filter(|x| !x.is_manual()) {
                map.insert(f.id.clone(), (fix.clone(), lab.clone()));
            }
        }
    }
    let n = rows.len();
    for r in rows {
        let _ = tx.send(Msg::Engine(Event::Finding { finding: r }));
    }
    Ok(n)
}

fn row(f: &Finding, fix: Option<String>) -> FindingRow {
    FindingRow {
        id: f.id.clone(),
        area: f.area.title().to_string(),
        severity: f.severity.as_str().to_lowercase(),
        title: f.title.clone(),
        evidence: f.evidence.clone(),
        fix,
    }
}

/// Exactly what a fix will do: its commands (quoted as a shell would run them), each file it
/// rewrites with the lines that change, and the daemon to restart.
async fn describe_fix(view: &HostView<'_>, fix: &Fix) -> String {
    let mut out = vec![fix.description.clone()];
    if fix.is_manual() {
        out.push("(labwarp cannot apply this one; do it by hand)".into());
    }
    for e in &fix.edits {
        match &e.backup {
            Some(b) => out.push(format!(
                "rewrite {} (backup {})",
                e.path.display(),
                b.display()
            )),
            None => out.push(format!("write {}", e.path.display())),
        }
        let old = view.read(&e.path).await.content().unwrap_or("").to_string();
        for line in old.lines().filter(|l| !e.content.lines().any(|n| n == *l)) {
            out.push(format!("  - {line}"));
        }
        for line in e.content.lines().filter(|l| !old.lines().any(|o| o == *l)) {
            out.push(format!("  + {line}"));
        }
    }
    for c in &fix.commands {
        out.push(format!(
            "$ {}",
            c.iter()
                .map(|w| shell_quote(w))
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    if let Some(d) = &fix.restart {
        out.push(format!(
            "then restart {d} yourself (running VMs may depend on it)"
        ));
    }
    out.join("\n")
}

async fn apply_fix(lab: &Lab, fix: &Fix) -> Result<String, String> {
    let host = hypervisor_host(lab)?;
    let view = HostView::system(&host, true);
    let applied = checks::apply_fix(&view, fix)
        .await
        .map_err(|e| e.to_string())?;
    Ok(if applied.changed {
        applied.steps.join("; ")
    } else {
        "nothing to change (already applied)".into()
    })
}

/// Opens a lab file for editing: a lab that parses but does not validate still opens (the
/// forms show its problems); one that does not parse is an error naming line and column.
fn load_file(path: &Path) -> Msg {
    let origin = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return Msg::LoadFailed(format!("{origin}: {e}")),
    };
    match lab::parse_str(&text, &origin) {
        Ok(lab) => {
            let warnings = lab::validate(&lab)
                .into_iter()
                .map(|p| format!("{}: {}", p.path, p.message))
                .collect();
            Msg::LabLoaded {
                lab: Box::new(lab),
                path: path.to_path_buf(),
                warnings,
            }
        }
        Err(e) => Msg::LoadFailed(e.to_string()),
    }
}

/// Writes through a temporary file in the same directory, then renames: a crash leaves the
/// old file or the new one, never half of one.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn effect_name(e: &Effect) -> &'static str {
    match e {
        Effect::LoadPreset(_) => "load preset",
        Effect::LoadFile(_) => "open lab file",
        Effect::SaveLab { .. } => "save lab",
        Effect::RunChecks(_) => "preflight checks",
        Effect::ApplyFix { .. } => "apply fix",
        Effect::MakePlan(_) => "plan",
        Effect::StartRun { .. } => "run",
        Effect::CancelRun => "cancel run",
        Effect::RetryStep { .. } => "retry step",
        Effect::SaveLog { .. } => "save log",
        Effect::ContainerLogs { .. } => "container logs",
        Effect::ContainerRestart { .. } => "container restart",
        Effect::ContainerShell { .. } => "container shell",
        Effect::CleanupDryRun { .. } => "cleanup dry run",
        Effect::StartCleanup { .. } => "cleanup",
        Effect::Quit => "quit",
    }
}
