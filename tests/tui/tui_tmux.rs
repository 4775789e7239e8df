//! End to end: the real `labwarp` binary driven in tmux (send-keys, capture-pane), the way a
//! person uses it: the demo from the first screen through the forms, preflight, review, a
//! run on libvirt's test driver, and a guided cleanup.

use crate::common::procs::ProcSampler;
use crate::sshd::{Netns, Sshd};
use crate::tmux_support::Tmux;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[test]
fn demo_journey_in_tmux() {
    let _turn = crate::common::turn(module_path!());
    if !crate::tmux_support::available() {
        eprintln!("SKIPPED demo_journey_in_tmux: tmux is not installed (apt-get install tmux)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_labwarp");
    let t = Tmux::start(
        dir.path(),
        &format!("{bin} --demo; echo LABWARP-EXITED-$?; sleep 60"),
    );

    // --demo opens the hypervisor form filled from the demo preset.
    t.wait_for("Hypervisor: the machine the lab runs on");
    t.wait_for("test:///default");

    // An invalid value is flagged as it is typed, and Next is refused.
    t.keys(&["Tab", "Tab", "Tab"]);
    t.keys(&["End"]);
    t.text(" bad!");
    t.wait_for("not a host name or IP address");
    t.keys(&["C-n"]);
    t.wait_for("Fix Address first");
    for _ in 0..5 {
        t.keys(&["BSpace"]);
    }
    t.keys(&["C-n"]);
    t.wait_for("Undercloud: the director VM");
    t.keys(&["C-n"]);
    t.wait_for("Overcloud: node group 1 of");
    t.keys(&["C-n"]);
    t.wait_for("Preflight");
    // The real checks run against this machine and libvirt's test driver.
    t.wait_for("libvirt answers at test:///default");
    t.wait_for(" checks, ");
    assert!(
        dir.path().join("workspace/lab.yaml").is_file(),
        "leaving a form saves workspace/lab.yaml"
    );

    // Review shows the engine's plan diff.
    t.preflight_to_review();
    t.wait_for("network demo-external");
    t.keys(&["s"]);
    t.wait_for("Stages: running");
    t.wait_for("Stages: done");
    t.wait_for("demo-undercloud");

    // A shell in an undercloud container takes the terminal and gives it back.
    t.wait_for("Undercloud containers (");
    t.keys(&["Tab"]);
    t.keys(&["s"]);
    t.wait_for("/ #");
    t.text("exit");
    t.keys(&["Enter"]);
    t.wait_for("Shell ended (exit status: 0)");

    // Guided cleanup: level `all`, the dry run's list, the typed name, then done.
    t.keys(&["c"]);
    t.wait_for("Cleanup level");
    t.keys(&["Down", "Down", "Enter"]);
    t.wait_for("all will be removed");
    t.text("dem");
    t.keys(&["Enter"]);
    t.wait_for("Type the lab's name `demo` exactly");
    t.text("o");
    t.keys(&["Enter"]);
    t.wait_for("Cleanup finished");
    let s = t.wait_for(" failed");
    assert!(s.contains(", 0 failed"), "{s}");
    assert!(!s.contains("could not"), "{s}");
    // The list can be longer than the pane: the test driver's world file says what is left.
    let world = std::fs::read_to_string(dir.path().join("workspace/libvirt-test.xml"))
        .expect("the demo's test driver world file is kept by cleanup");
    assert!(world.contains("<node>"), "{world}");
    assert!(
        !world.contains("<name>demo-undercloud</name>"),
        "the undercloud domain is gone after cleanup:\n{world}"
    );

    t.keys(&["q"]);
    let s = t.wait_for("LABWARP-EXITED-0");
    assert!(
        !s.contains("Preflight:"),
        "the alternate screen is gone after quit:\n{s}"
    );
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// This machine's /etc/shadow with root's password set to `password` (SHA-512 crypt by
/// `openssl passwd`, the password on its stdin, never on a command line).
fn shadow_with_root_password(password: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("openssl")
        .args(["passwd", "-6", "-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl");
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let real = std::fs::read_to_string("/etc/shadow").unwrap();
    real.lines()
        .map(|l| match l.strip_prefix("root:") {
            Some(rest) => {
                let after = rest.split_once(':').map_or("", |(_, a)| a);
                format!("root:{hash}:{after}\n")
            }
            None => format!("{l}\n"),
        })
        .collect()
}

/// Presses `key` until `want` holds for the screen (at most `n` times).
fn press_until(t: &Tmux, key: &str, n: usize, want: impl Fn(&str) -> bool) -> String {
    for _ in 0..n {
        let s = t.screen();
        if want(&s) {
            return s;
        }
        t.keys(&[key]);
        std::thread::sleep(Duration::from_millis(300));
    }
    let s = t.screen();
    assert!(want(&s), "never reached after {n} × {key}:\n{s}");
    s
}

/// The whole journey against a remote hypervisor: a real OpenSSH sshd on 127.0.0.1 inside a
/// network namespace this test creates (labwarp runs in it too), root logging in with a
/// password (set in a private copy of /etc/shadow that only this sshd sees). The connection screen shows the host key's
/// fingerprint, refuses a wrong one, pins the right one, installs the workspace key with the
/// password (typed once, in no process and no file), then preflight runs over SSH and one
/// key fixes a finding there for real (the bridge-nf sysctls of that namespace; the fix's
/// file lands in a private /etc/sysctl.d of sshd's own mount namespace), the run reaches the
/// dashboard with its VM and container panes filled; labwarp started again with the host key
/// forgotten resumes the found lab through the connection screen (the key confirmed again);
/// a guided cleanup removes it all.
#[test]
fn remote_hypervisor_journey_in_tmux() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    if !crate::tmux_support::available() {
        panic!("tmux is not installed: run scripts/setup-host.sh");
    }
    let tmp = tempfile::tempdir().unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let ns = Netns::new(&format!("lwtui{}", std::process::id() % 100_000));
    let password = format!("pw-{}-Zq7", std::process::id());
    // sshd's own mount namespace: root's password (for the bootstrap) in a private copy of
    // /etc/shadow, a private /etc/sysctl.d for the fix; the machine's own files untouched.
    let shadow = tmp.path().join("shadow");
    std::fs::write(&shadow, shadow_with_root_password(&password)).unwrap();
    let sysctl_d = tmp.path().join("sysctl.d");
    std::fs::create_dir_all(&sysctl_d).unwrap();
    let sshd_dir = tmp.path().join("sshd");
    let home = sshd_dir.join("home");
    let mut sshd = Sshd::new(
        &sshd_dir,
        "127.0.0.1",
        2222,
        Some(&ns.0),
        &format!(
            "PermitRootLogin yes\nPasswordAuthentication yes\nAuthorizedKeysFile {}/.ssh/authorized_keys",
            home.display()
        ),
    );
    sshd.private_mounts = vec![
        (sysctl_d.clone(), PathBuf::from("/etc/sysctl.d")),
        (shadow, PathBuf::from("/etc/shadow")),
    ];
    sshd.start();
    let fp = sshd.host_fingerprint();
    // A fresh namespace filters bridged traffic through iptables: preflight warns, with a fix.
    assert_eq!(
        ns.exec(&["cat", "/proc/sys/net/bridge/bridge-nf-call-iptables"])
            .trim(),
        "1"
    );

    let dir = tmp.path().join("tui");
    let ws = dir.join("workspace");
    std::fs::create_dir_all(&ws).unwrap();
    let name = format!("rt{}", std::process::id() % 100_000);
    std::fs::write(
        ws.join("lab.yaml"),
        format!(
            "preset: demo\nname: {name}\nworkspace: {}\nhypervisors:\n  - name: virthost\n    address: 127.0.0.1\n    ssh_port: {}\n    ssh_user: root\n    libvirt_uri: test:///default\n    distro: debian\n",
            ws.display(),
            sshd.port,
        ),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_labwarp");
    let mut t = Tmux::start_sized(
        &format!("lwremote-{}", std::process::id()),
        &dir,
        &format!(
            "nsenter --net=/run/netns/{} {bin}; echo LABWARP-EXITED-$?; sleep 60",
            ns.0
        ),
        120,
        40,
    );
    t.limit = Duration::from_secs(180);

    // The lab in the workspace, its hypervisor form, then the connection screen.
    t.wait_for(&format!("Edit `{name}`"));
    t.keys(&["Enter"]);
    t.wait_for("Hypervisor: the machine the lab runs on");
    t.keys(&["C-n"]);
    let s = t.wait_for("is not pinned yet");
    assert!(s.contains(&fp), "the fingerprint is shown:\n{s}");
    let known_hosts = ws.join("known_hosts");
    let pinned = || std::fs::read_to_string(&known_hosts).unwrap_or_default();

    // A wrong fingerprint is refused and pins nothing.
    t.text("SHA256:AAAAthisIsNotTheKeyAAAAAAAAAAAAAAAAAAAAAAA");
    t.keys(&["Enter"]);
    t.wait_for("does not match the key");
    assert!(pinned().is_empty(), "nothing pinned: {}", pinned());
    // Next is refused while the host is not connected.
    t.keys(&["C-n"]);
    t.wait_for("Connect to the hypervisor first");

    // The right one (as `ssh-keygen -lf` prints it on the host) pins exactly that key.
    t.text(&fp);
    t.keys(&["Enter"]);
    t.wait_for("not authorized for");
    assert!(
        pinned().starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", sshd.port)),
        "{}",
        pinned()
    );

    // The password bootstrap: typed once, masked, in no process, installs the key.
    let sampler = ProcSampler::start();
    t.text(&password);
    let s = t.screen();
    assert!(!s.contains(&password), "the password is masked:\n{s}");
    t.keys(&["Enter"]);
    let s = t.wait_until("the key installed, or why not", |s| {
        s.contains("Connected to [127.0.0.1]") || s.contains("was not installed")
    });
    assert!(
        s.contains("Connected to [127.0.0.1]"),
        "{s}\nsshd's log:\n{}",
        sshd.log()
    );
    let samples = sampler.finish();
    let leaks = samples.containing(&password, |s| s.starts_with("cmdline tmux send-keys"));
    assert!(leaks.is_empty(), "the password is in a process: {leaks:?}");
    assert!(!s.contains(&password), "{s}");
    let ak = std::fs::read_to_string(home.join(".ssh/authorized_keys")).unwrap();
    let public = labwarp::host::keys::ensure_identity(&ws)
        .unwrap()
        .public_line();
    assert_eq!(
        ak.trim(),
        public.trim(),
        "the workspace key, installed once"
    );

    // The forms, then preflight over SSH.
    t.keys(&["C-n"]);
    t.wait_for("Undercloud: the director VM");
    press_until(&t, "C-n", 6, |s| s.contains(" Preflight: "));
    let s = t.wait_for(" checks, ");
    assert!(
        s.contains("libvirt answers at test:///default"),
        "preflight ran: {s}"
    );
    // The bridge-nf finding, selected, shows its exact commands; one key applies them.
    let s = press_until(&t, "j", 60, |s| s.contains("90-labwarp-bridge-nf.conf"));
    assert!(s.contains("net.bridge.bridge-nf-call-iptables = 1"), "{s}");
    t.keys(&["f"]);
    let s = t.wait_for("Apply fix?");
    assert!(
        s.contains("sysctl -w net.bridge.bridge-nf-call-iptables=0"),
        "the exact command is shown before it runs:\n{s}"
    );
    t.keys(&["y"]);
    t.wait_for("Fix net.bridge-nf applied");
    t.wait_for(" checks, ");
    assert_eq!(
        ns.exec(&["cat", "/proc/sys/net/bridge/bridge-nf-call-iptables"])
            .trim(),
        "0",
        "the fix ran on the remote hypervisor"
    );
    let persisted = std::fs::read_to_string(sysctl_d.join("90-labwarp-bridge-nf.conf"))
        .expect("the fix persisted its sysctls (in sshd's private /etc/sysctl.d)");
    assert!(
        persisted.contains("net.bridge.bridge-nf-call-iptables = 0"),
        "{persisted}"
    );
    // Checked again after the fix: the finding passes now.
    press_until(&t, "j", 60, |s| {
        s.contains("Bridged traffic does not go through iptables")
    });

    // Review, run, dashboard with the VM and container panes.
    t.preflight_to_review();
    t.keys(&["s"]);
    t.wait_for("Stages: running");
    t.wait_for("Stages: done");
    t.wait_for(&format!("{name}-undercloud"));
    let s = t.wait_until("containers in the podman pane", |s| {
        s.split("Undercloud containers (")
            .nth(1)
            .and_then(|r| r.split(')').next())
            .and_then(|n| n.trim().parse::<u32>().ok())
            .is_some_and(|n| n > 0)
    });
    assert!(s.contains("running"), "{s}");

    // The password is nowhere in the workspace (logs, lab.yaml, state).
    for f in walk(&ws) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&password),
            "the password is in {}",
            f.display()
        );
    }

    // Quit, forget the host key, start again: resuming the found lab goes through the
    // connection screen (the key shown and confirmed), then the run resumes by itself.
    t.keys(&["q"]);
    t.wait_for("LABWARP-EXITED-0");
    drop(t);
    std::fs::remove_file(&known_hosts).unwrap();
    let mut t = Tmux::start_sized(
        &format!("lwresume-{}", std::process::id()),
        &dir,
        &format!(
            "nsenter --net=/run/netns/{} {bin}; echo LABWARP-EXITED-$?; sleep 60",
            ns.0
        ),
        120,
        40,
    );
    t.limit = Duration::from_secs(180);
    t.wait_for(&format!("Resume `{name}`"));
    t.keys(&["Enter"]);
    let s = t.wait_for("is not pinned yet");
    assert!(
        s.contains(&fp) && s.contains("once connected, labwarp goes on to resume it"),
        "{s}"
    );
    assert!(
        pinned().is_empty(),
        "nothing pinned before the confirmation"
    );
    t.text(&fp);
    t.keys(&["Enter"]);
    t.wait_for("Stages: done");
    assert!(
        pinned().starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", sshd.port)),
        "{}",
        pinned()
    );

    // Guided cleanup of everything.
    t.keys(&["c"]);
    t.wait_for("Cleanup level");
    t.keys(&["Down", "Down", "Enter"]);
    t.wait_for("all will be removed");
    t.text(&name);
    t.keys(&["Enter"]);
    t.wait_for("Cleanup finished");
    let s = t.wait_for(" failed");
    assert!(
        s.contains(&format!("removed domain {name}-undercloud")),
        "{s}"
    );
    t.keys(&["q"]);
    t.wait_for("LABWARP-EXITED-0");
}
