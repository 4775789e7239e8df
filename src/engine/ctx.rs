//! What steps act through: the live hosts of one run, and a per-step handle that narrates
//! (events + the stage's log file) and runs commands with their output streamed.

use super::facts::Facts;
use super::resource::HostRole;
use crate::engine::event::{Event, LogStream};
use crate::host::{Cmd, Host, Output, OutputLine, Stream};
use crate::lab::Lab;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Everything a run shares: one per run (so a `test:///default` connection, which forgets
/// on close, lives as long as the run).
pub struct Ctx {
    pub lab: Lab,
    pub facts: Facts,
    /// Absolute workspace directory (keys, logs, state.yaml, rendered files).
    pub workspace: PathBuf,
    pub virthost: Arc<dyn Host>,
    pub undercloud: Arc<dyn Host>,
    /// The lab's libvirt connection, shared by every step of the run.
    pub libvirt: crate::virt::Libvirt,
    pub events: mpsc::UnboundedSender<Event>,
    /// The state file: steps record what they learn there (the undercloud's address).
    pub store: Arc<crate::engine::state::StateStore>,
    /// Whether a step may restart a running VM to apply a drifted field that waits for the
    /// next boot: false unless the user said so (`labwarp run --restart`, or yes when asked).
    pub allow_restart: std::sync::atomic::AtomicBool,
}

impl Ctx {
    pub fn restart_allowed(&self) -> bool {
        self.allow_restart
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn set_restart_allowed(&self, on: bool) {
        self.allow_restart
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn host(&self, role: HostRole) -> &Arc<dyn Host> {
        match role {
            HostRole::Virthost => &self.virthost,
            HostRole::Undercloud => &self.undercloud,
        }
    }

    pub fn emit(&self, e: Event) {
        // A closed receiver means nobody is listening any more (front end gone): not an error.
        let _ = self.events.send(e);
    }

    /// A handle for one step of one stage.
    pub fn step<'a>(&'a self, stage: &'a str, step: &'a str) -> StepCtx<'a> {
        StepCtx {
            ctx: self,
            stage,
            step: Some(step),
        }
    }

    /// A handle for work that belongs to a stage but no step (cleanup, for instance).
    pub fn stage<'a>(&'a self, stage: &'a str) -> StepCtx<'a> {
        StepCtx {
            ctx: self,
            stage,
            step: None,
        }
    }
}

/// One step's view of the run.
pub struct StepCtx<'a> {
    pub ctx: &'a Ctx,
    pub stage: &'a str,
    pub step: Option<&'a str>,
}

impl StepCtx<'_> {
    pub fn lab(&self) -> &Lab {
        &self.ctx.lab
    }

    pub fn host(&self, role: HostRole) -> &Arc<dyn Host> {
        self.ctx.host(role)
    }

    fn log(&self, stream: LogStream, line: String) {
        self.ctx.emit(Event::Log {
            stage: self.stage.to_string(),
            step: self.step.map(str::to_string),
            stream,
            line,
        });
    }

    /// A line a command printed (a detached job's log, for instance), as its output.
    pub fn output(&self, line: impl Into<String>) {
        self.log(LogStream::Stdout, line.into());
    }

    /// labwarp's own narration of what the step does.
    pub fn info(&self, line: impl Into<String>) {
        self.log(LogStream::Info, line.into());
    }

    pub fn progress(&self, done: u64, total: Option<u64>, eta_secs: Option<u64>) {
        if let Some(step) = self.step {
            self.ctx.emit(Event::Progress {
                stage: self.stage.to_string(),
                step: step.to_string(),
                done,
                total,
                eta_secs,
            });
        }
    }

    /// Runs a command on a host with every output line sent as a log event as it arrives.
    /// The returned output keeps the lines too (so the caller can parse them).
    pub async fn run(&self, role: HostRole, cmd: &Cmd) -> anyhow::Result<Output> {
        let host = self.host(role).clone();
        self.info(format!("{}$ {}", host.name(), cmd.to_shell()));
        let (tx, mut rx) = mpsc::channel::<OutputLine>(256);
        let exec = host.exec_streaming(cmd, tx);
        tokio::pin!(exec);
        let mut out = Output::default();
        let mut result = None;
        // Drain lines while the command runs; after it ends, drain what is still queued.
        loop {
            tokio::select! {
                r = &mut exec, if result.is_none() => result = Some(r),
                line = rx.recv() => match line {
                    Some(l) => {
                        let (buf, stream) = match l.stream {
                            Stream::Stdout => (&mut out.stdout, LogStream::Stdout),
                            Stream::Stderr => (&mut out.stderr, LogStream::Stderr),
                        };
                        buf.extend_from_slice(l.line.as_bytes());
                        buf.push(b'\n');
                        self.log(stream, l.line);
                    }
                    None => break,
                },
            }
        }
        let r = match result {
            Some(r) => r,
            None => exec.await,
        }?;
        out.code = r.code;
        Ok(out)
    }

    /// Like [`run`](Self::run), but a non-zero exit is an error that quotes the command and
    /// the last lines of its stderr.
    pub async fn run_ok(&self, role: HostRole, cmd: &Cmd) -> anyhow::Result<Output> {
        let out = self.run(role, cmd).await?;
        if !out.success() {
            let err = out.stderr_str();
            let tail: Vec<&str> = err.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            anyhow::bail!(
                "`{}` on {} exited with {}: {}",
                cmd.to_shell(),
                self.host(role).name(),
                out.code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "a signal".into()),
                tail.join(" | ")
            );
        }
        Ok(out)
    }

    /// Runs a command quietly (no log events): for checks, which are read-only probes.
    pub async fn probe(&self, role: HostRole, cmd: &Cmd) -> anyhow::Result<Output> {
        Ok(self.host(role).exec(cmd).await?)
    }
}
