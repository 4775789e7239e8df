//! Whole-lab snapshots and respin on the lab in a box (issue 20): the real libvirtd in netns
//! `labwarp-ci`, this machine as the hypervisor over SSH, the tiny guest as the undercloud
//! (its root is in RAM: a marker file there lives only in the memory image).
//!
//! One lab, in order: the run takes `undercloud-installed` after the install; markers
//! before and after `snapshot save`, `restore`, the later marker gone and the earlier one
//! there; a restore refused once a node is added to the lab; kill -9 during save and during
//! restore, then a rerun converges (no half snapshot listed); `run --respin overcloud`
//! reaches the same end state without a second undercloud install (the stand-in's journal
//! inside the guest); `clean` removes the snapshots.
//!
//! A second test: two labs on the real libvirtd, each with a snapshot; `clean` of one
//! removes its snapshots and leaves the other's.

use crate::engine_support::{TestLab, libvirtd_available, text};
use crate::lab_box::{LabBox, in_ns, out, stdout};
use crate::tiny_guest_support::{require_libvirtd, virsh, wait_for};
use serde_json::Value;
use std::process::Output;
use std::time::Duration;

/// A command in the undercloud guest, through the ssh.config labwarp wrote (inside the netns).
fn guest(b: &LabBox, cmd: &str) -> Output {
    out(in_ns(&b.ns, "ssh")
        .arg("-F")
        .arg(b.ws().join("ssh.config"))
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=20",
            "undercloud",
            cmd,
        ]))
}

fn guest_ok(b: &LabBox, cmd: &str) -> String {
    let o = guest(b, cmd);
    assert!(o.status.success(), "in the guest: {cmd}: {}", text(&o));
    stdout(&o)
}

