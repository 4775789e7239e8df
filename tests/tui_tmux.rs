//! End to end: the real `labwarp` binary driven in tmux (send-keys, capture-pane), the way a
//! person uses it: the demo from the first screen through the forms, preflight, review, a
//! run on libvirt's test driver, and a guided cleanup.

mod tmux_support;

use tmux_support::Tmux;

#[test]
fn demo_journey_in_tmux() {
    if !tmux_support::available() {
        eprintln!("SKIPPED demo_journey_in_tmux: tmux is not installed (apt-get install tmux)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_labwarp");
    let t = Tmux::start(
        dir.path(),
        &format!("{bin} --demo; echo LABWARP-EXITED-$?; sleep 60"),
    );

    // --demo opens the hypervisor form filled from the demo preset.
    t.wait_for("Hypervisor: the machine the lab runs on");
    t.wait_for("test:///default");

    // An invalid value is flagged as it is typed, and Next is refused.
    t.keys(&["Tab", "Tab", "Tab"]);
    t.keys(&["End"]);
    t.text(" bad!");
    t.wait_for("not a host name or IP address");
    t.keys(&["C-n"]);
    t.wait_for("Fix Address first");
    for _ in 0..5 {
        t.keys(&["BSpace"]);
    }
    t.keys(&["C-n"]);
    t.wait_for("Undercloud: the director VM");
    t.keys(&["C-n"]);
    t.wait_for("Overcloud: node group 1 of");
    t.keys(&["C-n"]);
    t.wait_for("Preflight");
    // The real checks run against this machine and libvirt's test driver.
    t.wait_for("libvirt answers at test:///default");
    t.wait_for(" checks, ");
    assert!(
        dir.path().join("workspace/lab.yaml").is_file(),
        "leaving a form saves workspace/lab.yaml"
    );

    // Review shows the engine's plan diff.
    t.preflight_to_review();
    t.wait_for("network demo-external");
    t.keys(&["s"]);
    t.wait_for("Stages: running");
    t.wait_for("Stages: done");
    t.wait_for("demo-undercloud");

    // A shell in an undercloud container takes the terminal and gives it back.
    t.wait_for("Undercloud containers (");
    t.keys(&["Tab"]);
    t.keys(&["s"]);
    t.wait_for("/ #");
    t.text("exit");
    t.keys(&["Enter"]);
    t.wait_for("Shell ended (exit status: 0)");

    // Guided cleanup: level `all`, the dry run's list, the typed name, then done.
    t.keys(&["c"]);
    t.wait_for("Cleanup level");
    t.keys(&["Down", "Down", "Enter"]);
    t.wait_for("all will be removed");
    t.text("dem");
    t.keys(&["Enter"]);
    t.wait_for("Type the lab's name `demo` exactly");
    t.text("o");
    t.keys(&["Enter"]);
    t.wait_for("Cleanup finished");
    let s = t.wait_for(" failed");
    assert!(s.contains("removed domain demo-undercloud"), "{s}");

    t.keys(&["q"]);
    let s = t.wait_for("LABWARP-EXITED-0");
    assert!(
        !s.contains("Preflight:"),
        "the alternate screen is gone after quit:\n{s}"
    );
}
