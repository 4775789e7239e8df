//! Known failure signatures: text seen in a failed step's error or its last log lines,
//! mapped to what it means and how to fix it. Data, so adding one is one entry; a command
//! that could not start is recognised from the error and named with its package from the
//! one list of commands labwarp runs (`host::tools`, `scripts/tools.tsv`). The TUI's
//! troubleshoot screen and a failed `labwarp run` show the same diagnosis from here.

/// How many of the failed stage's last log lines are read with its error (and shown).
pub const TAIL: usize = 8;

use crate::lab::DistroFamily;
use crate::plan::HostRole;
pub use crate::run::remedies::Probe;

pub struct Signature {
    /// Any of these (lowercase) in the error or the log tail matches.
    pub needles: &'static [&'static str],
    pub title: &'static str,
    pub explanation: &'static str,
    pub fix: &'static str,
    /// Preflight findings (id prefixes) whose fixes repair this failure, applied from the
    /// troubleshoot screen once their exact change is shown and confirmed.
    pub preflight_fixes: &'static [&'static str],
    /// A fix that reads the live state first (`run::remedies`), then shows exactly what it
    /// changes.
    pub probe: Option<Probe>,
}

pub static SIGNATURES: &[Signature] = &[
    Signature {
        needles: &[
            "is already in use by interface",
            "network is already in use",
        ],
        title: "A lab network's range collides with a host route",
        explanation: "libvirt refuses to start a network whose range overlaps a route or \
            address the hypervisor already has (a VPN, a docker or another lab's bridge).",
        fix: "Pick a free range for that network in lab.yaml (its gateway and DHCP range \
            with it); the host's route is not labwarp's to change.",
        preflight_fixes: &[],
        probe: Some(Probe::NetworkRange),
    },
    Signature {
        needles: &[
            "free and the address assigned there",
            "address already in use",
        ],
        title: "A VirtualBMC port is taken",
        explanation: "A node's IPMI endpoint cannot bind its UDP port: something else holds \
            it, or a vbmcd of an earlier run of this lab still does.",
        fix: "ss -ulnp shows the holder: stop this lab's stale vbmcd, or move \
            overcloud.vbmc.base_port in lab.yaml to free ports.",
        preflight_fixes: &[],
        probe: Some(Probe::VbmcPort),
    },
    Signature {
        needles: &[
            "cannot access storage file",
            "no network with matching name",
        ],
        title: "A leftover domain from an earlier lab",
        explanation: "A domain of the lab's name already exists but points at disks or \
            networks that are gone, so it cannot start; the step adopts a domain of that name.",
        fix: "Remove the leftover domain (virsh undefine) if it is not needed; the step then \
            defines it anew.",
        preflight_fixes: &[],
        probe: Some(Probe::LeftoverDomain),
    },
    Signature {
        needles: &["server pid #"],
        title: "A stale lock: vbmcd's pid file names another process",
        explanation: "vbmcd refuses to start while its pid file names a live process; a vbmcd \
            that died left it, and its pid now belongs to something else.",
        fix: "Remove the pid file in the lab's VirtualBMC directory once no vbmcd runs from it, \
            then run again.",
        preflight_fixes: &[],
        probe: Some(Probe::StaleLock),
    },
    Signature {
        needles: &["no space left on device"],
        title: "The disk is full",
        explanation: "The file system holding the pool or the image cache has no space left.",
        fix: "Free space there (df -h, du -sh), or move hypervisors[0].pool_path / \
            images.cache_dir to a larger file system, then run again.",
        preflight_fixes: &[],
        probe: Some(Probe::PoolSpace),
    },
    Signature {
        needles: &["permission denied"],
        title: "QEMU cannot open a disk image",
        explanation: "The qemu process runs as its own user and is confined by AppArmor \
            (Debian/Ubuntu) or SELinux; a disk outside the storage pool or owned by another \
            user is refused.",
        fix: "Keep disks in the pool directory (chown libvirt-qemu or qemu), or add the path to \
            /etc/apparmor.d/local/abstractions/libvirt-qemu; on RHEL restorecon -Rv the pool.",
        preflight_fixes: &["qemu-conf.", "apparmor."],
        probe: None,
    },
    Signature {
        needles: &[
            "kvm is not available",
            "/dev/kvm",
            "kvm: no hardware support",
        ],
        title: "KVM is not available (nested virtualisation off?)",
        explanation: "The hypervisor cannot use hardware acceleration: no /dev/kvm, or \
            nested KVM is off when the hypervisor is itself a VM.",
        fix: "Enable nested virt (kvm_intel nested=1 / kvm_amd nested=1) or set \
            hypervisors[0].domain_type: qemu (slow but works).",
        preflight_fixes: &[],
        probe: None,
    },
    Signature {
        needles: &[
            "ipmi",
            "vbmc",
            "virtualbmc",
            "unable to establish ipmi",
            "power status",
        ],
        title: "VirtualBMC is not answering",
        explanation: "Ironic talks IPMI to one vbmc port per node; the vbmcd daemon is down, \
            the node's BMC is stopped, or a firewall drops UDP to the port.",
        fix: "vbmc list / vbmc start <node>; open the UDP ports from overcloud.vbmc.base_port \
            in the firewall; check vbmc.address is reachable from the undercloud.",
        preflight_fixes: &[],
        probe: None,
    },
    Signature {
        needles: &["qemu:///session", "failed to connect socket to"],
        title: "Session vs system libvirt",
        explanation: "Networks and bridges need the system instance; a session URI (or a \
            user without access to the system socket) sees a different, empty libvirt.",
        fix: "Use qemu:///system and add the stack user to the libvirt group, or run \
            libvirtd and point hypervisors[0].libvirt_uri at it.",
        preflight_fixes: &[],
        probe: None,
    },
    Signature {
        needles: &[
            "cannot allocate memory",
            "out of memory",
            "oom",
            "no space left",
        ],
        title: "Undersized VM or host",
        explanation: "The VM or the host ran out of memory or disk while the step ran.",
        fix: "Raise memory_mib / disk size of the VM in the forms, or lower node counts; \
            review's totals show what the lab asks for against the host's capacity.",
        preflight_fixes: &[],
        probe: None,
    },
    Signature {
        needles: &["md5", "checksum mismatch", "checksum"],
        title: "Image checksum mismatch",
        explanation: "The downloaded image does not match its md5: a partial download, a \
            changed upstream image, or a stale md5.",
        fix: "Delete the cached image in images.cache_dir and retry; update images.*.md5 if \
            upstream changed the image.",
        preflight_fixes: &[],
        probe: None,
    },
];

