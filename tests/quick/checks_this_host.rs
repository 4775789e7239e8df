//! The checks against this machine for real (LocalHost, the real `/`, the running libvirtd),
//! asserting what is known to be true here. Facts that depend on the machine are asserted only
//! when their precondition holds, and the test says loudly when it skips.

use labwarp::checks::virtualization::{self, IoctlFacts, KvmVerdict};
use labwarp::checks::{self, CheckContext, CheckOptions, HostView, Severity};
use labwarp::host::LocalHost;
use labwarp::lab::VirtType;
use std::path::Path;

#[tokio::test]
async fn kvm_pvm_here_means_tcg() {
    let host = LocalHost::new();
    let view = HostView::system(&host, true);
    let ctx = CheckContext::local(CheckOptions::default());
    let r = checks::run(&view, &ctx).await;
    let verdict = r.get("kvm.verdict").expect("verdict");
    if !Path::new("/sys/module/kvm_pvm").exists() {
        eprintln!(
            "SKIPPED (loudly): /sys/module/kvm_pvm is absent, this is not a kvm_pvm machine; \
             verdict here: {} — the kvm_pvm assertions need the machine HOST-SETUP.md describes",
            verdict.title
        );
        return;
    }
    let module = r.get("kvm.module").unwrap();
    assert_eq!(module.severity, Severity::Warn);
    assert!(module.evidence.contains("kvm_pvm"), "{}", module.evidence);
    assert!(
        verdict
            .title
            .starts_with("KVM present but unusable for guests: use TCG (domain type qemu)"),
        "{}",
        verdict.title
    );
    // Every shallow sign says yes here, which is the whole point.
    assert_eq!(r.get("kvm.dev").unwrap().severity, Severity::Ok);
    assert_eq!(
        r.get("kvm.ioctl").unwrap().severity,
        Severity::Ok,
        "{:#?}",
        r.get("kvm.ioctl")
    );
    let facts = virtualization::gather(&view, &ctx).await;
    assert!(matches!(
        facts.ioctl,
        IoctlFacts::Probed {
            api_version: Ok(12),
            create_vm: Ok(())
        }
    ));
    let (v, _) = virtualization::verdict(&facts);
    assert_eq!(v, KvmVerdict::PresentButUnusable);
    assert_eq!(v.domain_type(), VirtType::Qemu);
}

#[tokio::test]
async fn libvirtd_answers_at_qemu_system() {
    let host = LocalHost::new();
    let view = HostView::system(&host, true);
    let ctx = CheckContext::local(CheckOptions::default());
    let r = checks::run(&view, &ctx).await;
    let reach = r.get("libvirt.reachable").unwrap();
    assert_eq!(reach.severity, Severity::Ok, "{reach:#?}");
    assert_eq!(
        reach.evidence,
        "$ virsh -c qemu:///system uri\nqemu:///system"
    );
    assert!(r.get("libvirt.version").unwrap().title.contains("QEMU"));
    assert_eq!(r.get("libvirt.tcg").unwrap().severity, Severity::Ok);
    let types = r.get("kvm.libvirt-domain-types").unwrap();
    assert!(
        types.evidence.contains("<domain type='qemu'"),
        "{}",
        types.evidence
    );
    // The real OS and user.
    assert!(r.get("os.distro").is_some());
    assert!(
        r.get("capacity.memory")
            .unwrap()
            .evidence
            .contains("MemAvailable:")
    );
}

#[tokio::test]
async fn test_driver_is_reachable() {
    let host = LocalHost::new();
    let view = HostView::system(&host, true);
    let mut ctx = CheckContext::local(CheckOptions::default());
    ctx.hypervisor.libvirt_uri = "test:///default".into();
    let r = checks::run(&view, &ctx).await;
    let reach = r.get("libvirt.reachable").unwrap();
    assert_eq!(reach.severity, Severity::Ok, "{reach:#?}");
    assert_eq!(
        reach.evidence,
        "$ virsh -c test:///default uri\ntest:///default"
    );
    // The test driver has its own domain type, no kvm.
    let types = r.get("kvm.libvirt-domain-types").unwrap();
    assert_eq!(types.severity, Severity::Warn);
    assert_eq!(
        types.title,
        "libvirt offers no domain type 'kvm' (only: test)"
    );
    assert!(r.get("libvirt.tcg").is_none());
    // Its built-in `default` network exists.
    assert_eq!(
        r.get("libvirt.default-network").unwrap().title,
        "The default network exists"
    );
}

#[tokio::test]
async fn unreachable_uri_fails_with_evidence() {
    let host = LocalHost::new();
    let view = HostView::system(&host, true);
    let mut ctx = CheckContext::local(CheckOptions::default());
    ctx.hypervisor.libvirt_uri = "qemu:///system?socket=/nonexistent/labwarp-checks.sock".into();
    let r = checks::run(&view, &ctx).await;
    let reach = r.get("libvirt.reachable").unwrap();
    assert_eq!(reach.severity, Severity::Fail);
    assert!(
        reach.evidence.contains("/nonexistent/labwarp-checks.sock"),
        "{}",
        reach.evidence
    );
    assert!(r.failed());
}

#[tokio::test]
async fn a_udp_port_in_use_is_seen_by_ss() {
    use labwarp::checks::network;
    // A real UDP listener on loopback, on a port the kernel picks; the lab's first node gets it.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let mut lab = labwarp::lab::Lab::default();
    lab.overcloud.vbmc.base_port = port;
    let ctx = CheckContext::for_lab(lab, CheckOptions::default());
    let host = LocalHost::new();
    let view = HostView::system(&host, true);
    let facts = network::gather(&view, &ctx).await;
    let found = network::evaluate(&facts, &ctx);
    let vbmc = found.iter().find(|f| f.id == "net.vbmc-ports").unwrap();
    // `ss -p` names the holder: this very test process (its own sockets are always visible).
    assert_eq!(vbmc.severity, Severity::Fail, "{vbmc:#?}");
    assert!(
        vbmc.title
            .contains(&format!("(pid {})", std::process::id())),
        "{vbmc:#?}"
    );
    assert!(
        vbmc.evidence
            .starts_with(&format!("controller-0 (port {port}): ")),
        "{}",
        vbmc.evidence
    );
    // Routes and addresses were really read (not "not probed").
    let ov = found
        .iter()
        .find(|f| f.id == "net.overlap.external")
        .unwrap();
    assert_ne!(ov.severity, Severity::Info, "{ov:#?}");
    drop(sock);
}
