//! Preflight checks against fixture roots (tests/fixtures/hosts/*): real files read through a
//! real LocalHost with a root directory, evaluated to exact findings and fixes. System commands
//! (virsh, ip, ss, sudo, ioctls) are not run on a fixture root; those facts are "not probed".

use labwarp::checks::virtualization::{self, KvmVerdict};
use labwarp::checks::{
    self, CheckContext, CheckOptions, FileEdit, Fix, HostView, QemuMode, Report, Severity,
};
use labwarp::host::LocalHost;
use labwarp::lab::{DomainType, Lab};
use pretty_assertions::assert_eq;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hosts")
        .join(name)
}

async fn run_at(root: &Path, ctx: &CheckContext) -> Report {
    let host = LocalHost::new();
    let view = HostView::rooted(&host, root, true);
    checks::run(&view, ctx).await
}

async fn local(name: &str) -> Report {
    run_at(
        &fixture(name),
        &CheckContext::local(CheckOptions::default()),
    )
    .await
}

fn sev(r: &Report, id: &str) -> Severity {
    r.get(id)
        .unwrap_or_else(|| panic!("no finding {id} in {:#?}", r.findings))
        .severity
}

fn title<'a>(r: &'a Report, id: &str) -> &'a str {
    &r.get(id).unwrap_or_else(|| panic!("no finding {id}")).title
}

fn fix<'a>(r: &'a Report, id: &str) -> Option<&'a Fix> {
    r.get(id).and_then(|f| f.fix.as_ref())
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// Copies a fixture tree into a fresh temp dir (fixes are applied for real to the copy).
fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

fn temp_copy(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture(name), dir.path());
    dir
}

#[tokio::test]
async fn intel_nested_on_is_all_green_for_kvm() {
    let r = local("intel-nested-on").await;
    assert_eq!(sev(&r, "kvm.cpu-flags"), Severity::Ok);
    assert_eq!(title(&r, "kvm.cpu-flags"), "CPU offers vmx (Intel VT-x)");
    assert!(
        r.get("kvm.cpu-flags")
            .unwrap()
            .evidence
            .contains("vendor_id\t: GenuineIntel")
    );
    assert_eq!(title(&r, "kvm.module"), "kvm_intel loaded");
    assert_eq!(sev(&r, "kvm.dev"), Severity::Ok);
    // A fixture root is never probed with ioctls.
    assert_eq!(sev(&r, "kvm.ioctl"), Severity::Info);
    assert!(
        r.get("kvm.ioctl")
            .unwrap()
            .evidence
            .starts_with("not probed: fixture root")
    );
    assert_eq!(sev(&r, "kvm.nested"), Severity::Ok);
    assert_eq!(title(&r, "kvm.nested"), "Nested KVM is on (kvm_intel)");
    assert_eq!(
        r.get("kvm.nested").unwrap().evidence,
        "/sys/module/kvm_intel/parameters/nested: Y"
    );
    assert_eq!(sev(&r, "kvm.modprobe"), Severity::Ok);
    assert_eq!(
        r.get("kvm.modprobe").unwrap().evidence,
        "/etc/modprobe.d/kvm.conf:1: options kvm_intel nested=1"
    );
    assert_eq!(sev(&r, "kvm.verdict"), Severity::Ok);
    assert_eq!(
        title(&r, "kvm.verdict"),
        "KVM usable for guests: domain type kvm"
    );
    assert!(
        r.findings
            .iter()
            .filter(|f| f.id.starts_with("kvm."))
            .all(|f| f.fix.is_none())
    );
}

