//! The libvirt layer against libvirt's built-in test driver (`test:///default`): no daemon.
//! Connections opened while another one is open share one instance within the process
//! (observed: a second test saw the first one's domain), so every test uses unique names.

use crate::common;

use labwarp::virt::{
    DomainState, IpSource, Libvirt, Outcome, ShutdownOutcome, UndefineOptions, VirtError,
    VolumeSpec, WatchEvent, WatchMode,
};
use std::time::Duration;

const URI: &str = "test:///default";

async fn conn() -> Libvirt {
    Libvirt::connect(URI).await.expect("test:///default opens")
}

const META: &str = "<lw:lab xmlns:lw='https://labwarp.dev/xmlns/lab/1' name='minimal'/>";

fn test_domain_xml(name: &str) -> String {
    format!(
        "<domain type='test'><name>{name}</name><metadata>{META}</metadata>\
         <memory unit='MiB'>512</memory><currentMemory unit='MiB'>256</currentMemory>\
         <vcpu>3</vcpu><os><type>hvm</type></os></domain>"
    )
}

#[tokio::test]
async fn lists_the_builtin_domain_with_typed_fields() {
    let lv = conn().await;
    let doms = lv.domains().await.unwrap();
    let test = doms.iter().find(|d| d.name == "test").expect("domain test");
    assert_eq!(test.state, DomainState::Running);
    assert!(test.active && test.persistent && !test.autostart);
    assert_eq!(test.vcpus, 2);
    assert_eq!(test.memory_mib, 2048);
    assert_eq!(test.max_memory_mib, 8192);
    assert_eq!(test.uuid, "6695eb01-f6a4-8304-79aa-97f2502e193f");
    assert!(test.id.is_some());
    assert!(!test.has_managed_save);
    assert_eq!(test.snapshot_count, 0);
    assert_eq!(test.labwarp_lab, None);
    let ip = test
        .ips
        .first()
        .expect("the test driver reports an address");
    assert_eq!(ip.addr.to_string(), "192.168.122.3");
    assert_eq!(ip.prefix, 24);
    assert_eq!(ip.source, IpSource::Lease);
    assert_eq!(ip.mac.as_deref(), Some("aa:bb:cc:dd:ee:ff"));
    let info = lv.lib_version().await.unwrap();
    assert!(info.0 >= 8, "libvirt {info:?}");
}

#[tokio::test]
async fn lifecycle_is_idempotent_and_reads_ownership() {
    let lv = conn().await;
    let name = &common::unique("lw-node");
    let d = lv.define_domain(&test_domain_xml(name)).await.unwrap();
    assert_eq!(d.labwarp_lab.as_deref(), Some("minimal"));
    assert_eq!(d.state, DomainState::Shutoff);
    assert_eq!((d.vcpus, d.memory_mib, d.max_memory_mib), (3, 256, 512));
    assert!(d.ips.is_empty());

    assert_eq!(lv.start(name).await.unwrap(), Outcome::Done);
    assert_eq!(lv.start(name).await.unwrap(), Outcome::AlreadyInState);
    let running = lv.domain(name).await.unwrap();
    assert_eq!(running.state, DomainState::Running);
    assert_eq!(running.reason.as_deref(), Some("booted"));
    assert_eq!(lv.suspend(name).await.unwrap(), Outcome::Done);
    let paused = lv.domain(name).await.unwrap();
    assert_eq!(paused.state, DomainState::Paused);
    assert_eq!(paused.reason.as_deref(), Some("user"));
    assert_eq!(lv.destroy(name).await.unwrap(), Outcome::Done);
    let off = lv.domain(name).await.unwrap();
    assert_eq!(off.state, DomainState::Shutoff);
    assert_eq!(off.reason.as_deref(), Some("destroyed"));
    assert_eq!(lv.destroy(name).await.unwrap(), Outcome::AlreadyInState);

    // The test driver's guests obey ACPI at once.
    lv.start(name).await.unwrap();
    assert_eq!(
        lv.shutdown(name, Duration::from_secs(5)).await.unwrap(),
        ShutdownOutcome::Graceful
    );
    assert_eq!(
        lv.shutdown(name, Duration::from_secs(5)).await.unwrap(),
        ShutdownOutcome::AlreadyOff
    );

    let u = lv.undefine(name, UndefineOptions::default()).await.unwrap();
    assert_eq!(u.outcome, Outcome::Done);
    assert!(!u.destroyed);
    let again = lv.undefine(name, UndefineOptions::default()).await.unwrap();
    assert_eq!(again.outcome, Outcome::AlreadyAbsent);
    assert_eq!(lv.destroy(name).await.unwrap(), Outcome::AlreadyAbsent);
    let missing = lv.domain(name).await.unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
    assert!(missing.to_string().contains(name.as_str()), "{missing}");
    assert!(lv.start(name).await.unwrap_err().is_not_found());
    assert!(!lv.domain_exists(name).await.unwrap());
}

