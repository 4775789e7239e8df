//! Live migration's readiness in the box (the migration test rig, `LABWARP_MIGRATION_RIG=1`):
//! what runs for real (the computes mount the rig's ganesha export and share a file through
//! it; the migration port is reached compute to compute) and what stays UNVERIFIED, by name,
//! in the plan, the run's events and the report, never done.

use super::LabBox;
use serde_json::Value;

/// Readiness steps the tiny computes answer for real: done after the run.
pub const REAL: &[&str] = &[
    "live-migration-ready/export-visible",
    "live-migration-ready/migration-port",
];

/// Steps the box cannot verify, by name (the report's NOT_HERE says why): unverified after
/// the run, in the plan and among the run's events.
pub const UNVERIFIED: &[&str] = &[
    "live-migration/nfs-export",
    "live-migration-ready/computes-resolve",
    "live-migration-ready/virt-use-nfs",
    "live-migration-ready/shared-path",
    "live-migration-ready/nfs-idmapd-computes",
];

/// `labwarp plan --json`'s steps: (stage/step, status, what its check saw).
fn plan_steps(b: &LabBox) -> Vec<(String, String, String)> {
    let o = b.lab.labwarp(&["plan", "--json"]);
    assert!(
        o.status.success(),
        "labwarp plan: {}",
        crate::engine_support::text(&o)
    );
    let v: Value = serde_json::from_slice(&o.stdout).expect("plan JSON");
    let mut out = Vec::new();
    for st in v["stages"].as_array().expect("stages") {
        for s in st["steps"].as_array().expect("steps") {
            out.push((
                format!(
                    "{}/{}",
                    st["id"].as_str().unwrap_or("?"),
                    s["id"].as_str().unwrap_or("?")
                ),
                s["status"].as_str().unwrap_or("?").to_string(),
                s["saw"].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    out
}

/// After the first run: the plan says REAL done and UNVERIFIED unverified, the run reported
/// exactly UNVERIFIED as unverified (`step_unverified` events, which the text summary lists),
/// and the probes left the export as they found it (empty). What was seen, for the report.
pub fn readiness(b: &LabBox, run_events: &[&Value]) -> String {
    let steps = plan_steps(b);
    let step = |s: &str| {
        steps
            .iter()
            .find(|(x, _, _)| x == s)
            .map(|(_, st, saw)| (st.clone(), saw.clone()))
            .unwrap_or_else(|| panic!("the plan has no step {s}: {steps:?}"))
    };
    for s in REAL {
        assert_eq!(step(s).0, "done", "{s} after the run: {}", step(s).1);
    }
    for s in UNVERIFIED {
        assert_eq!(step(s).0, "unverified", "{s} after the run: {}", step(s).1);
    }
    // What the computes answered, not what labwarp assumed: compute-1 read the file
    // compute-0 wrote through the share, and the connect succeeded.
    let (_, mounted) = step(REAL[0]);
    assert!(
        mounted.contains("read /tmp/labwarp-nfs-probe/.labwarp-probe-compute-0: compute-0 "),
        "export-visible saw: {mounted}"
    );
    let (_, port) = step(REAL[1]);
    assert!(
        port.contains("compute-0 reaches compute-1")
            && port.contains("compute-1 reaches compute-0"),
        "migration-port saw: {port}"
    );
    let mut said: Vec<String> = run_events
        .iter()
        .filter(|e| e["event"] == "step_unverified")
        .map(|e| {
            format!(
                "{}/{}",
                e["stage"].as_str().unwrap_or("?"),
                e["step"].as_str().unwrap_or("?")
            )
        })
        .collect();
    said.sort();
    let mut want: Vec<String> = UNVERIFIED.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(said, want, "the run's unverified steps");
    assert!(
        b.nfs.files().is_empty(),
        "the readiness probes left files in the export: {:?}",
        b.nfs.files()
    );
    format!(
        "live migration (test rig: nfs-ganesha on the hypervisor's provisioning address standing in for the kernel NFS server): {} done (a real NFSv4.1 mount of {} on every compute, a file written on one and read on the next; port 2022 reached compute to compute); UNVERIFIED, by name: {}\nexport-visible saw: {mounted}",
        REAL.join(", "),
        b.nfs.pseudo,
        UNVERIFIED.join(", ")
    )
}
