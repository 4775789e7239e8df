//! The libvirt layer against the real libvirtd (`qemu:///system`, started by
//! scripts/setup-host.sh inside netns `labwarp-ci`). Domains are diskless TCG guests with
//! 64 MiB; every object has a unique name and a guard that removes it even on failure.

use crate::common::{DomainGuard, NetworkGuard, PoolGuard, tiny_domain_xml, unique};
use labwarp::virt::{
    DomainState, Libvirt, Outcome, PoolState, ShutdownOutcome, UndefineOptions, VolumeSpec,
    WatchEvent, WatchMode, storage::dir_pool_xml,
};
use std::time::Duration;

const URI: &str = "qemu:///system";

async fn conn() -> Libvirt {
    Libvirt::connect(URI).await.unwrap_or_else(|e| {
        panic!("{e}\nthe real libvirtd is needed: run scripts/setup-host.sh as root")
    })
}

fn guard(name: &str) -> DomainGuard {
    DomainGuard {
        uri: URI.into(),
        name: name.into(),
    }
}

fn virsh(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("virsh")
        .arg("-c")
        .arg(URI)
        .args(args)
        .output()
        .expect("virsh runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test]
async fn domain_lifecycle_on_real_libvirtd() {
    let _turn = crate::common::turn(module_path!());
    let lv = conn().await;
    let name = unique("lwt-life");
    let _g = guard(&name);
    // The ownership element as the render module writes it.
    let meta = format!(
        "<labwarp:vm xmlns:labwarp='{}' lab='ci-lab' name='controller-0' role='controller'/>",
        labwarp::render::LABWARP_XMLNS
    );
    let d = lv
        .define_domain(&tiny_domain_xml(&name, &meta))
        .await
        .unwrap();
    assert_eq!(d.labwarp_lab.as_deref(), Some("ci-lab"));
    assert_eq!(d.state, DomainState::Shutoff);
    assert_eq!((d.vcpus, d.memory_mib), (1, 64));
    assert!(d.persistent && !d.active);

    assert_eq!(lv.start(&name).await.unwrap(), Outcome::Done);
    assert_eq!(lv.start(&name).await.unwrap(), Outcome::AlreadyInState);
    let up = lv.domain(&name).await.unwrap();
    assert_eq!(up.state, DomainState::Running);
    assert_eq!(up.reason.as_deref(), Some("booted"));
    assert!(up.id.is_some());
    // No NIC: no address, and asking must not fail.
    assert!(up.ips.is_empty());
    let (_, state) = virsh(&["domstate", &name]);
    assert!(state.contains("running"), "{state}");

    // Without an OS nothing answers the ACPI request: shutdown falls back to destroy.
    let o = lv.shutdown(&name, Duration::from_secs(2)).await.unwrap();
    assert_eq!(o, ShutdownOutcome::Forced);
    let off = lv.domain(&name).await.unwrap();
    assert_eq!(off.state, DomainState::Shutoff);
    assert_eq!(off.reason.as_deref(), Some("destroyed"));
    assert_eq!(lv.destroy(&name).await.unwrap(), Outcome::AlreadyInState);

    lv.start(&name).await.unwrap();
    assert_eq!(lv.destroy(&name).await.unwrap(), Outcome::Done);
    let u = lv
        .undefine(&name, UndefineOptions::default())
        .await
        .unwrap();
    assert_eq!(u.outcome, Outcome::Done);
    let (ok, out) = virsh(&["dominfo", &name]);
    assert!(!ok, "still defined: {out}");
    let again = lv
        .undefine(&name, UndefineOptions::default())
        .await
        .unwrap();
    assert_eq!(again.outcome, Outcome::AlreadyAbsent);
}

#[tokio::test]
async fn undefine_converges_with_managed_save_and_snapshot_metadata() {
    let _turn = crate::common::turn(module_path!());
    let lv = conn().await;
    let name = unique("lwt-save");
    let _g = guard(&name);
    let xml = tiny_domain_xml(&name, "");
    lv.define_domain(&xml).await.unwrap();
    lv.start(&name).await.unwrap();
    // Snapshot metadata (REDEFINE: no disk needed) is what makes a plain undefine fail.
    let inactive = lv.domain_xml(&name).await.unwrap();
    let snap = format!(
        "<domainsnapshot><name>s1</name><state>shutoff</state>\
         <creationTime>1700000000</creationTime>{inactive}</domainsnapshot>"
    );
    lv.create_snapshot(&name, &snap, virt::sys::VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE)
        .await
        .unwrap();
    assert_eq!(lv.managed_save(&name).await.unwrap(), Outcome::Done);
    let d = lv.domain(&name).await.unwrap();
    assert!(d.has_managed_save, "{d:?}");
    assert_eq!(d.snapshot_count, 1);
    assert_eq!(d.state, DomainState::Shutoff);
    assert_eq!(d.reason.as_deref(), Some("saved"));
    // A plain undefine refuses (this is what the one-call undefine must get past).
    let (plain_ok, plain) = virsh(&["undefine", &name]);
    assert!(!plain_ok, "plain undefine unexpectedly worked: {plain}");

    let u = lv
        .undefine(&name, UndefineOptions::default())
        .await
        .unwrap();
    assert_eq!(u.outcome, Outcome::Done);
    let (ok, out) = virsh(&["dominfo", &name]);
    assert!(!ok, "still defined: {out}");
    assert!(
        !std::path::Path::new(&format!("/var/lib/libvirt/qemu/save/{name}.save")).exists(),
        "managed save image left behind"
    );
}

#[tokio::test]
async fn undefine_running_domain_removes_its_storage() {
    let _turn = crate::common::turn(module_path!());
    let lv = conn().await;
    let dir = tempfile::tempdir().unwrap();
    let pool = unique("lwt-pool");
    let _pg = PoolGuard {
        uri: URI.into(),
        name: pool.clone(),
    };
    let pool_dir = dir.path().join("pool");
    lv.define_pool(&dir_pool_xml(&pool, &pool_dir.to_string_lossy()))
        .await
        .unwrap();
    lv.build_pool(&pool).await.unwrap();
    lv.start_pool(&pool).await.unwrap();
    let (_, vol) = lv
        .create_volume(
            &pool,
            &VolumeSpec {
                name: "root.qcow2".into(),
                capacity_bytes: 16 << 20,
                format: "qcow2".into(),
                backing: None,
            },
        )
        .await
        .unwrap();
    let name = unique("lwt-stor");
    let _g = guard(&name);
    let xml = tiny_domain_xml(&name, "").replace(
        "<devices>",
        &format!(
            "<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>\
             <source file='{}'/><target dev='vda' bus='virtio'/></disk>",
            vol.path
        ),
    );
    lv.define_domain(&xml).await.unwrap();
    lv.start(&name).await.unwrap();
    let u = lv
        .undefine(
            &name,
            UndefineOptions {
                remove_storage: true,
            },
        )
        .await
        .unwrap();
    assert!(u.destroyed);
    assert_eq!(u.outcome, Outcome::Done);
    assert_eq!(u.removed_volumes, vec![vol.path.clone()]);
    assert!(!std::path::Path::new(&vol.path).exists());
    assert_eq!(lv.undefine_pool(&pool).await.unwrap(), Outcome::Done);
}

#[tokio::test]
async fn isolated_network_lifecycle() {
    let _turn = crate::common::turn(module_path!());
    let lv = conn().await;
    let name = unique("lwn");
    assert!(name.len() <= 15, "bridge name {name} too long");
    let _g = NetworkGuard {
        uri: URI.into(),
        name: name.clone(),
    };
    let xml = format!(
        "<network><name>{name}</name><bridge name='{name}' stp='off' delay='0'/></network>"
    );
    let n = lv.define_network(&xml).await.unwrap();
    assert!(n.persistent && !n.active);
    assert_eq!(n.bridge.as_deref(), Some(name.as_str()));
    assert_eq!(lv.start_network(&name).await.unwrap(), Outcome::Done);
    assert_eq!(
        lv.start_network(&name).await.unwrap(),
        Outcome::AlreadyInState
    );
    let up = lv.network(&name).await.unwrap();
    assert!(up.active);
    assert!(up.leases.is_empty());
    assert!(lv.networks().await.unwrap().iter().any(|n| n.name == name));
    assert_eq!(lv.destroy_network(&name).await.unwrap(), Outcome::Done);
    assert_eq!(
        lv.destroy_network(&name).await.unwrap(),
        Outcome::AlreadyInState
    );
    lv.start_network(&name).await.unwrap();
    assert_eq!(lv.undefine_network(&name).await.unwrap(), Outcome::Done);
    let (ok, out) = virsh(&["net-info", &name]);
    assert!(!ok, "network still defined: {out}");
    assert_eq!(
        lv.undefine_network(&name).await.unwrap(),
        Outcome::AlreadyAbsent
    );
}

#[tokio::test]
async fn dir_pool_and_backed_qcow2_volumes() {
    let _turn = crate::common::turn(module_path!());
    let lv = conn().await;
    let dir = tempfile::tempdir().unwrap();
    let pool = unique("lwt-pool");
    let _g = PoolGuard {
        uri: URI.into(),
        name: pool.clone(),
    };
    let path = dir.path().join("images");
    let p = lv
        .define_pool(&dir_pool_xml(&pool, &path.to_string_lossy()))
        .await
        .unwrap();
    assert_eq!(p.state, PoolState::Inactive);
    assert_eq!(p.target_path.as_deref(), Some(&*path.to_string_lossy()));
    lv.build_pool(&pool).await.unwrap();
    assert!(path.is_dir());
    assert_eq!(lv.start_pool(&pool).await.unwrap(), Outcome::Done);
    assert_eq!(lv.start_pool(&pool).await.unwrap(), Outcome::AlreadyInState);

    let base = VolumeSpec {
        name: "base.qcow2".into(),
        capacity_bytes: 32 << 20,
        format: "qcow2".into(),
        backing: None,
    };
    let (o, b) = lv.create_volume(&pool, &base).await.unwrap();
    assert_eq!(o, Outcome::Done);
    assert_eq!(b.format.as_deref(), Some("qcow2"));
    let overlay = VolumeSpec {
        name: "node0.qcow2".into(),
        capacity_bytes: 32 << 20,
        format: "qcow2".into(),
        backing: Some((b.path.clone(), "qcow2".into())),
    };
    let (o, v) = lv.create_volume(&pool, &overlay).await.unwrap();
    assert_eq!(o, Outcome::Done);
    assert_eq!(v.backing.as_deref(), Some(b.path.as_str()));
    assert_eq!(v.capacity, 32 << 20);
    let (o, _) = lv.create_volume(&pool, &overlay).await.unwrap();
    assert_eq!(o, Outcome::AlreadyInState);
    // qemu-img sees the same chain.
    let info = std::process::Command::new("qemu-img")
        .args(["info", "-U", &v.path])
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.contains(&format!("backing file: {}", b.path)),
        "{info}"
    );

    let listed = lv.pool(&pool).await.unwrap();
    let names: Vec<_> = listed.volumes.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["base.qcow2", "node0.qcow2"]);
    assert!(lv.pools().await.unwrap().iter().any(|p| p.name == pool));

    assert_eq!(
        lv.delete_volume(&pool, "node0.qcow2").await.unwrap(),
        Outcome::Done
    );
    assert_eq!(
        lv.delete_volume(&pool, "node0.qcow2").await.unwrap(),
        Outcome::AlreadyAbsent
    );
    lv.delete_volume(&pool, "base.qcow2").await.unwrap();
    assert!(!dir.path().join("images/base.qcow2").exists());
    assert_eq!(lv.destroy_pool(&pool).await.unwrap(), Outcome::Done);
    assert_eq!(
        lv.destroy_pool(&pool).await.unwrap(),
        Outcome::AlreadyInState
    );
    assert_eq!(lv.undefine_pool(&pool).await.unwrap(), Outcome::Done);
    assert_eq!(
        lv.undefine_pool(&pool).await.unwrap(),
        Outcome::AlreadyAbsent
    );
}

