//! What an [`SshHost`](super::SshHost) is told: where to connect and how.

use super::TrustPolicy;
use crate::host::HostError;
use crate::host::keys::{Identity, ensure_identity};
use crate::host::known_hosts::KnownHosts;
use std::path::Path;
use std::time::Duration;

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// Display name (`virthost`, `undercloud`).
    pub name: String,
    /// Address as reachable from here, or from the jump host when there is one.
    pub host: String,
    pub port: u16,
    pub user: String,
}

/// Retry schedule for (re)connecting: `attempts` tries, waiting `first`, then twice as long
/// each time up to `max`. Only network failures are retried, never key or auth refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub attempts: u32,
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            attempts: 6,
            first: Duration::from_millis(200),
            max: Duration::from_secs(5),
        }
    }
}

/// Everything an [`SshHost`](super::SshHost) needs besides its target.
#[derive(Debug, Clone)]
pub struct SshOptions {
    pub identity: Identity,
    pub known_hosts: KnownHosts,
    pub trust: TrustPolicy,
    /// Channels open at once on the connection (sshd's `MaxSessions`, default 10).
    pub max_sessions: usize,
    /// Per attempt: TCP connect + key exchange + authentication.
    pub connect_timeout: Duration,
    pub backoff: Backoff,
    /// Keepalive interval, so a dead peer is noticed even when idle.
    pub keepalive: Option<Duration>,
}

impl SshOptions {
    /// Defaults for a workspace: its key pair (created if absent) and its `known_hosts`.
    pub fn for_workspace(workspace: &Path, trust: TrustPolicy) -> Result<Self, HostError> {
        Ok(SshOptions {
            identity: ensure_identity(workspace)?,
            known_hosts: KnownHosts::new(crate::workspace::known_hosts(workspace)),
            trust,
            max_sessions: 10,
            connect_timeout: Duration::from_secs(15),
            backoff: Backoff::default(),
            keepalive: Some(Duration::from_secs(15)),
        })
    }
}
