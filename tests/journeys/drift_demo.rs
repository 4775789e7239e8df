//! Drift on libvirt's test driver (the demo preset, through the real binary): a built lab's
//! lab.yaml edited in vCPUs, memory, a disk size, a NIC and a network's DHCP range; the plan
//! lists exactly those with their cost, the run applies them (the restart only when
//! allowed), the next plan is empty; a CIDR change is refused without touching anything.

use crate::drift_support::{drift, edit, nic_rows, row, step_drift_json, without_nics};
use crate::engine_support::{TestLab, bin, text};
use crate::tmux_support::Tmux;

const NETWORKS: &str = "networks:
  - name: external
    bridge: brext
    mode: nat
    cidr: 192.168.23.0/24
    gateway: 192.168.23.1
    dhcp: {start: 192.168.23.10, end: 192.168.23.50}
  - name: overcloud
    bridge: brovc
    mode: isolated
";

#[test]
fn edited_settings_show_as_drift_with_their_cost_and_the_run_applies_them() {
    let _turn = crate::common::turn(module_path!());
    let lab = TestLab::demo_file("drift", NETWORKS, "ws");
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(drift(&lab), Vec::new(), "a fresh lab has no drift");

    edit(&lab, |y| {
        y.replace("end: 192.168.23.50", "end: 192.168.23.60")
            + "undercloud:\n  vm:\n    vcpus: 3\n    memory_mib: 3072\n    disks: [{size_gib: 3}]\n    nics:\n      - network: external\n      - network: overcloud\n      - network: external\n"
    });
    let net = format!("{}-external", lab.name);
    let rows = drift(&lab);
    assert_eq!(
        without_nics(&rows),
        vec![
            row("disk-0", "size", "2 GiB", "3 GiB", "live"),
            row("domain", "memory_mib", "512", "3072", "next-boot"),
            row("domain", "vcpus", "1", "3", "next-boot"),
            row(
                "network-external",
                "dhcp_range",
                "192.168.23.10-192.168.23.50",
                "192.168.23.10-192.168.23.60",
                "live"
            ),
        ],
        "exactly what changed, with its cost:\n{rows:#?}"
    );
    assert_eq!(
        nic_rows(&rows),
        vec![(
            "domain".to_string(),
            "absent".to_string(),
            format!("on {net}"),
            "live".to_string()
        )],
        "{rows:#?}"
    );
    let o = lab.labwarp(&["plan"]);
    let plan = String::from_utf8_lossy(&o.stdout);
    assert!(
        plan.contains("~ vcpus: 1 → 3 (applied at next boot: restart needed)")
            && plan.contains("~ dhcp_range: 192.168.23.10-192.168.23.50 → 192.168.23.10-192.168.23.60 (applied live)"),
        "{}",
        text(&o)
    );

    // Headless without --restart: what applies live is applied, the restart refused.
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("restart refused"),
        "the run says the VM was not restarted: {}",
        text(&o)
    );
    // The test driver's world is reloaded from the definitions by each labwarp process, so
    // the VM "boots" with its new size at the next one: nothing is left. (The pending
    // restart and `--restart` are tested on the real libvirtd: tests/daemons/drift_libvirtd.rs.)
    assert_eq!(drift(&lab), Vec::new(), "applied: the next plan is empty");

    // The NIC removed again: detached.
    edit(&lab, |y| {
        y.replace(
            "      - network: overcloud\n      - network: external\n",
            "      - network: overcloud\n",
        )
    });
    let rows = drift(&lab);
    assert_eq!(
        nic_rows(&rows),
        vec![(
            "domain".to_string(),
            format!("on {net}"),
            "absent".to_string(),
            "live".to_string()
        )],
        "{rows:#?}"
    );
    assert_eq!(without_nics(&rows), Vec::new(), "{rows:#?}");
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(drift(&lab), Vec::new(), "detached: the next plan is empty");

    // A CIDR cannot change in place: refused with the command, nothing touched.
    edit(&lab, |y| y.replace("192.168.23.", "192.168.33."));
    let d = step_drift_json(&lab, "network-external");
    let cidr = d.iter().find(|d| d["field"] == "cidr").expect("cidr drift");
    assert_eq!(cidr["cost"], "recreate", "{d:#?}");
    assert_eq!(cidr["live"], "192.168.23.1/24");
    assert_eq!(cidr["wanted"], "192.168.33.1/24");
    assert_eq!(cidr["command"], "labwarp run --fresh virthost");
    assert!(cidr["lost"].as_str().unwrap().contains("loses its link"));
    let o = lab.labwarp(&["run", "--yes", "--restart"]);
    assert!(!o.status.success(), "a recreate is refused: {}", text(&o));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        all.contains("cannot be changed in place, so nothing was changed")
            && all.contains("`labwarp run --fresh virthost`"),
        "{}",
        text(&o)
    );
    assert!(
        !all.contains(&format!("domain {}-undercloud restarted", lab.name))
            && !all.contains("defined domain")
            && !all.contains("undercloud-vm/domain"),
        "the VM was not touched: {}",
        text(&o)
    );
    let after = step_drift_json(&lab, "network-external");
    assert_eq!(after, d, "the network was not touched");
}

