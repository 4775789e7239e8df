//! labwarp's own SSH identity: one ed25519 key pair in `workspace/keys/`, made once.
//!
//! The files are OpenSSH's formats (`id_ed25519` private, `id_ed25519.pub` public), so plain
//! `ssh -i workspace/keys/id_ed25519` works with the same identity.

use super::HostError;
use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{PrivateKey, PublicKey};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

/// File name of the private key inside `workspace/keys/`.
pub const KEY_FILE: &str = "id_ed25519";

/// labwarp's key pair, loaded.
#[derive(Clone)]
pub struct Identity {
    pub private: Arc<PrivateKey>,
    /// Path of the private key file.
    pub path: PathBuf,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("path", &self.path)
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl Identity {
    pub fn public(&self) -> &PublicKey {
        self.private.public_key()
    }

    /// The `authorized_keys` line: `ssh-ed25519 AAAA… labwarp`.
    pub fn public_line(&self) -> String {
        self.public()
            .to_openssh()
            .unwrap_or_else(|_| String::from("<unencodable key>"))
    }

    pub fn fingerprint(&self) -> String {
        fingerprint(self.public())
    }
}

/// `SHA256:…` as OpenSSH prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(russh::keys::HashAlg::Sha256).to_string()
}

fn key_err(path: &Path, reason: impl std::fmt::Display) -> HostError {
    HostError::File {
        host: "local".into(),
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Loads `workspace/keys/id_ed25519`, creating the pair first when it is absent
/// (directory 0700, private key 0600, public key 0644).
pub fn ensure_identity(workspace: &Path) -> Result<Identity, HostError> {
    let dir = crate::workspace::keys_dir(workspace);
    let path = dir.join(KEY_FILE);
    if !path.exists() {
        generate(&dir, &path)?;
    }
    load(&path)
}

/// Loads an existing private key (OpenSSH format, unencrypted).
pub fn load(path: &Path) -> Result<Identity, HostError> {
    let mode = std::fs::metadata(path)
        .map_err(|e| key_err(path, e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(key_err(
            path,
            format!(
                "private key is readable by others (mode {:o}); fix: chmod 600 {}",
                mode & 0o777,
                path.display()
            ),
        ));
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| key_err(path, e))?);
    let private = PrivateKey::from_openssh(text.as_bytes())
        .map_err(|e| key_err(path, format!("not an OpenSSH private key: {e}")))?;
    if private.is_encrypted() {
        return Err(key_err(
            path,
            "the key is passphrase-protected; labwarp needs its own unencrypted key",
        ));
    }
    Ok(Identity {
        private: Arc::new(private),
        path: path.to_path_buf(),
    })
}

fn generate(dir: &Path, path: &Path) -> Result<(), HostError> {
    std::fs::create_dir_all(dir).map_err(|e| key_err(dir, e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| key_err(dir, e))?;
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::fill(&mut seed[..]);
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    key.set_comment("labwarp");
    let pem = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| key_err(path, e))?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| key_err(path, e))?;
    // Public key first: a crash in between leaves no private key without its .pub.
    let pub_path = path.with_extension("pub");
    crate::workspace::write_atomic(&pub_path, format!("{public}\n").as_bytes(), 0o644)
        .map_err(|e| key_err(&pub_path, e))?;
    crate::workspace::write_atomic(path, pem.as_bytes(), 0o600).map_err(|e| key_err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_with_safe_modes_and_reloads_the_same_key() {
        let ws = tempfile::tempdir().unwrap();
        let a = ensure_identity(ws.path()).unwrap();
        let dir = ws.path().join("keys");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("id_ed25519")), 0o600);
        assert_eq!(mode(&dir.join("id_ed25519.pub")), 0o644);
        let pub_text = std::fs::read_to_string(dir.join("id_ed25519.pub")).unwrap();
        assert!(pub_text.starts_with("ssh-ed25519 AAAA"), "{pub_text}");
        assert_eq!(pub_text.trim_end(), a.public_line());
        assert!(a.fingerprint().starts_with("SHA256:"));
        let b = ensure_identity(ws.path()).unwrap();
        assert_eq!(a.public(), b.public());
        // ssh-keygen (OpenSSH) reads our private key and derives the same public key.
        let out = std::process::Command::new("ssh-keygen")
            .args(["-y", "-f"])
            .arg(dir.join("id_ed25519"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let derived = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            derived.split_whitespace().nth(1),
            pub_text.split_whitespace().nth(1)
        );
    }

    #[test]
    fn refuses_a_world_readable_key() {
        let ws = tempfile::tempdir().unwrap();
        let id = ensure_identity(ws.path()).unwrap();
        std::fs::set_permissions(&id.path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = ensure_identity(ws.path()).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }
}
