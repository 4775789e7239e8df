//! `labwarp ssh` end to end: the real binary against a real sshd started by the test.

use crate::common::procs::ProcSampler;
use crate::sshd::{Sshd, TestUser};
use labwarp::host::keys::ensure_identity;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

struct Lab {
    tmp: tempfile::TempDir,
    sshd: Sshd,
    lab_file: PathBuf,
}

impl Lab {
    fn new() -> Lab {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path().join("ws");
        // The CLI uses the workspace's key: create it now to authorize it on the server.
        let id = ensure_identity(&ws).unwrap();
        let mut sshd = Sshd::new(
            &tmp.path().join("sshd"),
            "127.0.0.1",
            crate::sshd::free_port(),
            None,
            "",
        );
        sshd.authorize(&id.public_line());
        sshd.start();
        let lab_file = tmp.path().join("lab.yaml");
        std::fs::write(
            &lab_file,
            format!(
                "name: clitest\nworkspace: {}\nhypervisors:\n  - name: virthost\n    address: 127.0.0.1\n    ssh_port: {}\n    ssh_user: root\n",
                ws.display(),
                sshd.port
            ),
        )
        .unwrap();
        Lab {
            tmp,
            sshd,
            lab_file,
        }
    }

    fn labwarp(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_labwarp"))
            .arg("ssh")
            .arg("--config")
            .arg(&self.lab_file)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn runs_commands_with_pinning_status_and_stdin() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    let lab = Lab::new();
    let fp = lab.sshd.host_fingerprint();

    // First contact, no terminal, no trust flag: refused with the fingerprint to confirm.
    let out = lab.labwarp(&["virthost", "echo", "hi"], b"");
    assert_eq!(out.status.code(), Some(255), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains(&fp) && err.contains("--trust-host-key"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    // The confirmed fingerprint pins the key; later runs need no flag.
    let out = lab.labwarp(&["--trust-host-key", &fp, "virthost", "echo", "hi"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi\n");

    // The words run through the remote shell as with ssh; the exit status is the command's.
    let out = lab.labwarp(&["virthost", "echo out; echo err >&2; exit 3"], b"");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out.stdout), "out\n");
    assert_eq!(text(&out.stderr), "err\n");

    // Piped stdin reaches the command, binary-safe.
    let dest = lab.tmp.path().join("copied");
    let data: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let out = lab.labwarp(&["virthost", &format!("cat > '{}'", dest.display())], &data);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&dest).unwrap(), data);

    // An unknown host name names the valid ones.
    let out = lab.labwarp(&["nope", "true"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("use one of: virthost"),
        "{}",
        text(&out.stderr)
    );

    // A changed host key is refused with both fingerprints.
    let mut lab = lab;
    lab.sshd.stop();
    lab.sshd.new_host_key();
    lab.sshd.start();
    let new_fp = lab.sshd.host_fingerprint();
    let out = lab.labwarp(&["--trust-on-first-use", "virthost", "true"], b"");
    assert_eq!(out.status.code(), Some(255));
    let err = text(&out.stderr);
    assert!(err.contains(&fp) && err.contains(&new_fp), "{err}");
}

/// A tmux session, killed on drop.
struct Tmux(String);

impl Tmux {
    fn capture(&self) -> String {
        text(
            &Command::new("tmux")
                .args(["capture-pane", "-p", "-t", &self.0])
                .output()
                .unwrap()
                .stdout,
        )
    }

    fn send(&self, keys: &str) {
        Command::new("tmux")
            .args(["send-keys", "-t", &self.0, "-l", keys])
            .status()
            .unwrap();
        Command::new("tmux")
            .args(["send-keys", "-t", &self.0, "Enter"])
            .status()
            .unwrap();
    }

    /// Polls (bounded, generous) until the pane shows a line satisfying `want`.
    fn wait_for(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        for _ in 0..1000 {
            let screen = self.capture();
            if screen.lines().any(&want) {
                return screen;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{what} never appeared; screen:\n{}", self.capture());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}

#[test]
fn interactive_shell_on_a_pty_restores_the_terminal() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!(
            "\n*** SKIPPED interactive_shell_on_a_pty_restores_the_terminal: tmux missing ***\n"
        );
        return;
    }
    let lab = Lab::new();
    let fp = lab.sshd.host_fingerprint();
    let script = lab.tmp.path().join("run.sh");
    // After labwarp exits: its status, then whether the terminal is back in canonical mode.
    std::fs::write(
        &script,
        format!(
            "{} ssh --config {} --trust-host-key {fp} virthost\necho EXITED=$?\nstty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo | tr '\\n' ' ' | sed 's/^/TTY=/'\necho\nsleep 600\n",
            env!("CARGO_BIN_EXE_labwarp"),
            lab.lab_file.display()
        ),
    )
    .unwrap();
    let name = format!("lwssh{}", std::process::id());
    let _ = Command::new("tmux")
        .args(["kill-session", "-t", &name])
        .output();
    let started = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &name,
            "-x",
            "120",
            "-y",
            "40",
            "sh",
        ])
        .arg(&script)
        .status()
        .unwrap();
    assert!(started.success());
    let t = Tmux(name);
    // The remote shell answers on the PTY (the remote side says it has a terminal).
    t.send("echo TTY:$(tty | cut -c1-8) $((6*7))");
    t.wait_for("remote answer", |l| l.trim() == "TTY:/dev/pts 42");
    t.send("exit 5");
    let screen = t.wait_for("exit status", |l| l.trim() == "EXITED=5");
    let screen = if screen.contains("TTY=") {
        screen
    } else {
        t.wait_for("stty report", |l| l.starts_with("TTY="))
    };
    let tty_line = screen.lines().find(|l| l.starts_with("TTY=")).unwrap();
    assert!(
        tty_line.contains("icanon") && !tty_line.contains("-icanon"),
        "terminal left in raw mode: {tty_line}"
    );
    assert!(
        tty_line
            .split_whitespace()
            .any(|w| w == "echo" || w == "TTY=echo"),
        "echo not restored: {tty_line}"
    );
}

#[test]
fn bootstrap_confirms_the_host_key_and_asks_the_password_without_echo() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!(
            "\n*** SKIPPED bootstrap_confirms_the_host_key_and_asks_the_password_without_echo: tmux missing ***\n"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // The user's home lives below; it must be traversable by that user.
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let password = format!("Pw{}x{:x}", std::process::id(), rand::random::<u32>());
    let user = TestUser::new(tmp.path(), &password);
    // Password logins (root stays key-only), keys from the user's ~/.ssh/authorized_keys.
    let sshd = Sshd::for_users(&tmp.path().join("sshd"), true);
    let fp = sshd.host_fingerprint();
    let ws = tmp.path().join("ws");
    let lab_file = tmp.path().join("lab.yaml");
    std::fs::write(
        &lab_file,
        format!(
            "name: boot\nworkspace: {}\nhypervisors:\n  - name: virthost\n    address: 127.0.0.1\n    ssh_port: {}\n    ssh_user: {}\n",
            ws.display(),
            sshd.port,
            user.name
        ),
    )
    .unwrap();
    let script = tmp.path().join("run.sh");
    std::fs::write(
        &script,
        format!(
            "{} ssh --config {} --bootstrap virthost 'echo I-AM-$(id -un)'\necho EXITED=$?\nsleep 600\n",
            env!("CARGO_BIN_EXE_labwarp"),
            lab_file.display()
        ),
    )
    .unwrap();
    let name = format!("lwboot{}", std::process::id());
    let _ = Command::new("tmux")
        .args(["kill-session", "-t", &name])
        .output();
    assert!(
        Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &name,
                "-x",
                "160",
                "-y",
                "40",
                "sh"
            ])
            .arg(&script)
            .status()
            .unwrap()
            .success()
    );
    let t = Tmux(name);
    // Every process's arguments and environment, sampled for the whole bootstrap.
    let sampler = ProcSampler::start();
    // First contact: the fingerprint is shown and a yes is required.
    let screen = t.wait_for("host key question", |l| {
        l.contains("Trust and pin it? [y/N]")
    });
    assert!(screen.contains(&fp), "fingerprint not shown:\n{screen}");
    t.send("y");
    t.wait_for("password prompt", |l| l.contains("password (used once"));
    t.send(&password);
    let screen = t.wait_for("exit status", |l| l.trim() == "EXITED=0");
    let samples = sampler.finish();
    // Only the test's own `tmux send-keys` (which types it) may carry the password.
    let leaks = samples.containing(&password, |s| s.starts_with("cmdline tmux send-keys"));
    assert!(leaks.is_empty(), "the password is in a process: {leaks:?}");
    assert!(
        samples.seen.iter().any(|s| s.contains("--bootstrap")),
        "the sampler never saw labwarp"
    );
    println!(
        "secrets (bootstrap): the typed password is in none of {} process command lines/environments, not echoed, not in the workspace",
        samples.seen.len()
    );
    assert!(
        screen.contains(&format!("I-AM-{}", user.name)),
        "command did not run as the user:\n{screen}"
    );
    assert!(
        !screen.contains(&password),
        "the password was echoed:\n{screen}"
    );
    // The key is installed once, the host key pinned, the password stored nowhere.
    let ak = std::fs::read_to_string(user.home.join(".ssh/authorized_keys")).unwrap();
    assert_eq!(ak.lines().count(), 1);
    assert!(ak.starts_with("ssh-ed25519 "));
    let kh = std::fs::read_to_string(ws.join("known_hosts")).unwrap();
    assert!(kh.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", sshd.port)));
    for entry in walk(&ws) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&password),
            "password found in {}",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// `labwarp ssh undercloud-root CMD`: through the hypervisor (an sshd in a jump namespace) to
/// the undercloud (an sshd in a target namespace) at the address the lab's NAT network
/// reserves for it: the first of its DHCP range. Both host keys end up pinned.
#[test]
fn reaches_the_undercloud_through_the_hypervisor() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    let tag = format!("{}", std::process::id() % 100_000);
    let octet = 1 + (std::process::id() % 250);
    // RFC 2544 benchmark range only: root ↔ jump on a /30 of 198.18.N (not the /24 the
    // library's ProxyJump test uses), jump ↔ undercloud on the lab network 198.19.N.0/24,
    // which exists only inside the namespaces.
    let (root_ip, hv_ip) = (format!("198.18.{octet}.9"), format!("198.18.{octet}.10"));
    let (hv_in, uc_ip) = (format!("198.19.{octet}.1"), format!("198.19.{octet}.100"));
    let jump_ns = crate::sshd::Netns::new(&format!("lwsj{tag}"));
    let uc_ns = crate::sshd::Netns::new(&format!("lwsu{tag}"));
    let _v1 = crate::sshd::Veth::new(
        &format!("lwsr{tag}"),
        None,
        &format!("{root_ip}/30"),
        &format!("lwsa{tag}"),
        &jump_ns,
        &format!("{hv_ip}/30"),
    );
    let _v2 = crate::sshd::Veth::new(
        &format!("lwsb{tag}"),
        Some(&jump_ns),
        &format!("{hv_in}/24"),
        &format!("lwsc{tag}"),
        &uc_ns,
        &format!("{uc_ip}/24"),
    );
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    let id = ensure_identity(&ws).unwrap();
    let mut hv = Sshd::new(&tmp.path().join("hv"), &hv_ip, 22, Some(&jump_ns.0), "");
    let mut uc = Sshd::new(&tmp.path().join("uc"), &uc_ip, 22, Some(&uc_ns.0), "");
    hv.authorize(&id.public_line());
    uc.authorize(&id.public_line());
    hv.start();
    uc.start();
    let (hv_fp, uc_fp) = (hv.host_fingerprint(), uc.host_fingerprint());
    let lab_file = tmp.path().join("lab.yaml");
    std::fs::write(
        &lab_file,
        format!(
            "name: sshany\nworkspace: {ws}\nhypervisors:\n  - name: virthost\n    address: {hv_ip}\n    ssh_user: root\n\
             networks:\n  - name: external\n    bridge: brext\n    mode: nat\n    cidr: 198.19.{octet}.0/24\n    gateway: {hv_in}\n    dhcp:\n      start: {uc_ip}\n      end: 198.19.{octet}.120\n\
             \x20 - name: overcloud\n    bridge: brovc\n    mode: isolated\n",
            ws = ws.display(),
        ),
    )
    .unwrap();
    let labwarp = |args: &[&str]| -> Output {
        Command::new(env!("CARGO_BIN_EXE_labwarp"))
            .arg("ssh")
            .arg("--config")
            .arg(&lab_file)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let cmd = "echo \"$SSH_CONNECTION\"";

    // Nothing pinned: the first hop (the hypervisor) is refused, with its fingerprint.
    let out = labwarp(&["undercloud-root", cmd]);
    assert_eq!(out.status.code(), Some(255), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&hv_fp), "{}", text(&out.stderr));
    // The hypervisor's key confirmed: now the undercloud's unknown key stops it.
    let out = labwarp(&["--trust-host-key", &hv_fp, "undercloud-root", cmd]);
    assert_eq!(out.status.code(), Some(255), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&uc_fp), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    // Both pinned: the command runs on the undercloud, reached from the hypervisor's side.
    let out = labwarp(&["--trust-host-key", &uc_fp, "undercloud-root", cmd]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let seen = text(&out.stdout);
    let fields: Vec<&str> = seen.split_whitespace().collect();
    assert_eq!(fields.first(), Some(&hv_in.as_str()), "{seen}");
    assert_eq!(fields.get(2), Some(&uc_ip.as_str()), "{seen}");
    // Later runs need no flag; the exit status is the remote command's.
    let out = labwarp(&["undercloud-root", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    let kh = std::fs::read_to_string(ws.join("known_hosts")).unwrap();
    let hv_key = std::fs::read_to_string(hv.host_key_pub()).unwrap();
    let uc_key = std::fs::read_to_string(uc.host_key_pub()).unwrap();
    let key_of = |pub_line: &str| pub_line.split_whitespace().nth(1).unwrap().to_string();
    assert!(
        kh.lines()
            .any(|l| l.starts_with(&format!("{hv_ip} ")) && l.contains(&key_of(&hv_key))),
        "{kh}"
    );
    assert!(
        kh.lines()
            .any(|l| l.starts_with(&format!("{uc_ip} ")) && l.contains(&key_of(&uc_key))),
        "{kh}"
    );

    // A node whose address is not known yet: a clear error naming how to find it.
    let out = labwarp(&["controller-0", "true"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("not booted") && err.contains("openstack server list"),
        "{err}"
    );
    // An unknown name lists the valid ones, ssh.config's names.
    let out = labwarp(&["nope", "true"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "use one of: virthost, virthost-stack, undercloud, undercloud-root, controller-0"
        ),
        "{err}"
    );

    // A changed undercloud key is refused even with --trust-on-first-use.
    uc.stop();
    uc.new_host_key();
    uc.start();
    let out = labwarp(&["--trust-on-first-use", "undercloud-root", "true"]);
    assert_eq!(out.status.code(), Some(255), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains(&uc_fp) && err.contains(&uc.host_fingerprint()),
        "{err}"
    );
}

/// Hostile host names are refused before any connection; hostile words given as one
/// (quoted) command word reach the remote command intact and run nothing; a file named with
/// shell syntax is created exactly as named; a hostile user in the lab file is refused
/// naming the field.
#[test]
fn hostile_host_names_and_words() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    let lab = Lab::new();
    let fp = lab.sshd.host_fingerprint();
    let out = lab.labwarp(&["--trust-host-key", &fp, "virthost", "true"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let canary = lab.tmp.path().join("CANARY");
    let files = lab.tmp.path().join("files");
    std::fs::create_dir(&files).unwrap();
    let values = crate::common::hostile::values(&canary);
    let (mut refused, mut intact, mut created) = (0, 0, 0);
    for v in &values {
        if v.contains('\0') {
            continue; // argv cannot carry a NUL
        }
        // As HOST: refused by name, nothing runs.
        let out = lab.labwarp(&["--", v.as_str(), "true"], b"");
        assert_eq!(
            out.status.code(),
            Some(1),
            "host {v:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("virthost"),
            "{}",
            text(&out.stderr)
        );
        refused += 1;
        // As one quoted word of CMD (CMD is a remote shell command, as with ssh).
        let cmd = format!("printf %s {}", labwarp::host::shell_quote(v));
        let out = lab.labwarp(&["virthost", &cmd], b"");
        assert_eq!(out.status.code(), Some(0), "{v:?}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), *v, "the word changed on the way");
        intact += 1;
        // As a file name (`/` cannot be in one: it becomes `_`, the shell syntax stays).
        let name = v.replace('/', "_");
        if !name.is_empty() && name.len() < 255 {
            let path = files.join(&name);
            let cmd = format!(
                "touch -- {}",
                labwarp::host::shell_quote(&path.display().to_string())
            );
            let out = lab.labwarp(&["virthost", &cmd], b"");
            assert_eq!(out.status.code(), Some(0), "{v:?}: {}", text(&out.stderr));
            assert!(path.exists(), "{v:?} was not created as named");
            created += 1;
        }
    }
    let names = std::fs::read_dir(&files).unwrap().count();
    assert_eq!(names, created, "files with other names appeared");
    // A hostile user in the lab file: refused naming the field, before any connection.
    for v in &values[..6] {
        let file = lab.tmp.path().join("hostile-user.yaml");
        let yaml = std::fs::read_to_string(&lab.lab_file).unwrap().replace(
            "ssh_user: root",
            &format!("ssh_user: {}", serde_json::to_string(v).unwrap()),
        );
        std::fs::write(&file, yaml).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_labwarp"))
            .args(["ssh", "--config"])
            .arg(&file)
            .args(["virthost", "true"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{v:?}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("hypervisors[0].ssh_user"),
            "{}",
            text(&out.stderr)
        );
    }
    assert!(!canary.exists(), "a hostile value was executed");
    println!(
        "hostile input (labwarp ssh, real sshd): {refused} values as HOST refused, {intact} as a command word intact, {created} file names created exactly, 6 hostile users refused; 0 executed"
    );
}