#[tokio::test]
async fn intel_nested_off_gets_quickstarts_recipe_as_exact_edits() {
    let r = local("intel-nested-off").await;
    assert_eq!(sev(&r, "kvm.nested"), Severity::Warn);
    assert_eq!(
        title(&r, "kvm.nested"),
        "Nested KVM is off (kvm_intel); the lab wants it on"
    );
    assert_eq!(sev(&r, "kvm.modprobe"), Severity::Warn);
    // Each stale line is its own piece of evidence, with file and line number.
    assert_eq!(
        r.get("kvm.modprobe").unwrap().evidence,
        "/etc/modprobe.d/dist.conf:2: options kvm_intel nested=0\n\
         /etc/modprobe.d/nested-kvm.conf:1: options kvm-intel nested=1\n\
         /etc/modprobe.d/nested-kvm.conf:2: options kvm-amd nested=1"
    );
    let f = fix(&r, "kvm.nested").expect("nested fix");
    assert_eq!(fix(&r, "kvm.modprobe"), Some(f));
    assert_eq!(
        f.edits,
        vec![
            FileEdit {
                path: "/etc/modprobe.d/dist.conf".into(),
                content: "# infrared wrote this\n".into(),
                backup: Some("/etc/modprobe.d/dist.conf.labwarp.bak".into()),
                mode: 0o644,
            },
            FileEdit {
                path: "/etc/modprobe.d/nested-kvm.conf".into(),
                // Only kvm_intel's line goes: kvm_amd's is not ours to touch on Intel.
                content: "options kvm-amd nested=1\n".into(),
                backup: Some("/etc/modprobe.d/nested-kvm.conf.labwarp.bak".into()),
                mode: 0o644,
            },
            FileEdit {
                path: "/etc/modprobe.d/kvm.conf".into(),
                content: "options kvm_intel nested=1\n".into(),
                backup: None,
                mode: 0o644,
            },
        ]
    );
    assert_eq!(
        f.commands,
        vec![
            argv(&["modprobe", "-r", "kvm_intel"]),
            argv(&["modprobe", "kvm_intel"])
        ]
    );
    assert_eq!(
        title(&r, "kvm.verdict"),
        "KVM usable for guests: domain type kvm"
    );
}

#[tokio::test]
async fn nested_fix_applied_to_a_copy_is_idempotent() {
    let dir = temp_copy("intel-nested-off");
    let root = dir.path();
    let ctx = CheckContext::local(CheckOptions::default());
    let host = LocalHost::new();
    let view = HostView::rooted(&host, root, true);
    let before = checks::run(&view, &ctx).await;
    let f = fix(&before, "kvm.nested").unwrap().clone();

    let applied = checks::apply_fix(&view, &f).await.unwrap();
    assert!(applied.changed);
    // Commands never run against a fixture root.
    assert!(
        applied
            .steps
            .iter()
            .any(|s| s.starts_with("not run on fixture root")
                && s.ends_with("modprobe -r kvm_intel"))
    );
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    assert_eq!(
        read("etc/modprobe.d/kvm.conf"),
        "options kvm_intel nested=1\n"
    );
    assert_eq!(read("etc/modprobe.d/dist.conf"), "# infrared wrote this\n");
    assert_eq!(
        read("etc/modprobe.d/dist.conf.labwarp.bak"),
        "# infrared wrote this\noptions kvm_intel nested=0\n"
    );
    assert_eq!(
        read("etc/modprobe.d/blacklist.conf"),
        "# keep this\nblacklist pcspkr\n"
    );

    // The persistent part is done; the live value still needs the reload.
    let mid = checks::run(&view, &ctx).await;
    assert_eq!(sev(&mid, "kvm.modprobe"), Severity::Ok);
    assert_eq!(sev(&mid, "kvm.nested"), Severity::Warn);
    let rest = fix(&mid, "kvm.nested").unwrap();
    assert!(rest.edits.is_empty());
    assert_eq!(rest.commands.len(), 2);

    // Second application of the same fix: nothing changes.
    let again = checks::apply_fix(&view, &f).await.unwrap();
    assert!(!again.changed, "{:?}", again.steps);
    assert_eq!(
        read("etc/modprobe.d/dist.conf.labwarp.bak"),
        "# infrared wrote this\noptions kvm_intel nested=0\n",
        "the backup keeps the first original"
    );

    // What the reload would do: the module comes back with nested=Y.
    std::fs::write(root.join("sys/module/kvm_intel/parameters/nested"), "Y\n").unwrap();
    let after = checks::run(&view, &ctx).await;
    assert_eq!(sev(&after, "kvm.nested"), Severity::Ok);
    assert!(
        after
            .findings
            .iter()
            .filter(|f| f.id.starts_with("kvm."))
            .all(|f| f.fix.is_none())
    );
}

