//! The README's run command on a fresh machine, as far as this machine allows (issue 15):
//! the demo runs with a PATH holding only a minimal Debian (the commands of its Essential and
//! required packages, what debootstrap's minbase installs) plus exactly the commands
//! `scripts/run` installs for the demo (the rows of `scripts/tools.tsv` with the demo's
//! roles). So the list covers every command the demo's plan runs, and preflight names what
//! is missing before a run.

use crate::engine_support::{TestLab, text};
use labwarp::host::tools;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The executables a minimal Debian has: every file in a bin/sbin directory of a package
/// that is Essential or of priority required.
fn minimal_debian_commands() -> BTreeSet<PathBuf> {
    let q = Command::new("dpkg-query")
        .args(["-W", "-f", "${Package} ${Essential} ${Priority}\\n"])
        .output()
        .expect("dpkg-query: this test needs a Debian machine (scripts/setup-host.sh)");
    assert!(q.status.success(), "dpkg-query failed");
    let pkgs: Vec<String> = String::from_utf8_lossy(&q.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3 && (f[1] == "yes" || f[2] == "required")).then(|| f[0].to_string())
        })
        .collect();
    assert!(
        pkgs.iter().any(|p| p == "coreutils") && pkgs.iter().any(|p| p == "dash"),
        "no Essential packages found: {pkgs:?}"
    );
    let l = Command::new("dpkg")
        .arg("-L")
        .args(&pkgs)
        .output()
        .expect("dpkg -L");
    let mut out = BTreeSet::new();
    for line in String::from_utf8_lossy(&l.stdout).lines() {
        let p = Path::new(line);
        let in_bin = p
            .parent()
            .and_then(|d| d.file_name())
            .is_some_and(|d| d == "bin" || d == "sbin");
        if in_bin && p.is_file() {
            out.insert(p.to_path_buf());
        }
    }
    // Commands a package provides through the alternatives system (`awk` is mawk's, a
    // required package): a link in a bin directory that resolves to one of the above.
    let real: BTreeSet<PathBuf> = out.iter().filter_map(|p| p.canonicalize().ok()).collect();
    for dir in ["/usr/bin", "/usr/sbin", "/bin", "/sbin"] {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            let is_link = std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink());
            if is_link && p.canonicalize().is_ok_and(|t| real.contains(&t)) {
                out.insert(p);
            }
        }
    }
    out
}

/// Where this machine has a command (setup-host installed every row of the list).
fn which(cmd: &str) -> PathBuf {
    let o = Command::new("sh")
        .args(["-c", "command -v \"$1\"", "sh", cmd])
        .output()
        .expect("sh");
    let p = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(
        o.status.success() && !p.is_empty(),
        "{cmd} is not installed here: run scripts/setup-host.sh (it installs every row of scripts/tools.tsv)"
    );
    PathBuf::from(p)
}

/// A directory of symlinks: the minimal Debian plus the demo's rows of the list, except
/// `leave_out`. Returns the directory and what it holds from the list.
fn fresh_path(leave_out: &[&str]) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut listed = Vec::new();
    for p in minimal_debian_commands() {
        let name = p.file_name().unwrap();
        let _ = std::os::unix::fs::symlink(&p, dir.path().join(name));
    }
    for t in tools::needed(tools::DEMO) {
        if leave_out.contains(&t.command) {
            continue;
        }
        let link = dir.path().join(t.command);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(which(t.command), &link).unwrap();
        listed.push(t.command.to_string());
    }
    for gone in leave_out {
        assert!(
            !dir.path().join(gone).exists(),
            "{gone} is part of a minimal Debian: leaving it out proves nothing"
        );
    }
    (dir, listed)
}

fn path_of(dir: &tempfile::TempDir) -> String {
    dir.path().display().to_string()
}

/// `labwarp check --preset demo --json` with `path` as PATH: its exit code and the
/// `commands.demo` finding.
fn check_commands(path: &str) -> (Option<i32>, serde_json::Value) {
    let o = Command::new(crate::engine_support::bin())
        .args(["check", "--preset", "demo", "--json"])
        .env("PATH", path)
        .output()
        .expect("labwarp check");
    let report: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("check --json: {e}\n{}", text(&o)));
    let f = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == "commands.demo")
        .cloned()
        .unwrap_or_else(|| panic!("no commands finding: {report}"));
    (o.status.code(), f)
}

