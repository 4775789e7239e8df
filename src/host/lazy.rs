//! A host over SSH whose address is only known later: the undercloud VM, whose address is
//! learnt from its DHCP lease by a step of the same run that opened the session. Every call
//! asks `resolve` where the host is now; the connection is opened on first use and reused
//! while the answer stays the same (a re-created VM with a new address gets a new one).

use super::ssh::{SshHost, SshOptions, SshTarget};
use super::{Cmd, Host, HostError, Output, OutputLine};
use async_trait::async_trait;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Where the host is now, or why that is not known (shown as the connection error).
pub type Resolve = dyn Fn() -> Result<SshTarget, String> + Send + Sync;

pub struct LazyHost {
    name: String,
    resolve: Box<Resolve>,
    opts: SshOptions,
    /// Reached through this host (ProxyJump) when set.
    jump: Option<Arc<SshHost>>,
    current: Mutex<Option<Arc<SshHost>>>,
}

impl std::fmt::Debug for LazyHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyHost")
            .field("name", &self.name)
            .field("jump", &self.jump.as_ref().map(|j| j.target().name.clone()))
            .finish()
    }
}

impl LazyHost {
    pub fn new(
        name: impl Into<String>,
        opts: SshOptions,
        jump: Option<Arc<SshHost>>,
        resolve: Box<Resolve>,
    ) -> Self {
        LazyHost {
            name: name.into(),
            resolve,
            opts,
            jump,
            current: Mutex::new(None),
        }
    }

    /// The connection for where the host is now (not connected yet if new).
    pub fn host(&self) -> Result<Arc<SshHost>, HostError> {
        let target = (self.resolve)().map_err(|reason| HostError::Connect {
            host: self.name.clone(),
            reason,
        })?;
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = cur.as_ref().filter(|h| *h.target() == target) {
            return Ok(h.clone());
        }
        let h = Arc::new(match &self.jump {
            Some(j) => SshHost::via(target, self.opts.clone(), j.clone()),
            None => SshHost::new(target, self.opts.clone()),
        });
        *cur = Some(h.clone());
        Ok(h)
    }
}

#[async_trait]
impl Host for LazyHost {
    fn name(&self) -> &str {
        &self.name
    }
    async fn run(
        &self,
        cmd: &Cmd,
        lines: Option<mpsc::Sender<OutputLine>>,
    ) -> Result<Output, HostError> {
        self.host()?.run(cmd, lines).await
    }
    async fn read_file(&self, path: &Path) -> Result<Vec<u8>, HostError> {
        self.host()?.read_file(path).await
    }
    async fn write_file(&self, path: &Path, data: &[u8], mode: u32) -> Result<(), HostError> {
        self.host()?.write_file(path, data, mode).await
    }
    async fn write_root_file(&self, path: &Path, data: &[u8], mode: u32) -> Result<(), HostError> {
        self.host()?.write_root_file(path, data, mode).await
    }
    async fn exists(&self, path: &Path) -> Result<bool, HostError> {
        self.host()?.exists(path).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::TrustPolicy;

    #[tokio::test]
    async fn unresolved_hosts_fail_with_the_reason_and_resolved_ones_are_reused() {
        let dir = tempfile::tempdir().unwrap();
        let opts = SshOptions::for_workspace(dir.path(), TrustPolicy::PinnedOnly).unwrap();
        let addr = Arc::new(Mutex::new(None::<String>));
        let a = addr.clone();
        let lazy = LazyHost::new(
            "undercloud",
            opts,
            None,
            Box::new(move || {
                let host = a
                    .lock()
                    .unwrap()
                    .clone()
                    .ok_or_else(|| "the VM has no address yet".to_string())?;
                Ok(SshTarget {
                    name: "undercloud".into(),
                    host,
                    port: 22,
                    user: "stack".into(),
                })
            }),
        );
        let err = lazy
            .exec(&Cmd::new(["true"]))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("no address yet"), "{err}");
        *addr.lock().unwrap() = Some("192.0.2.10".into());
        let first = lazy.host().unwrap();
        assert!(Arc::ptr_eq(&first, &lazy.host().unwrap()));
        *addr.lock().unwrap() = Some("192.0.2.11".into());
        let moved = lazy.host().unwrap();
        assert_eq!(moved.target().host, "192.0.2.11");
        assert!(!Arc::ptr_eq(&first, &moved));
    }
}
