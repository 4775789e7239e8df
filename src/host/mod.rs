//! Hosts: where commands run and files live. One interface, local and SSH implementations.
//!
//! Everything labwarp does to a hypervisor or a VM goes through [`Host`]. Commands are argv
//! vectors, never shell strings assembled from values: [`Cmd::to_shell`] quotes every word,
//! so a value with `;`, `$(...)` or a newline stays one argument.

use async_trait::async_trait;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

pub mod console_keys;
pub mod keys;
pub mod known_hosts;
pub mod lab;
pub mod lazy;
pub(crate) mod local;
pub mod ssh;
pub mod tools;

pub use local::LocalHost;
pub use ssh::{SshHost, SshOptions, SshTarget, TrustPolicy};

/// A command to run on a host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cmd {
    /// Program and arguments; each element is one word, quoted when sent through a shell.
    pub argv: Vec<String>,
    /// Run through `sudo -n` when the host's user is not root.
    pub sudo: bool,
    /// Kill the command after this long.
    pub timeout: Option<Duration>,
    /// Bytes written to the command's stdin (then closed).
    pub stdin: Option<Vec<u8>>,
    /// Safe to run again when its SSH channel was lost after it started: a read, a test,
    /// an atomic rewrite of the same bytes.
    pub repeatable: bool,
}