#[tokio::test]
async fn amd_without_modprobe_dir_gets_kvm_conf_only() {
    let r = local("amd").await;
    assert_eq!(title(&r, "kvm.cpu-flags"), "CPU offers svm (AMD-V)");
    assert_eq!(title(&r, "kvm.module"), "kvm_amd loaded");
    assert_eq!(title(&r, "kvm.nested"), "Nested KVM is on (kvm_amd)");
    assert_eq!(sev(&r, "kvm.modprobe"), Severity::Warn);
    assert_eq!(
        r.get("kvm.modprobe").unwrap().evidence,
        "/etc/modprobe.d: not found"
    );
    let f = fix(&r, "kvm.modprobe").unwrap();
    assert_eq!(
        f.edits,
        vec![FileEdit {
            path: "/etc/modprobe.d/kvm.conf".into(),
            content: "options kvm_amd nested=1\n".into(),
            backup: None,
            mode: 0o644,
        }]
    );
    assert!(f.commands.is_empty(), "nested is already live: no reload");
    assert_eq!(sev(&r, "kvm.verdict"), Severity::Ok);
    // Applying it to a copy creates the missing directory.
    let dir = temp_copy("amd");
    let host = LocalHost::new();
    let view = HostView::rooted(&host, dir.path(), true);
    checks::apply_fix(&view, f).await.unwrap();
    let r2 = checks::run(&view, &CheckContext::local(CheckOptions::default())).await;
    assert_eq!(sev(&r2, "kvm.modprobe"), Severity::Ok);
}

#[tokio::test]
async fn no_kvm_means_tcg() {
    let r = local("no-kvm").await;
    assert_eq!(sev(&r, "kvm.cpu-flags"), Severity::Warn);
    assert_eq!(
        title(&r, "kvm.cpu-flags"),
        "No vmx or svm flag: hardware virtualisation is off or absent (check VT-x/AMD-V in the firmware)"
    );
    assert_eq!(sev(&r, "kvm.module"), Severity::Info);
    assert_eq!(
        r.get("kvm.module").unwrap().evidence,
        "/sys/module entries starting with kvm: (none)"
    );
    assert_eq!(sev(&r, "kvm.dev"), Severity::Warn);
    assert_eq!(
        r.get("kvm.ioctl").unwrap().evidence,
        "not probed: /dev/kvm does not exist"
    );
    assert_eq!(sev(&r, "kvm.nested"), Severity::Info);
    assert_eq!(sev(&r, "kvm.verdict"), Severity::Warn);
    assert_eq!(
        title(&r, "kvm.verdict"),
        "KVM not available: use TCG (domain type qemu) — the plan will use TCG (slower)"
    );
}

#[tokio::test]
async fn kvm_pvm_is_present_but_unusable() {
    let r = local("kvm-pvm").await;
    assert_eq!(
        title(&r, "kvm.cpu-flags"),
        "No vmx or svm flag: this host is itself a VM whose hypervisor does not pass hardware virtualisation through"
    );
    assert_eq!(sev(&r, "kvm.module"), Severity::Warn);
    assert!(
        title(&r, "kvm.module")
            .starts_with("KVM module kvm_pvm is loaded instead of kvm_intel/kvm_amd")
    );
    assert_eq!(
        r.get("kvm.module").unwrap().evidence,
        "/sys/module entries starting with kvm: kvm, kvm_pvm"
    );
    assert_eq!(sev(&r, "kvm.dev"), Severity::Ok);
    assert_eq!(
        title(&r, "kvm.verdict"),
        "KVM present but unusable for guests: use TCG (domain type qemu) — the plan will use TCG (slower)"
    );
    assert_eq!(
        r.get("kvm.verdict").unwrap().evidence,
        "the KVM module is kvm_pvm (not kvm_intel/kvm_amd): a software layer under which standard guest kernels crash\n\
         /proc/cpuinfo has neither vmx nor svm"
    );

    // The same facts with a lab that forces type kvm: a failure with the lab.yaml fix.
    let mut ctx = CheckContext::local(CheckOptions::default());
    ctx.hypervisor.domain_type = DomainType::Kvm;
    let forced = run_at(&fixture("kvm-pvm"), &ctx).await;
    assert_eq!(sev(&forced, "kvm.verdict"), Severity::Fail);
    assert!(forced.failed());
    assert_eq!(
        fix(&forced, "kvm.verdict").unwrap().description,
        "In lab.yaml set hypervisors[0].domain_type: qemu (or auto)"
    );
}

