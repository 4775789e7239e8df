//! The engine against the real libvirtd (qemu:///system, running inside netns labwarp-ci),
//! through the real binary: kill -9 inside every step, a failure injected at every step,
//! and a lost state file. Each test has its own lab name, bridges and subnet.

use crate::engine_support::{TestLab, libvirtd_available, text};
use std::collections::BTreeSet;
use std::time::Duration;

fn paused_files(lab: &TestLab) -> Vec<String> {
    std::fs::read_dir(lab.ws())
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with("fault-paused-"))
                .collect()
        })
        .unwrap_or_default()
}

/// What libvirt, the lab's VirtualBMC directory, the state file and the logs hold, for a
/// failure message (CI keeps nothing else).
fn debug_dump(lab: &TestLab) -> String {
    let sh = |c: &str| {
        let o = std::process::Command::new("sh")
            .args(["-c", c])
            .output()
            .unwrap();
        format!(
            "$ {c}\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let ws = lab.ws().display().to_string();
    [
        sh("virsh -c qemu:///system list --all"),
        sh(&format!(
            "find {ws}/sandbox/vbmc; cat {ws}/sandbox/vbmc/nodes/*/config"
        )),
        sh(&format!("cat {ws}/state.yaml")),
        sh(&format!("ls -l {ws}/logs; tail -n 30 {ws}/logs/*")),
    ]
    .join("\n")
}

#[test]
fn kill_9_inside_every_step_then_rerun_reaches_the_same_end_state() {
    let _turn = crate::common::turn(module_path!());
    if !libvirtd_available() {
        return;
    }
    // The reference: one uninterrupted run.
    let reference = TestLab::libvirtd("kr", 211);
    let o = reference.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let want = reference.end_state();
    drop(reference);

    let lab = TestLab::libvirtd("kk", 212);
    // Steps already done on this machine (installed packages) are never applied, so never
    // interrupted: only the others count.
    let steps: Vec<String> = lab
        .steps_with_status()
        .into_iter()
        .filter(|(_, st)| st != "done")
        .map(|(s, _)| s)
        .collect();
    // Alternate the point: before apply (recorded "creating", nothing done yet) and after
    // apply (done, not yet recorded "created").
    let points: Vec<String> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let p = if i % 2 == 0 {
                "after-apply"
            } else {
                "before-apply"
            };
            format!("{s}@{p}")
        })
        .collect();
    let mut paused: BTreeSet<String> = BTreeSet::new();
    // The points in the order the runs were killed at, for the failure message.
    let mut killed_at: Vec<String> = Vec::new();
    let mut kills = 0;
    loop {
        let left: Vec<String> = points
            .iter()
            .filter(|p| !paused.contains(&p.replace('/', "_")))
            .map(|p| format!("{p}=pause"))
            .collect();
        let kills_before = kills;
        let mut child = lab.spawn(&["run", "--yes"], Some(&left.join(",")));
        // Wait for a pause (then kill -9 there) or for the run to end by itself.
        let finished = loop {
            if let Some(st) = child.try_wait().expect("wait") {
                break Some(st);
            }
            let now = paused_files(&lab);
            if !now.is_empty() {
                child.kill().expect("kill -9"); // SIGKILL
                child.wait().expect("reap");
                kills += 1;
                for f in now {
                    let _ = std::fs::remove_file(lab.ws().join(&f));
                    let point = f.trim_start_matches("fault-paused-").to_string();
                    killed_at.push(point.clone());
                    paused.insert(point);
                }
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if kills_before > 0 {
            // Every run after a kill says it resumes an interrupted one, before any step.
            let log = lab.spawned_log();
            assert!(
                log.contains("stopped without finishing; resuming: every step is checked again"),
                "the run after a kill did not say it resumes:\n{log}"
            );
        }
        if let Some(st) = finished {
            assert!(
                st.success(),
                "the run after {kills} kill(s) (at {killed_at:?}) failed: {st:?}\n{}\n{}",
                lab.spawned_log(),
                debug_dump(&lab)
            );
            break;
        }
        assert!(kills <= steps.len() * 2, "runs never converge");
    }
    // A step running in parallel with the one that paused may get past its own point
    // before the kill lands, and is then done for the next run: most steps, not all, are
    // interrupted at their point (the stages' sequential spines always are).
    assert!(
        paused.len() * 4 >= steps.len() * 3,
        "only {} of {} steps were interrupted: {paused:?}",
        paused.len(),
        steps.len()
    );
    let got = lab.end_state();
    assert_eq!(
        got, want,
        "end state after {kills} kill -9 differs from an uninterrupted run"
    );
}

#[test]
fn a_failure_at_every_step_then_one_clean_leaves_nothing() {
    let _turn = crate::common::turn(module_path!());
    if !libvirtd_available() {
        return;
    }
    let lab = TestLab::libvirtd("kf", 213);
    for (step, status) in lab.steps_with_status() {
        // After its apply (the step's resources exist, the run fails); a step already done
        // on this machine (installed packages) is never applied: fail it at its check.
        // A step that only verifies (the BMCs answer from the undercloud) is done by the
        // time the run reaches it, whatever `plan` said before anything was built.
        let verifies_only = step.ends_with("/bmc-reachable");
        let point = if status == "done" || verifies_only {
            "before-check"
        } else {
            "after-apply"
        };
        let fault = format!("{step}@{point}=fail");
        let o = lab.cmd(&["run", "--yes"], Some(&fault)).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "fault at {step}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("injected failure"),
            "fault at {step}: {}",
            text(&o)
        );
        let o = lab.labwarp(&["clean", "--level", "virthost", "--yes"]);
        assert!(
            o.status.success(),
            "clean after a failure at {step}: {}",
            text(&o)
        );
        assert_eq!(
            lab.leftovers(),
            Vec::<String>::new(),
            "after a failure at {step}, one clean left these"
        );
    }
    // The stack user is removed at `all` only.
    let o = lab.labwarp(&["clean", "--level", "all", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!lab.user_exists(), "clean --level all left the stack user");
}

#[test]
fn a_lost_state_file_and_odd_vm_states_still_clean_in_one_pass() {
    let _turn = crate::common::turn(module_path!());
    if !libvirtd_available() {
        return;
    }
    let lab = TestLab::libvirtd("kl", 214);
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    // Put the VMs in awkward states behind labwarp's back: a paused undercloud, a node
    // with a snapshot.
    let virsh = |args: &[&str]| {
        let o = std::process::Command::new("virsh")
            .args(["-c", "qemu:///system"])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "virsh {args:?}: {}", text(&o));
    };
    virsh(&["suspend", &format!("{}-undercloud", lab.name)]);
    virsh(&[
        "snapshot-create-as",
        &format!("{}-compute-0", lab.name),
        "snap1",
    ]);
    std::fs::remove_file(lab.ws().join("state.yaml")).unwrap();
    let o = lab.labwarp(&["clean", "--level", "virthost", "--dry-run", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let whats: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["what"].as_str().unwrap())
        .collect();
    // Without the state file, what carries the lab's marks is still proven its own:
    // domains and networks (libvirt metadata with the lab's identity), the pool (its
    // directory's marker), containers (labels).
    for want in ["domain", "network", "storage pool", "container"] {
        assert!(
            whats.iter().any(|w| w.starts_with(want)),
            "discovery missed every {want}: {whats:?}"
        );
    }
    // Unmarked files are left alone, each with the command that removes it by hand.
    let o = lab.labwarp(&["clean", "--level", "virthost", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    crate::engine_support::remove_left_alone_files(&list);
    let o = lab.labwarp(&["clean", "--level", "virthost", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(lab.leftovers(), Vec::<String>::new());
}
