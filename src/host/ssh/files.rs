//! Files on the remote host, through commands (`cat`, an atomic-write script, `test -e`):
//! the path is always one quoted argument, never part of a script.

use super::SshHost;
use crate::host::{Cmd, Host, HostError};
use std::path::Path;

/// Writes stdin to a temp file next to the target, sets the mode, flushes it to disk
/// (coreutils `sync FILE`; best effort elsewhere), renames it into place. The temp name is
/// fixed per target, so a write cut half-way (connection lost) leaves a file the next write
/// replaces rather than litter; `set -C` (noclobber) never follows a planted symlink, and a
/// target that is a symbolic link is refused (`mv` would follow one to a directory).
const WRITE_FILE: &str = r#"set -e
if [ -L "$1" ]; then echo "refusing to write $1: it is a symbolic link (labwarp never writes through one); remove it and run again" >&2; exit 3; fi
umask 077
t="$(dirname -- "$1")/.$(basename -- "$1").labwarp-tmp"
trap 'rm -f -- "$t"' EXIT
rm -f -- "$t"
(set -C; : > "$t")
cat >> "$t"
chmod "$2" "$t"
sync -- "$t" 2>/dev/null || true
mv -f -- "$t" "$1"
trap - EXIT"#;

impl SshHost {
    fn file_err(&self, path: String, reason: String) -> HostError {
        HostError::File {
            host: self.target.name.clone(),
            path,
            reason,
        }
    }

    pub(super) async fn read_remote(&self, path: &Path) -> Result<Vec<u8>, HostError> {
        let p = path.to_string_lossy();
        let cmd = Cmd::new(["env", "LC_ALL=C", "cat", "--", p.as_ref()]).repeatable();
        let out = self.exec(&cmd).await?;
        if out.success() {
            return Ok(out.stdout);
        }
        let stderr = out.stderr_str();
        let reason = if stderr.contains("No such file") {
            "not found".to_string()
        } else {
            stderr.trim().to_string()
        };
        Err(self.file_err(p.into_owned(), reason))
    }

    /// `root`: through `sudo -n` when the login user is not root (system files).
    pub(super) async fn write_remote_as(
        &self,
        path: &Path,
        data: &[u8],
        mode: u32,
        root: bool,
    ) -> Result<(), HostError> {
        let p = path.to_string_lossy();
        let mode = format!("{:o}", mode & 0o7777);
        let mut cmd = Cmd::new(["sh", "-c", WRITE_FILE, "labwarp-write", p.as_ref(), &mode])
            .stdin(data.to_vec())
            .repeatable();
        if root {
            cmd = cmd.sudo();
        }
        let out = self.exec(&cmd).await?;
        if out.success() {
            Ok(())
        } else {
            Err(self.file_err(p.into_owned(), out.stderr_str().trim().to_string()))
        }
    }

    pub(super) async fn remote_exists(&self, path: &Path) -> Result<bool, HostError> {
        let p = path.to_string_lossy();
        let script = r#"test -e "$1" || test -L "$1""#;
        let cmd = Cmd::new(["sh", "-c", script, "labwarp-exists", p.as_ref()]).repeatable();
        let out = self.exec(&cmd).await?;
        match out.code {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(self.file_err(p.into_owned(), out.stderr_str().trim().to_string())),
        }
    }
}
