//! The KVM verdict: can KVM run the lab's guests, and so which domain type the plan uses.

use super::{CpuInfo, DeepProbe, IoctlFacts, VirtFacts, domain_types};
use crate::checks::kvm_probe::ProbeVerdict;
use crate::lab::{DomainType, VirtType};

/// Whether KVM can run the lab's guests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KvmVerdict {
    /// Use `type='kvm'`.
    Usable,
    /// /dev/kvm works but guests crash (kvm_pvm, no vmx/svm): use TCG.
    PresentButUnusable,
    /// No usable /dev/kvm at all: use TCG.
    Absent,
}

impl KvmVerdict {
    pub fn domain_type(self) -> VirtType {
        match self {
            KvmVerdict::Usable => VirtType::Kvm,
            _ => VirtType::Qemu,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            KvmVerdict::Usable => "KVM usable for guests: domain type kvm",
            KvmVerdict::PresentButUnusable => {
                "KVM present but unusable for guests: use TCG (domain type qemu)"
            }
            KvmVerdict::Absent => "KVM not available: use TCG (domain type qemu)",
        }
    }
}

/// The domain type the plan uses: the lab's explicit choice, or with `auto` the verdict's.
pub fn chosen_domain_type(facts: &VirtFacts, setting: DomainType) -> VirtType {
    match setting {
        DomainType::Auto => verdict(facts).0.domain_type(),
        explicit => VirtType::from_model(explicit),
    }
}

/// The verdict and the reasons behind it. A deep probe result, when there is one, decides;
/// otherwise the shallow evidence does: any foreign KVM module or missing vmx/svm means the
/// kernel's KVM is not hardware KVM, whatever /dev/kvm and libvirt say.
pub fn verdict(facts: &VirtFacts) -> (KvmVerdict, Vec<String>) {
    let mut why = Vec::new();
    match &facts.deep {
        Some(DeepProbe::Ran(o)) if o.verdict == ProbeVerdict::Usable => {
            why.push(format!("deep probe: {}", o.summary));
            return (KvmVerdict::Usable, why);
        }
        Some(DeepProbe::Ran(o)) if o.verdict == ProbeVerdict::Unusable => {
            why.push(format!("deep probe: {}", o.summary));
            return (KvmVerdict::PresentButUnusable, why);
        }
        Some(DeepProbe::Ran(o)) => {
            why.push(format!(
                "deep probe could not decide ({}): shallow verdict",
                o.summary
            ));
        }
        Some(DeepProbe::NotRun(reason)) => {
            why.push(format!("deep probe not run ({reason}): shallow verdict"));
        }
        None => {}
    }
    if !facts.dev_kvm {
        why.push("/dev/kvm does not exist".into());
        return (KvmVerdict::Absent, why);
    }
    if let IoctlFacts::Probed {
        api_version,
        create_vm,
    } = &facts.ioctl
        && let Err(e) = api_version.as_ref().map(|_| ()).and(create_vm.as_ref())
    {
        why.push(format!("/dev/kvm exists but the KVM ioctls fail: {e}"));
        return (KvmVerdict::Absent, why);
    }
    let foreign = facts.foreign_modules();
    let cpu = facts.cpuinfo.content().map(CpuInfo::parse);
    let no_flags = cpu.as_ref().is_some_and(|c| c.virt_vendor().is_none());
    if !foreign.is_empty() {
        why.push(format!(
            "the KVM module is {} (not kvm_intel/kvm_amd): a software layer under which standard guest kernels crash",
            foreign.join(", ")
        ));
    }
    if no_flags {
        why.push("/proc/cpuinfo has neither vmx nor svm".into());
    }
    if !foreign.is_empty() || no_flags {
        return (KvmVerdict::PresentButUnusable, why);
    }
    if let Some(xml) = facts.capabilities.ok_stdout()
        && !domain_types(xml).iter().any(|t| t == "kvm")
    {
        why.push("libvirt offers no domain type 'kvm'".into());
        return (KvmVerdict::Absent, why);
    }
    why.push(format!(
        "{} loaded, vmx/svm present, /dev/kvm answers{}",
        facts.vendor_modules().join(", "),
        if facts.deep.is_none() {
            " (shallow: `--deep` boots a probe guest for a definite answer)"
        } else {
            ""
        }
    ));
    (KvmVerdict::Usable, why)
}