#[tokio::test]
async fn watch_gets_lifecycle_events_from_libvirtd() {
    let _turn = crate::common::turn(module_path!());
    let lv = conn().await;
    let mut w = lv.watch(Duration::from_secs(3600)).await.unwrap();
    assert_eq!(w.mode(), WatchMode::Events);
    let name = unique("lwt-watch");
    let _g = guard(&name);
    // Waits for the domain to reach `want` (None: removed). A lifecycle step may produce
    // several events (started, then resumed), so intermediate snapshots are skipped.
    let mut reach = async |want: Option<DomainState>| {
        tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                match w.next().await.expect("watch ended") {
                    WatchEvent::Changed(d) if d.name == name && Some(d.state) == want => return,
                    WatchEvent::Removed { name: n } if n == name && want.is_none() => return,
                    WatchEvent::Error(e) => panic!("watch error: {e}"),
                    _ => {}
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{name} did not reach {want:?} within 60 s"))
    };
    lv.define_domain(&tiny_domain_xml(&name, "")).await.unwrap();
    reach(Some(DomainState::Shutoff)).await;
    lv.start(&name).await.unwrap();
    reach(Some(DomainState::Running)).await;
    lv.destroy(&name).await.unwrap();
    reach(Some(DomainState::Shutoff)).await;
    lv.undefine(&name, UndefineOptions::default())
        .await
        .unwrap();
    reach(None).await;
}
