//! Carries out the app's effects off the UI path: file I/O, loading presets, and (through
//! the library's back end) checks, plans, runs and cleanup. Every result comes back to the
//! app as a message; nothing here touches the screen.

use super::app::{Effect, Found, Msg};
use crate::lab;
use std::path::{Path, PathBuf};
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
}

impl Driver {
    pub fn new(tx: UnboundedSender<Msg>, workspace: PathBuf) -> Driver {
        Driver { tx, workspace }
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
