//! Pinned SSH host keys in `workspace/known_hosts`, in OpenSSH's own format, so that
//! `ssh -o UserKnownHostsFile=workspace/known_hosts -o StrictHostKeyChecking=yes` trusts
//! exactly what labwarp trusts.
//!
//! Lines are `host key-type base64` with `[host]:port` when the port is not 22, as OpenSSH
//! writes them. Hashed names (`|1|…`) and `@cert-authority`/`@revoked` lines are left alone
//! (labwarp never writes them); they never count as a pin.

use super::HostError;
use super::keys::fingerprint;
use russh::keys::PublicKey;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The outcome of looking a server's key up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// This exact key is pinned for the host.
    Trusted,
    /// Nothing is pinned for the host.
    Unknown,
    /// Other keys are pinned for the host: their fingerprints.
    Mismatch { pinned: Vec<String> },
}

/// Serialises appends from concurrent first contacts in this process.
static APPEND: Mutex<()> = Mutex::new(());

/// The name OpenSSH looks a host up by.
pub fn host_pattern(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

#[derive(Debug, Clone)]
pub struct KnownHosts {
    path: PathBuf,
}

impl KnownHosts {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        KnownHosts { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, reason: impl std::fmt::Display) -> HostError {
        HostError::File {
            host: "local".into(),
            path: self.path.display().to_string(),
            reason: reason.to_string(),
        }
    }

    /// Keys pinned for `host:port` (a missing file pins nothing).
    pub fn pinned(&self, host: &str, port: u16) -> Result<Vec<PublicKey>, HostError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.err(e)),
        };
        let name = host_pattern(host, port);
        let mut keys = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let (Some(hosts), Some(kind), Some(b64)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if !hosts.split(',').any(|h| h == name) {
                continue;
            }
            match PublicKey::from_openssh(&format!("{kind} {b64}")) {
                Ok(k) => keys.push(k),
                Err(e) => {
                    return Err(self.err(format!(
                        "unreadable key for {name}: {e}; fix or delete that line"
                    )));
                }
            }
        }
        Ok(keys)
    }

    /// Whether `key` is the pinned key of `host:port`. Any other pinned key for the host
    /// (whatever its type) is a mismatch: labwarp refuses rather than guessing.
    pub fn check(&self, host: &str, port: u16, key: &PublicKey) -> Result<Verdict, HostError> {
        let pinned = self.pinned(host, port)?;
        if pinned.is_empty() {
            Ok(Verdict::Unknown)
        } else if pinned.iter().any(|k| k.key_data() == key.key_data()) {
            Ok(Verdict::Trusted)
        } else {
            Ok(Verdict::Mismatch {
                pinned: pinned.iter().map(fingerprint).collect(),
            })
        }
    }

    /// Makes `keys` the only pins of `host:port`: other lines for that exact name are
    /// dropped, the rest of the file is kept as it is. For a VM re-created at the same
    /// address, whose new keys come from a trusted channel (its console, read through the
    /// hypervisor). Returns the fingerprints that were pinned before and are not any more.
    pub fn replace(
        &self,
        host: &str,
        port: u16,
        keys: &[PublicKey],
    ) -> Result<Vec<String>, HostError> {
        let _guard = APPEND.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.pinned(host, port)?;
        let name = host_pattern(host, port);
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(self.err(e)),
        };
        let mut out = String::new();
        for line in text.lines() {
            let t = line.trim();
            let ours = !t.starts_with('#')
                && !t.starts_with('@')
                && t.split_whitespace()
                    .next()
                    .is_some_and(|hosts| hosts.split(',').any(|h| h == name));
            if !ours {
                out.push_str(line);
                out.push('\n');
            }
        }
        for k in keys {
            let mut bare = k.clone();
            bare.set_comment("");
            let encoded = bare.to_openssh().map_err(|e| self.err(e))?;
            out.push_str(&format!("{name} {}\n", encoded.trim_end()));
        }
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.err(e))?;
        crate::workspace::write_atomic(&self.path, out.as_bytes(), 0o600)
            .map_err(|e| self.err(e))?;
        Ok(old
            .iter()
            .filter(|o| !keys.iter().any(|k| k.key_data() == o.key_data()))
            .map(fingerprint)
            .collect())
    }

    /// Appends a pin (idempotent: an identical pin is not written twice).
    pub fn pin(&self, host: &str, port: u16, key: &PublicKey) -> Result<(), HostError> {
        let _guard = APPEND.lock().unwrap_or_else(|p| p.into_inner());
        if self.check(host, port, key)? == Verdict::Trusted {
            return Ok(());
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.err(e))?;
        }
        // The comment is dropped: OpenSSH's known_hosts line is `name type base64`.
        let mut bare = key.clone();
        bare.set_comment("");
        let encoded = bare.to_openssh().map_err(|e| self.err(e))?;
        let line = format!("{} {}\n", host_pattern(host, port), encoded.trim_end());
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| self.err(e))?;
        let needs_newline = std::fs::read(&self.path)
            .map(|t| t.last().is_some_and(|b| *b != b'\n'))
            .unwrap_or(false);
        let data = if needs_newline {
            format!("\n{line}")
        } else {
            line
        };
        f.write_all(data.as_bytes()).map_err(|e| self.err(e))?;
        f.sync_all().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh::keys::PrivateKey;
    use russh::keys::ssh_key::private::Ed25519Keypair;

    fn key(seed: u8) -> PublicKey {
        PrivateKey::from(Ed25519Keypair::from_seed(&[seed; 32]))
            .public_key()
            .clone()
    }

    #[test]
    fn replace_keeps_other_hosts_and_reports_what_it_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let kh = KnownHosts::new(dir.path().join("known_hosts"));
        let (a, b, c) = (key(1), key(2), key(3));
        kh.pin("192.0.2.10", 22, &a).unwrap();
        kh.pin("other", 22, &c).unwrap();
        let dropped = kh
            .replace("192.0.2.10", 22, std::slice::from_ref(&b))
            .unwrap();
        assert_eq!(dropped, vec![fingerprint(&a)]);
        assert_eq!(kh.check("192.0.2.10", 22, &b).unwrap(), Verdict::Trusted);
        assert!(matches!(
            kh.check("192.0.2.10", 22, &a).unwrap(),
            Verdict::Mismatch { .. }
        ));
        assert_eq!(kh.check("other", 22, &c).unwrap(), Verdict::Trusted);
        assert!(kh.replace("192.0.2.10", 22, &[b]).unwrap().is_empty());
    }

    #[test]
    fn pins_in_openssh_format_and_checks() {
        let dir = tempfile::tempdir().unwrap();
        let kh = KnownHosts::new(dir.path().join("ws/known_hosts"));
        let (a, b) = (key(1), key(2));
        assert_eq!(kh.check("127.0.0.1", 2222, &a).unwrap(), Verdict::Unknown);
        kh.pin("127.0.0.1", 2222, &a).unwrap();
        kh.pin("127.0.0.1", 2222, &a).unwrap();
        kh.pin("vm.example", 22, &b).unwrap();
        let text = std::fs::read_to_string(kh.path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].starts_with("[127.0.0.1]:2222 ssh-ed25519 AAAA"),
            "{text}"
        );
        assert!(
            lines[1].starts_with("vm.example ssh-ed25519 AAAA"),
            "{text}"
        );
        assert_eq!(kh.check("127.0.0.1", 2222, &a).unwrap(), Verdict::Trusted);
        // Same address, other port: a different host for pinning purposes.
        assert_eq!(kh.check("127.0.0.1", 22, &a).unwrap(), Verdict::Unknown);
        assert_eq!(
            kh.check("127.0.0.1", 2222, &b).unwrap(),
            Verdict::Mismatch {
                pinned: vec![fingerprint(&a)]
            }
        );
    }

    #[test]
    fn reads_lists_comments_and_ignores_hashed_and_markers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        let a = key(3);
        let enc = a.to_openssh().unwrap();
        std::fs::write(
            &path,
            format!(
                "# comment\n\n|1|abc=|def= {enc}\n@cert-authority * {enc}\nfoo,[h]:2200 {enc} trailing comment"
            ),
        )
        .unwrap();
        let kh = KnownHosts::new(&path);
        assert_eq!(kh.check("h", 2200, &a).unwrap(), Verdict::Trusted);
        assert_eq!(kh.check("foo", 22, &a).unwrap(), Verdict::Trusted);
        assert_eq!(kh.check("other", 22, &a).unwrap(), Verdict::Unknown);
        // Appending to a file without a final newline starts a new line.
        kh.pin("new", 22, &a).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("comment\nnew ssh-ed25519 ") || text.contains("comment\nnew "));
        assert_eq!(kh.check("new", 22, &a).unwrap(), Verdict::Trusted);
    }

    #[test]
    fn a_corrupt_pin_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        std::fs::write(&path, "[h]:2200 ssh-ed25519 not-base64!!\n").unwrap();
        let err = KnownHosts::new(&path)
            .check("h", 2200, &key(4))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("known_hosts") && err.contains("[h]:2200"),
            "{err}"
        );
    }
}
