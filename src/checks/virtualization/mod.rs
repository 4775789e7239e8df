//! Virtualisation: CPU flags, the KVM module actually loaded, /dev/kvm and its ioctls,
//! libvirt's domain types, nested KVM and its modprobe.d option — each its own finding — and
//! the verdict that picks the domain type (`kvm` or TCG `qemu`).
//!
//! Facts: `facts` (gathered from the host), `ioctl`, `cpuinfo`, `capabilities`, `modprobe`.
//! Decisions: `verdict` and `nested_fix`. Findings, one function each named after its id
//! (`kvm_cpu_flags` makes `kvm.cpu-flags`): `host_findings`, `nested_findings`,
//! `verdict_findings`.

mod capabilities;
mod cpuinfo;
mod facts;
mod host_findings;
mod ioctl;
mod modprobe;
mod nested_findings;
mod nested_fix;
mod verdict;
mod verdict_findings;

pub use capabilities::domain_types;
pub use cpuinfo::{CpuInfo, Vendor};
pub use facts::{DeepProbe, VirtFacts, deep_probe, gather};
pub use ioctl::{IoctlFacts, probe_kvm_ioctls};
pub use nested_fix::nested_fix;
pub use verdict::{KvmVerdict, chosen_domain_type, verdict};

use super::{Area, CheckContext, Finding};
use host_findings::{kvm_cpu_flags, kvm_dev, kvm_ioctl, kvm_libvirt_domain_types, kvm_module};
use nested_findings::{kvm_modprobe, kvm_nested, nested_vendor};
use verdict_findings::{kvm_deep_probe, kvm_verdict};

const AREA: Area = Area::Virtualization;
/// Where quickstart persists the nested option (roles/parts/kvm, FIELD-FACTS §4.1).
pub const KVM_CONF: &str = "/etc/modprobe.d/kvm.conf";
const MODPROBE_D: &str = "/etc/modprobe.d";

/// The virtualisation findings, in report order (`kvm.deep-probe` only with `--deep`).
pub fn evaluate(facts: &VirtFacts, ctx: &CheckContext) -> Vec<Finding> {
    let cpu = facts.cpuinfo.content().map(CpuInfo::parse);
    let cpu = cpu.as_ref();
    let want_nested = ctx.options.want_nested;
    let vendor = nested_vendor(facts, cpu);
    // One fix serves both nested findings: the live parameter and its persistent option.
    let fix = vendor.and_then(|v| nested_fix(facts, v, want_nested));
    let fix = fix.as_ref();

    let mut out = vec![
        kvm_cpu_flags(&facts.cpuinfo, cpu),
        kvm_module(facts, cpu),
        kvm_dev(facts.dev_kvm),
        kvm_ioctl(&facts.ioctl),
        kvm_libvirt_domain_types(&facts.capabilities, &ctx.hypervisor.libvirt_uri),
        kvm_nested(facts, vendor, want_nested, fix),
        kvm_modprobe(facts, vendor, want_nested, fix),
    ];
    out.extend(facts.deep.as_ref().map(kvm_deep_probe));
    out.push(kvm_verdict(facts, ctx.hypervisor.domain_type));
    out
}