/// What a failure means, from a signature or from the missing command it names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnosis {
    pub title: String,
    pub explanation: String,
    pub fix: String,
    /// A safe fix labwarp can apply itself (shown exactly and confirmed first), after which
    /// the failed step is run again.
    pub remedy: Option<Remedy>,
}

/// Commands that repair a diagnosed failure, run as root (through `sudo -n` when the login
/// is not root) on one of the lab's hosts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Remedy {
    pub description: String,
    pub host: HostRole,
    pub commands: Vec<Vec<String>>,
    /// Preflight findings (id prefixes, e.g. `qemu-conf.`) whose fixes are part of the
    /// remedy: read on the hypervisor when it is offered, so the exact change is shown.
    pub findings: Vec<String>,
    /// The live state to read when it is offered (`run::remedies`): what it changes is
    /// known only then, and shown exactly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<Probe>,
}

impl Remedy {
    /// Each command as a shell would run it, for the confirmation.
    pub fn lines(&self) -> Vec<String> {
        self.commands
            .iter()
            .map(|c| format!("$ {}", crate::checks::fix_text::command(c)))
            .collect()
    }
}

/// Runs a remedy's commands in order on its host (as root: `sudo -n` when the login is not
/// root); the first that fails stops it, named with its output.
pub async fn apply(ctx: &crate::plan::Ctx, remedy: &Remedy) -> anyhow::Result<String> {
    let host = ctx.host(remedy.host);
    for argv in &remedy.commands {
        let cmd = crate::host::Cmd::new(argv.iter().cloned())
            .sudo()
            .timeout(std::time::Duration::from_secs(600));
        let out = host.exec(&cmd).await?;
        if !out.success() {
            anyhow::bail!(
                "{}: `{}` failed (exit {}): {}",
                host.name(),
                crate::checks::fix_text::command(argv),
                out.code.map_or_else(|| "signal".into(), |c| c.to_string()),
                out.stderr_str().trim()
            );
        }
    }
    Ok(remedy.description.clone())
}