fn snapshots(b: &LabBox) -> Vec<Value> {
    let o = b.lab.labwarp(&["snapshot", "list", "--json"]);
    assert!(o.status.success(), "snapshot list: {}", text(&o));
    serde_json::from_slice::<Value>(&o.stdout)
        .unwrap_or_else(|e| panic!("snapshot list --json: {e}: {}", text(&o)))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn names(list: &[Value]) -> Vec<String> {
    list.iter()
        .filter_map(|s| s["name"].as_str().map(str::to_string))
        .collect()
}

fn domstate(d: &str) -> String {
    virsh(&["domstate", d])
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The stand-in's calls recorded inside the guest (`~/.standin/invocations`), by prefix.
fn calls(b: &LabBox, prefix: &str) -> usize {
    guest_ok(b, "cat .standin/invocations")
        .lines()
        .filter(|l| l.starts_with(prefix))
        .count()
}

/// Waits for the file a `pause` fault writes, then kills labwarp with SIGKILL.
fn kill_at_pause(b: &LabBox, args: &[&str], fault: &str, file: &str) {
    let mut child = b.lab.spawn(args, Some(fault));
    let paused = b.ws().join(file);
    wait_for(
        &format!("{file} (labwarp paused)"),
        Duration::from_secs(300),
        || {
            if let Ok(Some(st)) = child.try_wait() {
                panic!(
                    "labwarp ended ({st}) before pausing at {fault}: {}",
                    b.lab.spawned_log()
                );
            }
            paused.exists().then_some(())
        },
    );
    child.kill().expect("kill -9 labwarp");
    let _ = child.wait();
    let _ = std::fs::remove_file(&paused);
}

/// The box's VirtualBMC ports (UDP BMCs and vbmcd's control port, in the shared netns) moved
/// off 6230, which every lab in a box uses: other lab boxes may run at the same time.
fn own_vbmc_ports(b: &LabBox) {
    let file = b.file();
    let yaml = std::fs::read_to_string(&file).expect("the box's lab.yaml");
    let port = crate::engine_support::vbmc_base_port(b.octet);
    let moved = yaml.replace("base_port: 6230,", &format!("base_port: {port},"));
    assert_ne!(moved, yaml, "the box's lab.yaml has no `base_port: 6230,`");
    std::fs::write(&file, moved).expect("write the box's lab.yaml");
}

fn snapshot_root(b: &LabBox) -> std::path::PathBuf {
    std::path::PathBuf::from("/var/lib/labwarp/snapshots").join(&b.lab.name)
}

#[test]
fn snapshot_restore_refusal_kill9_and_respin_on_the_lab_in_a_box() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    require_libvirtd();
    let b = LabBox::new();
    own_vbmc_ports(&b);
    let uc = b.domain("undercloud");

    // The first run takes `undercloud-installed` after the install, before any node exists.
    let fp = b.sshd.host_fingerprint();
    let o = b.lab.labwarp(&["run", "--yes", "--trust-host-key", &fp]);
    assert!(o.status.success(), "labwarp run: {}", text(&o));
    let list = snapshots(&b);
    let respin = list
        .iter()
        .find(|s| s["name"] == "undercloud-installed")
        .unwrap_or_else(|| panic!("the run took no undercloud-installed snapshot: {list:?}"));
    assert_eq!(
        respin["vms"],
        serde_json::json!([uc]),
        "taken after the install, before the nodes: {respin}"
    );
    assert!(respin["size_bytes"].as_u64().unwrap_or(0) > 0, "{respin}");
    assert_eq!(domstate(&uc), "running", "the save brings the VM back");
    assert_eq!(calls(&b, "undercloud install"), 1);
    assert_eq!(calls(&b, "overcloud deploy"), 1);
    // A rerun sees the snapshot as done.
    let o = b.lab.labwarp(&["plan", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let snap_step = b
        .lab
        .steps_with_status()
        .into_iter()
        .find(|(s, _)| s == "undercloud-install/snapshot");
    assert_eq!(
        snap_step.map(|(_, st)| st),
        Some("done".to_string()),
        "the plan's snapshot step once it exists"
    );

    // Markers in the guest's RAM root around a save; restore keeps the first only.
    guest_ok(&b, "echo before > marker-before");
    let o = b.lab.labwarp(&["snapshot", "save", "s1"]);
    assert!(o.status.success(), "snapshot save: {}", text(&o));
    assert_eq!(domstate(&uc), "running");
    guest_ok(&b, "echo after > marker-after");
    let o = b.lab.labwarp(&["snapshot", "restore", "s1", "--yes"]);
    assert!(o.status.success(), "snapshot restore: {}", text(&o));
    assert_eq!(domstate(&uc), "running");
    let ls = guest_ok(&b, "ls");
    assert!(
        ls.contains("marker-before"),
        "the marker written before save is gone: {ls}"
    );
    assert!(
        !ls.contains("marker-after"),
        "the marker written after save survived: {ls}"
    );
    // Every node of the snapshot is back as it was (the run left them as vbmc had them).
    for n in &b.nodes {
        let d = b.domain(n);
        assert!(!domstate(&d).is_empty(), "{d} is gone after the restore");
    }

    // A node added to the lab since: the restore is refused, naming it; nothing touched.
    let file = b.file();
    let yaml = std::fs::read_to_string(&file).unwrap();
    let grown = yaml.replace("{role: compute, count: 2", "{role: compute, count: 3");
    assert_ne!(grown, yaml, "the lab file's compute group was not found");
    std::fs::write(&file, &grown).unwrap();
    guest_ok(&b, "echo later > marker-later");
    let o = b.lab.labwarp(&["snapshot", "restore", "s1", "--yes"]);
    let why = text(&o);
    assert_eq!(o.status.code(), Some(1), "restore with a node added: {why}");
    assert!(
        why.contains("added since the snapshot") && why.contains(&b.domain("compute-2")),
        "the refusal names the added node: {why}"
    );
    assert!(
        guest_ok(&b, "ls").contains("marker-later"),
        "a refused restore touched the guest"
    );
    std::fs::write(&file, &yaml).unwrap();

    // kill -9 during save (a VM stopped with its memory image written): nothing half-made
    // is listed; the rerun brings the VM back from its image and saves whole.
    kill_at_pause(
        &b,
        &["snapshot", "save", "s2"],
        "snapshot/save@after-memory=pause",
        "fault-paused-snapshot_save@after-memory",
    );
    assert!(
        !names(&snapshots(&b)).contains(&"s2".to_string()),
        "a killed save is listed"
    );
    let o = b.lab.labwarp(&["snapshot", "save", "s2"]);
    assert!(o.status.success(), "save after kill -9: {}", text(&o));
    assert!(
        stdout(&o).contains("brought back from the memory image"),
        "the rerun did not bring the stopped VM back: {}",
        text(&o)
    );
    assert_eq!(domstate(&uc), "running");
    assert!(names(&snapshots(&b)).contains(&"s2".to_string()));
    let root = snapshot_root(&b);
    let partials: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(".partial-"))
        .collect();
    assert!(partials.is_empty(), "partial snapshots left: {partials:?}");
    assert!(
        guest_ok(&b, "ls").contains("marker-later"),
        "the recovered VM lost its RAM"
    );

    // kill -9 during restore (VMs stopped, disks copied back, memory not yet loaded): the
    // rerun finishes it.
    guest_ok(&b, "echo after-s2 > marker-after-s2");
    kill_at_pause(
        &b,
        &["snapshot", "restore", "s2", "--yes"],
        "snapshot/restore@before-memory=pause",
        "fault-paused-snapshot_restore@before-memory",
    );
    assert_eq!(
        domstate(&uc),
        "shut off",
        "killed before the memory was loaded"
    );
    let o = b.lab.labwarp(&["snapshot", "restore", "s2", "--yes"]);
    assert!(o.status.success(), "restore after kill -9: {}", text(&o));
    let ls = guest_ok(&b, "ls");
    assert!(
        ls.contains("marker-later") && !ls.contains("marker-after-s2"),
        "{ls}"
    );

    // Respin: back to the installed undercloud, the overcloud deployed again, no second
    // install. The journal inside the guest went back with it (it lives in its RAM).
    let o = b.lab.labwarp(&["run", "--yes", "--respin", "overcloud"]);
    assert!(o.status.success(), "run --respin overcloud: {}", text(&o));
    assert!(
        stdout(&o).contains("powered off for the redeploy"),
        "the nodes made after the snapshot: {}",
        text(&o)
    );
    assert_eq!(
        calls(&b, "undercloud install"),
        1,
        "respin reinstalled the undercloud"
    );
    assert_eq!(calls(&b, "overcloud deploy"), 1, "respin did not deploy");
    let ls = guest_ok(&b, "ls");
    assert!(
        !ls.contains("marker-before"),
        "respin did not go back to the install: {ls}"
    );
    // The same end state as the first run: the plan has nothing left to do.
    let o = b.lab.labwarp(&["plan", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let todo: Vec<(String, String)> = b
        .lab
        .steps_with_status()
        .into_iter()
        // UNVERIFIED is its own outcome (what the box cannot check, the same as after the
        // first run; lab_in_a_box names each), not a step to do.
        .filter(|(_, st)| st != "done" && st != "unverified")
        .collect();
    assert!(
        todo.is_empty(),
        "after the respin, steps still to do: {todo:?}"
    );
    // The nodes were made after the snapshot and kept by the respin: the restored state
    // file still records their disks and console logs, so clean removes them (it left them
    // behind, and a rebuild refused the console logs as not labwarp's).
    let o = b
        .lab
        .labwarp(&["clean", "--level", "nodes", "--dry-run", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let dry: Value = serde_json::from_slice(&o.stdout).unwrap();
    let listed: Vec<&str> = dry["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["what"].as_str())
        .collect();
    for n in &b.nodes {
        let d = b.domain(n);
        for f in [format!("/{d}.qcow2"), format!("/{d}-console.log")] {
            assert!(
                listed.iter().any(|w| w.contains(&f)),
                "after the respin, clean would leave {f} behind: {listed:?}"
            );
        }
    }

    // A changed undercloud.conf: the install runs again, and the snapshot is taken again of
    // that undercloud, so a respin never brings back the old settings.
    let taken = |b: &LabBox| {
        snapshots(b)
            .iter()
            .find(|s| s["name"] == "undercloud-installed")
            .map(|s| s["created"].as_u64().unwrap_or(0))
            .expect("undercloud-installed")
    };
    let first = taken(&b);
    guest_ok(&b, "echo x > marker-before-reinstall");
    std::thread::sleep(Duration::from_secs(1));
    let file = b.file();
    let yaml = std::fs::read_to_string(&file).unwrap();
    let edited = yaml.replacen("  conf:\n", "  conf:\n    undercloud_debug: false\n", 1);
    assert_ne!(
        edited, yaml,
        "the box's lab.yaml has no undercloud conf block"
    );
    std::fs::write(&file, edited).unwrap();
    let o = b.lab.labwarp(&["run", "--yes"]);
    assert!(
        o.status.success(),
        "run after the conf change: {}",
        text(&o)
    );
    assert!(
        stdout(&o).contains("installed from another undercloud.conf"),
        "the snapshot step did not see the new install: {}",
        text(&o)
    );
    assert_eq!(
        calls(&b, "undercloud install"),
        2,
        "the changed undercloud.conf was not installed"
    );
    assert!(taken(&b) > first, "the snapshot was not taken again");
    let o = b.lab.labwarp(&["run", "--yes", "--respin", "overcloud"]);
    assert!(
        o.status.success(),
        "respin after the reinstall: {}",
        text(&o)
    );
    assert!(
        guest_ok(&b, "ls").contains("marker-before-reinstall"),
        "respin brought back the undercloud of the old undercloud.conf"
    );
    assert!(
        !stdout(&o).contains("undercloud.conf changed since the install"),
        "respin had to install again: {}",
        text(&o)
    );
    assert_eq!(calls(&b, "undercloud install"), 2, "respin installed again");

    // Respin the undercloud: back to the base image (a new VM, so a marker in the old one's
    // RAM is gone), installed once more, the snapshot taken again, the overcloud redeployed.
    let before = snapshots(&b)
        .iter()
        .find(|s| s["name"] == "undercloud-installed")
        .map(|s| s["created"].as_u64().unwrap_or(0))
        .expect("undercloud-installed before the undercloud respin");
    guest_ok(&b, "echo old > marker-old-undercloud");
    std::thread::sleep(Duration::from_secs(1));
    let o = b.lab.labwarp(&["run", "--yes", "--respin", "undercloud"]);
    assert!(o.status.success(), "run --respin undercloud: {}", text(&o));
    let ls = guest_ok(&b, "ls");
    assert!(
        !ls.contains("marker-old-undercloud"),
        "the undercloud was not rebuilt: {ls}"
    );
    assert_eq!(
        calls(&b, "undercloud install"),
        1,
        "the new undercloud's install"
    );
    assert_eq!(
        calls(&b, "overcloud deploy"),
        1,
        "the overcloud deployed on it"
    );
    let after = snapshots(&b)
        .iter()
        .find(|s| s["name"] == "undercloud-installed")
        .map(|s| s["created"].as_u64().unwrap_or(0))
        .expect("undercloud-installed taken again after the rebuild");
    assert!(
        after > before,
        "the snapshot is of the old undercloud: {before} → {after}"
    );
    for n in &b.nodes {
        assert!(
            !domstate(&b.domain(n)).is_empty(),
            "--respin undercloud removed node {n}"
        );
    }

    // clean lists the snapshots and removes them.
    let o = b
        .lab
        .labwarp(&["clean", "--level", "nodes", "--dry-run", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let dry: Value = serde_json::from_slice(&o.stdout).unwrap();
    let root_s = root.display().to_string();
    assert!(
        dry["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["what"].as_str().unwrap_or("").contains(&root_s)),
        "clean --dry-run does not list the snapshots: {dry}"
    );
    let o = b.lab.labwarp(&["clean", "--level", "nodes", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!root.exists(), "clean left {}", root.display());
}

/// Two 192.168.x/24 (x in 100–159) that no libvirt network and no address in netns
/// labwarp-ci uses now (other tests run at the same time).
fn two_free_octets() -> (u8, u8) {
    let mut used = String::new();
    for n in virsh(&["net-list", "--all", "--name"])
        .unwrap_or_default()
        .lines()
    {
        if !n.trim().is_empty() {
            used.push_str(&virsh(&["net-dumpxml", n.trim()]).unwrap_or_default());
        }
    }
    used.push_str(&stdout(&out(std::process::Command::new("ip").args([
        "-n",
        &crate::tiny_guest_support::netns(),
        "-4",
        "addr",
    ]))));
    let start = (std::process::id() % 60) as u8;
    let free: Vec<u8> = (0..60u8)
        .map(|i| 100 + (start + i) % 60)
        .filter(|o| !used.contains(&format!("192.168.{o}.")))
        .take(2)
        .collect();
    assert_eq!(free.len(), 2, "no two free subnets in 192.168.100-159");
    (free[0], free[1])
}

/// Two labs on the real libvirtd (sandbox undercloud, nodes as real domains with real disk
/// files): each saves a snapshot; cleaning one removes its snapshots, not the other's.
#[test]
fn clean_removes_the_labs_snapshots_and_not_another_labs() {
    let _turn = crate::common::turn(module_path!());
    if !libvirtd_available() {
        return;
    }
    let (oa, ob) = two_free_octets();
    let a = TestLab::libvirtd("sa", oa);
    let b = TestLab::libvirtd("sb", ob);
    for lab in [&a, &b] {
        let o = lab.labwarp(&["run", "--yes"]);
        assert!(o.status.success(), "run {}: {}", lab.name, text(&o));
        let o = lab.labwarp(&["snapshot", "save", "keep"]);
        assert!(o.status.success(), "save {}: {}", lab.name, text(&o));
    }
    let list = |lab: &TestLab| {
        let o = lab.labwarp(&["snapshot", "list", "--json"]);
        assert!(o.status.success(), "{}", text(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_string(),
                    s["path"].as_str().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let (la, lb) = (list(&a), list(&b));
    assert_eq!(la.len(), 1, "{la:?}");
    assert_eq!(lb.len(), 1, "{lb:?}");
    // Each lab lists only its own.
    assert_ne!(la[0].1, lb[0].1);
    // Lab b's snapshot put among lab a's: not listed, and its restore refused with why.
    let foreign = std::path::Path::new(&la[0].1).with_file_name("from-b");
    let o = std::process::Command::new("cp")
        .arg("-a")
        .arg(&lb[0].1)
        .arg(&foreign)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(list(&a), la, "lab a lists lab b's snapshot");
    let o = a.labwarp(&["snapshot", "restore", "from-b", "--yes"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("is not this lab's"),
        "the refusal says whose it is: {}",
        text(&o)
    );
    let o = a.labwarp(&["snapshot", "delete", "from-b", "--yes"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "deleting another lab's snapshot: {}",
        text(&o)
    );
    assert!(
        foreign.join("manifest.json").exists(),
        "a refused delete removed it"
    );
    std::fs::remove_dir_all(&foreign).unwrap();
    let o = a.labwarp(&["clean", "--level", "nodes", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(list(&a).is_empty(), "lab a's snapshot survived its clean");
    assert!(!std::path::Path::new(&la[0].1).exists(), "{} left", la[0].1);
    assert_eq!(list(&b), lb, "cleaning lab a touched lab b's snapshot");
    assert!(
        std::path::Path::new(&lb[0].1)
            .join("manifest.json")
            .exists()
    );
    for lab in [&a, &b] {
        let o = lab.labwarp(&["clean", "--level", "all", "--yes"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    assert!(!std::path::Path::new(&lb[0].1).exists());
}
