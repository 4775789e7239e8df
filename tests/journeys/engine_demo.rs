//! The engine end to end through the real binary, on the `demo` preset (libvirt's test
//! driver, this machine as hypervisor, a sandbox undercloud with real podman containers
//! started by the stand-in `openstack`). Each test has its own lab name and workspace and
//! cleans up after itself even when an assertion fails.

use crate::engine_support::{TestLab, text, walk};

const CORE: &[&str] = &[
    "haproxy",
    "ironic_api",
    "ironic_conductor",
    "ironic_inspector",
    "keystone",
    "mysql",
    "rabbitmq",
];

/// What a finished demo lab looks like from outside labwarp.
fn assert_built(lab: &TestLab) {
    let running: Vec<String> = lab
        .containers()
        .into_iter()
        .filter(|(_, s)| s == "running")
        .map(|(n, _)| n)
        .collect();
    for c in CORE {
        let want = format!("{}-{c}", lab.name);
        assert!(
            running.contains(&want),
            "container {want} not running: {running:?}"
        );
    }
    let home = lab.ws().join("sandbox/undercloud/home/stack");
    for f in [
        "stackrc",
        "overcloudrc",
        "undercloud.conf",
        "instackenv.json",
        "bin/openstack",
    ] {
        assert!(home.join(f).exists(), "{} missing", home.join(f).display());
    }
}

fn assert_gone(lab: &TestLab) {
    assert_eq!(lab.leftovers(), Vec::<String>::new(), "left behind");
}

