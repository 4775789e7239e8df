//! A host reached over SSH with russh: one pinned, authenticated connection per host, shared
//! by every command, each command on its own channel.
//!
//! - Host keys are checked against `workspace/known_hosts` ([`KnownHosts`]) before any
//!   authentication; what happens on first contact is the caller's [`TrustPolicy`].
//! - Channels at once are capped by a semaphore at sshd's `MaxSessions` (10 by default).
//! - A dropped connection is re-established (with backoff) by the next command. A command
//!   whose channel was lost before it started runs again; one lost after it started fails
//!   (`HostError::Lost`) unless it says it is [`Cmd::repeatable`](crate::host::Cmd) (the
//!   file reads, tests and atomic writes): never re-run behind the caller's back.
//! - ProxyJump: a host created with [`SshHost::via`] tunnels its TCP stream through a
//!   `direct-tcpip` channel of the jump host's connection; jumps chain.
//!
//! The parts: `options` (target, backoff, defaults), `host_key` (pinning), `connect`
//! (transport, authentication, reconnecting), `session` (channels within MaxSessions,
//! killing what is given up, PTYs), `exec` (running commands), `output` (collecting and
//! line-splitting output), `files` (file access through commands), `bootstrap` (installing
//! the key with a password).
//!
//! [`KnownHosts`]: crate::host::known_hosts::KnownHosts

mod bootstrap;
mod connect;
mod exec;
mod files;
mod host_key;
mod options;
mod output;
mod session;

pub use host_key::TrustPolicy;
pub use options::{Backoff, SshOptions, SshTarget};
pub use session::PtySession;

use super::known_hosts::host_pattern;
use super::{Cmd, Host, HostError, Output, OutputLine};
use async_trait::async_trait;
use connect::Conn;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::{Mutex, Semaphore, mpsc};

/// A host over SSH. Cheap to share (`Arc<SshHost>`); all clones of the Arc share one
/// connection.
pub struct SshHost {
    target: SshTarget,
    opts: SshOptions,
    via: Option<Arc<SshHost>>,
    conn: Mutex<Option<Conn>>,
    sessions: Arc<Semaphore>,
}

impl std::fmt::Debug for SshHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshHost")
            .field("target", &self.target)
            .field("via", &self.via.as_ref().map(|v| &v.target.name))
            .finish()
    }
}

impl SshHost {
    pub fn new(target: SshTarget, opts: SshOptions) -> Self {
        Self::build(target, opts, None)
    }

    /// A host reached through `jump` (ProxyJump); `target.host` is the address as the jump
    /// host sees it.
    pub fn via(target: SshTarget, opts: SshOptions, jump: Arc<SshHost>) -> Self {
        Self::build(target, opts, Some(jump))
    }

    fn build(target: SshTarget, opts: SshOptions, via: Option<Arc<SshHost>>) -> Self {
        let sessions = Arc::new(Semaphore::new(opts.max_sessions.max(1)));
        SshHost {
            target,
            opts,
            via,
            conn: Mutex::new(None),
            sessions,
        }
    }

    pub fn target(&self) -> &SshTarget {
        &self.target
    }

    fn is_root(&self) -> bool {
        self.target.user == "root"
    }

    fn other(&self, msg: impl Into<String>) -> HostError {
        HostError::Other {
            host: self.target.name.clone(),
            msg: msg.into(),
        }
    }

    fn connect_err(&self, reason: impl std::fmt::Display) -> HostError {
        HostError::Connect {
            host: self.target.name.clone(),
            reason: format!(
                "{}@{}: {reason}",
                self.target.user,
                host_pattern(&self.target.host, self.target.port)
            ),
        }
    }
}

#[async_trait]
impl Host for SshHost {
    fn name(&self) -> &str {
        &self.target.name
    }

    async fn run(
        &self,
        cmd: &Cmd,
        lines: Option<mpsc::Sender<OutputLine>>,
    ) -> Result<Output, HostError> {
        self.run_cmd(cmd, lines).await
    }

    async fn read_file(&self, path: &Path) -> Result<Vec<u8>, HostError> {
        self.read_remote(path).await
    }

    async fn write_file(&self, path: &Path, data: &[u8], mode: u32) -> Result<(), HostError> {
        self.write_remote_as(path, data, mode, false).await
    }

    async fn write_root_file(&self, path: &Path, data: &[u8], mode: u32) -> Result<(), HostError> {
        self.write_remote_as(path, data, mode, true).await
    }

    async fn exists(&self, path: &Path) -> Result<bool, HostError> {
        self.remote_exists(path).await
    }
}
