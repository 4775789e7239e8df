//! podman over a real `LocalHost` with real containers named like TripleO's services.

use crate::common::podman::{ensure_image, run_container, wait_exit};
use crate::common::unique;
use labwarp::host::{LocalHost, Stream};
use labwarp::podman::{ContainerState, Health, Podman, PodmanError, ShellKind, ShellVia};
use std::sync::Arc;
use std::time::Duration;

fn podman() -> Podman {
    Podman::new(Arc::new(LocalHost::new()))
}

/// Waits until the container's log has a line equal to `want` (bounded; fails the test
/// rather than hanging it).
async fn wait_for_log(p: &Podman, name: &str, want: &str) {
    for _ in 0..300 {
        let lines = p.logs(name, None).await.unwrap();
        if lines.iter().any(|l| l.line == want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name}: log line {want:?} never appeared");
}

#[tokio::test]
async fn lists_tripleo_style_containers_with_state_health_and_uptime() {
    let _turn = crate::common::turn(module_path!());
    let ks = unique("keystone_");
    let ic = unique("ironic_conductor_");
    let _g1 = run_container(
        &ks,
        "exec sleep 300",
        &["--health-cmd", "/bin/true", "--health-retries", "1"],
    );
    let _g2 = run_container(&ic, "echo bye; exit 3", &[]);
    assert_eq!(wait_exit(&ic), 3);
    // No systemd here to schedule health checks: run one by hand.
    let hc = std::process::Command::new("podman")
        .args(["healthcheck", "run", &ks])
        .output()
        .unwrap();
    assert!(
        hc.status.success(),
        "{}",
        String::from_utf8_lossy(&hc.stderr)
    );

    let p = podman();
    let all = p.list().await.unwrap();
    let k = all.iter().find(|c| c.name == ks).expect("keystone listed");
    assert_eq!(k.state, ContainerState::Running);
    assert_eq!(k.health, Some(Health::Healthy));
    assert_eq!(k.image, ensure_image());
    assert!(k.uptime_secs.is_some());
    assert!(k.started_at.is_some() && k.exit_code.is_none());
    assert_eq!(k.id.len(), 64);
    let i = all.iter().find(|c| c.name == ic).expect("ironic listed");
    assert_eq!(i.state, ContainerState::Exited);
    assert_eq!(i.exit_code, Some(3));
    assert_eq!(i.uptime_secs, None);
    assert_eq!(i.health, None);
    assert!(i.status.starts_with("Exited (3)"), "{}", i.status);

    let one = p.container(&ks).await.unwrap().expect("found by name");
    assert_eq!(one.id, k.id);
    // Exact match only: a prefix of a real name is not that container.
    assert!(
        p.container("keystone")
            .await
            .unwrap()
            .is_none_or(|c| c.name == "keystone")
    );
    assert!(p.container(&unique("nope_")).await.unwrap().is_none());
}

#[tokio::test]
async fn unhealthy_container_is_reported() {
    let _turn = crate::common::turn(module_path!());
    let name = unique("nova_api_");
    let _g = run_container(
        &name,
        "exec sleep 300",
        &["--health-cmd", "/bin/false", "--health-retries", "1"],
    );
    let _ = std::process::Command::new("podman")
        .args(["healthcheck", "run", &name])
        .output()
        .unwrap();
    let c = podman().container(&name).await.unwrap().unwrap();
    assert_eq!(c.health, Some(Health::Unhealthy));
}

#[tokio::test]
async fn logs_tail_keeps_both_streams() {
    let _turn = crate::common::turn(module_path!());
    let name = unique("glance_api_");
    let _g = run_container(
        &name,
        "i=1; while [ $i -le 20 ]; do echo line $i; i=$((i+1)); done; echo oops >&2; echo done; exec sleep 300",
        &[],
    );
    let p = podman();
    wait_for_log(&p, &name, "done").await;
    let tail = p.logs(&name, Some(3)).await.unwrap();
    let text: Vec<(&str, Stream)> = tail.iter().map(|l| (l.line.as_str(), l.stream)).collect();
    assert_eq!(tail.len(), 3, "{text:?}");
    assert!(text.contains(&("line 20", Stream::Stdout)), "{text:?}");
    assert!(text.contains(&("oops", Stream::Stderr)), "{text:?}");
    assert!(text.contains(&("done", Stream::Stdout)), "{text:?}");
    let all = p.logs(&name, None).await.unwrap();
    assert_eq!(all.len(), 22);
    let missing = p.logs(&unique("nope_"), Some(1)).await.unwrap_err();
    assert!(matches!(missing, PodmanError::NotFound { .. }), "{missing}");
}

#[tokio::test]
async fn follow_streams_new_lines_and_stops() {
    let _turn = crate::common::turn(module_path!());
    let name = unique("heat_engine_");
    let _g = run_container(
        &name,
        "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done",
        &[],
    );
    let p = podman();
    let mut f = p.follow_logs(&name, Some(0)).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let l = tokio::time::timeout(Duration::from_secs(60), f.next())
            .await
            .expect("a line within 60 s")
            .expect("stream open");
        let n: u64 = l
            .line
            .strip_prefix("tick ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected line {l:?}"));
        seen.push(n);
    }
    assert!(seen.windows(2).all(|w| w[1] == w[0] + 1), "{seen:?}");
    f.stop().await;
    assert!(matches!(
        p.follow_logs(&unique("nope_"), None).await,
        Err(PodmanError::NotFound { .. })
    ));
}

