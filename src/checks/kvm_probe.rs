//! The deep KVM probe: a definite answer to "can guests run under KVM here?".
//!
//! Every shallow sign (`/dev/kvm`, the `KVM_CREATE_VM` ioctl, libvirt's `domain type='kvm'`)
//! can say yes while standard guests still die under KVM (a software nested layer such as
//! `kvm_pvm`: "KVM internal error", then the domain sits `paused`). So this boots the tiny
//! probe guest (`scripts/build-tiny-guest.sh`) as a transient domain of the given type, with
//! `labwarp.probe=1` on its command line: its init prints [`PROBE_MARKER`] on the serial
//! console and powers off. Marker seen: usable. Paused, crashed, gone without the marker,
//! "KVM internal error" in libvirt's qemu log, or no marker within the bound: unusable,
//! with the evidence. The domain is destroyed in every case.
//!
//! Everything goes through a [`Host`], so the probe runs on the hypervisor whether it is this
//! machine or one reached over SSH: the kernel and initrd (from labwarp's machine) are
//! uploaded into a temporary directory on the hypervisor, libvirt is driven there with
//! `virsh` (one short command per poll, against a URI local to that host), and the serial
//! log and qemu log are read there. The directory is removed afterwards.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::host::{Cmd, Host};

/// The line the probe guest's init prints once user space runs.
pub const PROBE_MARKER: &str = "LABWARP-PROBE-OK";

/// How often the domain, its console and its log are looked at.
const POLL: Duration = Duration::from_millis(250);

/// The libvirt domain type a probe boots.
pub use crate::lab::VirtType;

/// What the probe concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeVerdict {
    /// The guest reached user space and printed the marker.
    Usable,
    /// The guest did not get there: paused, crashed, internal error or timeout.
    Unusable,
    /// The probe itself could not run (missing kernel, libvirt refused the domain, …):
    /// no statement about the domain type either way.
    ProbeFailed,
}

/// The result of one probe boot, with the evidence behind it.
#[derive(Debug, Clone)]
pub struct ProbeOutcome {
    pub domain_type: VirtType,
    pub verdict: ProbeVerdict,
    /// One line: why this verdict.
    pub summary: String,
    /// The raw facts: domain state and reason, matching qemu log lines, console tail.
    pub evidence: Vec<String>,
    /// From `virsh create` to the verdict.
    pub elapsed: Duration,
    /// The transient domain's name (its qemu log is /var/log/libvirt/qemu/NAME.log).
    pub domain_name: String,
}

impl ProbeOutcome {
    pub fn usable(&self) -> bool {
        self.verdict == ProbeVerdict::Usable
    }
}

/// Boots the probe guest with `type='kvm'` for at most `timeout`. On a host where KVM only
/// looks present (see the module docs) this returns [`ProbeVerdict::Unusable`] with the
/// evidence; plan TCG (`type='qemu'`) then, after checking it with [`tcg_probe`].
pub async fn deep_kvm_probe(
    host: &dyn Host,
    uri: &str,
    kernel: &Path,
    initrd: &Path,
    timeout: Duration,
) -> ProbeOutcome {
    probe_domain_type(host, uri, VirtType::Kvm, kernel, initrd, timeout).await
}

/// The same probe with `type='qemu'` (TCG): proves the fallback works.
pub async fn tcg_probe(
    host: &dyn Host,
    uri: &str,
    kernel: &Path,
    initrd: &Path,
    timeout: Duration,
) -> ProbeOutcome {
    probe_domain_type(host, uri, VirtType::Qemu, kernel, initrd, timeout).await
}

