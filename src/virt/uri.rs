//! libvirt connection URIs: safety checks and SSH URIs that pin host keys.
//!
//! How the workspace `known_hosts` is used for a remote hypervisor:
//! - libvirt's `ssh` transport (`qemu+ssh://`) runs the OpenSSH client and has **no**
//!   `known_hosts` parameter (libvirt 9 silently ignores it; verified by capturing the argv
//!   it runs: `-p PORT -l USER -i KEYFILE -T -e none -o BatchMode=yes -- HOST sh -c ...`).
//!   So [`SshUri::openssh`] points the transport's `command` parameter at a small wrapper
//!   ([`write_ssh_wrapper`]) that runs `ssh -o StrictHostKeyChecking=yes
//!   -o UserKnownHostsFile=WORKSPACE/known_hosts -o GlobalKnownHostsFile=/dev/null`: only
//!   the key pinned in the workspace is accepted, an unknown or changed key fails the
//!   connection (BatchMode never prompts). The key is passed with `keyfile=`.
//! - the `libssh` transport (`qemu+libssh://`) reads `known_hosts=` itself;
//!   [`SshUri::libssh`] sets it with `known_hosts_verify=normal` (unknown keys refused).
//!
//! tests/daemons/virt_ssh.rs runs both against a real sshd and the real libvirtd: the pinned key
//! connects; a different pinned key, or none, is refused.
//!
//! [`check`] refuses any URI that turns host key checking off (`no_verify=1`,
//! `known_hosts_verify=ignore|auto`) and `known_hosts=` on the `ssh` transport (where it would
//! give a false sense of pinning).

use super::VirtError;
use crate::quote::shell_quote;
use std::path::{Path, PathBuf};

fn bad(uri: &str, message: impl Into<String>) -> VirtError {
    VirtError::BadUri {
        uri: uri.to_string(),
        message: message.into(),
    }
}

/// Decodes `%XX` escapes (libvirt URI parameters are URI-escaped).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The transport part of a URI: `qemu+ssh://` → `Some("ssh")`, `qemu:///system` → `None`.
pub fn transport(uri: &str) -> Option<&str> {
    let scheme = uri.split("://").next()?;
    scheme.split_once('+').map(|(_, t)| t)
}