#[tokio::test]
async fn verdict_function_picks_the_domain_type() {
    let host = LocalHost::new();
    let ctx = CheckContext::local(CheckOptions::default());
    for (name, want) in [
        ("intel-nested-on", KvmVerdict::Usable),
        ("amd", KvmVerdict::Usable),
        ("no-kvm", KvmVerdict::Absent),
        ("kvm-pvm", KvmVerdict::PresentButUnusable),
    ] {
        let view = HostView::rooted(&host, fixture(name), true);
        let facts = virtualization::gather(&view, &ctx).await;
        let (v, _) = virtualization::verdict(&facts);
        assert_eq!(v, want, "{name}");
    }
    assert_eq!(
        KvmVerdict::PresentButUnusable.domain_type(),
        labwarp::lab::VirtType::Qemu
    );
    assert_eq!(
        KvmVerdict::Usable.domain_type(),
        labwarp::lab::VirtType::Kvm
    );
}

fn lab_with_pool(pool: &str) -> Lab {
    let mut lab = Lab::default();
    lab.hypervisors[0].pool_path = pool.into();
    lab.hypervisors[0].distro = labwarp::lab::DistroFamily::Debian;
    lab
}

#[tokio::test]
async fn apparmor_enforcing_reports_profiles_template_and_denied_paths() {
    let opts = CheckOptions {
        qemu_mode: QemuMode::Distro,
        ..CheckOptions::default()
    };
    let ctx = CheckContext::for_lab(lab_with_pool("/usr/share/labwarp/images"), opts);
    let r = run_at(&fixture("apparmor-enforcing"), &ctx).await;
    assert_eq!(
        title(&r, "apparmor.enabled"),
        "AppArmor is enabled and confines the guests (security_driver is not \"none\")"
    );
    assert_eq!(
        title(&r, "apparmor.libvirtd"),
        "libvirtd profile loaded in enforce mode"
    );
    assert_eq!(
        r.get("apparmor.libvirtd").unwrap().evidence,
        "/sys/kernel/security/apparmor/profiles: libvirtd (enforce)"
    );
    assert_eq!(
        title(&r, "apparmor.virt-aa-helper"),
        "virt-aa-helper profile loaded in enforce mode"
    );
    assert_eq!(sev(&r, "apparmor.template"), Severity::Ok);
    assert!(
        r.get("apparmor.template")
            .unwrap()
            .evidence
            .contains("#include <abstractions/libvirt-qemu>")
    );
    assert_eq!(sev(&r, "apparmor.image-paths"), Severity::Fail);
    assert_eq!(
        title(&r, "apparmor.image-paths"),
        "virt-aa-helper refuses /usr/share/labwarp/images: guests using them will not start"
    );
    // Debian's shipped qemu.conf is exactly distro mode: nothing to edit.
    for key in ["user", "group", "dynamic_ownership", "security_driver"] {
        assert_eq!(sev(&r, &format!("qemu-conf.{key}")), Severity::Ok, "{key}");
    }
    assert!(r.get("qemu-conf.edit").is_none());
    assert!(r.failed());

    // A pool under /var/lib passes the AppArmor path check.
    let ctx = CheckContext::for_lab(
        lab_with_pool("/var/lib/libvirt/images"),
        CheckOptions {
            qemu_mode: QemuMode::Distro,
            ..CheckOptions::default()
        },
    );
    let r = run_at(&fixture("apparmor-enforcing"), &ctx).await;
    assert_eq!(sev(&r, "apparmor.image-paths"), Severity::Ok);
}

#[tokio::test]
async fn apparmor_absent_is_reported_as_such() {
    let r = local("kvm-pvm").await;
    assert_eq!(
        title(&r, "apparmor.enabled"),
        "AppArmor is not enabled: it confines nothing"
    );
    assert!(r.get("apparmor.libvirtd").is_none());
}

