//! How labwarp reaches a lab's hosts over SSH: the one place that turns a lab's hypervisor
//! entry and the CLI's trust flags into [`SshHost`]s. `labwarp ssh`, `labwarp check` over SSH
//! and the engine's session all go through here.

use super::ssh::{SshHost, SshOptions, SshTarget, TrustPolicy};
use super::{Host, HostError};
use crate::lab::Hypervisor;
use std::path::Path;
use std::sync::Arc;

/// The trust policy for host keys not pinned yet, from the CLI's flags: a fingerprint to
/// accept, or an explicit trust-on-first-use, else only pinned keys.
pub fn trust_policy(fingerprint: Option<&str>, first_use: bool) -> TrustPolicy {
    match (fingerprint, first_use) {
        (Some(fp), _) => TrustPolicy::Fingerprint(fp.to_string()),
        (None, true) => TrustPolicy::FirstUse,
        (None, false) => TrustPolicy::PinnedOnly,
    }
}

/// A hypervisor as an SSH target: `name` is how it is shown (ssh.config's alias), `user`
/// its SSH user (`ssh_user`, or the stack user).
pub fn hypervisor_target(hv: &Hypervisor, name: &str, user: &str) -> SshTarget {
    SshTarget {
        name: name.into(),
        host: hv.address.clone(),
        port: hv.ssh_port,
        user: user.into(),
    }
}

/// The connection to the last hop, each hop tunnelled through the one before (ProxyJump).
pub fn chain(hops: &[SshTarget], opts: &SshOptions) -> Result<SshHost, HostError> {
    let Some((last, jumps)) = hops.split_last() else {
        return Err(HostError::Other {
            host: "local".into(),
            msg: "no host to connect to".into(),
        });
    };
    let mut via: Option<Arc<SshHost>> = None;
    for t in jumps {
        let h = match via.take() {
            None => SshHost::new(t.clone(), opts.clone()),
            Some(j) => SshHost::via(t.clone(), opts.clone(), j),
        };
        via = Some(Arc::new(h));
    }
    Ok(match via {
        None => SshHost::new(last.clone(), opts.clone()),
        Some(j) => SshHost::via(last.clone(), opts.clone(), j),
    })
}

/// The lab's hypervisor over SSH as its `ssh_user`, with the workspace key and
/// known_hosts, connected now so that an unknown or changed host key, or a refused key, is
/// reported before any work starts.
pub async fn connect_hypervisor(
    hv: &Hypervisor,
    workspace: &Path,
    trust: TrustPolicy,
) -> Result<Arc<SshHost>, HostError> {
    let opts = SshOptions::for_workspace(workspace, trust)?;
    let host = Arc::new(SshHost::new(
        hypervisor_target(hv, &hv.name, &hv.ssh_user),
        opts,
    ));
    host.connect().await?;
    // A host key pinned just now (trust flag) stays pinned; later connections need no flag.
    tracing::debug!(host = %host.name(), "hypervisor connected");
    Ok(host)
}

/// How a hypervisor answers over SSH, for a front end that walks a person through the first
/// contact: the host key to confirm, the key to install with a password, or a connection
/// that works. Nothing is pinned here unless `trust` says so (see [`TrustPolicy`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// The pinned host key matched and the workspace key logged in.
    Connected { user: String, addr: String },
    /// The host key is not pinned yet: `fingerprint` (SHA256) is what the host offers.
    UnknownKey { addr: String, fingerprint: String },
    /// The host offers a key other than the pinned one: refused, whatever the policy.
    ChangedKey {
        addr: String,
        pinned: String,
        offered: String,
    },
    /// The host key is pinned but the workspace key is not authorized for `user`.
    NeedsKey { user: String, addr: String },
    /// Anything else (unreachable, refused, timed out), with why.
    Failed(String),
}

