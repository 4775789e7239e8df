//! The facts the virtualisation checks rest on, and how they are gathered from a host.

use super::{IoctlFacts, MODPROBE_D, probe_kvm_ioctls};
use crate::checks::kvm_probe::{self, ProbeOutcome};
use crate::checks::{CheckContext, CmdRun, FileRead, HostView};
use std::path::Path;

#[derive(Debug, Clone, Default)]
pub struct VirtFacts {
    pub cpuinfo: FileRead,
    /// Entries of /sys/module whose name starts with `kvm` (`None`: unreadable).
    pub kvm_modules: Option<Vec<String>>,
    /// `/sys/module/<kvm_intel|kvm_amd>/parameters/nested` for the vendor modules loaded.
    pub nested: Vec<(String, FileRead)>,
    /// Files in /etc/modprobe.d (name, content); `None` when the directory is missing.
    pub modprobe_d: Option<Vec<(String, FileRead)>>,
    pub dev_kvm: bool,
    pub ioctl: IoctlFacts,
    /// `virsh -c URI capabilities` (gathered by the libvirt family).
    pub capabilities: CmdRun,
    /// Outcome of `--deep`, when asked for.
    pub deep: Option<DeepProbe>,
}

/// The deep probe's result as the checks see it.
#[derive(Debug, Clone)]
pub enum DeepProbe {
    /// Not run, and why (remote host, fixture root, non-local URI).
    NotRun(String),
    Ran(ProbeOutcome),
}

/// Boots the probe guest (`--deep`) on the hypervisor (this machine or over SSH), with a URI
/// local to it; not on a fixture root.
pub async fn deep_probe(view: &HostView<'_>, ctx: &CheckContext) -> DeepProbe {
    let uri = &ctx.hypervisor.libvirt_uri;
    if !view.is_real() {
        return DeepProbe::NotRun(format!("fixture root {}", view.root().display()));
    }
    let on_hypervisor = uri.starts_with("qemu:///system")
        || (view.is_local() && uri.starts_with("qemu:///session"));
    if !on_hypervisor {
        return DeepProbe::NotRun(format!(
            "{uri} is not a qemu URI local to the hypervisor (the probe runs there: qemu:///system)"
        ));
    }
    let dir = &ctx.options.probe_guest;
    DeepProbe::Ran(
        kvm_probe::deep_kvm_probe(
            view.host,
            uri,
            &dir.join("vmlinuz"),
            &dir.join("initrd.img"),
            ctx.options.probe_timeout,
        )
        .await,
    )
}

pub async fn gather(view: &HostView<'_>, _ctx: &CheckContext) -> VirtFacts {
    let cpuinfo = view.read("/proc/cpuinfo").await;
    let kvm_modules = view.list_dir("/sys/module").await.map(|names| {
        names
            .into_iter()
            .filter(|n| n.starts_with("kvm"))
            .collect::<Vec<_>>()
    });
    let mut nested = Vec::new();
    for m in kvm_modules.iter().flatten() {
        if m == "kvm_intel" || m == "kvm_amd" {
            let p = format!("/sys/module/{m}/parameters/nested");
            nested.push((m.clone(), view.read(&p).await));
        }
    }
    let modprobe_d = match view.list_dir(MODPROBE_D).await {
        None => None,
        Some(names) => {
            let mut files = Vec::new();
            // modprobe reads only *.conf here (so labwarp's `.labwarp.bak` copies are inert).
            for n in names.into_iter().filter(|n| n.ends_with(".conf")) {
                let p = format!("{MODPROBE_D}/{n}");
                files.push((n, view.read(&p).await));
            }
            Some(files)
        }
    };
    let dev_kvm = view.exists("/dev/kvm").await;
    let ioctl = if !dev_kvm {
        IoctlFacts::NotProbed("/dev/kvm does not exist".into())
    } else if !view.is_real() {
        IoctlFacts::NotProbed(format!("fixture root {}", view.root().display()))
    } else if !view.is_local() {
        IoctlFacts::NotProbed("remote host: the ioctls run only on this machine".into())
    } else {
        tokio::task::spawn_blocking(|| probe_kvm_ioctls(Path::new("/dev/kvm")))
            .await
            .unwrap_or_else(|e| IoctlFacts::NotProbed(format!("probe task failed: {e}")))
    };
    VirtFacts {
        cpuinfo,
        kvm_modules,
        nested,
        modprobe_d,
        dev_kvm,
        ioctl,
        capabilities: CmdRun::default(),
        deep: None,
    }
}

impl VirtFacts {
    /// Loaded KVM modules other than the generic `kvm` and the vendor modules (e.g. kvm_pvm).
    pub(super) fn foreign_modules(&self) -> Vec<String> {
        self.kvm_modules
            .iter()
            .flatten()
            .filter(|m| m.starts_with("kvm_") && *m != "kvm_intel" && *m != "kvm_amd")
            .cloned()
            .collect()
    }

    /// The loaded vendor modules (kvm_intel, kvm_amd).
    pub(super) fn vendor_modules(&self) -> Vec<String> {
        self.kvm_modules
            .iter()
            .flatten()
            .filter(|m| *m == "kvm_intel" || *m == "kvm_amd")
            .cloned()
            .collect()
    }

    /// The loaded KVM modules as evidence (of the kvm.module and kvm.nested findings).
    pub(super) fn modules_evidence(&self) -> String {
        match &self.kvm_modules {
            Some(m) => format!(
                "/sys/module entries starting with kvm: {}",
                if m.is_empty() {
                    "(none)".to_string()
                } else {
                    m.join(", ")
                }
            ),
            None => "/sys/module: not readable".to_string(),
        }
    }
}