/// The fixes of a remedy's preflight findings, as the hypervisor is now: the checks run
/// through `view`, and every failing or warning finding whose id starts with one of the
/// remedy's prefixes and that labwarp can fix itself gives its fix (each once).
pub async fn remedy_fixes(
    view: &crate::checks::HostView<'_>,
    lab: &crate::lab::Lab,
    remedy: &Remedy,
) -> Vec<(String, crate::checks::Fix)> {
    use crate::checks::{CheckContext, CheckOptions, Severity};
    if remedy.findings.is_empty() {
        return Vec::new();
    }
    let ctx = CheckContext::for_lab(lab.clone(), CheckOptions::default());
    let report = crate::checks::run(view, &ctx).await;
    let mut out: Vec<(String, crate::checks::Fix)> = Vec::new();
    for f in report.findings {
        let wanted = remedy.findings.iter().any(|p| f.id.starts_with(p.as_str()));
        let Some(fix) = f.fix.filter(|x| !x.is_manual()) else {
            continue;
        };
        if wanted && f.severity != Severity::Ok && !out.iter().any(|(_, x)| *x == fix) {
            out.push((f.id, fix));
        }
    }
    out
}

impl From<&Signature> for Diagnosis {
    fn from(s: &Signature) -> Self {
        let preflight = (!s.preflight_fixes.is_empty()).then(|| {
            format!(
                "apply preflight's fixes for {}",
                s.preflight_fixes
                    .iter()
                    .map(|p| p.trim_end_matches('.'))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )
        });
        let description = preflight.or_else(|| s.probe.map(|p| p.describe().to_string()));
        Diagnosis {
            title: s.title.into(),
            explanation: s.explanation.into(),
            fix: s.fix.into(),
            remedy: description.map(|description| Remedy {
                description,
                host: HostRole::Virthost,
                commands: Vec::new(),
                findings: s.preflight_fixes.iter().map(|p| p.to_string()).collect(),
                probe: s.probe,
            }),
        }
    }
}

/// "cannot start `X`" (or a shell's "X: not found"): the command is not installed. Its
/// package is installed for the host's distribution family, on the host the plan runs it on.
fn missing_command(text: &str, distro: DistroFamily) -> Option<Diagnosis> {
    use crate::host::tools::{self, Role};
    let cmd = tools::missing_command(text)?;
    let tool = tools::lookup(&cmd);
    let remedy = tool.as_ref().map(|t| {
        let host = if t.roles.contains(&Role::Containers)
            && !t
                .roles
                .iter()
                .any(|r| matches!(r, Role::Hypervisor | Role::TestDriver))
        {
            HostRole::Undercloud
        } else if t
            .roles
            .iter()
            .any(|r| matches!(r, Role::Hypervisor | Role::TestDriver))
        {
            HostRole::Virthost
        } else {
            HostRole::Undercloud
        };
        let packages = tools::packages(std::slice::from_ref(t), distro);
        Remedy {
            description: format!("install {} ({distro:?} family)", packages.join(" ")),
            host,
            commands: vec![tools::install_argv(distro, &packages)],
            findings: Vec::new(),
            probe: None,
        }
    });
    let (explanation, fix) = match tool {
        Some(t) => (
            format!(
                "The step runs `{cmd}`, which is not installed on that host (or not on its \
                 PATH). labwarp's list of the commands it runs (scripts/tools.tsv) gives its \
                 package; `labwarp check` reports every missing one before a run."
            ),
            format!(
                "apt-get install -y {} (Debian/Ubuntu) or dnf install -y {} (EL), then run again: \
                 the run resumes at this step.",
                t.debian, t.el
            ),
        ),
        None => (
            format!(
                "The step runs `{cmd}`, which is not installed on that host (or not on its PATH)."
            ),
            format!(
                "Install the package that provides {cmd} (apt-file search bin/{cmd} or dnf \
                 provides '*/{cmd}'), then run again: the run resumes at this step."
            ),
        ),
    };
    Some(Diagnosis {
        title: format!("`{cmd}` is missing"),
        explanation,
        fix,
        remedy,
    })
}