#[test]
fn on_a_terminal_the_drift_is_shown_and_the_restart_asked_for_before_anything_runs() {
    let _turn = crate::common::turn(module_path!());
    if !crate::tmux_support::available() {
        eprintln!(
            "\n!!! SKIPPED restart question: tmux is not installed (apt-get install tmux) !!!\n"
        );
        return;
    }
    let lab = TestLab::demo_file("drtty", NETWORKS, "ws");
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    edit(&lab, |y| y + "undercloud:\n  vm:\n    vcpus: 2\n");
    let log = lab.ws().join("tty.log");
    let cmd = format!(
        "LABWARP_SANDBOX=1 STANDIN_DELAY=0 {} run {} --workspace {} 2>&1 | tee {}; echo LABWARP-EXITED-${{PIPESTATUS[0]}}; sleep 60",
        bin(),
        lab.file.as_ref().unwrap().display(),
        lab.ws().display(),
        log.display()
    );
    let t = Tmux::start_sized(
        &format!("labwarp-drift-{}", std::process::id()),
        lab.ws(),
        &format!("bash -c '{cmd}'"),
        200,
        50,
    );
    let s = t.wait_for("to apply what waits for the next boot?");
    assert!(
        s.contains("~ vcpus: 1 → 2 (applied at next boot: restart needed)")
            && s.contains(&format!("Restart VM {}-undercloud to apply", lab.name)),
        "the drift is shown before the question:\n{s}"
    );
    assert!(
        !s.contains("run: 6 stage(s)"),
        "nothing runs before the answer:\n{s}"
    );
    t.text("y");
    t.keys(&["Enter"]);
    t.wait_for("now? [y/N]");
    t.text("y");
    t.keys(&["Enter"]);
    let s = t.wait_for("LABWARP-EXITED-");
    assert!(s.contains("LABWARP-EXITED-0"), "{s}");
    let out = std::fs::read_to_string(&log).unwrap();
    assert!(
        out.contains(&format!("domain {}-undercloud restarted", lab.name)),
        "restarted after the yes:\n{out}"
    );
    assert_eq!(drift(&lab), Vec::new(), "{out}");
}

