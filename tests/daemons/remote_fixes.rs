//! Fixes applied on a hypervisor reached over SSH as a stack user with passwordless sudo
//! (a real OpenSSH sshd, a real system user): a preflight fix's file edits land as root
//! where the user alone cannot write, and a troubleshooting remedy's commands run as root
//! on the session's hypervisor, the first failing one named; a fix that reads the live state
//! (a taken VirtualBMC port) reads it there as root.

use crate::sshd::{Sshd, Sudoers, TestUser};
use labwarp::checks::{self, FileEdit, Fix, HostView};
use labwarp::host::{Host, SshHost, SshOptions, SshTarget, TrustPolicy};
use labwarp::plan::HostRole;
use labwarp::run::signatures::{Remedy, apply};
use std::os::unix::fs::{MetadataExt, PermissionsExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixes_and_remedies_run_as_root_through_sudo_over_ssh() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let user = TestUser::new(tmp.path(), "unused-password");
    let ws = tmp.path().join("ws");
    let opts = SshOptions::for_workspace(&ws, TrustPolicy::FirstUse).unwrap();
    user.authorize(&opts.identity.public_line());
    let sshd = Sshd::for_users(&tmp.path().join("sshd"), false);
    let _sudo = Sudoers::grant(&user.name);
    // A root-owned directory the user cannot write into, standing for /etc.
    let etc = tmp.path().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o755)).unwrap();
    let host = SshHost::new(
        SshTarget {
            name: "virthost".into(),
            host: "127.0.0.1".into(),
            port: sshd.port,
            user: user.name.clone(),
        },
        opts,
    );
    let target = etc.join("sysctl.d/90-labwarp-test.conf");
    // The user alone cannot: the plain write is refused.
    let plain = host.write_file(&etc.join("x"), b"x\n", 0o644).await;
    assert!(plain.is_err(), "the user alone cannot write there");

    // A preflight fix's edit (and its backup) lands, owned by root, with its mode.
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(&target, "old = 1\n").unwrap();
    let fix = Fix {
        description: "set it".into(),
        edits: vec![FileEdit {
            path: target.clone(),
            content: "new = 0\n".into(),
            backup: Some(etc.join("sysctl.d/90-labwarp-test.conf.bak")),
            mode: 0o644,
        }],
        commands: vec![vec![
            "sh".into(),
            "-c".into(),
            format!("id -u > {}", etc.join("ran-as").display()),
        ]],
        restart: None,
    };
    let view = HostView::system(&host, false);
    let applied = checks::apply_fix(&view, &fix).await.unwrap();
    assert!(applied.changed, "{:?}", applied.steps);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "new = 0\n");
    let meta = std::fs::metadata(&target).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o644));
    assert_eq!(
        std::fs::read_to_string(etc.join("sysctl.d/90-labwarp-test.conf.bak")).unwrap(),
        "old = 1\n"
    );
    assert_eq!(
        std::fs::read_to_string(etc.join("ran-as")).unwrap().trim(),
        "0",
        "the fix's command ran as root"
    );

    // A troubleshooting remedy, through the lab's session (hypervisor over SSH as the user).
    let lab_file = tmp.path().join("lab.yaml");
    // The lab's first VirtualBMC port, held by this test process (not the lab's vbmc).
    let holder = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let vbmc_port = holder.local_addr().unwrap().port();
    std::fs::write(
        &lab_file,
        format!(
            "preset: demo\nname: rf{}\nworkspace: {}\nhypervisors:\n  - name: virthost\n    address: 127.0.0.1\n    ssh_port: {}\n    ssh_user: {}\n    libvirt_uri: test:///default\n    distro: debian\novercloud:\n  vbmc: {{base_port: {vbmc_port}}}\n",
            std::process::id() % 10_000,
            ws.display(),
            sshd.port,
            user.name
        ),
    )
    .unwrap();
    let lab = labwarp::lab::load_path(&lab_file).unwrap();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let s = labwarp::run::session::Session::open(lab, None, tx)
        .await
        .expect("session over SSH (the key pinned above)");
    let marker = etc.join("remedy-ran");
    let ok = Remedy {
        description: "make the marker".into(),
        host: HostRole::Virthost,
        commands: vec![vec![
            "sh".into(),
            "-c".into(),
            format!("id -u > {}", marker.display()),
        ]],
        findings: Vec::new(),
        probe: None,
    };
    assert_eq!(apply(&s.ctx, &ok).await.unwrap(), "make the marker");
    assert_eq!(std::fs::read_to_string(&marker).unwrap().trim(), "0");
    let bad = Remedy {
        description: "fails".into(),
        host: HostRole::Virthost,
        commands: vec![
            vec!["false".into()],
            vec!["touch".into(), etc.join("never").display().to_string()],
        ],
        findings: Vec::new(),
        probe: None,
    };
    let e = apply(&s.ctx, &bad).await.unwrap_err().to_string();
    assert!(e.contains("`false` failed (exit 1)"), "{e}");
    assert!(
        !etc.join("never").exists(),
        "nothing runs after the first failure"
    );

    // A fix that reads the live state does so on the hypervisor over SSH, as root (`ss -p`
    // names another user's process only to root): the holder is named and left alone, the
    // lab moves to free ports, and nothing is written before the fix is applied.
    let vbmc = labwarp::run::signatures::diagnose(
        "controller-0: no BMC answers (is 127.0.0.1:6230 free and the address assigned there?)",
        std::iter::empty(),
    )[0]
    .remedy
    .clone()
    .unwrap();
    let before = std::fs::read_to_string(&lab_file).unwrap();
    let state = s.store.snapshot();
    let p = labwarp::run::remedies::prepare(&s.ctx, &state, Some(&lab_file), &vbmc)
        .await
        .unwrap();
    let shown = p.lines.join("\n");
    assert!(
        shown.contains(&format!("UDP port {vbmc_port} is held by"))
            && shown.contains(&format!("(pid {})", std::process::id()))
            && shown.contains(&format!("overcloud.vbmc.base_port {vbmc_port} →")),
        "{shown}"
    );
    assert!(
        matches!(p.actions.as_slice(), [labwarp::run::remedies::Action::EditLab { lab, .. }] if lab.overcloud.vbmc.base_port != vbmc_port),
        "{:?}",
        p.actions
    );
    assert_eq!(std::fs::read_to_string(&lab_file).unwrap(), before);
    drop(holder);
}

