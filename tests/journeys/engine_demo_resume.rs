//! The demo resumes after what the new TripleO stages can leave behind: an image upload
//! that failed (copies and unpacked images kept, one upload on the rerun, introspection
//! never before it) and an undercloud without `openstack` (the install's preflight names
//! the undercloud-prep stage, whose rerun puts it back). Real podman, the stand-in
//! `openstack` for TripleO.

use crate::engine_support::{TestLab, text};

/// Each step that finished (`stage/step`) in a `--json` run's output.
fn finished(stdout: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "step_finished")
        .map(|e| {
            format!(
                "{}/{}",
                e["stage"].as_str().unwrap_or(""),
                e["step"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn a_failed_upload_and_a_missing_client_leave_the_demo_resumable() {
    let _turn = crate::common::turn(module_path!());
    let lab = TestLab::demo("upfail");
    let home = lab.ws().join("sandbox/undercloud/home/stack");
    let calls = |what: &str| {
        std::fs::read_to_string(home.join(".standin/invocations"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(what))
            .count()
    };
    // The upload fails once the tarballs are copied and unpacked: nothing after it runs.
    let mut child = lab.spawn(
        &["run", "--yes"],
        Some("overcloud-images/image-upload@before-apply=fail"),
    );
    assert!(!child.wait().unwrap().success(), "{}", lab.spawned_log());
    let log = lab.spawned_log();
    assert!(log.contains("injected failure"), "{log}");
    assert!(home.join("images/overcloud-full.qcow2").exists(), "{log}");
    assert_eq!(calls("overcloud image upload"), 0, "{log}");
    assert_eq!(
        calls("overcloud node introspect"),
        0,
        "introspection waits for the upload"
    );

    // The rerun finishes from there: nothing copied or unpacked again, one upload.
    let o = lab.labwarp(&["run", "--yes", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let applied = finished(&o.stdout);
    assert!(
        applied.contains(&"overcloud-images/image-upload".to_string()),
        "{applied:?}"
    );
    for done in [
        "overcloud-images/overcloud-image-copy",
        "overcloud-images/ipa-image-unpack",
        "undercloud-install/undercloud-install",
    ] {
        assert!(
            !applied.contains(&done.to_string()),
            "{done} ran again: {applied:?}"
        );
    }
    assert_eq!(calls("overcloud image upload"), 1);
    assert_eq!(calls("overcloud node introspect"), 1);

    // Without `openstack` on the undercloud the install's preflight says which stage
    // provides it; a full run puts it back and installs.
    std::fs::remove_file(home.join("bin/openstack")).unwrap();
    std::fs::remove_file(home.join("stackrc")).unwrap();
    let o = lab.labwarp(&["run", "--yes", "--only", "undercloud-install"]);
    assert!(!o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("preflight: there is no `openstack` on the undercloud")
            && out.contains("undercloud-prep stage"),
        "{out}"
    );
    assert_eq!(calls("undercloud install"), 1, "the install did not start");
    let o = lab.labwarp(&["run", "--yes", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let applied = finished(&o.stdout);
    assert!(
        applied.contains(&"undercloud-prep/tripleoclient".to_string())
            && applied.contains(&"undercloud-install/undercloud-install".to_string()),
        "{applied:?}"
    );
    assert_eq!(
        calls("overcloud image upload"),
        1,
        "the images stay uploaded"
    );
}
