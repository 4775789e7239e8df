//! `labwarp check` against a hypervisor reached over SSH: a real OpenSSH sshd on 127.0.0.1
//! (tests/sshd), the real russh transport, host key pinning, and the same checks running
//! remotely (virsh, files, find/stat/df through the SSH channel; no local-only probes).

use labwarp::host::{SshOptions, TrustPolicy};
use std::path::Path;
use std::process::Command;

fn lab_yaml(workspace: &Path, port: u16) -> String {
    format!(
        "preset: minimal\nname: sshcheck\nworkspace: {}\nhypervisors:\n  - name: virthost\n    address: 127.0.0.1\n    ssh_user: root\n    ssh_port: {port}\n    libvirt_uri: qemu:///system\n    distro: debian\n    pool_path: /var/lib/libvirt/images\n",
        workspace.display()
    )
}

fn check(lab: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_labwarp"))
        .args(["check", "--ssh", "--json", "--config"])
        .arg(lab)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn check_over_ssh_with_pinned_host_key() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("workspace");
    // The workspace key the CLI will use (created here first so sshd can authorize it).
    let opts = SshOptions::for_workspace(&ws, TrustPolicy::PinnedOnly).unwrap();
    let mut sshd = crate::sshd::Sshd::new(
        &tmp.path().join("sshd"),
        "127.0.0.1",
        crate::sshd::free_port(),
        None,
        "",
    );
    sshd.authorize(&opts.identity.public_line());
    sshd.start();
    let lab = tmp.path().join("lab.yaml");
    std::fs::write(&lab, lab_yaml(&ws, sshd.port)).unwrap();

    // Unknown host key and no trust flag: refused, with the fingerprint to confirm.
    let out = check(&lab, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&sshd.host_fingerprint()), "{err}");

    // Trusting exactly that fingerprint pins it; the checks run remotely.
    let fp = sshd.host_fingerprint();
    let out = check(&lab, &["--trust-host-key", &fp]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(v["host"], "virthost");
    assert_eq!(
        out.status.code(),
        Some(if v["failed"].as_bool().unwrap() { 1 } else { 0 })
    );
    let find = |id: &str| {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == id)
            .unwrap_or_else(|| panic!("no {id}"))
            .clone()
    };
    // The ioctls are a local-only probe: over SSH they are "not probed", never guessed.
    assert_eq!(
        find("kvm.ioctl")["evidence"],
        "not probed: remote host: the ioctls run only on this machine"
    );
    // virsh ran on the far side of the SSH connection.
    assert_eq!(find("libvirt.reachable")["severity"], "ok");
    assert_eq!(
        find("libvirt.reachable")["evidence"],
        "$ virsh -c qemu:///system uri\nqemu:///system"
    );
    // Files were read through SSH: the same facts as locally.
    assert!(
        find("capacity.memory")["evidence"]
            .as_str()
            .unwrap()
            .contains("MemAvailable:")
    );
    assert_eq!(find("user.sudo")["severity"], "ok");
    if Path::new("/sys/module/kvm_pvm").exists() {
        assert!(
            find("kvm.verdict")["title"]
                .as_str()
                .unwrap()
                .starts_with("KVM present but unusable for guests: use TCG (domain type qemu)")
        );
    }
    // Pinned now: a plain run connects without any trust flag.
    let out = check(&lab, &[]);
    assert!(serde_json::from_slice::<serde_json::Value>(&out.stdout).is_ok());

    // A swapped host key is refused even with --trust-first-use.
    sshd.stop();
    sshd.new_host_key();
    sshd.start();
    let out = check(&lab, &["--trust-first-use"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("changed"));
}