/// The troubleshoot screen's remedy for a permission denial: preflight's qemu.conf (and
/// AppArmor) fixes read from a host tree (a copy of a fixture host's /etc), applied to its
/// real files, after which the same remedy finds nothing left to change.
#[tokio::test]
async fn a_permission_denial_remedy_applies_preflights_qemu_conf_fixes_and_converges() {
    let _turn = crate::common::turn(module_path!());
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("host");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hosts/apparmor-enforcing");
    let ok = std::process::Command::new("cp")
        .arg("-r")
        .arg(&src)
        .arg(&root)
        .status()
        .unwrap();
    assert!(ok.success());
    let diag = labwarp::run::signatures::diagnose(
        "virsh start failed",
        ["Could not open '/home/stack/undercloud.qcow2': Permission denied"].into_iter(),
    );
    let remedy = diag[0]
        .remedy
        .clone()
        .expect("a remedy for a permission denial");
    let lab = labwarp::lab::load_preset("minimal").unwrap();
    let host = labwarp::host::LocalHost::named("virthost");
    let view = HostView::rooted(&host, root.clone(), true);
    let before = std::fs::read_to_string(root.join("etc/libvirt/qemu.conf")).unwrap();
    let fixes = labwarp::run::signatures::remedy_fixes(&view, &lab, &remedy).await;
    assert!(
        fixes.iter().any(|(id, _)| id.starts_with("qemu-conf.")),
        "{:?}",
        fixes.iter().map(|(id, _)| id).collect::<Vec<_>>()
    );
    for (_, fix) in &fixes {
        checks::apply_fix(&view, fix).await.unwrap();
    }
    let after = std::fs::read_to_string(root.join("etc/libvirt/qemu.conf")).unwrap();
    assert_ne!(before, after);
    assert!(
        after.lines().any(|l| l.trim() == "user = \"root\""),
        "{after}"
    );
    let left = labwarp::run::signatures::remedy_fixes(&view, &lab, &remedy).await;
    assert!(
        left.is_empty(),
        "converged: {:?}",
        left.iter().map(|(id, _)| id).collect::<Vec<_>>()
    );
}
