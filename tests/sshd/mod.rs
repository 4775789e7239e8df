//! Test fixtures: a real OpenSSH sshd in a temp dir (optionally inside a network namespace),
//! network namespaces and a throwaway system user, each cleaned up by Drop even when the
//! test fails. Only processes these fixtures started are ever killed, by pid.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Why the SSH tests cannot run here, if they cannot (printed loudly by the caller).
pub fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root (sshd, netns and useradd need root; CI runs as root)".into());
    }
    if !Path::new("/usr/sbin/sshd").exists() {
        return Some("/usr/sbin/sshd missing: run scripts/setup-host.sh".into());
    }
    // Debian's sshd refuses to start without it.
    let _ = std::fs::create_dir_all("/run/sshd");
    None
}

#[macro_export]
macro_rules! require_sshd {
    () => {
        if let Some(why) = $crate::sshd::unavailable() {
            eprintln!("\n*** SKIPPED {}: {why} ***\n", module_path!());
            return;
        }
    };
}

/// A unique small number per fixture in this process (ports, names, subnets).
pub fn unique() -> u32 {
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `SHA256:…` of a public key file, as OpenSSH computes it.
pub fn ssh_keygen_fingerprint(pub_file: &Path) -> String {
    let out = run(Command::new("ssh-keygen").arg("-lf").arg(pub_file));
    out.split_whitespace().nth(1).unwrap().to_string()
}

/// One sshd: config, host key, log and pid file under `dir`.
pub struct Sshd {
    pub dir: PathBuf,
    pub addr: String,
    pub port: u16,
    pub netns: Option<String>,
    pub authorized_keys: PathBuf,
    /// Point root's HOME at an empty dir so the machine's real ~/.bashrc (pyenv here:
    /// slow, and it takes a lock) never runs in test sessions.
    pub fake_home: bool,
    /// (source, target): bind mounts in a mount namespace of sshd's own, so what its
    /// sessions write at `target` (a fix's file under /etc, say) lands in `source` and the
    /// machine's own `target` is untouched.
    pub private_mounts: Vec<(PathBuf, PathBuf)>,
    extra: String,
    child: Option<Child>,
}

impl Sshd {
    /// Configures (without starting) an sshd on `addr:port`; `extra` comes first in the
    /// config (sshd keeps the first value of each keyword; no `Match` blocks). Root logs in with keys from `dir/authorized_keys` unless `extra` overrides.
    pub fn new(dir: &Path, addr: &str, port: u16, netns: Option<&str>, extra: &str) -> Sshd {
        std::fs::create_dir_all(dir).unwrap();
        let s = Sshd {
            dir: dir.to_path_buf(),
            addr: addr.to_string(),
            port,
            netns: netns.map(String::from),
            authorized_keys: dir.join("authorized_keys"),
            fake_home: true,
            private_mounts: Vec::new(),
            extra: extra.to_string(),
            child: None,
        };
        s.new_host_key();
        std::fs::write(&s.authorized_keys, "").unwrap();
        s
    }

    /// A started sshd on 127.0.0.1 where users log in as themselves: keys from their own
    /// `~/.ssh/authorized_keys`, their real home, and with `passwords` password logins too
    /// (root stays key-only).
    pub fn for_users(dir: &Path, passwords: bool) -> Sshd {
        let extra = if passwords {
            "PasswordAuthentication yes\nAuthorizedKeysFile .ssh/authorized_keys"
        } else {
            "AuthorizedKeysFile .ssh/authorized_keys"
        };
        let mut sshd = Sshd::new(dir, "127.0.0.1", free_port(), None, extra);
        sshd.fake_home = false;
        sshd.start();
        sshd
    }

    pub fn host_key_pub(&self) -> PathBuf {
        self.dir.join("host_ed25519.pub")
    }

    pub fn host_fingerprint(&self) -> String {
        ssh_keygen_fingerprint(&self.host_key_pub())
    }

    /// (Re)generates the host key: the next start presents a different key.
    pub fn new_host_key(&self) {
        let key = self.dir.join("host_ed25519");
        let _ = std::fs::remove_file(&key);
        let _ = std::fs::remove_file(self.host_key_pub());
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key));
    }

    pub fn authorize(&self, public_line: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.authorized_keys)
            .unwrap();
        writeln!(f, "{public_line}").unwrap();
    }

    fn config(&self) -> String {
        let d = self.dir.display();
        let home = if self.fake_home {
            let h = self.dir.join("home");
            std::fs::create_dir_all(&h).unwrap();
            format!("SetEnv HOME={}\n", h.display())
        } else {
            String::new()
        };
        format!(
            "{extra}\n{home}AuthorizedKeysFile {d}/authorized_keys\nPort {port}\nListenAddress {addr}\nHostKey {d}/host_ed25519\nPidFile {d}/sshd.pid\n\
             UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             AllowTcpForwarding yes\nLogLevel VERBOSE\n",
            port = self.port,
            addr = self.addr,
            extra = self.extra,
        )
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none(), "sshd already running");
        let cfg = self.dir.join("sshd_config");
        std::fs::write(&cfg, self.config()).unwrap();
        let log = self.dir.join("sshd.log");
        let _ = std::fs::remove_file(&log);
        // With private mounts: `unshare -m` then `sh` mounting them, each exec'ing the next
        // in place, so the pid is still sshd's.
        let mut program: Vec<String> = Vec::new();
        if !self.private_mounts.is_empty() {
            let mut script = String::from("set -e\n");
            for (i, _) in self.private_mounts.iter().enumerate() {
                script.push_str(&format!(
                    "mount --bind \"${}\" \"${}\"\n",
                    2 * i + 1,
                    2 * i + 2
                ));
            }
            script.push_str(&format!(
                "shift {}\nexec /usr/sbin/sshd \"$@\"\n",
                2 * self.private_mounts.len()
            ));
            program.extend(
                [
                    "unshare",
                    "-m",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    &script,
                    "sshd",
                ]
                .map(String::from),
            );
            for (src, dst) in &self.private_mounts {
                program.push(src.display().to_string());
                program.push(dst.display().to_string());
            }
        } else {
            program.push("/usr/sbin/sshd".into());
        }
        let mut cmd = match &self.netns {
            // Only the network namespace changes: `ip netns exec` would also mount a fresh
            // /sys without the cgroup mounts, and podman (runc) started over this sshd, as
            // on a real hypervisor, needs them. nsenter execs sshd in place: the pid is
            // sshd's.
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{ns}")).args(&program);
                c
            }
            None => {
                let mut c = Command::new(&program[0]);
                c.args(&program[1..]);
                c
            }
        };
        cmd.arg("-D")
            .arg("-f")
            .arg(&cfg)
            .arg("-E")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.child = Some(cmd.spawn().expect("start sshd"));
        // Ready once it logged that it listens (works inside a netns too).
        for _ in 0..1000 {
            if std::fs::read_to_string(&log).is_ok_and(|t| t.contains("Server listening")) {
                return;
            }
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "sshd exited ({st}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "sshd did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Kills sshd and every process it started (per-connection children, sessions): the
    /// clients' connections really drop.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let mut pids = descendants(child.id());
        pids.push(child.id());
        for pid in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = child.wait();
    }

    /// Cuts every client connection (SIGKILL to sshd's per-connection processes and the
    /// sessions under them) while the listener stays up: the clients see their TCP
    /// connection drop mid-use, and a reconnect is accepted. Returns how many were killed.
    pub fn cut_connections(&self) -> usize {
        let Some(child) = self.child.as_ref() else {
            return 0;
        };
        let pids = descendants(child.id());
        for pid in &pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        pids.len()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// All descendants of `pid`, from /proc (children before their own children).
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut parent_of: Vec<(u32, u32)> = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                continue;
            };
            let Some((_, rest)) = stat.rsplit_once(") ") else {
                continue;
            };
            if let Some(pp) = rest.split_whitespace().nth(1).and_then(|x| x.parse().ok()) {
                parent_of.push((p, pp));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for (c, _) in parent_of.iter().filter(|(_, pp)| *pp == p) {
            out.push(*c);
            frontier.push(*c);
        }
    }
    out
}

