//! The live panes' monitor (src/run/monitor.rs) on libvirt's test driver: the VM pane
//! follows a lab VM that is defined, started and removed directly through libvirt, with no
//! step running, and sends nothing when nothing changed.

use labwarp::run::event::{Event, VmRow};
use labwarp::run::monitor;
use labwarp::run::session::Session;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

/// Waits (bounded) for a VM snapshot that `want` accepts; returns it.
async fn vms_until(
    rx: &mut UnboundedReceiver<Event>,
    what: &str,
    want: impl Fn(&[VmRow]) -> bool,
) -> Vec<VmRow> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(Event::Vms { vms })) if want(&vms) => return vms,
            Ok(Some(Event::Vms { vms })) => seen.push(vms),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("no VM snapshot with {what}; snapshots seen: {seen:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vm_pane_follows_libvirt_between_steps() {
    let ws = tempfile::tempdir().unwrap();
    let mut lab = labwarp::lab::load_preset("demo").unwrap();
    lab.name = format!("mon{}", std::process::id() % 10000);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let s = Session::open(lab.clone(), Some(ws.path()), tx)
        .await
        .unwrap();
    let live = monitor::spawn(s.ctx.clone(), Duration::from_millis(100));

    vms_until(&mut rx, "no VMs yet", |v| v.is_empty()).await;

    let vm = labwarp::render::lab_vms(&lab).unwrap().remove(0);
    let rctx = labwarp::render::RenderContext::for_lab(&lab, ws.path());
    let xml = labwarp::render::domain_xml::render(&lab, &rctx, &vm).unwrap();
    let lv = &s.ctx.libvirt;
    lv.define_domain(&xml).await.unwrap();
    let rows = vms_until(&mut rx, "the defined VM", |v| {
        v.iter()
            .any(|r| r.name == vm.domain && r.state == "shutoff")
    })
    .await;
    assert_eq!(rows.len(), 1, "only the lab's VMs are shown: {rows:?}");
    assert_eq!(rows[0].vcpus, vm.vcpus);
    assert_eq!(rows[0].memory_mib, vm.memory_mib);

    // A domain of another lab never shows up in this lab's pane.
    let other = xml.replacen(
        &format!("<name>{}</name>", vm.domain),
        "<name>not-this-lab</name>",
        1,
    );
    let other = other
        .lines()
        .filter(|l| !l.trim_start().starts_with("<uuid>"))
        .collect::<Vec<_>>()
        .join("\n");
    lv.define_domain(&other).await.unwrap();

    lv.start(&vm.domain).await.unwrap();
    let rows = vms_until(&mut rx, "the VM running", |v| {
        v.iter()
            .any(|r| r.name == vm.domain && r.state == "running")
    })
    .await;
    assert!(rows.iter().all(|r| r.name != "not-this-lab"), "{rows:?}");

    lv.destroy(&vm.domain).await.unwrap();
    lv.undefine(&vm.domain, Default::default()).await.unwrap();
    vms_until(&mut rx, "the VM gone", |v| v.is_empty()).await;

    // Nothing changes any more: several polling periods pass without a VM snapshot.
    while rx.try_recv().is_ok() {}
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut repeats = 0;
    while let Ok(e) = rx.try_recv() {
        if matches!(e, Event::Vms { .. }) {
            repeats += 1;
        }
    }
    assert_eq!(repeats, 0, "unchanged VM lists are not sent again");
    drop(live);
    let _ = lv.undefine("not-this-lab", Default::default()).await;
}
