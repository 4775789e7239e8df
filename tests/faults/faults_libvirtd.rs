//! Fault: libvirtd is restarted (or stays away) during a run. Against a private libvirtd this
//! test owns (tests/libvirtd_support: own mount and network namespaces, own socket), never
//! the shared one in netns labwarp-ci:
//! - the virt layer: one `Libvirt` survives a restart (the next call reconnects and
//!   succeeds), a call made while the daemon is down waits for it to come back, a daemon
//!   that stays down gives a clear error naming libvirtd, and a call that is not safe to
//!   repeat is never repeated;
//! - a whole run: libvirtd restarted in the middle (held at a fault point) and the run
//!   completes; libvirtd gone for longer than the reconnect window and the run fails with a
//!   clear message, state.yaml still parses, and a rerun converges to the same end state as
//!   an uninterrupted run.

use crate::engine_support::{TestLab, text};
use crate::libvirtd_support::PrivateLibvirtd;
use labwarp::virt::{Libvirt, VirtError, WatchEvent, WatchMode};
use std::time::Duration;

fn skip_reason() -> Option<String> {
    let why = crate::libvirtd_support::unavailable();
    if let Some(w) = &why {
        eprintln!("\n!!! SKIPPED: a private libvirtd cannot run here: {w} !!!\n");
    }
    why
}

/// A persistent domain that never needs to start, with one qcow2 disk (so that it can be
/// snapshotted while shut off).
fn domain_xml(name: &str, disk: &std::path::Path) -> String {
    format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'>\
         <driver name='qemu' type='qcow2'/><source file='{}'/><target dev='vda' bus='virtio'/>\
         </disk></devices></domain>",
        disk.display()
    )
}