#[tokio::test]
async fn undefine_converges_with_managed_save_and_snapshots() {
    let lv = conn().await;
    let name = &common::unique("lw-saved");
    lv.define_domain(&test_domain_xml(name)).await.unwrap();
    lv.start(name).await.unwrap();
    lv.create_snapshot(name, "<domainsnapshot><name>s1</name></domainsnapshot>", 0)
        .await
        .unwrap();
    lv.create_snapshot(name, "<domainsnapshot><name>s2</name></domainsnapshot>", 0)
        .await
        .unwrap();
    assert_eq!(lv.managed_save(name).await.unwrap(), Outcome::Done);
    let d = lv.domain(name).await.unwrap();
    assert!(d.has_managed_save);
    assert_eq!(d.snapshot_count, 2);
    assert_eq!(d.state, DomainState::Shutoff);
    assert_eq!(d.reason.as_deref(), Some("saved"));

    let u = lv.undefine(name, UndefineOptions::default()).await.unwrap();
    assert_eq!(u.outcome, Outcome::Done);
    assert!(!lv.domain_exists(name).await.unwrap());

    // Running domain: destroyed then undefined in the same call.
    lv.define_domain(&test_domain_xml(name)).await.unwrap();
    lv.start(name).await.unwrap();
    let u = lv.undefine(name, UndefineOptions::default()).await.unwrap();
    assert!(u.destroyed);
    assert_eq!(u.outcome, Outcome::Done);
    assert!(!lv.domain_exists(name).await.unwrap());
}

/// Regression: libvirt's test driver segfaults on virDomainInterfaceAddresses for a running
/// domain with a NIC on a network without `<ip>` (an isolated provisioning network). Before
/// the fix, `domains()`/`domain()` made that call and this test process crashed.
#[tokio::test]
async fn lists_a_running_domain_on_a_network_without_ip() {
    let lv = conn().await;
    let net = &common::unique("lwprov");
    let xml = format!("<network><name>{net}</name><bridge name='{net}'/></network>");
    lv.define_network(&xml).await.unwrap();
    lv.start_network(net).await.unwrap();
    let name = &common::unique("lw-isol");
    let dom = format!(
        "<domain type='test'><name>{name}</name><metadata>{META}</metadata>\
         <memory unit='MiB'>512</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices>\
         <interface type='network'><mac address='52:54:00:7a:00:01'/>\
         <source network='{net}'/></interface>\
         <interface type='network'><mac address='52:54:00:7a:00:02'/>\
         <source network='default'/></interface>\
         </devices></domain>"
    );
    lv.define_domain(&dom).await.unwrap();
    assert_eq!(lv.start(name).await.unwrap(), Outcome::Done);

    let doms = lv.domains().await.expect("listing works");
    let d = doms
        .iter()
        .find(|d| &d.name == name)
        .expect("the domain is listed");
    assert_eq!(d.state, DomainState::Running);
    assert_eq!(d.labwarp_lab.as_deref(), Some("minimal"));
    // Leases are read per network then; the test driver keeps no lease database.
    assert!(d.ips.is_empty(), "{:?}", d.ips);
    let one = lv.domain(name).await.expect("the single lookup works");
    assert!(one.active);
    // The built-in domain (NIC on `default`, which has an `<ip>`) still gets its address.
    let test = doms.iter().find(|d| d.name == "test").expect("domain test");
    assert!(!test.ips.is_empty());

    lv.undefine(name, UndefineOptions::default()).await.unwrap();
    lv.undefine_network(net).await.unwrap();
}

