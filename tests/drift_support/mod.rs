//! The drift scenario shared by the test-driver and real-libvirtd tests: a built lab whose
//! lab.yaml is edited (vCPUs, memory, a disk size, a NIC, a network's DHCP range), then a
//! CIDR (a recreate).

use crate::engine_support::{TestLab, text};

/// `(step, field, live, wanted, cost)` of every drifted field `labwarp plan --json` lists.
pub type Row = (String, String, String, String, String);

pub fn drift(lab: &TestLab) -> Vec<Row> {
    let o = lab.labwarp(&["plan", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut out = Vec::new();
    for st in v["stages"].as_array().unwrap() {
        for s in st["steps"].as_array().unwrap() {
            for d in s["drift"].as_array().cloned().unwrap_or_default() {
                let f = |k: &str| d[k].as_str().unwrap_or_default().to_string();
                out.push((
                    s["id"].as_str().unwrap().to_string(),
                    f("field"),
                    f("live"),
                    f("wanted"),
                    f("cost"),
                ));
            }
        }
    }
    out.sort();
    out
}

pub fn row(step: &str, field: &str, live: &str, wanted: &str, cost: &str) -> Row {
    (
        step.into(),
        field.into(),
        live.into(),
        wanted.into(),
        cost.into(),
    )
}

/// The full drift of a JSON plan's step `id`, for the recreate's `lost` and `command`.
pub fn step_drift_json(lab: &TestLab, id: &str) -> Vec<serde_json::Value> {
    let o = lab.labwarp(&["plan", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|st| st["steps"].as_array().unwrap().clone())
        .filter(|s| s["id"] == id)
        .flat_map(|s| s["drift"].as_array().cloned().unwrap_or_default())
        .collect()
}

pub fn edit(lab: &TestLab, f: impl FnOnce(String) -> String) {
    let file = lab.file.clone().expect("a lab file");
    let y = std::fs::read_to_string(&file).unwrap();
    let new = f(y.clone());
    assert_ne!(new, y, "the edit changed nothing");
    std::fs::write(&file, new).unwrap();
}

/// The undercloud's NIC rows: `nic <MAC>` fields differ per lab, so they are matched on
/// everything but the MAC.
pub fn nic_rows(rows: &[Row]) -> Vec<(String, String, String, String)> {
    rows.iter()
        .filter(|r| r.1.starts_with("nic "))
        .map(|r| (r.0.clone(), r.2.clone(), r.3.clone(), r.4.clone()))
        .collect()
}

pub fn without_nics(rows: &[Row]) -> Vec<Row> {
    rows.iter()
        .filter(|r| !r.1.starts_with("nic "))
        .cloned()
        .collect()
}
