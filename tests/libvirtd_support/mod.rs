//! A private libvirtd that one test owns and may stop and restart at will, without touching
//! the shared daemon every other test uses (netns `labwarp-ci`, /run/libvirt/libvirt-sock).
//!
//! A root libvirtd keeps its state in fixed places (/run/libvirt, /var/lib/libvirt,
//! /etc/libvirt, /var/cache/libvirt, /var/log/libvirt), so a second one would clash with the
//! shared one. This one runs in its own mount namespace (`unshare -m`) where those
//! directories are bind mounts of directories in a temp dir, and in its own network
//! namespace (the lab's 192.168.x networks live there only). Its unix socket sits in the
//! temp dir, outside every bind mount, so clients in the root namespaces reach it with
//! `qemu:///system?socket=DIR/libvirt-sock`. Guests log to files (`stdio_handler = "file"`):
//! no virtlogd is needed. A restart starts the same command again: it sees the same state
//! directories and takes over the running guests and networks, as after `systemctl
//! restart libvirtd`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct PrivateLibvirtd {
    pub netns: String,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    /// How many times the daemon was started.
    pub starts: u32,
}

/// Why a private libvirtd cannot run here (printed loudly by the caller), or `None`.
pub fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root (a private system libvirtd needs root)".into());
    }
    for bin in ["/usr/sbin/libvirtd", "/usr/bin/unshare", "/usr/bin/virsh"] {
        if !Path::new(bin).exists() {
            return Some(format!("{bin} missing; run scripts/setup-host.sh first"));
        }
    }
    None
}

const STATE_DIRS: [(&str, &str); 5] = [
    ("run", "/run/libvirt"),
    ("lib", "/var/lib/libvirt"),
    ("etc", "/etc/libvirt"),
    ("cache", "/var/cache/libvirt"),
    ("log", "/var/log/libvirt"),
];

fn sh(cmd: &str) -> std::process::Output {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .expect("run sh")
}

impl PrivateLibvirtd {
    /// Creates the namespaces and directories and starts the daemon; `tag` makes the
    /// network namespace name unique.
    pub fn start(tag: &str) -> PrivateLibvirtd {
        let netns = format!("lwd{tag}{}", std::process::id() % 100000);
        let dir = tempfile::Builder::new()
            .prefix("lw-libvirtd-")
            .tempdir()
            .expect("temp dir");
        let d = dir.path();
        for (sub, target) in STATE_DIRS {
            std::fs::create_dir_all(d.join(sub)).unwrap();
            // The mount points must exist in the root namespace for the bind mounts.
            std::fs::create_dir_all(target).unwrap();
        }
        // The shared daemon's settings (user root, no security driver: see HOST-SETUP.md),
        // not its objects: no domain, network or pool definitions are copied.
        let etc = d.join("etc");
        for e in std::fs::read_dir("/etc/libvirt").unwrap().flatten() {
            let p = e.path();
            if p.is_file() && p.extension().is_some_and(|x| x == "conf") {
                std::fs::copy(&p, etc.join(e.file_name())).unwrap();
            }
        }
        let o = sh(&format!(
            "cp -r /etc/libvirt/nwfilter {} 2>/dev/null; true",
            etc.display()
        ));
        assert!(o.status.success());
        let mut qemu = std::fs::read_to_string(etc.join("qemu.conf")).unwrap_or_default();
        qemu.push_str("\nstdio_handler = \"file\"\n");
        std::fs::write(etc.join("qemu.conf"), qemu).unwrap();
        std::fs::write(
            etc.join("libvirtd.conf"),
            format!(
                "unix_sock_dir = \"{}\"\nlisten_tls = 0\nlisten_tcp = 0\n",
                d.display()
            ),
        )
        .unwrap();
        let mut script = String::from("set -e\n");
        for (sub, target) in STATE_DIRS {
            script.push_str(&format!(
                "mount --bind {} {target}\n",
                d.join(sub).display()
            ));
        }
        script.push_str(&format!(
            "exec /usr/sbin/libvirtd --config {} --pid-file {}\n",
            etc.join("libvirtd.conf").display(),
            d.join("libvirtd.pid").display()
        ));
        std::fs::write(d.join("start.sh"), script).unwrap();

        let o = sh(&format!(
            "ip netns add {netns} && ip netns exec {netns} ip link set lo up"
        ));
        assert!(
            o.status.success(),
            "ip netns add {netns}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let mut me = PrivateLibvirtd {
            netns,
            dir,
            child: None,
            starts: 0,
        };
        me.up();
        me
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("libvirt-sock")
    }

