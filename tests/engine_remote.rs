//! The engine driving a hypervisor over SSH (a real OpenSSH sshd started by the test, the
//! real russh transport, the host key pinned in the workspace): `plan`, `run`, `status` and
//! `clean` through the real binary.

#[macro_use]
mod sshd;
mod engine_support;

use engine_support::{TestLab, text, unique};
use labwarp::host::{SshOptions, TrustPolicy};

/// The demo lab (test driver, sandbox undercloud) whose hypervisor is this machine reached
/// over SSH at 127.0.0.1:`port`: every hypervisor command goes through the SSH channel.
fn ssh_demo_lab(tag: &str, port: u16) -> TestLab {
    let name = unique(tag);
    let ws = tempfile::tempdir().expect("temp workspace");
    let file = ws.path().join("lab.yaml");
    std::fs::write(
        &file,
        format!(
            "preset: demo\nname: {name}\nhypervisors:\n  - name: virthost\n    address: 127.0.0.1\n    ssh_port: {port}\n    ssh_user: root\n    libvirt_uri: test:///default\n    distro: debian\n"
        ),
    )
    .expect("write lab file");
    TestLab {
        name,
        ws,
        file: Some(file),
        uri: "test:///default".into(),
        netns: None,
        sandbox: true,
        env: Vec::new(),
        workspace: None,
    }
}

#[test]
fn plan_run_status_clean_drive_an_ssh_hypervisor_with_a_pinned_key() {
    require_sshd!();
    let tmp = tempfile::tempdir().unwrap();
    let mut sshd = sshd::Sshd::new(
        &tmp.path().join("sshd"),
        "127.0.0.1",
        sshd::free_port(),
        None,
        "",
    );
    let lab = ssh_demo_lab("rh", sshd.port);
    // The workspace key labwarp will use, authorized on the "hypervisor".
    let opts = SshOptions::for_workspace(lab.ws(), TrustPolicy::PinnedOnly).unwrap();
    sshd.authorize(&opts.identity.public_line());
    sshd.start();
    let fp = sshd.host_fingerprint();

    // Unknown host key, no trust flag: refused before anything runs, fingerprint shown.
    let o = lab.labwarp(&["plan"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&fp), "the fingerprint to confirm: {err}");
    assert!(!lab.ws().join("sandbox").exists(), "nothing may run");

    // Trusting exactly that fingerprint pins it; the plan is surveyed over SSH.
    let o = lab.labwarp(&["plan", "--trust-host-key", &fp]);
    assert!(o.status.success(), "{}", text(&o));
    let kh = std::fs::read_to_string(lab.ws().join("known_hosts")).unwrap();
    assert!(
        kh.contains(&format!("[127.0.0.1]:{} ssh-ed25519 ", sshd.port)),
        "{kh}"
    );

    // From now on the pin alone is enough: the whole demo runs with the hypervisor's
    // commands on SSH channels (sshd logs each session).
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("run: every stage finished"),
        "{}",
        text(&o)
    );
    assert!(lab.ws().join("sandbox/pool").is_dir(), "made over SSH");
    let log = sshd.log();
    assert!(
        log.contains("Accepted publickey for root"),
        "the run went through sshd: {log}"
    );

    let o = lab.labwarp(&["status"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("finished: every stage done"), "{out}");

    let o = lab.labwarp(&["clean", "--level", "virthost", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(lab.leftovers(), Vec::<String>::new(), "left behind");

    // A changed host key is refused, naming both fingerprints; nothing runs.
    sshd.stop();
    sshd.new_host_key();
    sshd.start();
    let o = lab.labwarp(&["plan"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&fp) && err.contains(&sshd.host_fingerprint()),
        "{err}"
    );
}