/// Boots the probe guest as a transient domain of `domain_type` on `host` and decides
/// within `timeout`. `kernel` and `initrd` are files on labwarp's own machine.
pub async fn probe_domain_type(
    host: &dyn Host,
    uri: &str,
    domain_type: VirtType,
    kernel: &Path,
    initrd: &Path,
    timeout: Duration,
) -> ProbeOutcome {
    let name = format!(
        "labwarp-probe-{}-{}-{:08x}",
        domain_type,
        std::process::id(),
        rand::random::<u32>()
    );
    let started = Instant::now();
    let failed = |summary: String, evidence: Vec<String>| ProbeOutcome {
        domain_type,
        verdict: ProbeVerdict::ProbeFailed,
        summary,
        evidence,
        elapsed: started.elapsed(),
        domain_name: name.clone(),
    };

    let mut files = Vec::new();
    for (what, path) in [("kernel", kernel), ("initrd", initrd)] {
        match std::fs::read(path) {
            Ok(bytes) => files.push(bytes),
            Err(e) => {
                return failed(
                    format!(
                        "probe {what} {} not found ({e}): build it with scripts/build-tiny-guest.sh DIR",
                        path.display()
                    ),
                    vec![],
                );
            }
        }
    }

    // A directory qemu can traverse even when it does not run as root (0755), on the
    // hypervisor: the kernel, the initrd, the domain XML and the serial console's file.
    let dir = match ProbeDir::create(host, uri).await {
        Ok(d) => d,
        Err(e) => return failed(e, vec![]),
    };
    let remote_kernel = dir.path.join("vmlinuz");
    let remote_initrd = dir.path.join("initrd.img");
    let console = dir.path.join("console.log");
    let xml_path = dir.path.join("domain.xml");
    let xml = probe_domain_xml(&name, domain_type, &remote_kernel, &remote_initrd, &console);
    for (path, data) in [
        (&remote_kernel, files[0].as_slice()),
        (&remote_initrd, files[1].as_slice()),
        (&xml_path, xml.as_bytes()),
    ] {
        if let Err(e) = host.write_file(path, data, 0o644).await {
            dir.remove().await;
            return failed(format!("cannot upload the probe guest: {e}"), vec![]);
        }
    }

    let qemu_log = qemu_log_path(uri, &name);
    let log_offset = match &qemu_log {
        Some(p) => read(host, p).await.map_or(0, |b| b.len() as u64),
        None => 0,
    };

    let started = Instant::now();
    let create = virsh(host, uri, &["create", &xml_path.to_string_lossy()]).await;
    if let Err(err) = create {
        let mut evidence: Vec<String> = err
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| format!("virsh -c {uri} create: {}", l.trim()))
            .collect();
        let qemu_said = match &qemu_log {
            Some(log) => qemu_messages(&read(host, log).await.unwrap_or_default(), log_offset, 4),
            None => vec![],
        };
        dir.remove().await;
        // qemu started and died, or libvirt's refusal names KVM ("could not find
        // capabilities for domaintype=kvm", "failed to initialize kvm"): that is the answer
        // for a kvm probe. Anything else (a bad path, libvirtd down) says nothing about KVM.
        // The domain name contains "kvm" too, so it is cut out before looking.
        let names_kvm = err.replace(&name, "").to_lowercase().contains("kvm");
        let verdict = if domain_type == VirtType::Kvm && (names_kvm || !qemu_said.is_empty()) {
            ProbeVerdict::Unusable
        } else {
            ProbeVerdict::ProbeFailed
        };
        evidence.extend(qemu_said.into_iter().map(|l| format!("qemu log: {l}")));
        evidence.push(format!("domain type='{domain_type}', name {name}"));
        return ProbeOutcome {
            verdict,
            elapsed: started.elapsed(),
            ..failed(
                format!("libvirt could not start a type='{domain_type}' probe domain"),
                evidence,
            )
        };
    }

    let decided = watch(
        host,
        uri,
        &name,
        &console,
        qemu_log.as_deref(),
        log_offset,
        timeout,
    )
    .await;
    let elapsed = started.elapsed();
    let (verdict, summary, mut evidence) = decided;
    // Evidence is read before the destroy, which adds its own lines to the qemu log.
    let mut failure_evidence = Vec::new();
    if verdict != ProbeVerdict::Usable {
        if let Some(log) = &qemu_log {
            let bytes = read(host, log).await.unwrap_or_default();
            for line in qemu_messages(&bytes, log_offset, 3) {
                failure_evidence.push(format!("qemu log: {line}"));
            }
        }
        let tail = console_tail(&read(host, &console).await.unwrap_or_default(), 5);
        if tail.is_empty() {
            failure_evidence.push("serial console: no output".into());
        }
        for line in tail {
            failure_evidence.push(format!("serial console: {line}"));
        }
    }
    // Fails harmlessly when the domain already powered off (transient: it is gone).
    let _ = virsh(host, uri, &["destroy", &name]).await;
    dir.remove().await;

    evidence.push(format!("domain type='{domain_type}', name {name}"));
    evidence.push(format!(
        "elapsed {:.1} s (bound {} s)",
        elapsed.as_secs_f64(),
        timeout.as_secs()
    ));
    evidence.extend(failure_evidence);
    ProbeOutcome {
        domain_type,
        verdict,
        summary,
        evidence,
        elapsed,
        domain_name: name,
    }
}