#[tokio::test]
async fn qemu_conf_fix_on_a_copy_keeps_comments_and_backs_up() {
    let dir = temp_copy("apparmor-enforcing");
    let root = dir.path();
    let original = std::fs::read_to_string(root.join("etc/libvirt/qemu.conf")).unwrap();
    let ctx = CheckContext::local(CheckOptions::default()); // root mode
    let host = LocalHost::new();
    let view = HostView::rooted(&host, root, true);
    let r = checks::run(&view, &ctx).await;
    for key in ["user", "group", "dynamic_ownership", "security_driver"] {
        assert_eq!(
            sev(&r, &format!("qemu-conf.{key}")),
            Severity::Warn,
            "{key}"
        );
    }
    assert_eq!(
        title(&r, "qemu-conf.user"),
        "user does not match mode root: want user = \"root\""
    );
    assert_eq!(
        r.get("qemu-conf.user").unwrap().evidence,
        "/etc/libvirt/qemu.conf: no active `user` line (default: libvirt's built-in non-root user (libvirt-qemu on Debian, qemu on RHEL))"
    );
    let f = fix(&r, "qemu-conf.edit").unwrap().clone();
    assert_eq!(f.restart.as_deref(), Some("libvirtd"));
    let applied = checks::apply_fix(&view, &f).await.unwrap();
    assert!(applied.changed);
    let now = std::fs::read_to_string(root.join("etc/libvirt/qemu.conf")).unwrap();
    assert_eq!(
        now,
        format!(
            "{original}user = \"root\"\ngroup = \"root\"\ndynamic_ownership = 0\nsecurity_driver = \"none\"\n"
        )
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/libvirt/qemu.conf.labwarp.bak")).unwrap(),
        original
    );
    let r2 = checks::run(&view, &ctx).await;
    assert!(r2.get("qemu-conf.edit").is_none());
    for key in ["user", "group", "dynamic_ownership", "security_driver"] {
        assert_eq!(sev(&r2, &format!("qemu-conf.{key}")), Severity::Ok, "{key}");
    }
    // AppArmor no longer confines the guests once security_driver is "none".
    assert_eq!(
        title(&r2, "apparmor.enabled"),
        "AppArmor is enabled, but qemu.conf has security_driver = \"none\": guests are not confined"
    );
    let again = checks::apply_fix(&view, &f).await.unwrap();
    assert!(!again.changed);
    assert_eq!(
        std::fs::read_to_string(root.join("etc/libvirt/qemu.conf")).unwrap(),
        now
    );
}