#[tokio::test]
async fn restart_and_exec() {
    let _turn = crate::common::turn(module_path!());
    let name = unique("ironic_conductor_");
    let _g = run_container(&name, "echo started; exec sleep 300", &[]);
    let p = podman();
    wait_for_log(&p, &name, "started").await;
    p.restart(&name, Duration::from_secs(1)).await.unwrap();
    for _ in 0..300 {
        let n = p
            .logs(&name, None)
            .await
            .unwrap()
            .iter()
            .filter(|l| l.line == "started")
            .count();
        if n == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let starts = p.logs(&name, None).await.unwrap();
    assert_eq!(starts.iter().filter(|l| l.line == "started").count(), 2);
    assert_eq!(
        p.container(&name).await.unwrap().unwrap().state,
        ContainerState::Running
    );

    let out = p
        .exec(&name, &["sh", "-c", "echo hi from $(hostname); exit 3"])
        .await
        .unwrap();
    assert_eq!(out.code, Some(3));
    assert!(
        out.stdout_str().starts_with("hi from "),
        "{}",
        out.stdout_str()
    );

    let missing = unique("nope_");
    assert!(matches!(
        p.restart(&missing, Duration::from_secs(1)).await,
        Err(PodmanError::NotFound { .. })
    ));
    assert!(matches!(
        p.exec(&missing, &["true"]).await,
        Err(PodmanError::NotFound { .. })
    ));
    assert!(matches!(
        p.exec("-it", &["true"]).await,
        Err(PodmanError::BadInput { .. })
    ));
}

/// The interactive shell argv really gives a shell in the container when run on a terminal
/// (`script` supplies the pseudo-terminal the TUI would hand over).
#[tokio::test]
async fn interactive_shell_argv_runs_on_a_tty() {
    let _turn = crate::common::turn(module_path!());
    let name = unique("keystone_");
    let _g = run_container(&name, "exec sleep 300", &[]);
    let root = nix::unistd::geteuid().is_root();
    let argv =
        labwarp::podman::shell_argv(&name, ShellKind::Auto, &ShellVia::Local { root }).unwrap();
    let cmdline = labwarp::host::Cmd::new(argv).to_shell();
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new("script")
            .args(["-q", "-e", "-c", &cmdline, "/dev/null"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("script runs");
        let mut stdin = child.stdin.take().unwrap();
        // busybox has no bash: Auto falls back to sh.
        stdin.write_all(b"echo marker-$((6*7)); exit 0\n").unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    });
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("shell exits")
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("marker-42"), "{text}");
}

/// One name, one builder: the image the tests use is the one the stand-in `openstack` starts
/// its containers from (issue 15: the demo's five-applet image under the tests' name made a
/// later test run fail), and it has every busybox applet, whichever of the two built it.
#[tokio::test]
async fn tests_and_stand_in_share_one_image_with_every_applet() {
    let _turn = crate::common::turn(module_path!());
    let image = ensure_image();
    let standin = include_str!("../../scripts/standin/openstack");
    assert!(
        standin.contains(&format!("IMAGE=${{STANDIN_IMAGE:-{image}}}")),
        "the stand-in names another image than {image}"
    );
    let name = unique("lw-applets");
    let _g = run_container(
        &name,
        "n=0; for a in $(busybox --list); do [ -e /bin/$a ] || { echo missing $a; exit 1; }; n=$((n+1)); done; echo applets $n; /bin/true",
        &[],
    );
    assert_eq!(wait_exit(&name), 0, "an applet is missing from {image}");
    let logs = podman().logs(&name, None).await.unwrap();
    let count: usize = logs
        .iter()
        .find_map(|l| {
            l.line
                .strip_prefix("applets ")
                .map(|n| n.trim().parse().unwrap())
        })
        .expect("the container counted its applets");
    assert!(count > 100, "only {count} applets in {image}");
}