/// The URI's query parameters, decoded.
pub fn params(uri: &str) -> Vec<(String, String)> {
    let Some((_, query)) = uri.split_once('?') else {
        return Vec::new();
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Refuses URIs that are empty or that would connect without checking the server's host key
/// or certificate. Everything else is left to libvirt.
pub fn check(uri: &str) -> Result<(), VirtError> {
    if uri.trim().is_empty() {
        return Err(bad(
            uri,
            "empty libvirt URI: set it explicitly, e.g. qemu:///system",
        ));
    }
    if !uri.contains("://") {
        return Err(bad(
            uri,
            "not a libvirt URI (expected driver[+transport]://[user@][host][:port]/path, e.g. qemu:///system or qemu+ssh://root@hv/system)",
        ));
    }
    let transport = transport(uri);
    for (k, v) in params(uri) {
        match k.as_str() {
            "no_verify" if v != "0" => {
                return Err(bad(
                    uri,
                    "no_verify disables host key / certificate checking; remove it (labwarp pins SSH host keys in the workspace known_hosts)",
                ));
            }
            "known_hosts_verify" if v != "normal" => {
                return Err(bad(
                    uri,
                    format!(
                        "known_hosts_verify={v} would accept unpinned host keys; use known_hosts_verify=normal"
                    ),
                ));
            }
            "known_hosts" if transport == Some("ssh") => {
                return Err(bad(
                    uri,
                    "libvirt's ssh transport ignores known_hosts; labwarp passes the workspace known_hosts through its ssh wrapper (command=...) or use qemu+libssh://",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A remote hypervisor reached over SSH, with the workspace key and pinned host keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshUri {
    pub user: String,
    pub host: String,
    pub port: Option<u16>,
    /// `system` or `session`.
    pub path: String,
    pub keyfile: PathBuf,
    pub known_hosts: PathBuf,
}

impl SshUri {
    fn validate(&self) -> Result<(), VirtError> {
        let field_ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._:".contains(c))
        };
        if !field_ok(&self.user) || self.user.contains(':') {
            return Err(bad(
                &self.user,
                "user: use letters, digits, '-', '_' or '.'",
            ));
        }
        if !field_ok(&self.host) {
            return Err(bad(&self.host, "host: use a host name or an IP address"));
        }
        if self.path != "system" && self.path != "session" {
            return Err(bad(&self.path, "path: use system or session"));
        }
        for (what, p) in [
            ("keyfile", &self.keyfile),
            ("known_hosts", &self.known_hosts),
        ] {
            if !p.is_absolute() {
                return Err(bad(
                    &p.display().to_string(),
                    format!("{what}: libvirt needs an absolute path"),
                ));
            }
        }
        Ok(())
    }

    fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => format!("{}@{host}:{p}", self.user),
            None => format!("{}@{host}", self.user),
        }
    }

    /// `qemu+ssh://user@host[:port]/system?keyfile=K&command=WRAPPER&no_tty=1`: OpenSSH with
    /// the wrapper written by [`write_ssh_wrapper`] (which pins `known_hosts`).
    pub fn openssh(&self, wrapper: &Path) -> Result<String, VirtError> {
        self.validate()?;
        Ok(format!(
            "qemu+ssh://{}/{}?keyfile={}&command={}&no_tty=1",
            self.authority(),
            self.path,
            percent_encode(&self.keyfile.to_string_lossy()),
            percent_encode(&wrapper.to_string_lossy()),
        ))
    }

    /// `qemu+libssh://...?keyfile=K&known_hosts=KH&known_hosts_verify=normal&sshauth=privkey`.
    pub fn libssh(&self) -> Result<String, VirtError> {
        self.validate()?;
        Ok(format!(
            "qemu+libssh://{}/{}?keyfile={}&known_hosts={}&known_hosts_verify=normal&sshauth=privkey",
            self.authority(),
            self.path,
            percent_encode(&self.keyfile.to_string_lossy()),
            percent_encode(&self.known_hosts.to_string_lossy()),
        ))
    }
}

/// The wrapper script libvirt's ssh transport runs instead of `ssh`.
pub fn ssh_wrapper_script(known_hosts: &Path) -> String {
    format!(
        "#!/bin/sh\n\
         # Written by labwarp. libvirt's qemu+ssh transport runs this instead of ssh so that\n\
         # only the host key pinned in the workspace known_hosts is accepted.\n\
         exec ssh -o StrictHostKeyChecking=yes -o UserKnownHostsFile={} \\\n  \
         -o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o BatchMode=yes \"$@\"\n",
        shell_quote(&known_hosts.to_string_lossy())
    )
}

/// Writes the wrapper into `dir` (the workspace's `bin/`) with mode 0755; returns its path.
pub fn write_ssh_wrapper(dir: &Path, known_hosts: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("labwarp-libvirt-ssh");
    crate::workspace::write_atomic(&path, ssh_wrapper_script(known_hosts).as_bytes(), 0o755)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_uris_pass() {
        for u in [
            "test:///default",
            "qemu:///system",
            "qemu:///session",
            "qemu+ssh://root@hv/system?keyfile=/k",
            "qemu+libssh://root@hv/system?known_hosts=/kh&known_hosts_verify=normal",
        ] {
            check(u).unwrap_or_else(|e| panic!("{u}: {e}"));
        }
    }

    #[test]
    fn disabling_host_key_checks_is_refused() {
        for u in [
            "qemu+ssh://root@hv/system?no_verify=1",
            "qemu+tls://hv/system?no_verify=1",
            "qemu+libssh://root@hv/system?known_hosts_verify=ignore",
            "qemu+libssh2://root@hv/system?known_hosts_verify=auto",
            "qemu+ssh://root@hv/system?known_hosts=/kh",
            "",
            "system",
        ] {
            let e = check(u).expect_err(u);
            assert!(matches!(e, VirtError::BadUri { .. }), "{u}: {e}");
        }
        let msg = check("qemu+ssh://root@hv/system?no%5Fverify=1")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("no_verify"), "{msg}");
    }

    fn target() -> SshUri {
        SshUri {
            user: "stack".into(),
            host: "hv1.example".into(),
            port: Some(2222),
            path: "system".into(),
            keyfile: "/ws/keys/id ed25519".into(),
            known_hosts: "/ws/known_hosts".into(),
        }
    }

    #[test]
    fn openssh_uri_uses_wrapper_and_passes_check() {
        let u = target()
            .openssh(Path::new("/ws/bin/labwarp-libvirt-ssh"))
            .unwrap();
        assert_eq!(
            u,
            "qemu+ssh://stack@hv1.example:2222/system?keyfile=/ws/keys/id%20ed25519&command=/ws/bin/labwarp-libvirt-ssh&no_tty=1"
        );
        check(&u).unwrap();
        assert_eq!(transport(&u), Some("ssh"));
        let p = params(&u);
        assert!(p.contains(&("keyfile".into(), "/ws/keys/id ed25519".into())));
    }

    #[test]
    fn libssh_uri_pins_known_hosts() {
        let u = target().libssh().unwrap();
        check(&u).unwrap();
        let p = params(&u);
        assert!(p.contains(&("known_hosts".into(), "/ws/known_hosts".into())));
        assert!(p.contains(&("known_hosts_verify".into(), "normal".into())));
    }

    #[test]
    fn bad_fields_are_named() {
        let mut t = target();
        t.user = "a;b".into();
        assert!(t.libssh().unwrap_err().to_string().contains("user"));
        let mut t = target();
        t.keyfile = "keys/id".into();
        assert!(t.libssh().unwrap_err().to_string().contains("keyfile"));
        let mut t = target();
        t.host = "fe80::1".into();
        t.port = None;
        assert!(
            t.libssh()
                .unwrap()
                .starts_with("qemu+libssh://stack@[fe80::1]/system?")
        );
    }

    #[test]
    fn wrapper_quotes_paths_and_pins() {
        let s = ssh_wrapper_script(Path::new("/w s/known_hosts"));
        assert!(s.contains("UserKnownHostsFile='/w s/known_hosts'"));
        assert!(s.contains("StrictHostKeyChecking=yes"));
        assert!(!s.contains("StrictHostKeyChecking=no"));
    }
}
