//! The nested-KVM findings: the live `nested` parameter, then the modprobe.d option that
//! persists it. Both carry the same fix (`nested_fix`).

use super::modprobe::{modprobe_option_lines, nested_on};
use super::{AREA, CpuInfo, MODPROBE_D, Vendor, VirtFacts};
use crate::checks::{FileRead, Finding, Fix, Severity};

/// The vendor whose module the nested setting concerns: the CPU's (vmx/svm), else the vendor
/// module that is loaded.
pub(super) fn nested_vendor(facts: &VirtFacts, cpu: Option<&CpuInfo>) -> Option<Vendor> {
    cpu.and_then(CpuInfo::virt_vendor).or_else(|| {
        facts.vendor_modules().first().map(|m| {
            if m == "kvm_intel" {
                Vendor::Intel
            } else {
                Vendor::Amd
            }
        })
    })
}

/// `kvm.nested`: the live nested parameter of the vendor module against the lab's wish (`want`).
pub(super) fn kvm_nested(
    facts: &VirtFacts,
    vendor: Option<Vendor>,
    want: bool,
    fix: Option<&Fix>,
) -> Finding {
    match vendor.and_then(|v| facts.nested.iter().find(|(m, _)| m == v.module())) {
        None => Finding::new(
            "kvm.nested",
            AREA,
            Severity::Info,
            "Nested KVM not applicable: neither kvm_intel nor kvm_amd is loaded",
            facts.modules_evidence(),
        ),
        Some((m, read)) => {
            let path = format!("/sys/module/{m}/parameters/nested");
            match read {
                FileRead::Content(v) => {
                    let ev = format!("{path}: {}", v.trim());
                    if nested_on(v) == want {
                        Finding::new(
                            "kvm.nested",
                            AREA,
                            Severity::Ok,
                            format!("Nested KVM is {} ({m})", if want { "on" } else { "off" }),
                            ev,
                        )
                    } else {
                        let mut f = Finding::new(
                            "kvm.nested",
                            AREA,
                            Severity::Warn,
                            format!(
                                "Nested KVM is {} ({m}); the lab wants it {}",
                                if nested_on(v) { "on" } else { "off" },
                                if want { "on" } else { "off" }
                            ),
                            ev,
                        );
                        f.fix = fix.cloned();
                        f
                    }
                }
                FileRead::Missing => Finding::new(
                    "kvm.nested",
                    AREA,
                    Severity::Info,
                    format!("{m} has no nested parameter"),
                    format!("{path}: not found"),
                ),
                FileRead::Error(e) => Finding::new(
                    "kvm.nested",
                    AREA,
                    Severity::Warn,
                    format!("Cannot read {path}"),
                    e.clone(),
                ),
            }
        }
    }
}

/// `kvm.modprobe`: whether modprobe.d persists `options kvm_<vendor> nested=1|0` cleanly.
pub(super) fn kvm_modprobe(
    facts: &VirtFacts,
    vendor: Option<Vendor>,
    want: bool,
    fix: Option<&Fix>,
) -> Finding {
    let evidence = modprobe_evidence(facts);
    match vendor {
        None => Finding::new(
            "kvm.modprobe",
            AREA,
            Severity::Info,
            "modprobe.d nested option not applicable (no vmx/svm)",
            evidence,
        ),
        Some(v) => {
            // Only the persistent part decides this finding: are the edits needed?
            let edits_needed = fix.is_some_and(|f| !f.edits.is_empty());
            if edits_needed {
                let mut f = Finding::new(
                    "kvm.modprobe",
                    AREA,
                    Severity::Warn,
                    format!(
                        "modprobe.d does not persist `options {} nested={}` cleanly",
                        v.module(),
                        if want { 1 } else { 0 }
                    ),
                    evidence,
                );
                f.fix = fix.cloned();
                f
            } else {
                Finding::new(
                    "kvm.modprobe",
                    AREA,
                    Severity::Ok,
                    format!(
                        "modprobe.d persists `options {} nested={}`",
                        v.module(),
                        if want { 1 } else { 0 }
                    ),
                    evidence,
                )
            }
        }
    }
}

/// Every `options kvm_intel|kvm_amd` line in /etc/modprobe.d as `file:line: text`, or that
/// there is none.
fn modprobe_evidence(facts: &VirtFacts) -> String {
    let lines = facts
        .modprobe_d
        .as_deref()
        .map(modprobe_option_lines)
        .unwrap_or_default();
    match &facts.modprobe_d {
        None => format!("{MODPROBE_D}: not found"),
        Some(_) if lines.is_empty() => {
            format!("no `options kvm_intel|kvm_amd` line in {MODPROBE_D}/*")
        }
        Some(_) => lines
            .iter()
            .map(|(p, n, l)| format!("{p}:{n}: {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}
