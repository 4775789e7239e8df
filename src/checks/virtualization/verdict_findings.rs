//! The verdict findings: the deep probe's result (with `--deep`) and the KVM verdict itself,
//! weighed against the lab's domain type.

use super::{AREA, DeepProbe, KvmVerdict, VirtFacts, verdict};
use crate::checks::kvm_probe::ProbeVerdict;
use crate::checks::{Finding, Fix, Severity};
use crate::lab::DomainType;

/// `kvm.deep-probe`: whether the probe guest booted, or why the probe did not run.
pub(super) fn kvm_deep_probe(deep: &DeepProbe) -> Finding {
    match deep {
        DeepProbe::Ran(o) => {
            let mut ev = vec![format!(
                "domain {} (type='{}'), {:.1} s: {}",
                o.domain_name,
                o.domain_type,
                o.elapsed.as_secs_f64(),
                o.summary
            )];
            ev.extend(o.evidence.iter().cloned());
            let (sev, title) = match o.verdict {
                ProbeVerdict::Usable => (Severity::Ok, "A type='kvm' probe guest booted"),
                ProbeVerdict::Unusable => (Severity::Warn, "A type='kvm' probe guest did not boot"),
                ProbeVerdict::ProbeFailed => (
                    Severity::Warn,
                    "The deep KVM probe could not run: the verdict rests on shallow evidence",
                ),
            };
            Finding::new("kvm.deep-probe", AREA, sev, title, ev.join("\n"))
        }
        DeepProbe::NotRun(reason) => Finding::new(
            "kvm.deep-probe",
            AREA,
            Severity::Warn,
            "Deep KVM probe not run: the verdict rests on shallow evidence",
            format!("not run: {reason}"),
        ),
    }
}

/// `kvm.verdict`: the verdict, and what it means for a lab whose domain type is `domain_type`.
pub(super) fn kvm_verdict(facts: &VirtFacts, domain_type: DomainType) -> Finding {
    let (v, why) = verdict(facts);
    let evidence = why.join("\n");
    // What the verdict means for this lab: a Usable KVM is fine whatever the lab chose;
    // otherwise it depends on the lab's domain_type.
    let (severity, consequence) = match (domain_type, v) {
        (_, KvmVerdict::Usable) => (Severity::Ok, None),
        (DomainType::Auto, _) => (Severity::Warn, Some("the plan will use TCG (slower)")),
        (DomainType::Qemu, _) => (
            Severity::Info,
            Some("the lab already uses domain type qemu"),
        ),
        (DomainType::Kvm, _) => (Severity::Fail, Some("but the lab forces domain type kvm")),
    };
    let title = match consequence {
        Some(c) => format!("{} — {c}", v.title()),
        None => v.title().to_string(),
    };
    let mut finding = Finding::new("kvm.verdict", AREA, severity, title, evidence);
    if severity == Severity::Fail {
        finding = finding.with_fix(Fix::manual(
            "In lab.yaml set hypervisors[0].domain_type: qemu (or auto)",
        ));
    }
    finding
}
