//! podman over SSH, as the podman pane reaches the undercloud: a real OpenSSH sshd on
//! 127.0.0.1 and real containers. As root the commands run directly; as an unprivileged
//! user they go through `sudo -n` (root's containers, the ones TripleO runs), and without
//! passwordless sudo the failure says so instead of showing the user's own empty podman.

use crate::common::podman::{run_container, wait_exit};
use crate::common::unique;
use crate::sshd::{Sshd, TestUser};
use labwarp::host::{SshHost, SshOptions, SshTarget, TrustPolicy};
use labwarp::podman::{ContainerState, Podman, PodmanError};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

fn target(sshd: &Sshd, user: &str) -> SshTarget {
    SshTarget {
        name: "undercloud".into(),
        host: "127.0.0.1".into(),
        port: sshd.port,
        user: user.into(),
    }
}

#[tokio::test]
async fn podman_over_ssh_as_root_lists_reads_logs_and_restarts() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    let tmp = tempfile::tempdir().unwrap();
    let opts = SshOptions::for_workspace(&tmp.path().join("ws"), TrustPolicy::FirstUse).unwrap();
    let mut sshd = Sshd::new(
        &tmp.path().join("sshd"),
        "127.0.0.1",
        crate::sshd::free_port(),
        None,
        "",
    );
    sshd.authorize(&opts.identity.public_line());
    sshd.start();
    let name = unique("keystone_");
    let _c = run_container(&name, "echo ready; exec sleep 300", &[]);
    let done = unique("ironic_db_sync_");
    let _d = run_container(&done, "echo synced; exit 0", &[]);
    assert_eq!(wait_exit(&done), 0);

    let p = Podman::new(Arc::new(SshHost::new(target(&sshd, "root"), opts)));
    let all = p.list().await.unwrap();
    let c = all
        .iter()
        .find(|c| c.name == name)
        .expect("listed over SSH");
    assert_eq!(c.state, ContainerState::Running);
    let d = all
        .iter()
        .find(|c| c.name == done)
        .expect("exited one listed");
    assert_eq!(d.state, ContainerState::Exited);
    assert_eq!(d.exit_code, Some(0));

    let lines = p.logs(&name, Some(5)).await.unwrap();
    assert!(lines.iter().any(|l| l.line == "ready"), "{lines:?}");

    let before = c.started_at;
    p.restart(&name, Duration::from_secs(5)).await.unwrap();
    let after = p.list().await.unwrap();
    let c = after.iter().find(|c| c.name == name).unwrap();
    assert_eq!(c.state, ContainerState::Running);
    assert_ne!(c.started_at, before, "restart started the container again");

    let err = p.logs("no_such_container_here", None).await.unwrap_err();
    assert!(
        matches!(err, PodmanError::NotFound { ref host, .. } if host == "undercloud"),
        "{err}"
    );
}

/// `/etc/sudoers.d/<user>` with passwordless sudo, checked by visudo; removed on drop.
struct Sudoers(std::path::PathBuf);

impl Sudoers {
    fn grant(user: &str) -> Sudoers {
        let path = Path::new("/etc/sudoers.d").join(user);
        std::fs::write(&path, format!("{user} ALL=(ALL) NOPASSWD: ALL\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o440)).unwrap();
        let ok = Command::new("visudo")
            .arg("-cf")
            .arg(&path)
            .output()
            .unwrap();
        assert!(ok.status.success(), "{ok:?}");
        Sudoers(path)
    }
}

impl Drop for Sudoers {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn podman_over_ssh_as_a_user_goes_through_sudo() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    if Command::new("sudo").arg("--version").output().is_err() {
        panic!("sudo is not installed: run scripts/setup-host.sh (it installs sudo)");
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let user = TestUser::new(tmp.path(), "unused-password");
    let opts = SshOptions::for_workspace(&tmp.path().join("ws"), TrustPolicy::FirstUse).unwrap();
    user.authorize(&opts.identity.public_line());
    let sshd = Sshd::for_users(&tmp.path().join("sshd"), false);
    let name = unique("mysql_");
    let _c = run_container(&name, "exec sleep 300", &[]);
    let p = Podman::new(Arc::new(SshHost::new(target(&sshd, &user.name), opts)));

    // Without sudo rights: a clear failure naming sudo, not the user's own (empty) podman.
    match p.list().await.unwrap_err() {
        PodmanError::Failed { host, stderr, .. } => {
            assert_eq!(host, "undercloud");
            assert!(stderr.contains("sudo: a password is required"), "{stderr}");
        }
        other => panic!("expected sudo's refusal, got {other}"),
    }

    // With passwordless sudo: root's containers, through `sudo -n`.
    let _grant = Sudoers::grant(&user.name);
    let all = p.list().await.unwrap();
    let c = all
        .iter()
        .find(|c| c.name == name)
        .expect("root's container");
    assert_eq!(c.state, ContainerState::Running);
}
