//! Drift on the real libvirtd (qemu:///system in netns labwarp-ci) with a tiny guest,
//! through the real binary: a built lab's lab.yaml edited in vCPUs, memory, a disk size, a
//! NIC and a network's DHCP range; the plan lists exactly those with their cost; the run
//! applies what applies live (the DHCP range through virNetworkUpdate, the disk grown in the
//! running VM, the NIC hot-plugged), refuses the restart until `--restart`, then the next
//! plan is empty; a CIDR change is refused without touching the VM or the network.

use crate::drift_support::{drift, edit, nic_rows, row, step_drift_json, without_nics};
use crate::engine_support::{TestLab, libvirtd_available, text};
use std::process::Command;

const OCTET: u8 = 227;

fn virsh(args: &[&str]) -> String {
    let o = Command::new("virsh")
        .args(["-c", "qemu:///system"])
        .args(args)
        .output()
        .expect("virsh");
    assert!(
        o.status.success(),
        "virsh {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn all_output(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn edited_settings_of_a_built_lab_are_applied_on_the_real_libvirtd() {
    let _turn = crate::common::turn(module_path!());
    if !libvirtd_available() {
        return;
    }
    let lab = TestLab::libvirtd("dr", OCTET);
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(drift(&lab), Vec::new(), "a fresh lab has no drift");
    let dom = format!("{}-undercloud", lab.name);
    let net = format!("{}-external", lab.name);
    assert!(virsh(&["domstate", &dom]).contains("running"));
    let (lo, hi) = (format!("192.168.{OCTET}.10"), format!("192.168.{OCTET}.50"));

    edit(&lab, |y| {
        y.replace(&format!("end: {hi}"), &format!("end: 192.168.{OCTET}.60"))
            + "undercloud:\n  vm:\n    vcpus: 2\n    memory_mib: 640\n    disks: [{size_gib: 3}]\n    nics:\n      - network: external\n      - network: overcloud\n      - network: external\n"
    });
    let rows = drift(&lab);
    let booted_mem = virsh(&["dominfo", &dom]);
    assert_eq!(
        without_nics(&rows),
        vec![
            row("disk-0", "size", "2 GiB", "3 GiB", "live"),
            row("domain", "memory_mib", "512", "640", "next-boot"),
            row("domain", "vcpus", "1", "2", "next-boot"),
            row(
                "network-external",
                "dhcp_range",
                &format!("{lo}-{hi}"),
                &format!("{lo}-192.168.{OCTET}.60"),
                "live"
            ),
        ],
        "exactly what changed, with its cost:\n{rows:#?}\n{booted_mem}"
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
    let nics_before = virsh(&["domiflist", &dom]).lines().count();

    // Headless without --restart: the live changes are made, the restart is refused.
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(all_output(&o).contains("restart refused"), "{}", text(&o));
    assert!(
        virsh(&["net-dumpxml", &net]).contains(&format!("end='192.168.{OCTET}.60'")),
        "the running network serves the new range"
    );
    assert!(
        virsh(&["net-dumpxml", "--inactive", &net]).contains(&format!("end='192.168.{OCTET}.60'")),
        "and keeps it in its definition"
    );
    assert_eq!(
        virsh(&["domiflist", &dom]).lines().count(),
        nics_before + 1,
        "the NIC is plugged into the running VM"
    );
    assert!(virsh(&["domblkinfo", &dom, "vda"]).contains(&(3u64 << 30).to_string()));
    assert_eq!(
        drift(&lab),
        vec![
            row("domain", "memory_mib", "512", "640", "next-boot"),
            row("domain", "vcpus", "1", "2", "next-boot"),
        ],
        "only the restart is left, and the plan still says so"
    );

    let o = lab.labwarp(&["run", "--yes", "--restart"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        all_output(&o).contains(&format!("domain {dom} restarted")),
        "{}",
        text(&o)
    );
    assert!(virsh(&["dominfo", &dom]).contains("CPU(s):         2"));
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
    assert_eq!(
        virsh(&["domiflist", "--inactive", &dom]).lines().count(),
        nics_before,
        "the NIC is gone from the definition"
    );

    // A CIDR cannot change in place: refused with the command, VM and network untouched.
    let net_before = virsh(&["net-dumpxml", &net]);
    let dom_before = virsh(&["dumpxml", &dom]);
    let id_before = virsh(&["domid", &dom]);
    edit(&lab, |y| {
        y.replace(
            &format!("192.168.{OCTET}."),
            &format!("192.168.{}.", OCTET + 1),
        )
    });
    let d = step_drift_json(&lab, "network-external");
    let cidr = d.iter().find(|d| d["field"] == "cidr").expect("cidr drift");
    assert_eq!(cidr["cost"], "recreate", "{d:#?}");
    assert_eq!(cidr["command"], "labwarp run --fresh virthost");
    let o = lab.labwarp(&["run", "--yes", "--restart"]);
    assert!(!o.status.success(), "a recreate is refused: {}", text(&o));
    assert!(
        all_output(&o).contains("cannot be changed in place, so nothing was changed")
            && all_output(&o).contains("`labwarp run --fresh virthost`"),
        "{}",
        text(&o)
    );
    assert_eq!(
        virsh(&["net-dumpxml", &net]),
        net_before,
        "network untouched"
    );
    assert_eq!(virsh(&["dumpxml", &dom]), dom_before, "VM untouched");
    assert_eq!(virsh(&["domid", &dom]), id_before, "VM not restarted");
    eprintln!(
        "DRIFT (real libvirtd): dhcp range, disk +1 GiB, NIC hot-plugged live; vCPUs/memory after --restart; CIDR refused"
    );
}