/// What matches a failure, best first: a missing command, then the signatures in table
/// order (remedies for a Debian-family host; see [`diagnose_for`]).
pub fn diagnose<'a>(error: &str, tail: impl Iterator<Item = &'a str>) -> Vec<Diagnosis> {
    diagnose_for(error, tail, DistroFamily::Debian)
}

/// [`diagnose`] for a lab whose hosts are of the `distro` family (the package manager of a
/// remedy).
pub fn diagnose_for<'a>(
    error: &str,
    tail: impl Iterator<Item = &'a str>,
    distro: DistroFamily,
) -> Vec<Diagnosis> {
    let mut text = error.to_string();
    for line in tail {
        text.push('\n');
        text.push_str(line);
    }
    let mut out: Vec<Diagnosis> = missing_command(&text, distro).into_iter().collect();
    let lower = text.to_lowercase();
    out.extend(
        SIGNATURES
            .iter()
            .filter(|s| s.needles.iter().any(|n| lower.contains(n)))
            .map(Diagnosis::from),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apparmor_denial_is_recognised_from_the_log_tail() {
        let hits = diagnose(
            "virsh start failed",
            [
                "error: internal error: process exited while connecting to monitor:",
                "Could not open '/home/stack/undercloud.qcow2': Permission denied",
            ]
            .into_iter(),
        );
        assert_eq!(hits[0].title, "QEMU cannot open a disk image");
    }

    #[test]
    fn a_command_that_cannot_start_is_named_with_its_package() {
        let hits = diagnose(
            "cannot start `sudo -n genisoimage -quiet -output /w/seed.iso`: No such file or directory (os error 2)",
            std::iter::empty(),
        );
        assert_eq!(hits[0].title, "`genisoimage` is missing");
        assert!(
            hits[0].fix.contains("apt-get install -y genisoimage"),
            "{}",
            hits[0].fix
        );
        let hits = diagnose("exit status 127", ["sh: 1: busybox: not found"].into_iter());
        assert!(hits[0].fix.contains("busybox-static"), "{}", hits[0].fix);
    }

    #[test]
    fn a_missing_command_has_a_remedy_for_the_hosts_distro_on_the_host_that_runs_it() {
        let err = "cannot start `sudo -n genisoimage -quiet`: No such file or directory";
        let r = diagnose_for(err, std::iter::empty(), DistroFamily::Debian)[0]
            .remedy
            .clone()
            .unwrap();
        assert_eq!(r.host, HostRole::Virthost);
        assert_eq!(
            r.lines(),
            [
                "$ env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends genisoimage"
            ]
        );
        let r = diagnose_for(err, std::iter::empty(), DistroFamily::Rhel)[0]
            .remedy
            .clone()
            .unwrap();
        assert!(
            r.lines()[0].contains("dnf install -y genisoimage"),
            "{:?}",
            r.lines()
        );
        let r = diagnose_for(
            "exit status 127",
            ["sh: podman: not found"].into_iter(),
            DistroFamily::Debian,
        )[0]
        .remedy
        .clone()
        .unwrap();
        assert_eq!(
            r.host,
            HostRole::Undercloud,
            "podman runs where the containers are"
        );
        // A signature without a safe fix has no remedy.
        let hits = diagnose("md5 checksum mismatch", std::iter::empty());
        assert!(hits.iter().all(|d| d.remedy.is_none()));
    }

    #[test]
    fn unknown_failure_matches_nothing() {
        assert!(diagnose("exit status 3", std::iter::empty()).is_empty());
    }
}
