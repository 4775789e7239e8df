//! `labwarp check` end to end: the real binary, JSON output, exit codes, and `--fix --yes`
//! applied to a temp copy of a fixture tree (commands are never run against a fixture root).

use std::path::Path;
use std::process::Command;

fn labwarp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_labwarp"))
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

#[test]
fn local_json_report_on_this_machine() {
    let out = labwarp()
        .args(["check", "--local", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let failed = v["failed"].as_bool().unwrap();
    assert_eq!(out.status.code(), Some(if failed { 1 } else { 0 }));
    let findings = v["findings"].as_array().unwrap();
    let verdict = findings.iter().find(|f| f["id"] == "kvm.verdict").unwrap();
    assert!(verdict["evidence"].as_str().is_some_and(|e| !e.is_empty()));
    assert!(
        findings
            .iter()
            .all(|f| f["area"].is_string() && f["severity"].is_string())
    );
    if Path::new("/sys/module/kvm_pvm").exists() {
        assert!(
            verdict["title"]
                .as_str()
                .unwrap()
                .starts_with("KVM present but unusable for guests: use TCG (domain type qemu)")
        );
    } else {
        eprintln!("SKIPPED (loudly): not a kvm_pvm machine, verdict title not asserted");
    }
}

#[test]
fn human_report_groups_by_area() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hosts/intel-nested-off");
    let out = labwarp()
        .args(["check", "--local", "--root"])
        .arg(&fixture)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("\nVirtualisation\n"), "{text}");
    assert!(
        text.contains("[warn] Nested KVM is off (kvm_intel); the lab wants it on  (kvm.nested)"),
        "{text}"
    );
    assert!(
        text.contains("| /etc/modprobe.d/dist.conf:2: options kvm_intel nested=0"),
        "{text}"
    );
    assert!(text.contains("$ modprobe -r kvm_intel"), "{text}");
    assert!(
        text.contains("fix(es) can be applied: labwarp check --fix"),
        "{text}"
    );
}

#[test]
fn fix_yes_on_a_fixture_copy() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hosts/apparmor-enforcing"),
        dir.path(),
    );
    let out = labwarp()
        .args(["check", "--local", "--json", "--fix", "--yes", "--root"])
        .arg(dir.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let applied = v["applied"].as_array().unwrap();
    assert!(
        applied.iter().any(|a| a["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "qemu-conf.edit")),
        "{applied:#?}"
    );
    let conf = std::fs::read_to_string(dir.path().join("etc/libvirt/qemu.conf")).unwrap();
    assert!(conf.ends_with(
        "user = \"root\"\ngroup = \"root\"\ndynamic_ownership = 0\nsecurity_driver = \"none\"\n"
    ));
    assert!(
        dir.path()
            .join("etc/libvirt/qemu.conf.labwarp.bak")
            .exists()
    );
    // The report printed after fixing has nothing left to edit in qemu.conf.
    let findings = v["findings"].as_array().unwrap();
    assert!(findings.iter().all(|f| f["id"] != "qemu-conf.edit"));
    // Without --yes and without a terminal nothing is applied.
    let dir2 = tempfile::tempdir().unwrap();
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hosts/apparmor-enforcing"),
        dir2.path(),
    );
    let out = labwarp()
        .args(["check", "--local", "--fix", "--root"])
        .arg(dir2.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --yes"));
    assert!(
        !dir2
            .path()
            .join("etc/libvirt/qemu.conf.labwarp.bak")
            .exists()
    );
}

#[test]
fn bad_arguments_are_named() {
    let out = labwarp()
        .args(["check", "--config", "/nonexistent/lab.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/lab.yaml: not found"));
    let out = labwarp()
        .args(["check", "--local", "--overcommit", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--overcommit"));
}

/// The hypervisor's locality is the lab model's one rule: `local` is this machine, and any
/// address (a loopback one such as 127.0.0.2 included) is reached over SSH, as the plan,
/// the TUI and `labwarp ssh` do. `--root` reads a local tree, so it is refused for the
/// latter and accepted for the former.
#[test]
fn a_loopback_address_is_reached_over_ssh_like_everywhere_else() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hosts/intel-nested-off");
    let out = labwarp()
        .args(["check", "--preset", "minimal", "--root"])
        .arg(&fixture)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot be combined with SSH"), "{err}");
    let out = labwarp()
        .args(["check", "--preset", "demo", "--json", "--root"])
        .arg(&fixture)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("cannot be combined with SSH"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {err} {}", String::from_utf8_lossy(&out.stdout)));
    assert!(v["findings"].as_array().is_some_and(|f| !f.is_empty()));
}
