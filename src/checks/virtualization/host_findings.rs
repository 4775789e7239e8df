//! The findings about the host's KVM itself: CPU flags, the loaded module, /dev/kvm and its
//! ioctls, and the domain types libvirt offers.

use super::capabilities::capability_lines;
use super::{AREA, CpuInfo, IoctlFacts, Vendor, VirtFacts, domain_types};
use crate::checks::{CmdRun, FileEdit, FileRead, Finding, Fix, Severity};
use std::path::PathBuf;

/// `kvm.cpu-flags`: vmx or svm in /proc/cpuinfo (`cpu` is its parse, when it was read).
pub(super) fn kvm_cpu_flags(cpuinfo: &FileRead, cpu: Option<&CpuInfo>) -> Finding {
    match (cpuinfo, cpu) {
        (_, Some(c)) => match c.virt_vendor() {
            Some(v) => Finding::new(
                "kvm.cpu-flags",
                AREA,
                Severity::Ok,
                format!(
                    "CPU offers {} ({})",
                    v.flag(),
                    if v == Vendor::Intel {
                        "Intel VT-x"
                    } else {
                        "AMD-V"
                    }
                ),
                c.evidence(),
            ),
            None => Finding::new(
                "kvm.cpu-flags",
                AREA,
                Severity::Warn,
                if c.has("hypervisor") {
                    "No vmx or svm flag: this host is itself a VM whose hypervisor does not pass hardware virtualisation through".to_string()
                } else {
                    "No vmx or svm flag: hardware virtualisation is off or absent (check VT-x/AMD-V in the firmware)".to_string()
                },
                c.evidence(),
            ),
        },
        (FileRead::Error(e), None) => Finding::new(
            "kvm.cpu-flags",
            AREA,
            Severity::Warn,
            "Cannot read /proc/cpuinfo",
            e.clone(),
        ),
        (_, None) => Finding::new(
            "kvm.cpu-flags",
            AREA,
            Severity::Warn,
            "Cannot read /proc/cpuinfo",
            "/proc/cpuinfo: not found",
        ),
    }
}

/// `kvm.module`: the KVM module actually loaded (a foreign one such as kvm_pvm, the vendor's, or
/// none), with a fix that loads the vendor's when the CPU offers it.
pub(super) fn kvm_module(facts: &VirtFacts, cpu: Option<&CpuInfo>) -> Finding {
    let foreign = facts.foreign_modules();
    let vendor_mods = facts.vendor_modules();
    let modules_evidence = facts.modules_evidence();
    let want_vendor = cpu.and_then(CpuInfo::virt_vendor);
    if !foreign.is_empty() {
        Finding::new(
            "kvm.module",
            AREA,
            Severity::Warn,
            format!(
                "KVM module {} is loaded instead of kvm_intel/kvm_amd: a software virtualisation layer; standard guest kernels crash under it",
                foreign.join(", ")
            ),
            modules_evidence,
        )
    } else if !vendor_mods.is_empty() {
        Finding::new(
            "kvm.module",
            AREA,
            Severity::Ok,
            format!("{} loaded", vendor_mods.join(", ")),
            modules_evidence,
        )
    } else if let Some(v) = want_vendor {
        Finding::new(
            "kvm.module",
            AREA,
            Severity::Warn,
            format!(
                "{} is not loaded although the CPU offers {}",
                v.module(),
                v.flag()
            ),
            modules_evidence,
        )
        .with_fix(Fix {
            description: format!(
                "Load {} (and persist it in /etc/modules-load.d)",
                v.module()
            ),
            edits: vec![FileEdit {
                path: PathBuf::from("/etc/modules-load.d/labwarp-kvm.conf"),
                content: format!("{}\n", v.module()),
                backup: None,
                mode: 0o644,
            }],
            commands: vec![vec!["modprobe".into(), v.module().into()]],
            restart: None,
        })
    } else {
        Finding::new(
            "kvm.module",
            AREA,
            Severity::Info,
            "No hardware KVM module loaded (none possible without vmx/svm)",
            modules_evidence,
        )
    }
}

/// `kvm.dev`: whether /dev/kvm exists.
pub(super) fn kvm_dev(dev_kvm: bool) -> Finding {
    if dev_kvm {
        Finding::new(
            "kvm.dev",
            AREA,
            Severity::Ok,
            "/dev/kvm exists",
            "/dev/kvm: present",
        )
    } else {
        Finding::new(
            "kvm.dev",
            AREA,
            Severity::Warn,
            "/dev/kvm does not exist",
            "/dev/kvm: not found",
        )
    }
}

/// `kvm.ioctl`: the KVM ioctls on /dev/kvm.
pub(super) fn kvm_ioctl(ioctl: &IoctlFacts) -> Finding {
    match ioctl {
        IoctlFacts::NotProbed(why) => Finding::new(
            "kvm.ioctl",
            AREA,
            Severity::Info,
            "KVM ioctls not probed",
            format!("not probed: {why}"),
        ),
        IoctlFacts::Probed {
            api_version,
            create_vm,
        } => {
            let ev = format!(
                "ioctl(/dev/kvm, KVM_GET_API_VERSION) = {}\nioctl(/dev/kvm, KVM_CREATE_VM, 0) = {}",
                match api_version {
                    Ok(v) => v.to_string(),
                    Err(e) => format!("error: {e}"),
                },
                match create_vm {
                    Ok(()) => "a VM file descriptor (closed again)".to_string(),
                    Err(e) => format!("error: {e}"),
                }
            );
            match (api_version, create_vm) {
                (Ok(12), Ok(())) => Finding::new(
                    "kvm.ioctl",
                    AREA,
                    Severity::Ok,
                    "KVM API version 12 and KVM_CREATE_VM succeeds",
                    ev,
                ),
                _ => Finding::new(
                    "kvm.ioctl",
                    AREA,
                    Severity::Warn,
                    "The KVM ioctls on /dev/kvm fail",
                    ev,
                ),
            }
        }
    }
}

/// `kvm.libvirt-domain-types`: whether libvirt (at `libvirt_uri`) offers domain type kvm.
pub(super) fn kvm_libvirt_domain_types(capabilities: &CmdRun, libvirt_uri: &str) -> Finding {
    match capabilities.ok_stdout() {
        Some(xml) => {
            let types = domain_types(xml);
            let ev = format!(
                "$ virsh -c {} capabilities  (arch and domain lines)\n{}",
                libvirt_uri,
                capability_lines(xml)
            );
            if types.iter().any(|t| t == "kvm") {
                Finding::new(
                    "kvm.libvirt-domain-types",
                    AREA,
                    Severity::Ok,
                    format!("libvirt offers domain types: {}", types.join(", ")),
                    ev,
                )
            } else {
                Finding::new(
                    "kvm.libvirt-domain-types",
                    AREA,
                    Severity::Warn,
                    format!(
                        "libvirt offers no domain type 'kvm' (only: {})",
                        if types.is_empty() {
                            "none".into()
                        } else {
                            types.join(", ")
                        }
                    ),
                    ev,
                )
            }
        }
        None => Finding::new(
            "kvm.libvirt-domain-types",
            AREA,
            Severity::Info,
            "libvirt capabilities not available",
            capabilities.evidence(),
        ),
    }
}