/// The `status` and `saw` of step `id` in `labwarp plan --json`.
fn step_status(lab: &TestLab, id: &str) -> (String, String) {
    let o = lab.labwarp(&["plan", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|st| st["steps"].as_array().unwrap().clone())
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in the plan"));
    let f = |k: &str| s[k].as_str().unwrap_or_default().to_string();
    (f("status"), f("saw"))
}

fn installs(lab: &TestLab) -> usize {
    std::fs::read_to_string(
        lab.ws()
            .join("sandbox/undercloud/home/stack/.standin/invocations"),
    )
    .unwrap()
    .lines()
    .filter(|l| l.starts_with("undercloud install"))
    .count()
}

#[test]
fn a_changed_undercloud_conf_runs_the_install_again_and_only_then_is_done() {
    let _turn = crate::common::turn(module_path!());
    let lab = TestLab::demo_file("ucconf", NETWORKS, "ws");
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(installs(&lab), 1);
    assert_eq!(step_status(&lab, "undercloud-install").0, "done");

    edit(&lab, |y| y + "undercloud:\n  conf:\n    local_mtu: 1450\n");
    let rows = drift(&lab);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str()),
        ("undercloud-conf", "content")
    );
    let (status, saw) = step_status(&lab, "undercloud-install");
    assert_eq!(status, "todo", "{saw}");
    assert!(
        saw.contains("undercloud.conf changed since the install") && saw.contains("runs again"),
        "{saw}"
    );

    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        installs(&lab),
        2,
        "the install ran again for the new undercloud.conf"
    );
    assert_eq!(drift(&lab), Vec::new());
    assert_eq!(step_status(&lab, "undercloud-install").0, "done");
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(installs(&lab), 2, "a rerun installs nothing");
}

#[test]
fn a_changed_cloud_init_of_a_built_undercloud_needs_a_respin_and_gets_one() {
    let _turn = crate::common::turn(module_path!());
    let lab = TestLab::demo_file("seed", NETWORKS, "ws");
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(drift(&lab), Vec::new());

    edit(&lab, |y| {
        y + "undercloud:\n  cloud_init:\n    timezone: Europe/Paris\n"
    });
    let d = step_drift_json(&lab, "seed-iso");
    assert_eq!(d.len(), 1, "only user-data changed: {d:#?}");
    assert_eq!(d[0]["field"], "user-data");
    assert_eq!(d[0]["cost"], "recreate", "{d:#?}");
    assert_eq!(d[0]["command"], "labwarp run --respin undercloud");
    assert!(
        d[0]["lost"].as_str().unwrap().contains("once per VM"),
        "{d:#?}"
    );

    // Refused before anything is touched: the seed's sources stay as they were.
    let src = lab.ws().join(format!(
        "sandbox/pool/{}-undercloud-cidata.iso.d/user-data",
        lab.name
    ));
    let before = std::fs::read(&src).unwrap();
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(!o.status.success(), "a recreate is refused: {}", text(&o));
    assert!(
        text(&o).contains("cannot be changed in place, so nothing was changed")
            && text(&o).contains("`labwarp run --respin undercloud`"),
        "{}",
        text(&o)
    );
    assert_eq!(
        std::fs::read(&src).unwrap(),
        before,
        "the seed was not touched"
    );

    // The respin makes the undercloud anew, with the new seed.
    let o = lab.labwarp(&["run", "--respin", "undercloud", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&std::fs::read(&src).unwrap()).contains("Europe/Paris"),
        "the new seed is in place"
    );
    assert_eq!(drift(&lab), Vec::new(), "the next plan is empty");
}

#[test]
fn a_moved_dhcp_start_moves_the_undercloud_fixed_lease_and_is_a_recreate() {
    let _turn = crate::common::turn(module_path!());
    let lab = TestLab::demo_file("lease", NETWORKS, "ws");
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    // The undercloud's fixed address is the range's first: moving the start moves it.
    edit(&lab, |y| {
        y.replace("start: 192.168.23.10", "start: 192.168.23.20")
    });
    let d = step_drift_json(&lab, "network-external");
    let hosts = d
        .iter()
        .find(|d| d["field"] == "dhcp_hosts")
        .unwrap_or_else(|| panic!("no dhcp_hosts drift: {d:#?}"));
    assert_eq!(hosts["cost"], "recreate", "{d:#?}");
    assert!(
        hosts["live"].as_str().unwrap().ends_with(" 192.168.23.10"),
        "{d:#?}"
    );
    assert!(
        hosts["wanted"]
            .as_str()
            .unwrap()
            .ends_with(" 192.168.23.20"),
        "{d:#?}"
    );
    assert_eq!(hosts["command"], "labwarp run --fresh virthost");
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(!o.status.success(), "refused: {}", text(&o));
    assert_eq!(
        step_drift_json(&lab, "network-external"),
        d,
        "the network was not touched"
    );
}