/// The hypervisor's SSH target and address as `user@host:port`.
fn shown(hv: &Hypervisor) -> (SshTarget, String) {
    let t = hypervisor_target(hv, &hv.name, &hv.ssh_user);
    let addr = super::known_hosts::host_pattern(&t.host, t.port);
    (t, addr)
}

/// Connects once to the lab's hypervisor with the workspace key and known_hosts, and says
/// how it went (a person is waiting: a short backoff).
pub async fn probe_hypervisor(hv: &Hypervisor, workspace: &Path, trust: TrustPolicy) -> Reach {
    let (target, addr) = shown(hv);
    let mut opts = match SshOptions::for_workspace(workspace, trust) {
        Ok(o) => o,
        Err(e) => return Reach::Failed(e.to_string()),
    };
    opts.backoff = super::ssh::Backoff {
        attempts: 2,
        first: std::time::Duration::from_millis(300),
        max: std::time::Duration::from_secs(1),
    };
    let user = target.user.clone();
    let host = SshHost::new(target, opts);
    let r = match host.connect().await {
        Ok(()) => Reach::Connected { user, addr },
        Err(HostError::HostKeyUnknown {
            addr, fingerprint, ..
        }) => Reach::UnknownKey { addr, fingerprint },
        Err(HostError::HostKeyMismatch {
            addr,
            pinned,
            offered,
            ..
        }) => Reach::ChangedKey {
            addr,
            pinned,
            offered,
        },
        Err(HostError::Auth { user, .. }) => Reach::NeedsKey { user, addr },
        Err(e) => Reach::Failed(e.to_string()),
    };
    host.disconnect().await;
    r
}

/// The password bootstrap of `labwarp ssh --bootstrap`: one password login to the
/// hypervisor (its host key must already be pinned) that installs the workspace key into
/// the user's `~/.ssh/authorized_keys`. The password is used for that login only: never
/// logged, stored or put on a command line, and wiped when it drops.
pub async fn bootstrap_hypervisor(
    hv: &Hypervisor,
    workspace: &Path,
    password: zeroize::Zeroizing<String>,
) -> Result<(), HostError> {
    let (target, _) = shown(hv);
    let opts = SshOptions::for_workspace(workspace, TrustPolicy::PinnedOnly)?;
    SshHost::new(target, opts)
        .install_key_with_password(password)
        .await
}

/// The lab's hypervisor as a [`Host`]: this machine for `address: local` (no SSH), else
/// connected over SSH with only pinned host keys ([`connect_hypervisor`]). The one place
/// the TUI and the engine decide where the hypervisor is.
pub async fn hypervisor_host(
    hv: &Hypervisor,
    workspace: &Path,
    trust: TrustPolicy,
) -> Result<(Arc<dyn Host>, bool), HostError> {
    if hv.is_local() {
        return Ok((Arc::new(super::LocalHost::named(hv.name.clone())), true));
    }
    let h: Arc<dyn Host> = connect_hypervisor(hv, workspace, trust).await?;
    Ok((h, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_map_to_policies() {
        assert_eq!(trust_policy(None, false), TrustPolicy::PinnedOnly);
        assert_eq!(trust_policy(None, true), TrustPolicy::FirstUse);
        assert_eq!(
            trust_policy(Some("SHA256:abc"), true),
            TrustPolicy::Fingerprint("SHA256:abc".into())
        );
    }

    #[test]
    fn chain_tunnels_each_hop_through_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let opts = SshOptions::for_workspace(dir.path(), TrustPolicy::PinnedOnly).unwrap();
        let t = |n: &str| SshTarget {
            name: n.into(),
            host: format!("{n}.example"),
            port: 22,
            user: "root".into(),
        };
        let h = chain(&[t("a"), t("b"), t("c")], &opts).unwrap();
        assert_eq!(h.target().name, "c");
        assert!(format!("{h:?}").contains("via: Some(\"b\")"), "{h:?}");
        assert!(chain(&[], &opts).is_err());
    }
}