/// Polls the console, the domain state and the qemu log until a verdict or the bound.
async fn watch(
    host: &dyn Host,
    uri: &str,
    name: &str,
    console: &Path,
    qemu_log: Option<&Path>,
    log_offset: u64,
    timeout: Duration,
) -> (ProbeVerdict, String, Vec<String>) {
    let deadline = Instant::now() + timeout;
    let started = Instant::now();
    loop {
        if marker_seen(&read(host, console).await.unwrap_or_default()) {
            return (
                ProbeVerdict::Usable,
                format!(
                    "probe guest reached user space ({PROBE_MARKER} on the serial console after {:.1} s)",
                    started.elapsed().as_secs_f64()
                ),
                vec![format!("serial console: {PROBE_MARKER}")],
            );
        }
        let errors = match qemu_log {
            Some(p) => internal_errors(&read(host, p).await.unwrap_or_default(), log_offset),
            None => vec![],
        };
        let state = virsh(host, uri, &["domstate", "--reason", name]).await;
        match state {
            Ok(state) => {
                let state = state.trim().to_string();
                if !errors.is_empty() {
                    let mut ev = vec![format!("domain state: {state}")];
                    ev.extend(errors.into_iter().map(|l| format!("qemu log: {l}")));
                    return (
                        ProbeVerdict::Unusable,
                        "KVM internal error: the guest cannot run under this domain type".into(),
                        ev,
                    );
                }
                if state.starts_with("paused") || state.starts_with("crashed") {
                    return (
                        ProbeVerdict::Unusable,
                        format!("probe domain is {state} before reaching user space"),
                        vec![format!("domain state: {state}")],
                    );
                }
            }
            Err(err) => {
                // A transient domain disappears when it powers off: look at the console once
                // more, since the marker may have landed just before.
                if marker_seen(&read(host, console).await.unwrap_or_default()) {
                    continue;
                }
                let mut ev = vec![format!("virsh domstate: {err}")];
                ev.extend(errors.into_iter().map(|l| format!("qemu log: {l}")));
                return (
                    ProbeVerdict::Unusable,
                    "probe domain ended without reaching user space".into(),
                    ev,
                );
            }
        }
        if Instant::now() >= deadline {
            let state = virsh(host, uri, &["domstate", "--reason", name])
                .await
                .unwrap_or_else(|e| e);
            return (
                ProbeVerdict::Unusable,
                format!(
                    "no {PROBE_MARKER} within {} s: the guest did not reach user space",
                    timeout.as_secs()
                ),
                vec![format!("domain state: {}", state.trim())],
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The CPU element of the lab's own `type='kvm'` domains (src/render/domain_xml.rs): the
/// probe asks "will the lab's guests run?", so it uses the same. (On kvm_pvm hosts qemu dies
/// at once with it, "failed to set MSR"; with qemu's default CPU the kernel hangs early in
/// boot instead. Either way: unusable.)
const KVM_CPU: &str = "\n  <cpu mode='host-passthrough' check='none'/>";

/// The transient probe domain: no disks, no NICs; serial console to `console`; every way
/// out (power off, reboot, crash) ends the domain.
pub fn probe_domain_xml(
    name: &str,
    domain_type: VirtType,
    kernel: &Path,
    initrd: &Path,
    console: &Path,
) -> String {
    use quick_xml::escape::escape;
    let esc = |p: &Path| escape(p.to_string_lossy().as_ref()).into_owned();
    format!(
        "<domain type='{ty}'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 earlyprintk=ttyS0 labwarp.probe=1 panic=-1</cmdline>
  </os>
  <features><acpi/></features>{cpu}
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <serial type='file'><source path='{console}'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>
",
        ty = domain_type.as_str(),
        cpu = match domain_type {
            VirtType::Kvm => KVM_CPU,
            VirtType::Qemu => "",
        },
        name = escape(name),
        kernel = esc(kernel),
        initrd = esc(initrd),
        console = esc(console),
    )
}

/// libvirt's per-domain qemu log on the hypervisor, for URIs local to it (`qemu:///system`;
/// a session daemon's log lives in its user's home, which only a local probe knows).
fn qemu_log_path(uri: &str, name: &str) -> Option<PathBuf> {
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
async fn read(host: &dyn Host, path: &Path) -> Option<Vec<u8>> {
    host.read_file(path).await.ok()
}

fn marker_seen(console: &[u8]) -> bool {
    String::from_utf8_lossy(console).contains(PROBE_MARKER)
}

/// "KVM internal error" lines (and the few after them: suberror, emulation failure) written
/// to the qemu log since `offset`.
fn internal_errors(log: &[u8], offset: u64) -> Vec<String> {
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
fn qemu_messages(log: &[u8], offset: u64, n: usize) -> Vec<String> {
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

fn console_tail(console: &[u8], n: usize) -> Vec<String> {
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
async fn virsh(host: &dyn Host, uri: &str, args: &[&str]) -> Result<String, String> {
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

/// The probe's temporary directory on the hypervisor. Removed by [`ProbeDir::remove`] on
/// every normal path. If the probe future is cancelled midway, `Drop` (which cannot wait for
/// a remote command) cleans up synchronously when the directory is on this machine, and
/// otherwise logs what may be left behind.
struct ProbeDir<'a> {
    host: &'a dyn Host,
    uri: String,
    path: PathBuf,
    removed: bool,
}

impl<'a> ProbeDir<'a> {
    async fn create(host: &'a dyn Host, uri: &str) -> Result<ProbeDir<'a>, String> {
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

    async fn remove(mut self) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_xml_is_escaped_and_carries_the_probe_cmdline() {
        let xml = probe_domain_xml(
            "p<1>",
            VirtType::Kvm,
            Path::new("/a&b/vmlinuz"),
            Path::new("/c/initrd.img"),
            Path::new("/d/console.log"),
        );
        assert!(xml.starts_with("<domain type='kvm'>"));
        assert!(xml.contains("<cpu mode='host-passthrough' check='none'/>"));
        assert!(xml.contains("<name>p&lt;1&gt;</name>"));
        assert!(xml.contains("<kernel>/a&amp;b/vmlinuz</kernel>"));
        assert!(xml.contains("labwarp.probe=1"));
        assert!(xml.contains("<source path='/d/console.log'/>"));
        let tcg = probe_domain_xml(
            "p",
            VirtType::Qemu,
            Path::new("/k"),
            Path::new("/i"),
            Path::new("/c"),
        );
        assert!(tcg.starts_with("<domain type='qemu'>"));
        assert!(!tcg.contains("<cpu"));
    }

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
