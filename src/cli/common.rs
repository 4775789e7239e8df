//! What the engine's subcommands share: which lab, which workspace, a runtime, a prompt.

use super::EXIT_INVALID;
use crate::engine::event::Event;
use crate::lab::{self, Lab};
use crate::run::session::Session;
use clap::Args;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tokio::sync::mpsc;

#[derive(Debug, Clone, Args)]
pub struct LabArgs {
    /// Path to the lab file [default: lab.yaml].
    #[arg(conflicts_with = "preset")]
    pub file: Option<PathBuf>,
    /// Use a shipped preset instead of a file (see `labwarp presets`).
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// Workspace directory (overrides the lab's `workspace`).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Lab name (overrides the lab's `name`; it prefixes every resource labwarp creates).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// A hypervisor reached over SSH whose host key is not pinned yet: pin it if its SHA256
    /// fingerprint is FINGERPRINT (else the run refuses, showing the fingerprint).
    #[arg(long, value_name = "FINGERPRINT", conflicts_with = "trust_first_use")]
    pub trust_host_key: Option<String>,
    /// Pin whatever host key the hypervisor offers on first contact (a changed key is still
    /// refused).
    #[arg(long)]
    pub trust_first_use: bool,
}

impl LabArgs {
    /// The lab file to read: the one named, else `lab.yaml` here, else the lab the workspace
    /// was built from (`<--workspace or ./workspace>/lab.yaml`, recorded by `labwarp run`);
    /// `None` with `--preset`.
    pub fn source(&self) -> Option<PathBuf> {
        if self.preset.is_some() {
            return None;
        }
        if let Some(f) = &self.file {
            return Some(f.clone());
        }
        let here = PathBuf::from("lab.yaml");
        if here.exists() {
            return Some(here);
        }
        let ws = self
            .workspace
            .clone()
            .unwrap_or_else(|| PathBuf::from("workspace"));
        let built = crate::run::session::lab_file(&ws);
        Some(if built.is_file() { built } else { here })
    }

    /// Loads and validates the lab; errors are printed in full by the caller.
    pub fn load(&self) -> Result<Lab, String> {
        let mut lab = match &self.preset {
            Some(p) => lab::load_preset(p).map_err(|e| e.to_string())?,
            None => {
                let path = self.source().unwrap_or_else(|| PathBuf::from("lab.yaml"));
                if self.file.is_none() && path != Path::new("lab.yaml") {
                    eprintln!(
                        "labwarp: no lab.yaml here: using {}, the lab this workspace was built from",
                        path.display()
                    );
                }
                lab::load_path(&path).map_err(|e| e.to_string())?
            }
        };
        if let Some(n) = &self.name {
            lab.name = n.clone();
            let problems = lab::validate(&lab);
            if let Some(p) = problems.iter().find(|p| p.is_error()) {
                return Err(format!("--name {n}: {p}"));
            }
        }
        Ok(lab)
    }
}

/// Loads the lab and starts the runtime for an engine subcommand; on failure the reason is
/// printed and the exit code returned.
pub fn lab_and_runtime(args: &LabArgs) -> Result<(Lab, tokio::runtime::Runtime), ExitCode> {
    let lab = args.load().map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(EXIT_INVALID)
    })?;
    let rt = runtime().map_err(|e| {
        eprintln!("labwarp: cannot start the async runtime: {e}");
        ExitCode::from(EXIT_INVALID)
    })?;
    Ok((lab, rt))
}

/// Opens the engine session for `labwarp <command>`; on failure the reason is printed and
/// the exit code returned.
pub async fn open_session(
    command: &str,
    lab: Lab,
    args: &LabArgs,
    events: mpsc::UnboundedSender<Event>,
) -> Result<Session, ExitCode> {
    let trust =
        crate::host::lab::trust_policy(args.trust_host_key.as_deref(), args.trust_first_use);
    Session::open_with(lab, args.workspace.as_deref(), events, trust)
        .await
        .map_err(|e| {
            eprintln!("labwarp {command}: {e:#}");
            ExitCode::from(EXIT_INVALID)
        })
}

/// For the read-only listings (`plan`, `status`): loads the lab, opens its session on a
/// new runtime and hands it to `body`, whose exit code is returned; a failure on the way is
/// printed and its exit code returned. Nothing shows the session's events, but their
/// receiver lives as long as `body` runs. A closed pipe ends the process quietly.
pub fn with_read_only_session(
    command: &str,
    args: &LabArgs,
    body: impl AsyncFnOnce(Session) -> ExitCode,
) -> ExitCode {
    quiet_on_broken_pipe();
    let (lab, rt) = match lab_and_runtime(args) {
        Ok(v) => v,
        Err(code) => return code,
    };
    rt.block_on(async {
        let (tx, _rx) = mpsc::unbounded_channel();
        match open_session(command, lab, args, tx).await {
            Ok(s) => body(s).await,
            Err(code) => code,
        }
    })
}

pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// Asks a yes/no question on the terminal; without a terminal the answer is no (use --yes).
pub fn confirm(question: &str) -> bool {
    if !std::io::stdin().is_terminal() {
        eprintln!("{question} [y/N]: no terminal to ask on; pass --yes to proceed");
        return false;
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim(), "y" | "Y" | "yes")
}

/// For read-only listings (`plan`, `status`, `clean --dry-run`): a closed pipe (`| head`)
/// ends the process quietly, as for any Unix filter, instead of a panic in `println!`.
pub fn quiet_on_broken_pipe() {
    // SAFETY: restoring the default disposition of SIGPIPE installs no Rust handler.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        );
    }
}
