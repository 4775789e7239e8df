//! Host key pinning: the server's key is checked against `workspace/known_hosts` before any
//! authentication. A key that differs from the pinned one is always refused; an unpinned
//! one is pinned only when the caller's [`TrustPolicy`] says so.

use super::{SshOptions, SshTarget};
use crate::host::HostError;
use crate::host::keys::fingerprint;
use crate::host::known_hosts::{KnownHosts, Verdict, host_pattern};
use russh::client;
use russh::keys::PublicKeyOrCertificate;
use std::sync::{Arc, Mutex as StdMutex};

/// What to do with a host key that is not pinned yet. A key that differs from the pinned
/// one is refused whatever the policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TrustPolicy {
    /// Refuse, reporting the fingerprint (`HostKeyUnknown`) so a human can confirm it.
    #[default]
    PinnedOnly,
    /// Accept and pin only a key with this SHA256 fingerprint (`SHA256:…`, prefix optional).
    Fingerprint(String),
    /// Accept and pin whatever key the host offers the first time (explicit opt-in).
    FirstUse,
}

impl TrustPolicy {
    fn accepts(&self, offered: &str) -> bool {
        match self {
            TrustPolicy::PinnedOnly => false,
            TrustPolicy::FirstUse => true,
            TrustPolicy::Fingerprint(fp) => {
                let want = fp.trim();
                let want = want.strip_prefix("SHA256:").unwrap_or(want);
                offered.strip_prefix("SHA256:") == Some(want)
            }
        }
    }
}

/// Why the server's key was refused, for the caller (russh only sees `false`).
pub(super) type Refusal = Arc<StdMutex<Option<HostError>>>;

/// russh's callback object: checks the server key against the pins.
pub(super) struct Client {
    target: SshTarget,
    known_hosts: KnownHosts,
    trust: TrustPolicy,
    refusal: Refusal,
}

impl Client {
    /// The checker for one connection attempt, and where it leaves a refusal.
    pub(super) fn new(target: &SshTarget, opts: &SshOptions) -> (Self, Refusal) {
        let refusal = Refusal::default();
        let client = Client {
            target: target.clone(),
            known_hosts: opts.known_hosts.clone(),
            trust: opts.trust.clone(),
            refusal: refusal.clone(),
        };
        (client, refusal)
    }

    fn verdict(&self, key: &PublicKeyOrCertificate) -> Result<(), HostError> {
        let t = &self.target;
        let addr = host_pattern(&t.host, t.port);
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            return Err(HostError::Connect {
                host: t.name.clone(),
                reason: format!("{addr} offered a host certificate; labwarp pins plain keys"),
            });
        };
        let offered = fingerprint(key);
        match self.known_hosts.check(&t.host, t.port, key)? {
            Verdict::Trusted => Ok(()),
            Verdict::Mismatch { pinned } => Err(HostError::HostKeyMismatch {
                host: t.name.clone(),
                addr,
                pinned: pinned.join(", "),
                offered,
            }),
            Verdict::Unknown if self.trust.accepts(&offered) => {
                tracing::info!(host = %t.name, %addr, %offered, "pinning new host key");
                self.known_hosts.pin(&t.host, t.port, key)
            }
            Verdict::Unknown => Err(HostError::HostKeyUnknown {
                host: t.name.clone(),
                addr,
                fingerprint: offered,
            }),
        }
    }
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        match self.verdict(key) {
            Ok(()) => Ok(true),
            Err(e) => {
                *self.refusal.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                Ok(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_policy_matches_fingerprints_with_or_without_prefix() {
        let fp = "SHA256:abcDEF123";
        assert!(!TrustPolicy::PinnedOnly.accepts(fp));
        assert!(TrustPolicy::FirstUse.accepts(fp));
        assert!(TrustPolicy::Fingerprint("SHA256:abcDEF123".into()).accepts(fp));
        assert!(TrustPolicy::Fingerprint(" abcDEF123 ".into()).accepts(fp));
        assert!(!TrustPolicy::Fingerprint("SHA256:abcDEF124".into()).accepts(fp));
        assert!(!TrustPolicy::Fingerprint("abcdef123".into()).accepts(fp));
    }
}
