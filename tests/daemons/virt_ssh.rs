//! `qemu+ssh://` and `qemu+libssh://` to the real libvirtd through a real OpenSSH sshd on
//! 127.0.0.1, with the host key pinned in a workspace-style known_hosts: the pinned key
//! connects, any other key is refused.

use labwarp::virt::uri::{SshUri, write_ssh_wrapper};
use labwarp::virt::{Libvirt, VirtError};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// The user this test runs as (the one sshd lets in).
fn login() -> String {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .expect("current user has a passwd entry")
}

struct Sshd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen runs");
    assert!(st.success());
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An sshd on 127.0.0.1 that lets root in with the client key only.
fn start_sshd() -> Sshd {
    std::fs::create_dir_all("/run/sshd").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    keygen(&d.join("host_key"));
    keygen(&d.join("client_key"));
    std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
    let port = free_port();
    let user = login();
    let config = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {pid}\n\
         AuthorizedKeysFile {ak}\nUsePAM no\nStrictModes no\nPasswordAuthentication no\n\
         KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nAllowUsers {user}\n",
        hk = d.join("host_key").display(),
        pid = d.join("sshd.pid").display(),
        ak = d.join("authorized_keys").display(),
    );
    std::fs::write(d.join("sshd_config"), config).unwrap();
    let child = Command::new("/usr/sbin/sshd")
        .arg("-D")
        .arg("-f")
        .arg(d.join("sshd_config"))
        .spawn()
        .expect("sshd starts");
    // From here on the guard kills and reaps sshd, also when the wait below panics.
    let sshd = Sshd { child, port, dir };
    // Wait until it listens (bounded).
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return sshd;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("sshd did not listen on 127.0.0.1:{port}");
}

fn known_hosts_with(sshd: &Sshd, key_pub: &Path, file: &str) -> PathBuf {
    let key = std::fs::read_to_string(key_pub).unwrap();
    let mut parts = key.split_whitespace();
    let line = format!(
        "[127.0.0.1]:{} {} {}\n",
        sshd.port,
        parts.next().unwrap(),
        parts.next().unwrap()
    );
    let path = sshd.dir.path().join(file);
    std::fs::write(&path, line).unwrap();
    path
}

fn target(sshd: &Sshd, known_hosts: PathBuf) -> SshUri {
    SshUri {
        user: login(),
        host: "127.0.0.1".into(),
        port: Some(sshd.port),
        path: "system".into(),
        keyfile: sshd.dir.path().join("client_key"),
        known_hosts,
    }
}

#[tokio::test]
async fn openssh_transport_accepts_only_the_pinned_host_key() {
    let _turn = crate::common::turn(module_path!());
    let sshd = start_sshd();
    let d = sshd.dir.path().to_path_buf();
    let pinned = known_hosts_with(&sshd, &d.join("host_key.pub"), "known_hosts");
    let t = target(&sshd, pinned.clone());
    let wrapper = write_ssh_wrapper(&d.join("bin"), &pinned).unwrap();
    let uri = t.openssh(&wrapper).unwrap();
    let lv = Libvirt::connect(&uri)
        .await
        .unwrap_or_else(|e| panic!("{uri}: {e}"));
    // Same daemon as the local socket: it answers with the same domain list.
    let local = Libvirt::connect("qemu:///system").await.unwrap();
    assert_eq!(
        lv.hostname().await.unwrap(),
        local.hostname().await.unwrap()
    );
    lv.domains().await.unwrap();

    // Another key pinned for that address: refused.
    keygen(&d.join("other_key"));
    let wrong = known_hosts_with(&sshd, &d.join("other_key.pub"), "known_hosts_wrong");
    let wrapper = write_ssh_wrapper(&d.join("bin-wrong"), &wrong).unwrap();
    let uri = target(&sshd, wrong).openssh(&wrapper).unwrap();
    let e = Libvirt::connect(&uri).await.unwrap_err();
    assert!(matches!(e, VirtError::Connect { .. }), "{e}");
    assert!(e.to_string().contains("differs from the one pinned"), "{e}");
    // And nothing pinned at all: refused too (no trust on first use).
    let empty = sshd.dir.path().join("known_hosts_empty");
    std::fs::write(&empty, "").unwrap();
    let wrapper = write_ssh_wrapper(&d.join("bin-empty"), &empty).unwrap();
    let uri = target(&sshd, empty).openssh(&wrapper).unwrap();
    let e = Libvirt::connect(&uri).await.unwrap_err();
    assert!(matches!(e, VirtError::Connect { .. }), "{e}");
    assert!(e.to_string().contains("host key is known"), "{e}");
}

#[tokio::test]
async fn libssh_transport_accepts_only_the_pinned_host_key() {
    let _turn = crate::common::turn(module_path!());
    let sshd = start_sshd();
    let d = sshd.dir.path().to_path_buf();
    let pinned = known_hosts_with(&sshd, &d.join("host_key.pub"), "known_hosts");
    let uri = target(&sshd, pinned).libssh().unwrap();
    let lv = Libvirt::connect(&uri)
        .await
        .unwrap_or_else(|e| panic!("{uri}: {e}"));
    lv.domains().await.unwrap();

    keygen(&d.join("other_key"));
    let wrong = known_hosts_with(&sshd, &d.join("other_key.pub"), "known_hosts_wrong");
    let uri = target(&sshd, wrong).libssh().unwrap();
    let e = Libvirt::connect(&uri).await.unwrap_err();
    assert!(matches!(e, VirtError::Connect { .. }), "{e}");
    assert!(
        e.to_string().contains("HOST KEY VERIFICATION FAILED"),
        "{e}"
    );
}