/// `scripts/run` installs the rows with the demo's roles: the same roles as `tools::DEMO`.
#[test]
fn scripts_run_installs_the_rows_the_demo_needs() {
    let _turn = crate::common::turn(module_path!());
    let script = include_str!("../../scripts/run");
    let line = script
        .lines()
        .find_map(|l| l.strip_prefix("DEMO_ROLES="))
        .expect("scripts/run sets DEMO_ROLES");
    let roles: Vec<&str> = line.trim_matches('"').split_whitespace().collect();
    let want: Vec<&str> = tools::DEMO.iter().map(|r| r.name()).collect();
    assert_eq!(roles, want);
    assert!(script.contains("done < scripts/tools.tsv"));
    let setup = include_str!("../../scripts/setup-host.sh");
    assert!(setup.contains("tools.tsv"), "setup-host.sh reads the list");
}

/// Removes a podman image when dropped (after the lab's containers, declared before it).
struct ImageGuard(String);

impl Drop for ImageGuard {
    fn drop(&mut self) {
        let _ = Command::new("podman").args(["rmi", "-f", &self.0]).output();
    }
}

fn image_exists(name: &str) -> bool {
    Command::new("podman")
        .args(["image", "exists", name])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn the_demo_reaches_every_stage_finished_with_only_what_scripts_run_installs() {
    let _turn = crate::common::turn(module_path!());
    let (bin, listed) = fresh_path(&[]);
    eprintln!("fresh PATH: a minimal Debian + {}", listed.join(" "));
    // A fresh machine has no stand-in image yet: the run builds its own under this PATH.
    let image = ImageGuard(format!("localhost/labwarp-fresh-{}:t", std::process::id()));
    assert!(
        !image_exists(&image.0),
        "{} left by an earlier run",
        image.0
    );
    let mut lab = TestLab::demo("fresh");
    lab.env.push(("PATH".into(), path_of(&bin)));
    lab.env.push(("STANDIN_IMAGE".into(), image.0.clone()));

    let (_, commands) = check_commands(&path_of(&bin));
    assert_eq!(commands["severity"], "ok", "{commands}");

    let o = lab.labwarp(&["run", "--yes"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("run: every stage finished"),
        "the demo did not finish with a fresh machine's PATH:\n{}",
        text(&o)
    );
    assert!(
        image_exists(&image.0),
        "the stand-in did not build {} under the fresh PATH",
        image.0
    );
    let c = lab.labwarp(&["clean", "--level", "all", "--yes"]);
    assert!(c.status.success(), "{}", text(&c));
    assert_eq!(lab.leftovers(), Vec::<String>::new(), "left behind");
}

/// Without the ISO tool and qemu-img, preflight fails before any run and names both
/// packages; the run fails at the first step that needs one and says which command could
/// not start.
#[test]
fn a_missing_iso_tool_is_found_by_preflight_with_its_package() {
    let _turn = crate::common::turn(module_path!());
    let (bin, _) = fresh_path(&["genisoimage", "qemu-img"]);
    let mut lab = TestLab::demo("nogeniso");
    lab.env.push(("PATH".into(), path_of(&bin)));
    let (code, f) = check_commands(&path_of(&bin));
    assert_eq!(code, Some(1), "{f}");
    assert_eq!(f["severity"], "fail", "{f}");
    let title = f["title"].as_str().unwrap();
    assert!(
        title.contains("genisoimage (not installed: genisoimage)")
            && title.contains("qemu-img (not installed: qemu-utils)"),
        "{title}"
    );
    let fix = f["fix"]["commands"]
        .as_array()
        .and_then(|c| c.last())
        .and_then(|c| c.as_array())
        .expect("an install command");
    assert!(
        fix.iter().any(|a| a == "apt-get") && fix.iter().any(|a| a == "qemu-utils"),
        "{fix:?}"
    );

    let o = lab.labwarp(&["run", "--yes"]);
    assert!(!o.status.success(), "{}", text(&o));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        all.contains("FAILED: demo: cannot start `qemu-img create"),
        "{}",
        text(&o)
    );
    // What the failure blocked says so, naming the failed step (never "already done").
    assert!(
        all.contains("[undercloud-vm] seed-iso: not run: images/undercloud-image failed"),
        "{}",
        text(&o)
    );
    assert!(!all.contains("already done"), "{}", text(&o));
}