#[tokio::test]
async fn untraversable_parent_is_found_with_a_chmod_fix() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy_tree(&fixture("apparmor-enforcing"), root);
    std::fs::create_dir_all(root.join("srv/lab/pool")).unwrap();
    std::fs::set_permissions(root.join("srv"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(root.join("srv/lab"), std::fs::Permissions::from_mode(0o750)).unwrap();
    let ctx = CheckContext::for_lab(
        lab_with_pool("/srv/lab/pool"),
        CheckOptions {
            qemu_mode: QemuMode::Distro,
            ..CheckOptions::default()
        },
    );
    let r = run_at(root, &ctx).await;
    let f = r.get("fs.traverse").unwrap();
    assert_eq!(f.severity, Severity::Warn, "{f:#?}");
    assert!(f.title.starts_with("/srv/lab not traversable by others (o+x missing): qemu (libvirt's default non-root qemu user)"), "{}", f.title);
    assert!(
        f.evidence
            .lines()
            .any(|l| l.starts_with("750 ") && l.ends_with(" /srv/lab")),
        "{}",
        f.evidence
    );
    assert_eq!(
        f.fix.as_ref().unwrap().commands,
        vec![argv(&["chmod", "o+x", "/srv/lab"])]
    );
    // With qemu running as root (the owner of /srv/lab) the same directory is fine.
    let ctx_root = CheckContext::for_lab(lab_with_pool("/srv/lab/pool"), CheckOptions::default());
    let dir2 = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir2.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    copy_tree(&fixture("kvm-pvm"), dir2.path());
    std::fs::create_dir_all(dir2.path().join("srv/lab/pool")).unwrap();
    std::fs::set_permissions(
        dir2.path().join("srv/lab"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    let r = run_at(dir2.path(), &ctx_root).await;
    let f = r.get("fs.traverse").unwrap();
    if nix::unistd::geteuid().is_root() {
        assert_eq!(f.severity, Severity::Ok, "{f:#?}");
        assert!(
            f.evidence.lines().any(|l| l == "750 root /srv/lab"),
            "{}",
            f.evidence
        );
    } else {
        // Owned by the test user, not by root: qemu-as-root still lacks o+x (informational).
        assert_eq!(f.severity, Severity::Info, "{f:#?}");
    }
}

#[tokio::test]
async fn capacity_against_the_plan_and_overcommit() {
    // kvm-pvm's meminfo: MemAvailable 23699900 kB (22.6 GiB). Lab::default needs
    // 12288 + 2 × 8192 MiB = 28 GiB.
    let ctx = CheckContext::for_lab(Lab::default(), CheckOptions::default());
    let r = run_at(&fixture("kvm-pvm"), &ctx).await;
    assert_eq!(sev(&r, "capacity.memory"), Severity::Fail);
    assert_eq!(
        title(&r, "capacity.memory"),
        "Not enough memory: the lab's 3 VMs need 28.0 GiB RAM; 22.6 GiB available × overcommit 1 = 22.6 GiB"
    );
    let ctx = CheckContext::for_lab(
        Lab::default(),
        CheckOptions {
            overcommit: 1.5,
            ..CheckOptions::default()
        },
    );
    let r = run_at(&fixture("kvm-pvm"), &ctx).await;
    assert_eq!(sev(&r, "capacity.memory"), Severity::Ok);
    // 6 vCPUs for the undercloud on a 2-CPU fixture.
    assert_eq!(
        title(&r, "capacity.cpus"),
        "A VM has 6 vCPUs but the host has 2 CPUs: it will run slowly"
    );
    assert!(
        r.get("capacity.disk")
            .unwrap()
            .evidence
            .contains("$ df -P -B1 ")
    );
}

#[tokio::test]
async fn distro_family_against_the_lab() {
    // kvm-pvm is Debian; Lab::default says rhel.
    let ctx = CheckContext::for_lab(Lab::default(), CheckOptions::default());
    let r = run_at(&fixture("kvm-pvm"), &ctx).await;
    assert_eq!(sev(&r, "os.distro"), Severity::Warn);
    assert_eq!(
        fix(&r, "os.distro").unwrap().description,
        "Set hypervisors[0].distro: debian in lab.yaml"
    );
    let r = run_at(&fixture("intel-nested-on"), &ctx).await;
    assert_eq!(sev(&r, "os.distro"), Severity::Ok);
    assert_eq!(
        title(&r, "os.distro"),
        "CentOS Stream 9 matches the lab's distro family rhel"
    );
}

#[tokio::test]
async fn deep_probe_result_overrides_the_shallow_verdict() {
    use labwarp::checks::kvm_probe::{ProbeOutcome, ProbeVerdict, VirtType as ProbeType};
    use labwarp::checks::virtualization::DeepProbe;
    let host = LocalHost::new();
    let ctx = CheckContext::local(CheckOptions::default());
    let outcome = |verdict, summary: &str| ProbeOutcome {
        domain_type: ProbeType::Kvm,
        verdict,
        summary: summary.into(),
        evidence: vec!["state: paused (unknown)".into()],
        elapsed: std::time::Duration::from_secs(41),
        domain_name: "labwarp-probe-kvm-test".into(),
    };
    // Every shallow sign says yes on intel-nested-on; a crashed probe guest says no.
    let view = HostView::rooted(&host, fixture("intel-nested-on"), true);
    let mut facts = virtualization::gather(&view, &ctx).await;
    facts.deep = Some(DeepProbe::Ran(outcome(
        ProbeVerdict::Unusable,
        "KVM internal error in the qemu log",
    )));
    assert_eq!(
        virtualization::verdict(&facts).0,
        KvmVerdict::PresentButUnusable
    );
    let findings = virtualization::evaluate(&facts, &ctx);
    let deep = findings.iter().find(|f| f.id == "kvm.deep-probe").unwrap();
    assert_eq!(deep.severity, Severity::Warn);
    assert_eq!(
        deep.evidence,
        "domain labwarp-probe-kvm-test (type='kvm'), 41.0 s: KVM internal error in the qemu log\nstate: paused (unknown)"
    );
    // A probe that could not run leaves the shallow verdict, and says so.
    facts.deep = Some(DeepProbe::Ran(outcome(
        ProbeVerdict::ProbeFailed,
        "no kernel",
    )));
    let (v, why) = virtualization::verdict(&facts);
    assert_eq!(v, KvmVerdict::Usable);
    assert_eq!(
        why[0],
        "deep probe could not decide (no kernel): shallow verdict"
    );

    // --deep on a fixture root never boots anything.
    let mut ctx = CheckContext::local(CheckOptions::default());
    ctx.options.deep = true;
    let r = run_at(&fixture("kvm-pvm"), &ctx).await;
    let deep = r.get("kvm.deep-probe").unwrap();
    assert_eq!(deep.severity, Severity::Warn);
    assert!(
        deep.evidence.starts_with("not run: fixture root"),
        "{}",
        deep.evidence
    );
}

#[tokio::test]
async fn images_present_md5_and_direct_boot() {
    use labwarp::lab::ImageSource;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("var/cache/labwarp/images")).unwrap();
    std::fs::write(
        root.join("var/cache/labwarp/images/uc.qcow2"),
        b"labwarp image bytes\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("srv")).unwrap();
    std::fs::write(root.join("srv/vmlinuz"), b"kernel").unwrap();
    // md5 of "labwarp image bytes\n" (computed with md5sum).
    let good = String::from_utf8(
        std::process::Command::new("md5sum")
            .arg(root.join("var/cache/labwarp/images/uc.qcow2"))
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .split_whitespace()
    .next()
    .unwrap()
    .to_string();
    let mut lab = Lab::default();
    lab.images.undercloud = ImageSource {
        source: "https://images.example.org/path/uc.qcow2".into(),
        md5: Some(good.to_uppercase()),
        md5_url: None,
    };
    lab.images.overcloud_kernel = Some(ImageSource {
        source: "/srv/vmlinuz".into(),
        md5: None,
        md5_url: None,
    });
    let host = LocalHost::new();
    // Both ways of computing md5: in-process (local) and `md5sum` through the Host (remote).
    for local in [true, false] {
        let view = HostView::rooted(&host, root, local);
        let ctx = CheckContext::for_lab(lab.clone(), CheckOptions::default());
        let r = checks::run(&view, &ctx).await;
        assert_eq!(sev(&r, "images.undercloud"), Severity::Ok, "local={local}");
        assert_eq!(
            title(&r, "images.undercloud"),
            "undercloud present, md5 matches"
        );
        assert!(
            r.get("images.undercloud")
                .unwrap()
                .evidence
                .contains(&format!("actual md5:   {good}"))
        );
        assert_eq!(sev(&r, "images.overcloud_kernel"), Severity::Info);
        assert_eq!(sev(&r, "images.direct-boot"), Severity::Fail);
        assert_eq!(
            title(&r, "images.direct-boot"),
            "Direct kernel boot needs both kernel and initrd: overcloud_initrd is not set"
        );
    }
    lab.images.undercloud.md5 = Some("0123456789abcdef0123456789abcdef".into());
    lab.images.overcloud_initrd = Some(ImageSource {
        source: "/srv/initrd.img".into(),
        md5: None,
        md5_url: None,
    });
    let view = HostView::rooted(&host, root, true);
    let r = checks::run(&view, &CheckContext::for_lab(lab, CheckOptions::default())).await;
    assert_eq!(
        title(&r, "images.undercloud"),
        "undercloud image checksum does not match"
    );
    assert_eq!(sev(&r, "images.overcloud_initrd"), Severity::Fail);
    assert_eq!(
        title(&r, "images.overcloud_initrd"),
        "overcloud_initrd image /srv/initrd.img does not exist"
    );
    assert!(r.get("images.direct-boot").is_none());
}