impl Cmd {
    pub fn new<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Cmd {
            argv: argv.into_iter().map(Into::into).collect(),
            ..Cmd::default()
        }
    }

    pub fn sudo(mut self) -> Self {
        self.sudo = true;
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    pub fn repeatable(mut self) -> Self {
        self.repeatable = true;
        self
    }

    /// The command as one POSIX shell string, every word single-quoted as needed.
    pub fn to_shell(&self) -> String {
        self.argv
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

pub use crate::quote::shell_quote;

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line of a running command's output (without the trailing newline; invalid UTF-8 is
/// replaced, never an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub stream: Stream,
    pub line: String,
}

/// The result of a finished command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    /// Exit code; `None` when the command was killed by a signal or its timeout.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{host}: cannot connect: {reason}")]
    Connect { host: String, reason: String },
    /// A running command's channel ended without its exit status (the connection died,
    /// or a small sshd such as dropbear closed the channel): whether it finished is unknown.
    #[error("{host}: connection lost under a command: {reason}")]
    Lost { host: String, reason: String },
    #[error(
        "{host}: host key for {addr} changed: pinned {pinned}, offered {offered}; refusing to connect (remove the line from known_hosts only if you know why it changed)"
    )]
    HostKeyMismatch {
        host: String,
        addr: String,
        pinned: String,
        offered: String,
    },
    #[error(
        "{host}: host key {fingerprint} for {addr} is not pinned; confirm it (or pass --trust-host-key {fingerprint})"
    )]
    HostKeyUnknown {
        host: String,
        addr: String,
        fingerprint: String,
    },
    #[error("{host}: authentication failed for user {user}")]
    Auth { host: String, user: String },
    #[error("{host}: `{cmd}` timed out after {secs} s")]
    Timeout {
        host: String,
        cmd: String,
        secs: u64,
    },
    #[error("{host}: `{cmd}` failed (exit {code}): {stderr}")]
    Failed {
        host: String,
        cmd: String,
        /// Exit code, or "signal" when the command had none.
        code: String,
        stderr: String,
    },
    #[error("{host}: `{cmd}` was cancelled")]
    Cancelled { host: String, cmd: String },
    #[error("{host}: {path}: {reason}")]
    File {
        host: String,
        path: String,
        reason: String,
    },
    #[error("{host}: {msg}")]
    Other { host: String, msg: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl HostError {
    /// A command's channel was lost mid-way: a read-only command can be run again.
    pub fn is_lost(&self) -> bool {
        matches!(self, HostError::Lost { .. })
    }
}

/// A cancellation signal shared between whoever starts work and whoever may stop it.
/// Clones share the same state; cancelling is permanent.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<watch::Sender<bool>>);

impl Cancel {
    pub fn new() -> Self {
        Cancel::default()
    }

    /// Asks every operation watching this token to stop.
    pub fn cancel(&self) {
        self.0.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes once [`Cancel::cancel`] was called (at once if it already was).
    pub async fn cancelled(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives in `self`, so `wait_for` cannot fail while we hold it.
        let _ = rx.wait_for(|c| *c).await;
    }
}

/// A machine labwarp acts on: this one, or one reached over SSH.
#[async_trait]
pub trait Host: Send + Sync {
    /// Short name used in messages and logs (`virthost`, `undercloud`, `local`).
    fn name(&self) -> &str;

    /// Runs a command: [`Host::exec_streaming`] when `lines` is given, [`Host::exec`] when
    /// not. The one method an implementation writes for both.
    async fn run(
        &self,
        cmd: &Cmd,
        lines: Option<mpsc::Sender<OutputLine>>,
    ) -> Result<Output, HostError>;

    /// Runs a command to completion and collects its output.
    async fn exec(&self, cmd: &Cmd) -> Result<Output, HostError> {
        self.run(cmd, None).await
    }

    /// Runs a command, sending each output line to `lines` as it arrives; the returned
    /// `Output` has empty stdout/stderr (they went to the channel). Dropping the future
    /// cancels the command.
    async fn exec_streaming(
        &self,
        cmd: &Cmd,
        lines: mpsc::Sender<OutputLine>,
    ) -> Result<Output, HostError> {
        self.run(cmd, Some(lines)).await
    }

    /// Reads a whole file. A missing file is `HostError::File` with reason "not found".
    async fn read_file(&self, path: &Path) -> Result<Vec<u8>, HostError>;

    /// Writes a file atomically (temp file in the same directory, fsync, rename) with `mode`.
    async fn write_file(&self, path: &Path, data: &[u8], mode: u32) -> Result<(), HostError>;

    /// Like [`Host::write_file`], as root: a system file (a preflight fix's edit under /etc)
    /// on a host whose login user is not root goes through `sudo -n`. This machine, where
    /// labwarp runs as root, writes it directly.
    async fn write_root_file(&self, path: &Path, data: &[u8], mode: u32) -> Result<(), HostError> {
        self.write_file(path, data, mode).await
    }

    /// Whether a path exists (file, directory or anything else).
    async fn exists(&self, path: &Path) -> Result<bool, HostError>;

    /// Like [`Host::exec_streaming`] (or [`Host::exec`] when `lines` is `None`), but stops
    /// the command and returns `HostError::Cancelled` as soon as `cancel` fires.
    async fn exec_cancellable(
        &self,
        cmd: &Cmd,
        lines: Option<mpsc::Sender<OutputLine>>,
        cancel: &Cancel,
    ) -> Result<Output, HostError> {
        let cancelled = || HostError::Cancelled {
            host: self.name().to_string(),
            cmd: cmd.to_shell(),
        };
        if cancel.is_cancelled() {
            return Err(cancelled());
        }
        // Dropping the losing exec future kills the command (an implementation duty).
        tokio::select! {
            r = self.run(cmd, lines) => r,
            _ = cancel.cancelled() => Err(cancelled()),
        }
    }

    /// Runs a command and returns its stdout; a non-zero exit is `HostError::Failed` with
    /// the command's stderr.
    async fn exec_ok(&self, cmd: &Cmd) -> Result<String, HostError> {
        let out = self.exec(cmd).await?;
        if out.success() {
            Ok(out.stdout_str())
        } else {
            Err(HostError::Failed {
                host: self.name().to_string(),
                cmd: cmd.to_shell(),
                code: out
                    .code
                    .map_or_else(|| "signal".to_string(), |c| c.to_string()),
                stderr: out.stderr_str().trim_end().to_string(),
            })
        }
    }
}
