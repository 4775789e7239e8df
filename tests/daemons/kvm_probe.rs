//! The deep KVM probe against the real libvirtd: boots the tiny probe guest with
//! `type='kvm'` and with `type='qemu'` (TCG) and checks each verdict against what this
//! machine really is. On these machines `/dev/kvm` is the `kvm_pvm` software layer under
//! which standard guests stop with "KVM internal error" (../shared/HOST-SETUP.md): the KVM
//! probe must say unusable, with evidence, and the TCG probe must say usable.

use std::path::Path;
use std::time::Duration;

use crate::tiny_guest_support::{URI, ensure_built, require_libvirtd, virsh};
use labwarp::checks::kvm_probe::{
    ProbeOutcome, ProbeVerdict, VirtType as DomainType, deep_kvm_probe, tcg_probe,
};
use labwarp::host::{LocalHost, SshHost, SshOptions, SshTarget, TrustPolicy};

fn report(o: &ProbeOutcome) {
    eprintln!(
        "[kvm_probe] type='{}': {:?} in {:.1} s: {}",
        o.domain_type,
        o.verdict,
        o.elapsed.as_secs_f64(),
        o.summary
    );
    for e in &o.evidence {
        eprintln!("[kvm_probe]   {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_probe_tells_usable_kvm_from_kvm_that_only_looks_present() {
    let _turn = crate::common::turn(module_path!());
    require_libvirtd();
    require_sshd!();
    let guest = ensure_built();

    // One after the other: a guest spinning under the broken KVM layer takes a core, and
    // TCG on a busy 2-core machine needs it (bounds: generous, not speed assertions).
    // The TCG probe on this machine, the KVM probe on the same machine reached over SSH (a
    // real sshd on 127.0.0.1): the kernel and initrd are uploaded, virsh runs there, and the
    // console and qemu logs are read there, as for a remote hypervisor.
    let tmp = tempfile::tempdir().unwrap();
    let opts = SshOptions::for_workspace(&tmp.path().join("ws"), TrustPolicy::FirstUse).unwrap();
    let mut sshd = crate::sshd::Sshd::new(
        &tmp.path().join("sshd"),
        "127.0.0.1",
        crate::sshd::free_port(),
        None,
        "",
    );
    sshd.authorize(&opts.identity.public_line());
    sshd.start();
    let remote = SshHost::new(
        SshTarget {
            name: "virthost".into(),
            host: "127.0.0.1".into(),
            port: sshd.port,
            user: "root".into(),
        },
        opts,
    );
    let local = LocalHost::new();
    let (kernel, initrd) = (&guest.kernel, &guest.initrd);
    let tcg = tcg_probe(&local, URI, kernel, initrd, Duration::from_secs(120)).await;
    let kvm = deep_kvm_probe(&remote, URI, kernel, initrd, Duration::from_secs(90)).await;
    report(&kvm);
    report(&tcg);

    assert_eq!(kvm.domain_type, DomainType::Kvm);
    assert_eq!(tcg.domain_type, DomainType::Qemu);
    assert_eq!(
        tcg.verdict,
        ProbeVerdict::Usable,
        "TCG must boot the probe guest: {tcg:#?}"
    );
    assert!(tcg.summary.contains("LABWARP-PROBE-OK"));

    let kvm_pvm = Path::new("/sys/module/kvm_pvm").exists();
    let hw_kvm =
        Path::new("/sys/module/kvm_intel").exists() || Path::new("/sys/module/kvm_amd").exists();
    if kvm_pvm {
        assert_eq!(
            kvm.verdict,
            ProbeVerdict::Unusable,
            "kvm_pvm is loaded: standard guests crash under it, the probe must say so: {kvm:#?}"
        );
        // The why: the state it stopped in, or what qemu/libvirt said.
        assert!(
            kvm.evidence.iter().any(|e| e.starts_with("domain state:")
                || e.starts_with("qemu log:")
                || e.starts_with("virsh -c")),
            "the verdict must come with the state or the qemu log lines: {kvm:#?}"
        );
    } else if hw_kvm && Path::new("/dev/kvm").exists() {
        assert_eq!(kvm.verdict, ProbeVerdict::Usable, "{kvm:#?}");
    } else {
        assert_ne!(
            kvm.verdict,
            ProbeVerdict::Usable,
            "no KVM module loaded: {kvm:#?}"
        );
    }

    // Both probe directories (kernel, initrd, XML, console) are removed from the hypervisor.
    for o in [&kvm, &tcg] {
        for dir in std::fs::read_dir("/tmp").unwrap().flatten() {
            let xml = std::fs::read_to_string(dir.path().join("domain.xml")).unwrap_or_default();
            assert!(
                !xml.contains(&o.domain_name),
                "probe directory {} left behind",
                dir.path().display()
            );
        }
    }

    // Both transient probe domains are gone.
    let all = virsh(&["list", "--all", "--name"]).expect("virsh list");
    for o in [&kvm, &tcg] {
        assert!(
            !all.lines().any(|l| l.trim() == o.domain_name),
            "probe domain {} left behind",
            o.domain_name
        );
    }
}

#[tokio::test]
async fn missing_kernel_is_a_probe_failure_not_a_verdict() {
    let _turn = crate::common::turn(module_path!());
    let o = deep_kvm_probe(
        &LocalHost::new(),
        URI,
        Path::new("/nonexistent/vmlinuz"),
        Path::new("/nonexistent/initrd.img"),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(o.verdict, ProbeVerdict::ProbeFailed);
    assert!(o.summary.contains("/nonexistent/vmlinuz"), "{}", o.summary);
    assert!(o.summary.contains("build-tiny-guest.sh"), "{}", o.summary);
}