    pub fn uri(&self) -> String {
        format!("qemu:///system?socket={}", self.socket().display())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    pub fn virsh(&self, args: &[&str]) -> std::process::Output {
        Command::new("virsh")
            .args(["-c", &self.uri()])
            .args(args)
            .output()
            .expect("virsh")
    }

    fn answers(&self) -> bool {
        self.virsh(&["version"]).status.success()
    }

    /// Starts the daemon (again) and waits until it answers.
    pub fn up(&mut self) {
        assert!(self.child.is_none(), "the private libvirtd already runs");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .unwrap();
        let err = log.try_clone().unwrap();
        // `ip netns exec`, `unshare` (without --fork) and `sh`'s `exec` all exec in place:
        // the child's pid is libvirtd's.
        let child = Command::new("ip")
            .args(["netns", "exec", &self.netns])
            .args(["unshare", "--mount", "--propagation", "private", "sh"])
            .arg(self.dir.path().join("start.sh"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("start libvirtd");
        self.child = Some(child);
        self.starts += 1;
        // A readiness wait, not a timing assertion: the first start probes QEMU's
        // capabilities, which takes a while on a busy machine.
        let t0 = Instant::now();
        while !self.answers() {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("the private libvirtd exited: {st:?}\n{}", self.log());
            }
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "the private libvirtd does not answer\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the daemon (SIGTERM, like `systemctl stop libvirtd`) and waits for it to exit.
    /// Guests and networks keep running, as with the real service.
    pub fn down(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        child.wait().expect("wait for libvirtd");
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        let child = self.child.as_ref().expect("the private libvirtd runs");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, sig).expect("signal libvirtd");
    }

    /// Stops the daemon in its tracks (SIGSTOP): requests queue up unanswered.
    pub fn freeze(&self) {
        self.signal(nix::sys::signal::Signal::SIGSTOP);
    }

    /// Whether a client request waits unread in one of the daemon's sockets (read while
    /// it is frozen: the bytes stay in its receive queue). From `ss -xp` (unix sockets
    /// bound in the filesystem are listed in the root network namespace).
    pub fn request_queued(&self) -> bool {
        let pid = self.child.as_ref().map(|c| c.id()).unwrap_or(0);
        let o = Command::new("ss").arg("-xpH").output().expect("ss");
        String::from_utf8_lossy(&o.stdout).lines().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            l.contains(&format!("pid={pid},"))
                && cols.get(2).and_then(|q| q.parse::<u64>().ok()).unwrap_or(0) > 0
        })
    }

    /// Kills the daemon (SIGKILL, a crash: no cleanup) and reaps it.
    pub fn crash(&mut self) {
        self.signal(nix::sys::signal::Signal::SIGKILL);
        if let Some(mut child) = self.child.take() {
            child.wait().expect("wait for libvirtd");
        }
    }

    pub fn restart(&mut self) {
        self.down();
        self.up();
    }
}

impl Drop for PrivateLibvirtd {
    fn drop(&mut self) {
        // Guests and dnsmasq outlive the daemon: remove every object first.
        if self.child.is_none() {
            self.up();
        }
        let names = |what: &str| -> Vec<String> {
            let o = self.virsh(&[what, "--all", "--name"]);
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        };
        for d in names("list") {
            let _ = self.virsh(&["destroy", &d]);
            let _ = self.virsh(&["undefine", &d, "--managed-save", "--snapshots-metadata"]);
        }
        for n in names("net-list") {
            let _ = self.virsh(&["net-destroy", &n]);
            let _ = self.virsh(&["net-undefine", &n]);
        }
        for p in names("pool-list") {
            let _ = self.virsh(&["pool-destroy", &p]);
            let _ = self.virsh(&["pool-undefine", &p]);
        }
        self.down();
        let _ = sh(&format!("ip netns del {}", self.netns));
    }
}
