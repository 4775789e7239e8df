//! The hypervisor stage's configuration steps (qemu.conf, AppArmor, nested KVM) driven
//! through a real `LocalHost` against copies of the fixture host roots in
//! tests/fixtures/hosts/ (the checks' root-directory parameter), and `labwarp plan` on this
//! machine for real.

use crate::plan_support;

use labwarp::checks::QemuMode;
use labwarp::lab::Lab;
use labwarp::plan::Step;
use labwarp::plan::steps::hostconf::{AppArmor, NestedKvm, QemuConf, Root};
use plan_support::env;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A private copy of a fixture root (steps edit it).
fn fixture(name: &str) -> (tempfile::TempDir, Root) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hosts")
        .join(name);
    let tmp = tempfile::tempdir().unwrap();
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", src.display()))
        .arg(tmp.path())
        .status()
        .unwrap();
    assert!(st.success());
    let root = Root {
        dir: tmp.path().to_path_buf(),
        local: true,
    };
    (tmp, root)
}

fn read(root: &Root, p: &str) -> String {
    std::fs::read_to_string(root.dir.join(p.trim_start_matches('/')))
        .unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn at(root: &Root, p: &str) -> PathBuf {
    root.dir.join(p.trim_start_matches('/'))
}

#[tokio::test]
async fn qemu_conf_edits_only_its_four_keys_keeps_a_backup_and_undo_restores_it() {
    let (_t, root) = fixture("apparmor-enforcing");
    let original = read(&root, "/etc/libvirt/qemu.conf");
    let mut e = env(Lab::default()).await;
    let step = QemuConf {
        root: root.clone(),
        mode: QemuMode::Root,
    };
    let before = e.check(&step).await;
    assert!(!before.done, "{before:?}");
    assert!(
        before.saw.contains("restart libvirtd"),
        "names the daemon: {before:?}"
    );
    e.run(&step).await.expect("apply");
    let edited = read(&root, "/etc/libvirt/qemu.conf");
    for want in [
        "user = \"root\"",
        "group = \"root\"",
        "dynamic_ownership = 0",
        "security_driver = \"none\"",
    ] {
        assert!(edited.lines().any(|l| l == want), "{want} missing");
    }
    // Every original line is still there, in order (comments kept).
    assert!(
        edited.starts_with(&original),
        "only appended to a file with no active keys"
    );
    assert_eq!(read(&root, "/etc/libvirt/qemu.conf.labwarp.bak"), original);
    let log = e.log().join("\n");
    assert!(
        log.contains("not restarting libvirtd (would run: systemctl restart libvirtd)"),
        "{log}"
    );
    // A rerun changes nothing: done, no restart.
    let again = e.run(&step).await.unwrap();
    assert!(
        again.done && again.saw.contains("matches mode root"),
        "{again:?}"
    );
    assert!(
        !e.log().join("\n").contains("restart"),
        "no restart without a change"
    );
    // The resource cleanup restores names the rooted paths.
    assert_eq!(
        format!("{}", step.resources()[0]),
        format!(
            "restore {} on virthost from {}",
            at(&root, "/etc/libvirt/qemu.conf").display(),
            at(&root, "/etc/libvirt/qemu.conf.labwarp.bak").display()
        )
    );
    e.undo(&step).await.expect("undo");
    assert_eq!(read(&root, "/etc/libvirt/qemu.conf"), original);
    let mode = std::fs::metadata(at(&root, "/etc/libvirt/qemu.conf"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(
        mode, 0o600,
        "restored with the backup's mode (0600, as libvirt ships qemu.conf)"
    );
    assert!(!at(&root, "/etc/libvirt/qemu.conf.labwarp.bak").exists());
    assert!(e.log().join("\n").contains("restored"));
}

#[tokio::test]
async fn qemu_conf_changes_only_the_lines_that_differ_in_a_file_with_settings() {
    let (_t, root) = fixture("intel-nested-on");
    let conf = at(&root, "/etc/libvirt/qemu.conf");
    let original = "# keep me\nuser = \"qemu\"   # the distro's\ngroup = \"root\"\n#security_driver = \"selinux\"\nvnc_listen = \"0.0.0.0\"\n";
    std::fs::write(&conf, original).unwrap();
    let e = env(Lab::default()).await;
    let step = QemuConf {
        root: root.clone(),
        mode: QemuMode::Root,
    };
    e.run(&step).await.expect("apply");
    let edited = std::fs::read_to_string(&conf).unwrap();
    assert_eq!(
        edited,
        "# keep me\nuser = \"root\" # the distro's\ngroup = \"root\"\n#security_driver = \"selinux\"\nvnc_listen = \"0.0.0.0\"\ndynamic_ownership = 0\nsecurity_driver = \"none\"\n"
    );
}

#[tokio::test]
async fn a_missing_qemu_conf_is_created_and_undo_removes_it_again() {
    let (_t, root) = fixture("no-kvm");
    std::fs::remove_file(at(&root, "/etc/libvirt/qemu.conf")).unwrap();
    let e = env(Lab::default()).await;
    let step = QemuConf {
        root: root.clone(),
        mode: QemuMode::Root,
    };
    e.run(&step).await.expect("apply");
    assert!(read(&root, "/etc/libvirt/qemu.conf").contains("security_driver = \"none\""));
    assert_eq!(
        read(&root, "/etc/libvirt/qemu.conf.labwarp.bak"),
        "labwarp:absent\n"
    );
    e.undo(&step).await.expect("undo");
    assert!(!at(&root, "/etc/libvirt/qemu.conf").exists());
    assert!(!at(&root, "/etc/libvirt/qemu.conf.labwarp.bak").exists());
}

#[tokio::test]
async fn apparmor_confining_guests_refuses_images_in_system_dirs_naming_the_field() {
    let (_t, root) = fixture("apparmor-enforcing");
    let mut lab = Lab::default();
    lab.images.undercloud.source = "/usr/share/images/undercloud.qcow2".into();
    let e = env(lab).await;
    // The distro's qemu.conf (this fixture's): AppArmor confines the guests.
    let step = AppArmor {
        root: root.clone(),
        mode: QemuMode::Distro,
    };
    let c = e.check(&step).await;
    assert!(!c.done, "{c:?}");
    assert!(
        c.saw.contains(
            "apparmor.image-paths: virt-aa-helper refuses /usr/share/images/undercloud.qcow2"
        ),
        "{c:?}"
    );
    let err = format!("{:#}", e.run(&step).await.expect_err("no automatic fix"));
    assert!(err.contains("images.undercloud.source"), "{err}");
    assert!(err.contains("labwarp cannot fix this itself"), "{err}");

    // Mode root: the qemu.conf step sets security_driver = "none", after which AppArmor no
    // longer confines the guests and the same paths pass.
    let qemu = QemuConf {
        root: root.clone(),
        mode: QemuMode::Root,
    };
    e.run(&qemu).await.expect("qemu.conf");
    let root_mode = AppArmor {
        root: root.clone(),
        mode: QemuMode::Root,
    };
    let c = e.check(&root_mode).await;
    assert!(c.done, "{c:?}");
    assert!(
        c.saw.contains("libvirtd profile loaded in enforce mode"),
        "{c:?}"
    );
    assert!(c.saw.contains("guests are not confined"), "{c:?}");
}

#[tokio::test]
async fn apparmor_step_makes_the_image_directories_traversable() {
    let (_t, root) = fixture("intel-nested-on");
    // The distro's qemu user (not root) must traverse the pool directory.
    std::fs::write(at(&root, "/etc/libvirt/qemu.conf"), "# distro defaults\n").unwrap();
    let pool = at(&root, "/var/lib/libvirt/images");
    std::fs::create_dir_all(&pool).unwrap();
    std::fs::set_permissions(&pool, std::fs::Permissions::from_mode(0o700)).unwrap();
    let e = env(Lab::default()).await;
    let step = AppArmor {
        root: root.clone(),
        mode: QemuMode::Distro,
    };
    let c = e.check(&step).await;
    assert!(!c.done && c.saw.contains("fs.traverse"), "{c:?}");
    e.run(&step).await.expect("chmod o+x");
    let mode = std::fs::metadata(&pool).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o701);
}

#[tokio::test]
async fn nested_kvm_persists_the_option_quickstart_style_and_undo_restores_every_file() {
    let (_t, root) = fixture("intel-nested-off");
    let dist = read(&root, "/etc/modprobe.d/dist.conf");
    let nested = read(&root, "/etc/modprobe.d/nested-kvm.conf");
    let blacklist = read(&root, "/etc/modprobe.d/blacklist.conf");
    let mut e = env(Lab::default()).await;
    let step = NestedKvm {
        root: root.clone(),
        domain_type: labwarp::lab::VirtType::Kvm,
        domain_type_reason: "lab.yaml asks for kvm".into(),
    };
    let c = e.check(&step).await;
    assert!(
        !c.done && c.saw.contains("Nested KVM is off (kvm_intel)"),
        "{c:?}"
    );
    step.apply(&e.ctx.step("test", "nested-kvm"))
        .await
        .expect("apply");
    assert_eq!(
        read(&root, "/etc/modprobe.d/kvm.conf"),
        "options kvm_intel nested=1\n"
    );
    assert_eq!(
        read(&root, "/etc/modprobe.d/dist.conf"),
        "# infrared wrote this\n"
    );
    assert!(!read(&root, "/etc/modprobe.d/nested-kvm.conf").contains("kvm-intel"));
    assert_eq!(
        read(&root, "/etc/modprobe.d/blacklist.conf"),
        blacklist,
        "untouched"
    );
    let log = e.log().join("\n");
    assert!(log.contains("not run on fixture root"), "{log}");
    assert!(log.contains("modprobe -r kvm_intel"), "{log}");
    // The fixture's live parameter cannot change (no module reload here): the check still
    // says so rather than pretending.
    let c = e.check(&step).await;
    assert!(!c.done && c.saw.contains("Nested KVM is off"), "{c:?}");
    // What the reload would do: the live parameter turns on; then the step is done.
    std::fs::write(at(&root, "/sys/module/kvm_intel/parameters/nested"), "Y\n").unwrap();
    let c = e.check(&step).await;
    assert!(
        c.done && c.saw.contains("persists `options kvm_intel nested=1`"),
        "{c:?}"
    );

    e.undo(&step).await.expect("undo");
    assert_eq!(read(&root, "/etc/modprobe.d/dist.conf"), dist);
    assert_eq!(read(&root, "/etc/modprobe.d/nested-kvm.conf"), nested);
    assert!(
        !at(&root, "/etc/modprobe.d/kvm.conf").exists(),
        "labwarp created it"
    );
    for f in ["dist.conf", "nested-kvm.conf", "kvm.conf"] {
        assert!(!at(&root, &format!("/etc/modprobe.d/{f}.labwarp.bak")).exists());
    }
}

#[tokio::test]
async fn nested_kvm_is_not_needed_under_tcg_and_changes_nothing() {
    let (_t, root) = fixture("intel-nested-off");
    let dist = read(&root, "/etc/modprobe.d/dist.conf");
    let e = env(Lab::default()).await;
    let step = NestedKvm {
        root: root.clone(),
        domain_type: labwarp::lab::VirtType::Qemu,
        domain_type_reason: "preflight: KVM present but unusable".into(),
    };
    let c = e.run(&step).await.unwrap();
    assert!(
        c.done
            && c.saw
                .starts_with("nested KVM not needed: the VMs use domain type qemu"),
        "{c:?}"
    );
    assert!(step.resources().is_empty());
    assert_eq!(read(&root, "/etc/modprobe.d/dist.conf"), dist);
    assert!(!at(&root, "/etc/modprobe.d/kvm.conf").exists());

    // A kvm_pvm host with the lab forcing kvm: no vendor module, nothing to enable.
    let (_t2, pvm) = fixture("kvm-pvm");
    let step = NestedKvm {
        root: pvm.clone(),
        domain_type: labwarp::lab::VirtType::Kvm,
        domain_type_reason: "lab.yaml asks for kvm".into(),
    };
    let c = e.run(&step).await.unwrap();
    assert!(c.done && c.saw.contains("not applicable"), "{c:?}");
    assert!(!at(&pvm, "/etc/modprobe.d/kvm.conf").exists());
}

/// `labwarp plan` against this machine (libvirtd from scripts/setup-host.sh): the three
/// steps read the real /etc/libvirt/qemu.conf, AppArmor state and KVM modules.
#[test]
fn labwarp_plan_on_this_machine_shows_the_configuration_steps() {
    let ws = tempfile::tempdir().unwrap();
    let lab = ws.path().join("lab.yaml");
    let name = format!("hvp{}", std::process::id() % 10000);
    std::fs::write(
        &lab,
        format!("preset: minimal\nname: {name}\nhypervisors:\n  - name: virthost\n    address: local\n    libvirt_uri: qemu:///system\n    distro: debian\n    domain_type: auto\n"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_labwarp"))
        .args(["plan", "--json"])
        .arg(&lab)
        .arg("--workspace")
        .arg(ws.path().join("ws"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hv = &v["stages"][0];
    assert_eq!(hv["id"], "hypervisor");
    let step = |id: &str| {
        hv["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("no step {id}: {hv}"))
            .clone()
    };
    let (q, a, n) = (step("qemu-conf"), step("apparmor"), step("nested-kvm"));
    println!(
        "qemu-conf: {} [{}]\napparmor: {} [{}]\nnested-kvm: {} [{}]",
        q["status"], q["saw"], a["status"], a["saw"], n["status"], n["saw"]
    );
    // What the check says must agree with the file itself.
    let conf = std::fs::read_to_string("/etc/libvirt/qemu.conf").unwrap_or_default();
    let root_mode = [
        "user = \"root\"",
        "group = \"root\"",
        "dynamic_ownership = 0",
        "security_driver = \"none\"",
    ]
    .iter()
    .all(|k| conf.lines().any(|l| l.trim() == *k));
    assert_eq!(q["status"] == "done", root_mode, "{q}");
    assert_ne!(a["status"], "error", "{a}");
    if v["facts"]["domain_type"] == "qemu" {
        assert_eq!(n["status"], "done", "{n}");
        assert!(
            n["saw"]
                .as_str()
                .unwrap()
                .starts_with("nested KVM not needed"),
            "{n}"
        );
    } else {
        println!("KVM usable on this machine: the nested step checks kvm_intel/kvm_amd");
        assert_ne!(n["status"], "error", "{n}");
    }
}
