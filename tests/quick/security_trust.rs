//! Trust: nothing labwarp runs or writes turns host key checking off. A source audit of every
//! file labwarp ships (src/, scripts/, presets/, themes/) and an audit of every artefact
//! `labwarp export` writes for every preset: each ssh option that names host key checking says
//! `yes` and points at the workspace's pinned known_hosts, never /dev/null.
//!
//! The behaviour behind it is tested against real sshd's elsewhere: a changed host key is
//! refused (tests/daemons/ssh.rs `host_keys_are_pinned_and_a_swapped_key_is_refused`), `qemu+ssh://`
//! uses the pinned known_hosts (tests/daemons/virt_ssh.rs).

use crate::engine_support;

use engine_support::{bin, text, walk};
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every value given to `StrictHostKeyChecking` and `UserKnownHostsFile` in `text`
/// (ssh_config `Key value`, `-o Key=value`, any case).
fn ssh_options(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let lower = text.to_ascii_lowercase();
    for key in [
        "stricthostkeychecking",
        "userknownhostsfile",
        "globalknownhostsfile",
    ] {
        let mut at = 0;
        while let Some(pos) = lower[at..].find(key) {
            let start = at + pos + key.len();
            let rest = &text[start..];
            let value: String = rest
                .trim_start_matches([' ', '=', '\t'])
                .chars()
                .take_while(|c| !c.is_whitespace() && !"'\",;)".contains(*c))
                .collect();
            out.push((key.to_string(), value));
            at = start;
        }
    }
    out
}

/// Lines that only *test for* an option (`assert!(!s.contains("…=no"))`) are not settings.
fn is_a_check(line: &str) -> bool {
    line.contains("contains(") || line.trim_start().starts_with("//")
}

fn shipped_files() -> Vec<PathBuf> {
    let root = Path::new(ROOT);
    let mut files = Vec::new();
    for dir in ["src", "scripts", "presets", "themes", ".ci"] {
        files.extend(walk(&root.join(dir)).into_iter().filter(|p| p.is_file()));
    }
    files
}

#[test]
fn no_shipped_file_disables_host_key_checking() {
    let mut bad = Vec::new();
    let mut seen = 0;
    let files = shipped_files();
    for f in &files {
        let Ok(content) = std::fs::read_to_string(f) else {
            continue;
        };
        for (n, line) in content.lines().enumerate() {
            if is_a_check(line) {
                continue;
            }
            for (key, value) in ssh_options(line) {
                seen += 1;
                let ok = match key.as_str() {
                    "stricthostkeychecking" => {
                        value.eq_ignore_ascii_case("yes") || value.is_empty() || value == "`"
                    }
                    // Only system-wide pins may be ignored; the user file is the workspace's.
                    "globalknownhostsfile" => true,
                    _ => value != "/dev/null",
                };
                if !ok {
                    bad.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                }
            }
        }
        // Trust-on-first-use is only ever chosen from the explicit flag (`(None, true) =>`:
        // no fingerprint given, `--trust-on-first-use` set), never as a default. Exempt:
        // the file that defines the policy.
        if !f.ends_with("src/host/ssh/host_key.rs") {
            for (n, line) in content.lines().enumerate() {
                if line.contains("TrustPolicy::FirstUse")
                    && !line.contains("(None, true)")
                    && !line.contains("assert")
                {
                    bad.push(format!(
                        "{}:{}: FirstUse outside the --trust-on-first-use flag: {}",
                        f.display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        seen > 5,
        "the audit found no ssh options at all: it is not looking"
    );
    assert!(
        bad.is_empty(),
        "host key checking disabled:\n{}",
        bad.join("\n")
    );
    println!(
        "trust (source audit): {} shipped files, {seen} host-key options, 0 that disable checking",
        files.len()
    );
}

#[test]
fn every_exported_artefact_pins_host_keys() {
    let mut presets = 0;
    let (mut blocks, mut inv_hosts) = (0, 0);
    for preset in labwarp::lab::preset_names() {
        let tmp = tempfile::tempdir().unwrap();
        let out_dir = tmp.path().join("out");
        let o = Command::new(bin())
            .args(["export", "--preset", preset, "--out"])
            .arg(&out_dir)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{preset}: {}", text(&o));
        presets += 1;
        let known = tmp.path().join("workspace/known_hosts");
        let known = known.display().to_string();
        for f in walk(&out_dir).into_iter().filter(|p| p.is_file()) {
            let content = std::fs::read_to_string(&f).unwrap_or_default();
            for (key, value) in ssh_options(&content) {
                match key.as_str() {
                    "stricthostkeychecking" => {
                        assert_eq!(value, "yes", "{preset}: {}", f.display())
                    }
                    "userknownhostsfile" => {
                        assert_eq!(value, known, "{preset}: {}", f.display())
                    }
                    _ => {}
                }
            }
        }
        let cfg = std::fs::read_to_string(out_dir.join("ssh.config")).unwrap();
        let hosts = cfg.lines().filter(|l| l.starts_with("Host ")).count();
        assert!(hosts > 0, "{preset}: no Host in ssh.config");
        assert_eq!(
            cfg.matches("\n  StrictHostKeyChecking yes\n").count(),
            hosts,
            "{preset}: a Host block without StrictHostKeyChecking yes:\n{cfg}"
        );
        assert_eq!(
            cfg.matches(&format!("\n  UserKnownHostsFile {known}\n"))
                .count(),
            hosts,
            "{preset}: a Host block without the workspace known_hosts:\n{cfg}"
        );
        blocks += hosts;
        let inv = walk(&out_dir)
            .into_iter()
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("inventory"))
            })
            .expect("an inventory");
        let v: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&inv).unwrap()).unwrap();
        let yaml = serde_yaml::to_string(&v).unwrap();
        for line in yaml
            .lines()
            .filter(|l| l.contains("ansible_ssh_common_args"))
        {
            inv_hosts += 1;
            assert!(
                line.contains("StrictHostKeyChecking=yes"),
                "{preset}: {line}"
            );
            assert!(line.contains("UserKnownHostsFile="), "{preset}: {line}");
        }
    }
    // The libvirt qemu+ssh wrapper (what `virsh`/libvirt runs as its ssh).
    let tmp = tempfile::tempdir().unwrap();
    let known = tmp.path().join("k h/known_hosts");
    let wrapper = labwarp::virt::uri::write_ssh_wrapper(&tmp.path().join("bin"), &known).unwrap();
    let script = std::fs::read_to_string(&wrapper).unwrap();
    let opts = ssh_options(&script);
    assert!(
        opts.contains(&("stricthostkeychecking".into(), "yes".into())),
        "{script}"
    );
    let pinned = format!(
        "UserKnownHostsFile={}",
        labwarp::host::shell_quote(&known.display().to_string())
    );
    assert!(script.contains(&pinned), "{script}");
    assert!(!script.contains("UserKnownHostsFile=/dev/null"), "{script}");
    println!(
        "trust (artefacts): {presets} presets exported, {blocks} ssh.config Host blocks and {inv_hosts} inventory hosts pinned to the workspace known_hosts, qemu+ssh wrapper pinned; 0 unpinned"
    );
}