fn report(category: &str, lines: &[String]) {
    println!("\n=== fault report: {category} ===");
    for l in lines {
        println!("  {l}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_survives_libvirtd_restarts() {
    let _turn = crate::common::turn(module_path!());
    if skip_reason().is_some() {
        return;
    }
    let mut d = tokio::task::spawn_blocking(|| PrivateLibvirtd::start("v"))
        .await
        .unwrap();
    let lv = Libvirt::connect(&d.uri()).await.expect("connect");
    let name = format!("lwfv{}", std::process::id());
    let disk = d.dir.path().join("disk.qcow2");
    let o = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&disk)
        .arg("16M")
        .output()
        .expect("qemu-img");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    lv.define_domain(&domain_xml(&name, &disk))
        .await
        .expect("define");
    let mut lines = Vec::new();

    // 1. Restarted between two calls: the next call reconnects and succeeds.
    d = tokio::task::spawn_blocking(move || {
        d.restart();
        d
    })
    .await
    .unwrap();
    let info = lv.domain(&name).await.expect("a call after a restart");
    assert_eq!(info.name, name);
    assert_eq!(
        lv.reconnects(),
        1,
        "the call did not go through a reconnect"
    );
    lines.push("restart between two calls: next call reconnected and succeeded".into());

    // 2. Down when the call is made: the call waits for the daemon to come back.
    let mut notices = lv.notices();
    d = tokio::task::spawn_blocking(move || {
        d.down();
        d
    })
    .await
    .unwrap();
    let lv2 = lv.clone();
    let pending = tokio::spawn(async move { lv2.domains().await });
    let lost = notices.recv().await.expect("a notice");
    assert!(
        lost.contains("lost the connection to libvirtd"),
        "notice: {lost}"
    );
    d = tokio::task::spawn_blocking(move || {
        d.up();
        d
    })
    .await
    .unwrap();
    let doms = pending
        .await
        .unwrap()
        .expect("a call made while libvirtd was down");
    assert!(doms.iter().any(|x| x.name == name), "{doms:?}");
    let back = notices.recv().await.expect("a notice");
    assert!(back.contains("reconnected to libvirtd"), "notice: {back}");
    lines.push("call made while libvirtd was down: waited, reconnected, succeeded".into());

    // 2b. Crashed while a call waits for its answer: the call is repeated on a new
    //     connection. The daemon is frozen until the request sits unread in its socket,
    //     then killed and started again.
    let mut notices = lv.notices();
    d.freeze();
    let lv2 = lv.clone();
    let pending = tokio::spawn(async move { lv2.domain("lwf-no-such-domain").await });
    d = tokio::task::spawn_blocking(move || {
        let t0 = std::time::Instant::now();
        while !d.request_queued() {
            if t0.elapsed() > Duration::from_secs(120) {
                d.crash();
                d.up();
                panic!("the call's request never reached the frozen daemon's socket");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        d.crash();
        d.up();
        d
    })
    .await
    .unwrap();
    let res = pending.await.unwrap();
    assert!(
        matches!(&res, Err(e) if e.is_not_found()),
        "the repeated call should answer \"not found\" from the new daemon: {res:?}"
    );
    let lost = notices.recv().await.expect("a notice");
    assert!(
        lost.contains("lost the connection") && !lost.contains("connection to libvirtd is closed"),
        "the call should have died in flight: {lost}"
    );
    lines.push(format!(
        "crash during a call: repeated on the new connection ({lost})"
    ));

    // 3. A call that must not run twice, on a connection that died before it: reconnects
    //    first and runs once.
    d = tokio::task::spawn_blocking(move || {
        d.restart();
        d
    })
    .await
    .unwrap();
    let snap = lv
        .create_snapshot(&name, "<domainsnapshot><name>s1</name></domainsnapshot>", 0)
        .await;
    assert_eq!(snap.as_deref().expect("a snapshot after a restart"), "s1");
    assert_eq!(lv.domain(&name).await.unwrap().snapshot_count, 1);
    lines
        .push("non-repeatable call (snapshot) after a restart: reconnected first, ran once".into());

    // 4. Gone for longer than the window: a clear error naming libvirtd and the way out.
    lv.set_reconnect_window(Duration::from_secs(2));
    d = tokio::task::spawn_blocking(move || {
        d.down();
        d
    })
    .await
    .unwrap();
    let err = lv.domain(&name).await.expect_err("libvirtd is down");
    assert!(matches!(err, VirtError::DaemonGone { .. }), "{err:?}");
    let msg = err.to_string();
    for want in [
        "libvirtd went away",
        "did not come back within 2 s",
        "labwarp run",
    ] {
        assert!(msg.contains(want), "message lacks {want:?}: {msg}");
    }
    lines.push(format!("down for good: {msg}"));
    // Back again: the same object works.
    d = tokio::task::spawn_blocking(move || {
        d.up();
        d
    })
    .await
    .unwrap();
    assert!(
        lv.domain_exists(&name)
            .await
            .expect("after the daemon is back")
    );
    lines.push(format!(
        "daemon back: the same connection object works ({} reconnects in all, {} daemon starts)",
        lv.reconnects(),
        d.starts
    ));

    // 5. A lifecycle-event watch re-registers on the new connection. Its resync period is
    //    an hour, so only events (and the one listing after the reconnect) can report.
    let mut watch = lv.watch(Duration::from_secs(3600)).await.expect("watch");
    assert_eq!(watch.mode(), WatchMode::Events);
    d = tokio::task::spawn_blocking(move || {
        d.restart();
        d
    })
    .await
    .unwrap();
    assert!(lv.domain_exists(&name).await.expect("reconnect"));
    for (i, extra) in ["a", "b"].iter().enumerate() {
        let other = format!("{name}{extra}");
        let file = d.dir.path().join(format!("{other}.xml"));
        std::fs::write(&file, domain_xml(&other, &disk)).unwrap();
        let o = d.virsh(&["define", file.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // A hang guard, not a timing check: without a callback nothing arrives for an hour.
        let seen = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(ev) = watch.next().await {
                if matches!(&ev, WatchEvent::Changed(x) if x.name == other) {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(
            matches!(seen, Ok(true)),
            "the watch reported no change for {other} (#{i}) after a restart"
        );
    }
    lines.push(
        "event watch across a restart: re-registered on the new connection, new domains reported"
            .into(),
    );
    drop(watch);
    drop(lv);
    tokio::task::spawn_blocking(move || drop(d)).await.unwrap();
    report("libvirtd restarted (virt layer)", &lines);
}

/// Waits until the run holds at `point` (`stage/step@point`, see src/run/fault.rs `hold`);
/// returns the file whose removal lets it go on. Panics with the run's output if the run
/// ends first.
fn wait_hold(lab: &TestLab, child: &mut std::process::Child, point: &str) -> std::path::PathBuf {
    let file = lab
        .ws()
        .join(format!("fault-paused-{}", point.replace('/', "_")));
    while !file.exists() {
        if let Some(st) = child.try_wait().expect("wait") {
            panic!(
                "the run ended ({st:?}) before holding at {point}\n{}",
                lab.spawned_log()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    file
}

/// Waits until the spawned run's output holds `needle` (or the run ends).
fn wait_output(lab: &TestLab, child: &mut std::process::Child, needle: &str) {
    while !lab.spawned_log().contains(needle) {
        if let Some(st) = child.try_wait().expect("wait") {
            panic!(
                "the run ended ({st:?}) before printing {needle:?}\n{}",
                lab.spawned_log()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn state_parses(lab: &TestLab) -> usize {
    let path = lab.ws().join("state.yaml");
    let text = std::fs::read_to_string(&path).expect("state.yaml exists");
    let v: serde_yaml::Value = serde_yaml::from_str(&text)
        .unwrap_or_else(|e| panic!("state.yaml does not parse: {e}\n{text}"));
    v["resources"]
        .as_sequence()
        .map(|r| r.len())
        .unwrap_or_else(|| panic!("state.yaml has no resources list\n{text}"))
}

fn no_panic(what: &str, out: &str) {
    assert!(!out.contains("panicked"), "{what}: labwarp panicked\n{out}");
}

/// The undercloud's domain step: the run's first libvirt domain calls, in a stage whose
/// other steps do not use libvirt (so only labwarp's own connection sees the daemon go).
const DOMAIN_BEFORE: &str = "undercloud-vm/domain@before-apply";
/// Right after it: the undercloud guest runs while the daemon restarts.
const DOMAIN_AFTER: &str = "undercloud-vm/domain@after-apply";

#[test]
fn libvirtd_restarted_during_a_run_then_rerun_reaches_the_same_end_state() {
    let _turn = crate::common::turn(module_path!());
    if skip_reason().is_some() {
        return;
    }
    let mut d = PrivateLibvirtd::start("r");
    let uri = d.uri();
    let mut lines = Vec::new();

    // The reference: one uninterrupted run on the same daemon.
    let reference = TestLab::libvirtd_at("lr", 241, &uri);
    let o = reference.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}\n{}", text(&o), d.log());
    let want = reference.end_state();
    drop(reference);

    // A: libvirtd down while the run calls it, then back; and restarted while the
    // undercloud guest runs. The run itself must get through both.
    let lab = TestLab::libvirtd_at("la", 242, &uri);
    let spec = format!("{DOMAIN_BEFORE}=hold,{DOMAIN_AFTER}=hold");
    let mut child = lab.spawn(&["run", "--yes"], Some(&spec));
    let hold = wait_hold(&lab, &mut child, DOMAIN_BEFORE);
    d.down();
    std::fs::remove_file(&hold).unwrap();
    // The run's next call finds the connection dead and starts reconnecting: only then
    // does the daemon come back.
    wait_output(&lab, &mut child, "lost the connection to libvirtd");
    d.up();
    let hold = wait_hold(&lab, &mut child, DOMAIN_AFTER);
    d.restart();
    std::fs::remove_file(&hold).unwrap();
    let st = child.wait().expect("wait for the run");
    let out = lab.spawned_log();
    no_panic("run A", &out);
    assert!(
        st.success(),
        "the run did not survive libvirtd restarts: {st:?}\n{out}\n{}",
        d.log()
    );
    let reconnected = out.matches("reconnected to libvirtd").count();
    assert!(
        reconnected >= 2,
        "expected 2 reconnects, saw {reconnected}\n{out}"
    );
    let resources = state_parses(&lab);
    assert_eq!(
        lab.end_state(),
        want,
        "end state after libvirtd restarts differs from an uninterrupted run"
    );
    lines.push(format!(
        "down during a call + restart with a running guest: the run completed ({reconnected} reconnects), state.yaml parses ({resources} resources), end state = uninterrupted run's"
    ));
    drop(lab);

    // B: libvirtd gone for longer than the reconnect window (30 s): the run fails with a
    // clear message, the state file is valid, and a rerun after the daemon is back
    // converges.
    let lab = TestLab::libvirtd_at("lb", 243, &uri);
    let mut child = lab.spawn(&["run", "--yes"], Some(&format!("{DOMAIN_BEFORE}=hold")));
    let hold = wait_hold(&lab, &mut child, DOMAIN_BEFORE);
    d.down();
    std::fs::remove_file(&hold).unwrap();
    let st = child.wait().expect("wait for the run");
    let out = lab.spawned_log();
    no_panic("run B", &out);
    assert_eq!(st.code(), Some(1), "run B: {st:?}\n{out}");
    let failed = out
        .lines()
        .find(|l| l.contains("FAILED") && l.contains("libvirtd went away"))
        .unwrap_or_else(|| panic!("no step failure names libvirtd going away\n{out}"))
        .to_string();
    for want in ["did not come back within 30 s", "labwarp run", "resumes"] {
        assert!(failed.contains(want), "message lacks {want:?}: {failed}");
    }
    let resources = state_parses(&lab);
    lines.push(format!("gone past the window: {failed}"));
    lines.push(format!("  state.yaml parses ({resources} resources)"));
    d.up();
    let o = lab.labwarp(&["run", "--yes"]);
    no_panic("rerun", &text(&o));
    assert!(o.status.success(), "the rerun failed\n{}", text(&o));
    state_parses(&lab);
    assert_eq!(
        lab.end_state(),
        want,
        "end state after the rerun differs from an uninterrupted run"
    );
    lines.push("rerun with libvirtd back: same end state as an uninterrupted run".into());
    drop(lab);
    lines.push(format!("private libvirtd started {} times", d.starts));
    report("libvirtd restarted (run)", &lines);
}
