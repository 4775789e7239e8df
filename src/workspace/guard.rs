//! The workspace's own entries, guarded: labwarp never writes, reads back or deletes its
//! own files through a symbolic link planted in the workspace (a `logs` link to `/etc`
//! would otherwise have labwarp append to files there), and the lab's identity.

use super::{OWN_ENTRIES, owner};
use std::path::{Path, PathBuf};

/// Fails, naming the entry and the fix, when one of labwarp's workspace entries is a
/// symbolic link.
pub fn refuse_links(ws: &Path) -> anyhow::Result<()> {
    for e in OWN_ENTRIES {
        refuse_link(&ws.join(e))?;
    }
    Ok(())
}

/// Fails when `path` is a symbolic link (a missing path is fine).
pub fn refuse_link(path: &Path) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            let to = std::fs::read_link(path)
                .map(|t| t.display().to_string())
                .unwrap_or_else(|_| "?".into());
            anyhow::bail!(
                "{} is a symbolic link (to {to}): labwarp does not write through links in its workspace; remove the link (`rm {}`) and run again",
                path.display(),
                crate::quote::shell_quote(&path.to_string_lossy())
            )
        }
        _ => Ok(()),
    }
}

/// The lab's identity from `workspace/lab-id`, generated on first use. A file that is not
/// an id labwarp wrote is an error naming it (never silently replaced: the id is what
/// proves the lab's objects are its own).
pub fn lab_id(ws: &Path) -> anyhow::Result<String> {
    let path: PathBuf = ws.join(owner::ID_FILE);
    refuse_link(&path)?;
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id = text.trim();
            if owner::valid_id(id) {
                Ok(id.to_string())
            } else {
                anyhow::bail!(
                    "{} does not hold a lab identity labwarp wrote (16-64 hex digits); restore it from a backup, or delete it to give this workspace a new identity (objects of the old one are then left alone by clean)",
                    path.display()
                )
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = owner::new_id();
            super::write_atomic_mkdir(&path, format!("{id}\n").as_bytes(), 0o600)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            Ok(id)
        }
        Err(e) => anyhow::bail!("{}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_made_once_and_kept() {
        let d = tempfile::tempdir().unwrap();
        let a = lab_id(d.path()).unwrap();
        assert_eq!(lab_id(d.path()).unwrap(), a);
        std::fs::write(d.path().join(owner::ID_FILE), "garbage").unwrap();
        let e = lab_id(d.path()).unwrap_err().to_string();
        assert!(e.contains("lab-id") && e.contains("identity"), "{e}");
    }

    #[test]
    fn links_in_the_workspace_are_refused_with_the_fix() {
        let d = tempfile::tempdir().unwrap();
        refuse_links(d.path()).unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), d.path().join("logs")).unwrap();
        let e = refuse_links(d.path()).unwrap_err().to_string();
        assert!(
            e.contains("logs") && e.contains("symbolic link") && e.contains("rm "),
            "{e}"
        );
        std::fs::remove_file(d.path().join("logs")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join(owner::ID_FILE)).unwrap();
        assert!(lab_id(d.path()).is_err());
    }
}
