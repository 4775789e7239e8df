//! The probe's temporary directory on the hypervisor and its cleanup.

use crate::host::{Cmd, Host};
use std::path::PathBuf;

/// The probe's temporary directory on the hypervisor. Removed by [`ProbeDir::remove`] on
/// every normal path. If the probe future is cancelled midway, `Drop` (which cannot wait for
/// a remote command) cleans up synchronously when the directory is on this machine, and
/// otherwise logs what may be left behind.
pub(super) struct ProbeDir<'a> {
    host: &'a dyn Host,
    uri: String,
    pub(super) path: PathBuf,
    removed: bool,
}

impl<'a> ProbeDir<'a> {
    pub(super) async fn create(host: &'a dyn Host, uri: &str) -> Result<ProbeDir<'a>, String> {
        let out = host
            .exec(&Cmd::new(["mktemp", "-d", "/tmp/labwarp-probe-XXXXXXXX"]))
            .await
            .map_err(|e| format!("cannot create the probe directory: {e}"))?;
        let path = PathBuf::from(out.stdout_str().trim());
        if !out.success() || !path.is_absolute() {
            return Err(format!(
                "cannot create the probe directory: {}",
                out.stderr_str().trim()
            ));
        }
        let dir = ProbeDir {
            host,
            uri: uri.to_string(),
            path,
            removed: false,
        };
        let p = dir.path.to_string_lossy().into_owned();
        let chmod = host.exec(&Cmd::new(["chmod", "0755", p.as_str()])).await;
        match chmod {
            Ok(o) if o.success() => Ok(dir),
            other => {
                let why = match other {
                    Ok(o) => o.stderr_str().trim().to_string(),
                    Err(e) => e.to_string(),
                };
                dir.remove().await;
                Err(format!("cannot chmod {p}: {why}"))
            }
        }
    }

    pub(super) async fn remove(mut self) {
        self.removed = true;
        let p = self.path.to_string_lossy().into_owned();
        let _ = self
            .host
            .exec(&Cmd::new(["rm", "-rf", "--", p.as_str()]))
            .await;
    }
}

/// Destroys the running probe domains whose serial console is in `$1`, then removes `$1`.
const CANCELLED_CLEANUP: &str = r#"for d in $(virsh -c "$2" list --name 2>/dev/null | grep '^labwarp-probe-'); do
  virsh -c "$2" dumpxml "$d" 2>/dev/null | grep -qF "$1/console.log" && virsh -c "$2" destroy "$d" >/dev/null 2>&1
done
rm -rf -- "$1""#;

impl Drop for ProbeDir<'_> {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        if self.path.is_dir() {
            let _ = std::process::Command::new("sh")
                .args(["-c", CANCELLED_CLEANUP, "labwarp-probe-cleanup"])
                .arg(&self.path)
                .arg(&self.uri)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        } else {
            tracing::warn!(
                host = self.host.name(),
                dir = %self.path.display(),
                "KVM probe cancelled: its transient labwarp-probe-* domain and directory may remain on the hypervisor"
            );
        }
    }
}
