//! Fault: the terminal is resized to 10×5 and back, twice, while the TUI runs the demo (the
//! real binary in tmux). No panic, a "too small" notice at 10×5, the full dashboard back
//! afterwards, and the run finishes as if nothing happened.

use crate::tmux_support::Tmux;
use std::process::Command;

/// Removes what the demo made, whatever the test's outcome.
struct Clean(std::path::PathBuf);
impl Drop for Clean {
    fn drop(&mut self) {
        let _ = Command::new(env!("CARGO_BIN_EXE_labwarp"))
            .args([
                "clean",
                "--level",
                "all",
                "--yes",
                "--preset",
                "demo",
                "--workspace",
            ])
            .arg(self.0.join("workspace"))
            .output();
    }
}

#[test]
fn resize_to_10x5_and_back_during_a_demo_run() {
    let _turn = crate::common::turn(module_path!());
    if !crate::tmux_support::available() {
        eprintln!("\n!!! SKIPPED resize fault: tmux is not installed (apt-get install tmux) !!!\n");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let _clean = Clean(dir.path().to_path_buf());
    let bin = env!("CARGO_BIN_EXE_labwarp");
    let t = Tmux::start_sized(
        &format!("labwarp-resize-{}", std::process::id()),
        dir.path(),
        &format!("{bin} --demo; echo LABWARP-EXITED-$?; sleep 60"),
        100,
        30,
    );
    t.walk_demo_forms();
    t.preflight_to_review();
    t.wait_for("network demo-external");
    t.keys(&["s"]);
    t.wait_for("Stages: running");

    let mut seen = Vec::new();
    for round in 0..2 {
        t.resize(10, 5);
        let small = t.wait_for("too small");
        assert!(
            !small.contains("LABWARP-EXITED"),
            "labwarp exited at 10x5:\n{small}"
        );
        seen.push(
            small
                .lines()
                .map(str::trim_end)
                .collect::<Vec<_>>()
                .join("|"),
        );
        // Let the run go on while the terminal is tiny.
        std::thread::sleep(std::time::Duration::from_millis(800));
        t.resize(100, 30);
        let back = t.wait_for("Stages: ");
        assert!(
            back.contains("labwarp") && !back.contains("too small"),
            "round {round}: the full view did not come back:\n{back}"
        );
    }
    let done = t.wait_for("Stages: done");
    assert!(done.contains("demo-undercloud"), "{done}");
    t.keys(&["q"]);
    let s = t.wait_for("LABWARP-EXITED-");
    assert!(
        s.contains("LABWARP-EXITED-0"),
        "labwarp did not exit 0:\n{s}"
    );
    assert!(!s.contains("panicked"), "{s}");
    eprintln!(
        "RESIZE (tmux): 2 rounds of 100x30 -> 10x5 -> 100x30 during a demo run; at 10x5 the screen was {:?}; full dashboard back each time, run finished, exit 0",
        seen[0]
    );
}