#[tokio::test]
async fn networks_with_bridges_and_idempotent_ops() {
    let lv = conn().await;
    let nets = lv.networks().await.unwrap();
    let def = nets.iter().find(|n| n.name == "default").expect("default");
    assert_eq!(def.bridge.as_deref(), Some("virbr0"));
    assert!(def.active && def.persistent);
    // The test driver keeps no lease database: empty, not an error.
    assert!(def.leases.is_empty());

    let net = &common::unique("lwn");
    let xml = format!("<network><name>{net}</name><bridge name='{net}'/></network>");
    let n = lv.define_network(&xml).await.unwrap();
    assert_eq!(n.bridge.as_deref(), Some(net.as_str()));
    assert!(!n.active);
    assert_eq!(lv.start_network(net).await.unwrap(), Outcome::Done);
    assert_eq!(
        lv.start_network(net).await.unwrap(),
        Outcome::AlreadyInState
    );
    lv.set_network_autostart(net, true).await.unwrap();
    assert!(lv.network(net).await.unwrap().autostart);
    assert_eq!(lv.destroy_network(net).await.unwrap(), Outcome::Done);
    assert_eq!(
        lv.destroy_network(net).await.unwrap(),
        Outcome::AlreadyInState
    );
    lv.start_network(net).await.unwrap();
    // Undefine stops an active network first.
    assert_eq!(lv.undefine_network(net).await.unwrap(), Outcome::Done);
    assert_eq!(
        lv.undefine_network(net).await.unwrap(),
        Outcome::AlreadyAbsent
    );
    assert_eq!(
        lv.destroy_network(net).await.unwrap(),
        Outcome::AlreadyAbsent
    );
    assert!(lv.network(net).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn pools_and_volumes() {
    let lv = conn().await;
    let pools = lv.pools().await.unwrap();
    let p = pools
        .iter()
        .find(|p| p.name == "default-pool")
        .expect("default-pool");
    assert!(p.active);
    assert!(p.target_path.is_some());
    let vol = common::unique("disk") + ".qcow2";
    let spec = VolumeSpec {
        name: vol.clone(),
        capacity_bytes: 1 << 30,
        format: "qcow2".into(),
        backing: None,
    };
    let (o, v) = lv.create_volume("default-pool", &spec).await.unwrap();
    assert_eq!(o, Outcome::Done);
    assert_eq!(v.name, vol);
    assert_eq!(v.capacity, 1 << 30);
    let (o, _) = lv.create_volume("default-pool", &spec).await.unwrap();
    assert_eq!(o, Outcome::AlreadyInState);
    let listed = lv.pool("default-pool").await.unwrap();
    assert!(listed.volumes.iter().any(|v| v.name == vol));
    assert_eq!(
        lv.delete_volume("default-pool", &vol).await.unwrap(),
        Outcome::Done
    );
    assert_eq!(
        lv.delete_volume("default-pool", &vol).await.unwrap(),
        Outcome::AlreadyAbsent
    );
    assert_eq!(
        lv.delete_volume("no-such-pool", "x").await.unwrap(),
        Outcome::AlreadyAbsent
    );
    assert_eq!(
        lv.undefine_pool("no-such-pool").await.unwrap(),
        Outcome::AlreadyAbsent
    );
}

async fn next_change(w: &mut labwarp::virt::Watch, name: &str) -> WatchEvent {
    // A bound so a broken watch fails the test instead of hanging it (not a speed check).
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match w.next().await.expect("watch ended") {
                WatchEvent::Changed(d) if d.name == name => return WatchEvent::Changed(d),
                WatchEvent::Removed { name: n } if n == name => {
                    return WatchEvent::Removed { name: n };
                }
                WatchEvent::Error(e) => panic!("watch error: {e}"),
                _ => {}
            }
        }
    })
    .await
    .expect("no watch event within 60 s")
}

async fn watch_follows_lifecycle(lv: &Libvirt, mut w: labwarp::virt::Watch) {
    // The initial listing comes first.
    match next_change(&mut w, "test").await {
        WatchEvent::Changed(d) => assert_eq!(d.state, DomainState::Running),
        other => panic!("{other:?}"),
    }
    let name = &common::unique("lw-watched");
    lv.define_domain(&test_domain_xml(name)).await.unwrap();
    match next_change(&mut w, name).await {
        WatchEvent::Changed(d) => assert_eq!(d.state, DomainState::Shutoff),
        other => panic!("{other:?}"),
    }
    lv.start(name).await.unwrap();
    match next_change(&mut w, name).await {
        WatchEvent::Changed(d) => assert_eq!(d.state, DomainState::Running),
        other => panic!("{other:?}"),
    }
    lv.undefine(name, UndefineOptions::default()).await.unwrap();
    // Depending on timing the destroy may show up as a change before the removal.
    loop {
        match next_change(&mut w, name).await {
            WatchEvent::Removed { .. } => break,
            WatchEvent::Changed(d) => assert_eq!(d.state, DomainState::Shutoff),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn watch_uses_events_on_the_test_driver() {
    let lv = conn().await;
    // A long resync: changes must come from events, not from polling.
    let w = lv.watch(Duration::from_secs(3600)).await.unwrap();
    assert_eq!(w.mode(), WatchMode::Events);
    watch_follows_lifecycle(&lv, w).await;
}

#[tokio::test]
async fn watch_polling_fallback() {
    let lv = conn().await;
    let w = lv.watch_polling(Duration::from_millis(100)).await.unwrap();
    assert_eq!(w.mode(), WatchMode::Polling);
    watch_follows_lifecycle(&lv, w).await;
}

#[tokio::test]
async fn bad_uris_are_refused_with_the_reason() {
    let e = Libvirt::connect("qemu+ssh://root@hv/system?no_verify=1")
        .await
        .unwrap_err();
    assert!(matches!(e, VirtError::BadUri { .. }), "{e}");
    assert!(e.to_string().contains("no_verify"), "{e}");
    let e = Libvirt::connect("nosuchdriver:///x").await.unwrap_err();
    assert!(matches!(e, VirtError::Connect { .. }), "{e}");
}
