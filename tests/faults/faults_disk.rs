//! Fault: the disk fills. The demo lab's workspace is a small tmpfs (mounted as root on the
//! test's temp dir, unmounted afterwards); a ballast file fills it. A run on the full disk
//! fails with ENOSPC named and leaves the previous state.yaml intact (atomic writes); a run
//! that runs out of space half-way fails clearly with a valid state.yaml; logs degrade with
//! one warning; once space is freed, a rerun reaches the end state of an uninterrupted run.

use crate::engine_support::{TestLab, text};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted on a directory; unmounted (lazily, so a stray open file cannot keep it)
/// when dropped.
struct Tmpfs(PathBuf);
impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }
}
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `path` until ENOSPC, leaving `keep_kib` free.
fn fill(path: &Path, keep_kib: u64) {
    let mut f = std::fs::File::create(path).expect("ballast");
    let chunk = vec![0xA5u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    f.set_len(len.saturating_sub(keep_kib * 1024))
        .expect("shrink ballast");
}

fn all_text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn assert_no_panic(o: &std::process::Output, what: &str) {
    assert_ne!(o.status.code(), Some(101), "{what}: panicked\n{}", text(o));
    assert!(
        o.status.code().is_some(),
        "{what}: died by a signal\n{}",
        text(o)
    );
    assert!(!all_text(o).contains("panicked"), "{what}: {}", text(o));
}

#[test]
fn a_full_disk_fails_clearly_keeps_state_and_a_rerun_converges() {
    let _turn = crate::common::turn(module_path!());
    let reference = TestLab::demo("dr");
    let o = reference.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "reference: {}", text(&o));
    let want = reference.end_state();
    drop(reference);

    let lab = TestLab::demo("df");
    let Some(mnt) = Tmpfs::mount(lab.ws(), "6m") else {
        eprintln!(
            "\n!!! SKIPPED: cannot mount a tmpfs (not root?): the disk-full fault is untested !!!\n"
        );
        return;
    };
    let ballast = lab.ws().join("ballast");
    let mut report = Vec::new();

    // 1. Part of the lab, then a completely full disk.
    let o = lab.labwarp(&["run", "--yes", "--only", "hypervisor"]);
    assert!(o.status.success(), "{}", text(&o));
    let before = std::fs::read(lab.ws().join("state.yaml")).expect("state.yaml written");
    fill(&ballast, 0);
    let o = lab.labwarp(&["run", "--yes"]);
    assert_no_panic(&o, "run on a full disk");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = all_text(&o);
    assert!(
        out.contains("No space left on device") && out.contains("state"),
        "ENOSPC and the state file must be named: {out}"
    );
    let after = std::fs::read(lab.ws().join("state.yaml")).expect("state.yaml still there");
    assert_eq!(
        before, after,
        "a failed write must leave the previous state.yaml as it was"
    );
    report.push(format!(
        "full disk: exit 1, `{}`",
        out.lines()
            .find(|l| l.contains("No space left"))
            .unwrap_or("")
            .trim()
    ));

    // 2. Room for part of the run only: it stops half-way, clearly, state.yaml still valid.
    std::fs::remove_file(&ballast).unwrap();
    fill(&ballast, 400);
    let o = lab.labwarp(&["run", "--yes"]);
    assert_no_panic(&o, "run running out of space");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = all_text(&o);
    assert!(
        out.contains("No space left on device"),
        "ENOSPC must be named: {out}"
    );
    labwarp::run::state::load(&lab.ws().join("state.yaml"))
        .unwrap_or_else(|e| panic!("state.yaml after ENOSPC half-way: {e:#}"));
    let failed: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("No space left"))
        .take(2)
        .collect();
    report.push(format!("space for part of the run: exit 1, {failed:?}"));
    let warned = out.contains("this log misses lines") || out.contains("cannot write logs");

    // 3. Space freed: the rerun finishes and matches the uninterrupted run.
    std::fs::remove_file(&ballast).unwrap();
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(
        o.status.success(),
        "rerun after freeing space: {}",
        text(&o)
    );
    let got = lab.end_state();
    assert_eq!(got, want, "end state after ENOSPC + rerun differs");
    report.push("space freed: rerun converged to the reference end state".into());
    eprintln!(
        "DISK FULL: tmpfs 6 MiB workspace; {}; logs warned once: {warned}",
        report.join("; ")
    );
    // Clean while the tmpfs (and the state file on it) still exists, then unmount.
    let o = lab.labwarp(&["clean", "--level", "all", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    drop(mnt);
}
