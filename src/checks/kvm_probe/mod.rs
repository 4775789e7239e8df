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

use std::path::Path;
use std::time::{Duration, Instant};

use crate::host::Host;

mod evidence;
mod workdir;
mod xml;

use evidence::{
    console_tail, internal_errors, marker_seen, qemu_log_path, qemu_messages, read, virsh,
};
use workdir::ProbeDir;
pub use xml::probe_domain_xml;

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
