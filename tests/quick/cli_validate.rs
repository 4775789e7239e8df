//! The real binary: `labwarp validate` and `labwarp presets` exit codes and output.

use std::process::{Command, Output};

fn labwarp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_labwarp"))
        .args(args)
        .output()
        .expect("run labwarp")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn every_preset_validates_with_exit_0() {
    for name in ["demo", "minimal", "ha", "live-migration", "kayobe-aio"] {
        let out = labwarp(&["validate", "--preset", name]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stdout(&out));
        assert_eq!(stdout(&out), format!("preset {name}: valid (0 warnings)\n"));
    }
}

#[test]
fn unknown_preset_exits_1_with_suggestion() {
    let out = labwarp(&["validate", "--preset", "mininal"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out)
            .contains("preset: unknown preset (value: mininal) — fix: did you mean `minimal`?")
    );
}

#[test]
fn invalid_file_exits_1_and_lists_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lab.yaml");
    std::fs::write(
        &path,
        "preset: minimal\nundercloud:\n  vm:\n    vcpus: 0\novercloud:\n  vbmc:\n    base_port: 65535\n",
    )
    .unwrap();
    let out = labwarp(&["validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains(
            "error: undercloud.vm.vcpus: vCPUs must be between 1 and 256 (value: 0) — fix: "
        ),
        "{text}"
    );
    assert!(text.contains("error: overcloud.vbmc.base_port: "), "{text}");
    assert!(text.contains("invalid (2 errors, "), "{text}");
}

#[test]
fn warnings_are_printed_but_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lab.yaml");
    std::fs::write(
        &path,
        "preset: minimal\nundercloud:\n  vm:\n    memory_mib: 7800\n",
    )
    .unwrap();
    let out = labwarp(&["validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains(": warning: undercloud.vm.memory_mib: "),
        "{text}"
    );
    assert!(text.ends_with("valid (1 warning)\n"), "{text}");
}

#[test]
fn default_file_is_lab_yaml_in_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lab.yaml"), "preset: demo\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_labwarp"))
        .arg("validate")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(stdout(&out), "lab.yaml: valid (0 warnings)\n");
}

#[test]
fn missing_file_exits_1() {
    let out = labwarp(&["validate", "/nonexistent/lab.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("cannot read the lab file"));
}

#[test]
fn file_and_preset_together_is_a_usage_error() {
    let out = labwarp(&["validate", "lab.yaml", "--preset", "demo"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn presets_lists_names_with_descriptions() {
    let out = labwarp(&["presets"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    for (line, name) in lines
        .iter()
        .zip(["demo", "minimal", "ha", "live-migration", "kayobe-aio"])
    {
        assert!(line.starts_with(name), "{line}");
        assert!(line.len() > name.len() + 10, "{line} has a description");
    }
}

#[test]
fn help_mentions_both_commands() {
    let out = labwarp(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("validate") && text.contains("presets"),
        "{text}"
    );
    let out = labwarp(&["validate", "--help"]);
    assert!(stdout(&out).contains("--preset <NAME>"));
}

#[test]
fn a_reader_that_goes_away_ends_the_report_without_a_panic() {
    use std::io::Read;
    use std::process::Stdio;
    let case = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/invalid_configs/long_value_is_cut.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_labwarp"))
        .arg("validate")
        .arg(&case)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the pipe at once, like `| head -c 0`.
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(status.code(), Some(1), "{err}");
}
