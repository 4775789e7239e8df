//! The stand-in's journal as the TripleO contract test reads it, and the deployment order
//! judged on a demo run's calls (tests/quick/tripleo_contract.rs).

use super::{Verdict, judge};
use serde_json::{Value, json};
use std::path::Path;

/// One call of the stand-in `openstack`, from its journal.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Call {
    pub argv: Vec<String>,
    pub credentials: Vec<String>,
    pub cwd: String,
}

/// The stand-in's journal: records of NUL-terminated fields `call`, cwd, credential
/// variables (comma-separated), argument count, arguments (scripts/standin/openstack).
pub fn read_journal(path: &Path) -> Vec<Call> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let fields: Vec<String> = bytes
        .split(|b| *b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    // The last record ends with a NUL: the split leaves one empty field after it.
    assert_eq!(fields.last().map(String::as_str), Some(""), "journal torn");
    let mut f = fields[..fields.len() - 1].iter();
    let mut calls = Vec::new();
    while let Some(tag) = f.next() {
        assert_eq!(tag, "call", "journal out of step: {fields:?}");
        let mut next = || f.next().expect("journal record cut short").clone();
        let cwd = next();
        let credentials = next()
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        let argc: usize = next().parse().expect("argument count");
        let argv = (0..argc).map(|_| next()).collect();
        calls.push(Call {
            argv,
            credentials,
            cwd,
        });
    }
    calls
}

/// Step order: the prep's container prepare before the install, the image upload before
/// introspection, provisioning and the deploy, each judged once per distinct call; and the
/// same calls with the upload moved last caught, naming the upload.
pub fn assert_in_order(
    python: &Path,
    spec: &Value,
    distinct: &[(Call, usize)],
    verdicts: &[Verdict],
) {
    let order: Vec<&Verdict> = verdicts.iter().filter(|v| v.kind == "order").collect();
    let needs_first = |c: &Call| {
        let a = c.argv.join(" ");
        [
            "undercloud install",
            "overcloud node introspect",
            "overcloud node provision",
            "overcloud deploy",
        ]
        .iter()
        .any(|w| a.starts_with(w))
    };
    assert_eq!(
        order.len(),
        distinct.iter().filter(|(c, _)| needs_first(c)).count(),
        "{verdicts:#?}"
    );
    assert!(order.iter().all(|v| v.ok), "steps out of order: {order:#?}");
    // The same calls with the upload moved to the end: caught, naming the upload.
    let mut late = spec.clone();
    let cmds = late["commands"].as_array_mut().unwrap();
    let at = cmds
        .iter()
        .position(|c| {
            c["argv"].as_array().is_some_and(|a| {
                a.len() >= 3 && a[..3] == [json!("overcloud"), json!("image"), json!("upload")]
            })
        })
        .expect("the demo uploads the images");
    let upload = cmds.remove(at);
    cmds.push(upload);
    let (_, verdicts) = judge(python, &late);
    let caught: Vec<&Verdict> = verdicts
        .iter()
        .filter(|v| v.kind == "order" && !v.ok)
        .collect();
    assert!(
        caught
            .iter()
            .any(|v| v.check.contains("overcloud node introspect")
                && v.detail.contains("before openstack overcloud image upload")),
        "an introspection before the upload is not caught: {verdicts:#?}"
    );
}

/// The calls made before the undercloud install, which makes the credentials.
pub fn before_install(c: &Call) -> bool {
    let a = c.argv.join(" ");
    a.starts_with("undercloud install") || a.starts_with("tripleo container image prepare default")
}
