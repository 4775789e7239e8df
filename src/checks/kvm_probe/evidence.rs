//! What the probe reads on the hypervisor: the serial console, libvirt's qemu log, virsh.

use super::PROBE_MARKER;
use crate::host::{Cmd, Host};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// libvirt's per-domain qemu log on the hypervisor, for URIs local to it (`qemu:///system`;
/// a session daemon's log lives in its user's home, which only a local probe knows).
pub(super) fn qemu_log_path(uri: &str, name: &str) -> Option<PathBuf> {
    if uri.starts_with("qemu:///system") {
        Some(PathBuf::from(format!("/var/log/libvirt/qemu/{name}.log")))
    } else if uri.starts_with("qemu:///session") {
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(format!(".cache/libvirt/qemu/log/{name}.log")))
    } else {
        None
    }
}

/// A file on the hypervisor; `None` when it cannot be read (not there yet, no permission).
pub(super) async fn read(host: &dyn Host, path: &Path) -> Option<Vec<u8>> {
    host.read_file(path).await.ok()
}

pub(super) fn marker_seen(console: &[u8]) -> bool {
    String::from_utf8_lossy(console).contains(PROBE_MARKER)
}

/// "KVM internal error" lines (and the few after them: suberror, emulation failure) written
/// to the qemu log since `offset`.
pub(super) fn internal_errors(log: &[u8], offset: u64) -> Vec<String> {
    let start = usize::try_from(offset).unwrap_or(0).min(log.len());
    let text = String::from_utf8_lossy(&log[start..]);
    let lines: Vec<&str> = text.lines().collect();
    let Some(first) = lines.iter().position(|l| l.contains("KVM internal error")) else {
        return vec![];
    };
    lines[first..]
        .iter()
        .take(4)
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The last `n` messages qemu and libvirt wrote to the qemu log since `offset` (such as
/// "qemu-system-x86_64: error: failed to set MSR …" or "shutting down, reason=failed"), not
/// the command line libvirt writes first (its lines end with a backslash).
pub(super) fn qemu_messages(log: &[u8], offset: u64, n: usize) -> Vec<String> {
    let start = usize::try_from(offset).unwrap_or(0).min(log.len());
    let text = String::from_utf8_lossy(&log[start..]);
    let msgs: Vec<String> = text
        .lines()
        .filter(|l| {
            !l.trim_end().ends_with('\\')
                && (l.contains("qemu-system") || l.contains("shutting down, reason="))
        })
        .map(|l| l.trim().to_string())
        .collect();
    msgs[msgs.len().saturating_sub(n)..].to_vec()
}

pub(super) fn console_tail(console: &[u8], n: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(console);
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// Runs `virsh -c URI ARGS…` on the hypervisor (through sudo when its user is not root);
/// stdout on success, the trimmed stderr otherwise.
pub(super) async fn virsh(host: &dyn Host, uri: &str, args: &[&str]) -> Result<String, String> {
    let mut argv = vec!["virsh", "-c", uri];
    argv.extend_from_slice(args);
    let cmd = Cmd::new(argv).sudo().timeout(Duration::from_secs(60));
    let out = host
        .exec(&cmd)
        .await
        .map_err(|e| format!("cannot run virsh: {e}"))?;
    if out.success() {
        Ok(out.stdout_str())
    } else {
        Err(out.stderr_str().trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_are_read_after_the_offset_only() {
        let old = "old run\nKVM internal error. Suberror: 1\n";
        let new = "2026-11-26 starting up\nKVM internal error. Suberror: 1\nextra data[0]: 0x1\n\
                   emulation failure\nRAX=0\nRBX=0\n";
        let log = format!("{old}{new}");
        let lines = internal_errors(log.as_bytes(), old.len() as u64);
        assert_eq!(
            lines,
            vec![
                "KVM internal error. Suberror: 1",
                "extra data[0]: 0x1",
                "emulation failure",
                "RAX=0"
            ]
        );
        assert!(internal_errors(b"clean boot\n", 0).is_empty());
    }

    #[test]
    fn qemu_messages_skip_the_command_line() {
        let log = "LC_ALL=C /usr/bin/qemu-system-x86_64 \\\n-name guest=x \\\n\
             2026-11-26 10:09:03.101+0000: Domain id=4 is tainted: high-privileges\n\
             2026-11-26T10:09:03.281231Z qemu-system-x86_64: warning: host doesn't support \
             requested feature: CPUID.01H:ECX.pni [bit 0]\n";
        let msgs = qemu_messages(log.as_bytes(), 0, 3);
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert!(msgs[0].contains("CPUID.01H:ECX.pni"));

        // What host-passthrough gives under kvm_pvm: qemu dies at once.
        let log = "/usr/bin/qemu-system-x86_64 \\\n\
             2026-11-26T10:23:18.452309Z qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\n\
             qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion \
             `ret == cpu->kvm_msr_buf->nmsrs' failed.\n\
             2026-11-26 10:23:18.473+0000: shutting down, reason=failed\n";
        let msgs = qemu_messages(log.as_bytes(), 0, 3);
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        assert!(msgs[0].contains("failed to set MSR"));
        assert!(msgs[1].contains("Assertion"));
        assert!(msgs[2].contains("reason=failed"));
    }

    #[test]
    fn marker_is_looked_for_in_the_console_log() {
        assert!(!marker_seen(
            b"[ 1.0] Command line: console=ttyS0 labwarp.probe=1\n"
        ));
        assert!(marker_seen(b"boot\r\nLABWARP-PROBE-OK\r\n"));
        assert!(!marker_seen(b""));
    }
}