/// Whether a process is gone or a zombie.
pub fn dead(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

/// A network namespace, deleted on drop (its veth ends go with it).
pub struct Netns(pub String);

impl Netns {
    pub fn new(name: &str) -> Netns {
        let _ = Command::new("ip").args(["netns", "del", name]).output();
        run(Command::new("ip").args(["netns", "add", name]));
        let ns = Netns(name.to_string());
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    pub fn exec(&self, argv: &[&str]) -> String {
        run(Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(argv))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// A veth pair (deleted on drop from wherever its first end lives).
pub struct Veth {
    pub a: String,
    pub a_ns: Option<String>,
}

impl Veth {
    /// Creates `a`(in `a_ns`, or the root namespace) ↔ `b`(in `b_ns`) with addresses.
    pub fn new(
        a: &str,
        a_ns: Option<&Netns>,
        a_cidr: &str,
        b: &str,
        b_ns: &Netns,
        b_cidr: &str,
    ) -> Veth {
        let _ = Command::new("ip").args(["link", "del", a]).output();
        run(Command::new("ip").args(["link", "add", a, "type", "veth", "peer", "name", b]));
        let v = Veth {
            a: a.to_string(),
            a_ns: a_ns.map(|n| n.0.clone()),
        };
        run(Command::new("ip").args(["link", "set", b, "netns", &b_ns.0]));
        match a_ns {
            Some(ns) => {
                run(Command::new("ip").args(["link", "set", a, "netns", &ns.0]));
                ns.exec(&["ip", "addr", "add", a_cidr, "dev", a]);
                ns.exec(&["ip", "link", "set", a, "up"]);
            }
            None => {
                run(Command::new("ip").args(["addr", "add", a_cidr, "dev", a]));
                run(Command::new("ip").args(["link", "set", a, "up"]));
            }
        }
        b_ns.exec(&["ip", "addr", "add", b_cidr, "dev", b]);
        b_ns.exec(&["ip", "link", "set", b, "up"]);
        v
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let mut c = Command::new("ip");
        if let Some(ns) = &self.a_ns {
            c.args(["-n", ns]);
        }
        let _ = c.args(["link", "del", &self.a]).output();
    }
}

/// A throwaway system user with its home in a temp dir, removed on drop.
pub struct TestUser {
    pub name: String,
    pub home: PathBuf,
}

impl TestUser {
    pub fn new(home_parent: &Path, password: &str) -> TestUser {
        let name = format!("lwtest_{}_{}", std::process::id(), unique());
        let home = home_parent.join(&name);
        let _ = Command::new("userdel").arg(&name).output();
        run(Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", "-d"])
            .arg(&home)
            .arg(&name));
        let user = TestUser { name, home };
        // The password goes through chpasswd's stdin, never a command line.
        let mut child = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            writeln!(stdin, "{}:{password}", user.name).unwrap();
        }
        assert!(child.wait().unwrap().success(), "chpasswd failed");
        user
    }
}

impl TestUser {
    /// Authorizes `public_line` in the user's own `~/.ssh/authorized_keys`, owned by the user.
    pub fn authorize(&self, public_line: &str) {
        let ssh_dir = self.home.join(".ssh");
        std::fs::create_dir_all(&ssh_dir).unwrap();
        std::fs::write(ssh_dir.join("authorized_keys"), format!("{public_line}\n")).unwrap();
        run(Command::new("chown")
            .arg("-R")
            .arg(format!("{0}:{0}", self.name))
            .arg(&ssh_dir));
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).output();
    }
}

/// `/etc/sudoers.d/<user>` with passwordless sudo (a stack user's, as on a real
/// hypervisor), checked by visudo; removed on drop.
pub struct Sudoers(pub PathBuf);

impl Sudoers {
    pub fn grant(user: &str) -> Sudoers {
        use std::os::unix::fs::PermissionsExt;
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