#[test]
fn demo_runs_end_to_end_resumes_and_cleans_in_one_pass() {
    let _turn = crate::common::turn(module_path!());
    let lab = TestLab::demo("e2e");
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("run: every stage finished"), "{}", text(&o));
    assert!(
        out.contains("labwarp stand-in"),
        "the stand-in must say what it is"
    );
    assert!(
        out.contains("note: sandbox"),
        "sandbox choices must be explicit"
    );
    assert_built(&lab);
    assert!(lab.ws().join("logs/undercloud-install.log").exists());

    // Again: the test driver forgot its networks and domains (each connection starts
    // empty), so those are made again; everything on this machine is already done.
    let o = lab.labwarp(&["run", "--yes", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is a JSON event"))
        .collect();
    let applied: Vec<String> = events
        .iter()
        .filter(|e| e["event"] == "step_finished")
        .map(|e| {
            format!(
                "{}/{}",
                e["stage"].as_str().unwrap(),
                e["step"].as_str().unwrap()
            )
        })
        .collect();
    for a in &applied {
        assert!(
            a.contains("network") || a.ends_with("/pool") || a.ends_with("domain"),
            "second run re-applied {a}, which was already done"
        );
    }
    for s in [
        "undercloud-prep/container-prepare",
        "undercloud-install/undercloud-install",
        "overcloud-images/image-upload",
        "overcloud-deploy/overcloud-deploy",
    ] {
        assert!(!applied.contains(&s.to_string()), "{s} ran twice");
    }
    let last = events.last().unwrap();
    assert_eq!(
        (last["event"].as_str(), last["ok"].as_bool()),
        (Some("run_finished"), Some(true))
    );

    let o = lab.labwarp(&["clean", "--level", "virthost", "--dry-run", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let items = list["items"].as_array().unwrap();
    assert!(items.len() >= CORE.len(), "{list}");
    assert!(
        items
            .iter()
            .any(|i| i["what"].as_str().unwrap().contains("-keystone"))
    );
    assert_built(&lab); // a dry run removes nothing

    let o = lab.labwarp(&["clean", "--level", "virthost", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_gone(&lab);
    // Converged: a second clean finds nothing.
    let o = lab.labwarp(&["clean", "--level", "virthost", "--yes"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("nothing to remove"),
        "{}",
        text(&o)
    );
}

#[test]
fn demo_without_state_yaml_removes_what_is_marked_and_lists_the_rest() {
    let _turn = crate::common::turn(module_path!());
    let lab = TestLab::demo("lost");
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_built(&lab);
    std::fs::remove_file(lab.ws().join("state.yaml")).unwrap();
    // Without the state file only marked objects are proven the lab's: the containers
    // (labelled with the lab's name and identity) and the directories labwarp created
    // whole. The disks and images carry no mark: listed as left alone, with the command.
    let o = lab.labwarp(&["clean", "--level", "virthost", "--dry-run", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let whats = |key: &str| -> Vec<String> {
        list[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["what"].as_str().unwrap().to_string())
            .collect()
    };
    let (items, kept) = (whats("items"), whats("kept"));
    for c in CORE {
        let want = format!("container {}-{c} ", lab.name);
        assert!(
            items.iter().any(|w| w.starts_with(&want)),
            "{want}: {items:?}"
        );
    }
    assert!(
        kept.iter()
            .any(|k| k.starts_with("file ") && k.contains("-undercloud.qcow2")),
        "an unmarked disk must be listed as left alone: {kept:?}"
    );
    let o = lab.labwarp(&["clean", "--level", "virthost", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("(discovered;"), "{}", text(&o));
    assert!(out.contains("left alone"), "{}", text(&o));
    assert_eq!(lab.containers(), Vec::<(String, String)>::new());
    for f in walk(&lab.ws().join("sandbox")) {
        assert!(
            !f.starts_with(lab.ws().join("sandbox/undercloud")),
            "the sandbox undercloud is labwarp's whole (marked): {f:?} stayed"
        );
    }
    // Whoever knows the rest is not needed removes it with the commands shown; then one
    // clean converges.
    assert!(crate::engine_support::remove_left_alone_files(&list) > 0);
    let o = lab.labwarp(&["clean", "--level", "virthost", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_gone(&lab);
}

#[test]
fn sigterm_stops_a_run_cleanly_and_the_next_run_resumes() {
    let _turn = crate::common::turn(module_path!());
    let lab = TestLab::demo("term");
    // Hold the run inside the undercloud install, then send SIGTERM.
    let mut child = lab.spawn(
        &["run", "--yes"],
        Some("undercloud-install/undercloud-install@before-apply=pause"),
    );
    let paused = lab
        .ws()
        .join("fault-paused-undercloud-install_undercloud-install@before-apply");
    while !paused.exists() {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("the run ended before reaching the pause: {st:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(130), "a cancelled run exits 130");
    let state = std::fs::read_to_string(lab.ws().join("state.yaml")).unwrap();
    assert!(state.contains("cancelled: true"), "{state}");
    assert!(state.contains("error: cancelled"), "{state}");
    // The next run resumes and finishes.
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_built(&lab);
}

/// The undercloud install's detached job files, and whether its worker is alive.
fn install_job(lab: &TestLab) -> (std::path::PathBuf, Option<i32>) {
    let base = lab
        .ws()
        .join("sandbox/undercloud/home/stack/.labwarp-jobs/undercloud-install");
    let pid = std::fs::read_to_string(base.with_extension("pid"))
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok());
    (base, pid)
}

fn alive(pid: i32) -> bool {
    // Not a zombie: a reaped or exited worker does not count.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

/// Starts a run with a slow stand-in, waits until the undercloud install's job runs, and
/// kills labwarp with SIGKILL there; returns the job's worker pid.
fn kill_9_during_the_install(lab: &TestLab) -> i32 {
    let mut child = lab.spawn(&["run", "--yes"], None);
    let pid = loop {
        if let Some(st) = child.try_wait().unwrap() {
            panic!(
                "the run ended before its install started: {st:?}\n{}",
                lab.spawned_log()
            );
        }
        if let (_, Some(pid)) = install_job(lab) {
            break pid;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    pid
}

#[test]
fn a_kill_9_leaves_the_install_running_and_the_next_run_follows_it() {
    let _turn = crate::common::turn(module_path!());
    let mut lab = TestLab::demo("job");
    // Slow enough (~25 s) that the install still runs when labwarp dies and when the
    // rerun (a few seconds of checks on the test driver) reaches it.
    lab.env.push(("STANDIN_DELAY".into(), "1.5".into()));
    let worker = kill_9_during_the_install(&lab);
    assert!(
        alive(worker),
        "the install died with labwarp (worker {worker})"
    );
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("from an earlier run is still running"),
        "the rerun did not follow the running install:\n{out}"
    );
    // One install, whether followed or finished before the rerun looked.
    let journal = std::fs::read_to_string(
        lab.ws()
            .join("sandbox/undercloud/home/stack/.standin/invocations"),
    )
    .unwrap();
    let installs = journal
        .lines()
        .filter(|l| l.starts_with("undercloud install"))
        .count();
    assert_eq!(installs, 1, "the install ran {installs} times:\n{journal}");
    // The followed job's output reached the rerun's log.
    assert!(
        out.contains("The Undercloud has been successfully installed."),
        "{out}"
    );
    assert_built(&lab);
}

#[test]
fn an_install_that_ends_while_labwarp_is_dead_still_records_its_undercloud_conf() {
    let _turn = crate::common::turn(module_path!());
    let mut lab = TestLab::demo("rec");
    lab.env.push(("STANDIN_DELAY".into(), "0.3".into()));
    let worker = kill_9_during_the_install(&lab);
    // The detached install goes on without labwarp and ends.
    let (base, _) = install_job(&lab);
    let rc = base.with_extension("rc");
    let mut waited = 0;
    while !rc.exists() {
        assert!(
            waited < 600,
            "the install job (worker {worker}) never ended: {}",
            std::fs::read_to_string(base.with_extension("log")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
        waited += 1;
    }
    assert_eq!(std::fs::read_to_string(&rc).unwrap().trim(), "0");
    // Which undercloud.conf it ran from is on record, written by the job itself: the
    // rerun's check needs it to notice a later change of the file.
    let home = lab.ws().join("sandbox/undercloud/home/stack");
    let record = std::fs::read_to_string(home.join(".labwarp-installed-undercloud-conf.md5"))
        .expect("the finished install left no record of its undercloud.conf");
    assert_eq!(
        record.trim(),
        crate::engine_support::md5_of(&home.join("undercloud.conf"))
    );
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let journal = std::fs::read_to_string(home.join(".standin/invocations")).unwrap();
    let installs = journal
        .lines()
        .filter(|l| l.starts_with("undercloud install"))
        .count();
    assert_eq!(installs, 1, "the rerun installed again:\n{journal}");
    assert_built(&lab);
}

#[test]
fn clean_stops_an_install_left_running_by_a_kill_9() {
    let _turn = crate::common::turn(module_path!());
    let mut lab = TestLab::demo("jobc");
    lab.env.push(("STANDIN_DELAY".into(), "1.5".into()));
    let worker = kill_9_during_the_install(&lab);
    let o = lab.labwarp(&["clean", "--level", "nodes", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("stopped job"), "{out}");
    assert!(!alive(worker), "worker {worker} still runs after the clean");
    // Nothing starts behind the clean's back: watched for longer than the install's loop
    // takes to start its next container (STANDIN_DELAY 1.5 s), not once.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(8);
    while std::time::Instant::now() < until {
        assert_eq!(
            lab.containers(),
            Vec::<(String, String)>::new(),
            "a container of the lab appeared after the clean: the job was not stopped whole\n{out}"
        );
        std::thread::sleep(std::time::Duration::from_millis(400));
    }
    let (base, _) = install_job(&lab);
    assert!(!base.with_extension("pid").exists());
}

/// The demo keeps its world (issue 15): after a finished run, a new process sees the lab as
/// the run left it (libvirt's test driver world is kept in the workspace), and `status`,
/// `plan` and `clean` with no lab argument use the lab the workspace was built from.
#[test]
fn the_demo_keeps_its_world_and_its_lab_across_processes() {
    let _turn = crate::common::turn(module_path!());
    let mut lab = TestLab::demo("world");
    let dir = lab.ws.path().to_path_buf();
    lab.workspace = Some(dir.join("workspace"));
    std::fs::create_dir_all(lab.ws()).unwrap();
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));

    // A new process, the same lab: every step's check passes against the live world.
    let steps = lab.steps_with_status();
    let todo: Vec<_> = steps.iter().filter(|(_, s)| s != "done").collect();
    assert!(
        todo.is_empty() && steps.len() > 20,
        "not done after the run: {todo:?}"
    );
    let world = lab.ws().join("libvirt-test.xml");
    let virsh = std::process::Command::new("virsh")
        .arg("-c")
        .arg(format!("test://{}", world.display()))
        .args(["list", "--all", "--name"])
        .output()
        .expect("virsh");
    let names = String::from_utf8_lossy(&virsh.stdout);
    for vm in ["undercloud", "controller-0", "compute-0"] {
        assert!(
            names.contains(&format!("{}-{vm}", lab.name)),
            "{vm} not in the saved world: {names}"
        );
    }

    // No lab argument, in the directory holding ./workspace: the recorded lab.
    let bare = |args: &[&str]| {
        std::process::Command::new(crate::engine_support::bin())
            .args(args)
            .current_dir(&dir)
            .env("STANDIN_DELAY", "0")
            .env("LABWARP_SANDBOX", "1")
            .output()
            .expect("labwarp")
    };
    let st = bare(&["status"]);
    assert!(st.status.success(), "{}", text(&st));
    let out = String::from_utf8_lossy(&st.stdout);
    assert!(
        out.contains(&format!("lab {}: finished", lab.name)) && !out.contains("left:"),
        "{}",
        text(&st)
    );
    let plan = bare(&["plan"]);
    assert!(
        String::from_utf8_lossy(&plan.stdout).contains(", 0 to apply"),
        "{}",
        text(&plan)
    );
    let clean = bare(&["clean", "--level", "all", "--yes"]);
    assert!(clean.status.success(), "{}", text(&clean));
    assert_gone(&lab);
    let saved = std::fs::read_to_string(&world).unwrap();
    assert!(
        !saved.contains(&lab.name),
        "the saved world still holds the lab's objects:\n{saved}"
    );
    let plan = bare(&["plan"]);
    assert!(
        String::from_utf8_lossy(&plan.stdout).contains("0 step(s) already done"),
        "after clean every step is to do again: {}",
        text(&plan)
    );
}

#[test]
fn a_resized_vm_shows_as_drift_in_the_plan_and_the_run_applies_it() {
    let _turn = crate::common::turn(module_path!());
    let lab = TestLab::demo_file("drift", "", "ws");
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    // The user resizes the undercloud in lab.yaml.
    let file = lab.file.clone().unwrap();
    let mut y = std::fs::read_to_string(&file).unwrap();
    y.push_str("undercloud:\n  vm:\n    vcpus: 3\n    memory_mib: 3072\n");
    std::fs::write(&file, y).unwrap();
    let drift = crate::drift_support::drift;
    let d = |f: &str, live: &str, want: &str| {
        (
            "domain".to_string(),
            f.to_string(),
            live.to_string(),
            want.to_string(),
            "next-boot".to_string(),
        )
    };
    // Exactly what changed, with its cost (the undercloud runs: at next boot).
    assert_eq!(
        drift(&lab),
        vec![d("memory_mib", "512", "3072"), d("vcpus", "1", "3")]
    );
    let o = lab.labwarp(&["plan"]);
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("~ vcpus: 1 → 3 (applied at next boot: restart needed)"),
        "{}",
        text(&o)
    );
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("runs with its old size until it restarts"),
        "the run says the VM was not restarted behind the user's back: {}",
        text(&o)
    );
    assert_eq!(
        drift(&lab),
        Vec::new(),
        "applied: the next plan sees no drift"
    );
}

#[test]
fn run_fresh_tears_down_to_its_level_first_then_builds_anew() {
    let _turn = crate::common::turn(module_path!());
    let lab = TestLab::demo("fresh");
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let ids = |lab: &TestLab| -> Vec<String> {
        let o = std::process::Command::new("podman")
            .args(["ps", "-a", "--filter"])
            .arg(format!("label=labwarp.lab={}", lab.name))
            .args(["--format", "{{.ID}}"])
            .output()
            .unwrap();
        let mut v: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    let before = ids(&lab);
    assert_eq!(
        before.len(),
        10,
        "TripleO's ten undercloud containers: {before:?}"
    );
    let o = lab.labwarp(&["run", "--yes", "--fresh", "nodes"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    // The list first (what a clean at that level removes), then the teardown, then the run.
    let list = out
        .find("clean --level nodes of lab")
        .expect("the teardown list");
    let removed = out.find("fresh: removed").expect("the teardown");
    let built = out.find("run: every stage finished").expect("the build");
    assert!(list < removed && removed < built, "{out}");
    let after = ids(&lab);
    assert_eq!(after.len(), 10, "{after:?}");
    assert!(
        after.iter().all(|id| !before.contains(id)),
        "the containers were made anew: {before:?} → {after:?}"
    );
    assert_built(&lab);
    let o = lab.labwarp(&["run", "--yes", "--fresh", "everything"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "an unknown level is a usage error: {}",
        text(&o)
    );
}
