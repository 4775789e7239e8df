//! SshHost against real OpenSSH servers started by the tests (see tests/sshd/mod.rs).

use crate::sshd::{Netns, Sshd, TestUser, Veth};
use labwarp::host::ssh::Backoff;
use labwarp::host::{
    Cancel, Cmd, Host, HostError, OutputLine, SshHost, SshOptions, SshTarget, Stream, TrustPolicy,
};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use zeroize::Zeroizing;

/// A workspace (keys, known_hosts) and an sshd on 127.0.0.1 that trusts its key.
struct Fixture {
    tmp: tempfile::TempDir,
    sshd: Sshd,
    opts: SshOptions,
}

impl Fixture {
    fn new(extra_sshd_config: &str, trust: TrustPolicy) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path().join("workspace");
        let opts = SshOptions::for_workspace(&ws, trust).unwrap();
        let mut sshd = Sshd::new(
            &tmp.path().join("sshd"),
            "127.0.0.1",
            crate::sshd::free_port(),
            None,
            extra_sshd_config,
        );
        sshd.authorize(&opts.identity.public_line());
        sshd.start();
        Fixture { tmp, sshd, opts }
    }

    fn workspace(&self) -> std::path::PathBuf {
        self.tmp.path().join("workspace")
    }

    fn target(&self, user: &str) -> SshTarget {
        SshTarget {
            name: "virthost".into(),
            host: "127.0.0.1".into(),
            port: self.sshd.port,
            user: user.into(),
        }
    }

    fn host(&self) -> SshHost {
        SshHost::new(self.target("root"), self.opts.clone())
    }
}

fn sh(script: &str) -> Cmd {
    Cmd::new(["sh", "-c", script])
}

async fn wait_dead(pid: &str) -> bool {
    for _ in 0..500 {
        if crate::sshd::dead(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn exec_exit_codes_stderr_and_stdin() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    let f = Fixture::new("", TrustPolicy::FirstUse);
    let h = f.host();
    let out = h.exec(&sh("echo out; echo err >&2; exit 7")).await.unwrap();
    assert_eq!(out.code, Some(7));
    assert_eq!(out.stdout_str(), "out\n");
    assert_eq!(out.stderr_str(), "err\n");
    assert_eq!(h.exec_ok(&Cmd::new(["id", "-un"])).await.unwrap(), "root\n");
    // 1 MiB of binary data through stdin and back (output read while input is written).
    let data: Vec<u8> = (0..(1 << 20)).map(|i| (i * 7 % 251) as u8).collect();
    let out = h
        .exec(&Cmd::new(["cat"]).stdin(data.clone()))
        .await
        .unwrap();
    assert!(out.success());
    assert_eq!(out.stdout.len(), data.len());
    assert!(out.stdout == data, "stdin came back altered");
    // No stdin: EOF at once, no hang.
    let out = h.exec(&Cmd::new(["cat"])).await.unwrap();
    assert!(out.success() && out.stdout.is_empty());
}

#[tokio::test]
async fn hostile_words_arrive_intact_and_never_run() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    let f = Fixture::new("", TrustPolicy::FirstUse);
    let h = f.host();
    let canary = f.tmp.path().join("canary");
    let c = canary.display().to_string();
    let words = vec![
        format!("; rm -rf {c}; touch {c}"),
        format!("$(touch {c})"),
        format!("`touch {c}`"),
        format!("line1\ntouch {c}\nline3"),
        "it's a \"quote\" and a \\ backslash".to_string(),
        "| touch x & > y".to_string(),
        String::new(),
        "*".to_string(),
    ];
    let mut argv = vec!["printf".to_string(), "%s\\0".to_string()];
    argv.extend(words.iter().cloned());
    let out = h.exec(&Cmd::new(argv)).await.unwrap();
    assert!(out.success(), "{}", out.stderr_str());
    let got: Vec<String> = out
        .stdout_str()
        .split_terminator('\0')
        .map(String::from)
        .collect();
    assert_eq!(got, words);
    assert!(!canary.exists(), "a hostile word was executed remotely");
}

#[tokio::test]
async fn streaming_lines_arrive_while_the_command_runs() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    let f = Fixture::new("", TrustPolicy::FirstUse);
    let h = Arc::new(f.host());
    let gate = f.tmp.path().join("gate");
    let script = "echo first; echo warn >&2; while [ ! -e \"$1\" ]; do sleep 0.01; done; printf 'second\\nlast'";
    let cmd = Cmd::new(["sh", "-c", script, "sh", gate.to_str().unwrap()]);
    let (tx, mut rx) = mpsc::channel(16);
    let h2 = h.clone();
    let run = tokio::spawn(async move { h2.exec_streaming(&cmd, tx).await });
    let mut early = vec![rx.recv().await.unwrap(), rx.recv().await.unwrap()];
    early.sort_by_key(|l| l.line.clone());
    assert!(
        !run.is_finished(),
        "command must still be blocked on the gate"
    );
    assert_eq!(
        early,
        [
            OutputLine {
                stream: Stream::Stdout,
                line: "first".into()
            },
            OutputLine {
                stream: Stream::Stderr,
                line: "warn".into()
            },
        ]
    );
    std::fs::write(&gate, "").unwrap();
    let out = run.await.unwrap().unwrap();
    assert!(out.success());
    let rest: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
        .map(|l| l.line)
        .collect();
    assert_eq!(rest, ["second", "last"]);
}

#[tokio::test]
async fn timeout_and_cancel_kill_the_remote_command() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    let f = Fixture::new("", TrustPolicy::FirstUse);
    let h = Arc::new(f.host());
    // sshd runs on this machine, so the remote pid can be watched in /proc.
    let (tx, mut rx) = mpsc::channel(4);
    // A background child: only killing the whole process group stops it.
    let cmd = sh("sleep 300 & echo $!; wait").timeout(Duration::from_millis(500));
    let h2 = h.clone();
    let run = tokio::spawn(async move { h2.exec_streaming(&cmd, tx).await });
    let pid = rx.recv().await.unwrap().line;
    let err = run.await.unwrap().unwrap_err();
    assert!(matches!(err, HostError::Timeout { .. }), "{err}");
    assert!(
        wait_dead(&pid).await,
        "remote sleep {pid} survived the timeout: {}",
        f.sshd.log()
    );

    let cancel = Cancel::new();
    let (tx, mut rx) = mpsc::channel(4);
    let (h2, c2) = (h.clone(), cancel.clone());
    let run = tokio::spawn(async move {
        h2.exec_cancellable(&sh("sleep 300 & echo $!; wait"), Some(tx), &c2)
            .await
    });
    let pid = rx.recv().await.unwrap().line;
    cancel.cancel();
    let err = run.await.unwrap().unwrap_err();
    assert!(matches!(err, HostError::Cancelled { .. }), "{err}");
    assert!(
        wait_dead(&pid).await,
        "remote sleep {pid} survived cancellation"
    );
    // The connection is still good afterwards.
    assert_eq!(h.exec_ok(&Cmd::new(["echo", "ok"])).await.unwrap(), "ok\n");
}

#[tokio::test]
async fn files_are_written_atomically_with_mode() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    let f = Fixture::new("", TrustPolicy::FirstUse);
    let h = f.host();
    let dir = f.tmp.path().join("remote dir $(touch canary)");
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("it's a file; rm -rf x");
    h.write_file(&path, b"one\ntwo\n\0bin", 0o640)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"one\ntwo\n\0bin");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
    assert_eq!(h.read_file(&path).await.unwrap(), b"one\ntwo\n\0bin");
    h.write_file(&path, b"new", 0o600).await.unwrap();
    assert_eq!(h.read_file(&path).await.unwrap(), b"new");
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "temp file left behind: {names:?}");
    assert!(h.exists(&path).await.unwrap());
    assert!(h.exists(&dir).await.unwrap());
    let missing = dir.join("missing");
    assert!(!h.exists(&missing).await.unwrap());
    match h.read_file(&missing).await.unwrap_err() {
        HostError::File { reason, .. } => assert_eq!(reason, "not found"),
        e => panic!("unexpected {e}"),
    }
    let err = h
        .write_file(&dir.join("no/such/dir/f"), b"x", 0o644)
        .await
        .unwrap_err();
    assert!(matches!(err, HostError::File { .. }), "{err}");
    assert!(!f.tmp.path().join("canary").exists() && !Path::new("canary").exists());
    // A symbolic link planted at the target (to a file, or to a directory `mv` would move
    // into) is refused and never written through.
    let elsewhere = f.tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("victim"), "precious").unwrap();
    for to in [elsewhere.join("victim"), elsewhere.clone()] {
        let link = dir.join("planted");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&to, &link).unwrap();
        let err = h.write_file(&link, b"x", 0o644).await.unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(
            std::fs::read_to_string(elsewhere.join("victim")).unwrap(),
            "precious"
        );
        assert_eq!(
            std::fs::read_dir(&elsewhere).unwrap().count(),
            1,
            "wrote into {to:?}"
        );
    }
}

#[tokio::test]
async fn host_keys_are_pinned_and_a_swapped_key_is_refused() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    let mut f = Fixture::new("", TrustPolicy::PinnedOnly);
    let first_fp = f.sshd.host_fingerprint();

    // First contact without a trust decision: refused, with the fingerprint to confirm.
    let err = f.host().exec(&Cmd::new(["true"])).await.unwrap_err();
    match &err {
        HostError::HostKeyUnknown {
            fingerprint, addr, ..
        } => {
            assert_eq!(fingerprint, &first_fp);
            assert_eq!(addr, &format!("[127.0.0.1]:{}", f.sshd.port));
        }
        e => panic!("expected HostKeyUnknown, got {e}"),
    }
    assert!(
        !f.workspace().join("known_hosts").exists(),
        "nothing may be pinned yet"
    );

    // A wrong fingerprint is not accepted; the right one is, and gets pinned.
    let mut opts = f.opts.clone();
    opts.trust =
        TrustPolicy::Fingerprint("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into());
    let err = SshHost::new(f.target("root"), opts.clone())
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, HostError::HostKeyUnknown { .. }), "{err}");
    opts.trust = TrustPolicy::Fingerprint(first_fp.clone());
    SshHost::new(f.target("root"), opts)
        .connect()
        .await
        .unwrap();
    let kh = std::fs::read_to_string(f.workspace().join("known_hosts")).unwrap();
    assert!(
        kh.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 AAAA", f.sshd.port)),
        "{kh}"
    );

    // Pinned now: the strict default policy connects.
    f.host().exec_ok(&Cmd::new(["true"])).await.unwrap();

    // Plain OpenSSH accepts labwarp's pins with strict checking (and its key)...
    let ssh = |known_hosts: &Path| {
        Command::new("ssh")
            .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
            .args([
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "IdentitiesOnly=yes",
                "-i",
            ])
            .arg(&f.opts.identity.path)
            .args([
                "-p",
                &f.sshd.port.to_string(),
                "root@127.0.0.1",
                "echo",
                "pinned-ok",
            ])
            .output()
            .unwrap()
    };
    let out = ssh(&f.workspace().join("known_hosts"));
    assert!(
        out.status.success(),
        "ssh refused labwarp's pins: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "pinned-ok\n");
    // ... and refuses without them (so the check above means something).
    let empty = f.tmp.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    assert!(!ssh(&empty).status.success());

    // The server's host key changes between runs: refused, naming both fingerprints,
    // whatever the trust policy.
    f.sshd.stop();
    f.sshd.new_host_key();
    f.sshd.start();
    let second_fp = f.sshd.host_fingerprint();
    assert_ne!(first_fp, second_fp);
    for trust in [
        TrustPolicy::PinnedOnly,
        TrustPolicy::FirstUse,
        TrustPolicy::Fingerprint(second_fp.clone()),
    ] {
        let mut opts = f.opts.clone();
        opts.trust = trust;
        let err = SshHost::new(f.target("root"), opts)
            .exec(&Cmd::new(["true"]))
            .await
            .unwrap_err();
        match &err {
            HostError::HostKeyMismatch {
                pinned, offered, ..
            } => {
                assert_eq!(pinned, &first_fp);
                assert_eq!(offered, &second_fp);
            }
            e => panic!("expected HostKeyMismatch, got {e}"),
        }
        let msg = err.to_string();
        assert!(msg.contains(&first_fp) && msg.contains(&second_fp), "{msg}");
    }
    // The pin was not replaced.
    assert_eq!(
        std::fs::read_to_string(f.workspace().join("known_hosts")).unwrap(),
        kh
    );
}

#[tokio::test]
async fn wrong_key_is_an_auth_error() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    let f = Fixture::new("", TrustPolicy::FirstUse);
    // Same server, a workspace whose key the server does not know.
    let other =
        SshOptions::for_workspace(&f.tmp.path().join("other-ws"), TrustPolicy::FirstUse).unwrap();
    let err = SshHost::new(f.target("root"), other)
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, HostError::Auth { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("authentication failed for user root"),
        "{err}"
    );
}

#[tokio::test]
async fn one_connection_many_channels_within_max_sessions() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    // A server allowing 3 sessions per connection.
    let f = Fixture::new("MaxSessions 3", TrustPolicy::FirstUse);
    let mut opts = f.opts.clone();
    opts.max_sessions = 3;
    let h = Arc::new(SshHost::new(f.target("root"), opts));
    let cmd = sh("sleep 0.2; echo \"$SSH_CONNECTION\"");
    let runs: Vec<_> = (0..12)
        .map(|_| {
            let (h, cmd) = (h.clone(), cmd.clone());
            tokio::spawn(async move { h.exec_ok(&cmd).await })
        })
        .collect();
    let mut conns = std::collections::BTreeSet::new();
    for r in runs {
        conns.insert(r.await.unwrap().unwrap());
    }
    // Every command went over the same TCP connection (same client port).
    assert_eq!(conns.len(), 1, "{conns:?}");

    // Sanity: the same load without the client-side limit does hit sshd's limit, so the
    // limiter is what made the run above succeed.
    let mut opts = f.opts.clone();
    opts.max_sessions = 64;
    let h = Arc::new(SshHost::new(f.target("root"), opts));
    let runs: Vec<_> = (0..12)
        .map(|_| {
            // Longer than the client's retry window for refused channels.
            let (h, cmd) = (h.clone(), sh("sleep 4"));
            tokio::spawn(async move { h.exec(&cmd).await })
        })
        .collect();
    let mut refused = 0;
    for r in runs {
        if r.await.unwrap().is_err() {
            refused += 1;
        }
    }
    assert!(
        refused > 0,
        "sshd MaxSessions 3 should refuse some of 12 unlimited channels"
    );
}

#[tokio::test]
async fn reconnects_after_the_server_drops_the_connection() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    let mut f = Fixture::new("", TrustPolicy::FirstUse);
    let mut opts = f.opts.clone();
    opts.backoff = Backoff {
        attempts: 40,
        first: Duration::from_millis(50),
        max: Duration::from_millis(500),
    };
    let h = Arc::new(SshHost::new(f.target("root"), opts));
    let before = h.exec_ok(&sh("echo \"$SSH_CONNECTION\"")).await.unwrap();

    // Kill sshd and all its connection processes: the TCP connection dies.
    f.sshd.stop();
    // Right after the drop, while sshd is still down, a command starts; sshd comes back
    // during its backoff and the command succeeds on a new connection.
    let h2 = h.clone();
    let during = tokio::spawn(async move { h2.exec_ok(&sh("echo \"$SSH_CONNECTION\"")).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    f.sshd.start();
    let after = during.await.unwrap().unwrap();
    assert_ne!(before, after, "expected a new connection (new client port)");

    // Once more, with sshd already back before the next command.
    f.sshd.stop();
    f.sshd.start();
    assert_eq!(
        h.exec_ok(&Cmd::new(["echo", "again"])).await.unwrap(),
        "again\n"
    );
}

#[tokio::test]
async fn password_bootstrap_installs_the_key_once() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    let tmp = tempfile::tempdir().unwrap();
    // The user's home lives below; it must be traversable by that user.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let password = format!("pw-{}-{}", std::process::id(), rand_word());
    let user = TestUser::new(tmp.path(), &password);
    let opts = SshOptions::for_workspace(&tmp.path().join("ws"), TrustPolicy::FirstUse).unwrap();
    // Password logins (root stays key-only), keys from the user's ~/.ssh/authorized_keys.
    let sshd = Sshd::for_users(&tmp.path().join("sshd"), true);
    let target = SshTarget {
        name: "virthost".into(),
        host: "127.0.0.1".into(),
        port: sshd.port,
        user: user.name.clone(),
    };
    let h = SshHost::new(target, opts.clone());
    // Before: the key is not authorized.
    let err = h.connect().await.unwrap_err();
    assert!(matches!(err, HostError::Auth { .. }), "{err}");
    // A wrong password is an auth error and changes nothing.
    let err = h
        .install_key_with_password(Zeroizing::new("wrong-password".to_string()))
        .await
        .unwrap_err();
    assert!(matches!(err, HostError::Auth { .. }), "{err}");
    assert!(!user.home.join(".ssh/authorized_keys").exists());
    // Twice with the right password: one line, modes 700/600.
    for _ in 0..2 {
        h.install_key_with_password(Zeroizing::new(password.clone()))
            .await
            .unwrap();
    }
    let ak = std::fs::read_to_string(user.home.join(".ssh/authorized_keys")).unwrap();
    assert_eq!(ak, format!("{}\n", opts.identity.public_line()));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&user.home.join(".ssh")), 0o700);
    assert_eq!(mode(&user.home.join(".ssh/authorized_keys")), 0o600);
    // After: key login works.
    assert_eq!(
        h.exec_ok(&Cmd::new(["id", "-un"])).await.unwrap(),
        format!("{}\n", user.name)
    );
    // A sudo command as a non-root user goes through `sudo -n` (not installed here or not
    // passwordless: either way it must fail rather than run unprivileged).
    let out = h.exec(&Cmd::new(["id", "-u"]).sudo()).await.unwrap();
    assert!(!out.success() || out.stdout_str().trim() == "0", "{out:?}");
    // The password never reached the server's log.
    assert!(!sshd.log().contains(&password));
}

fn rand_word() -> String {
    let n: u64 = rand::random();
    format!("{n:x}")
}

#[tokio::test]
async fn proxy_jump_through_a_namespace_chain() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    let tag = format!("{}", std::process::id() % 100_000);
    let octet = 1 + (std::process::id() % 250);
    // RFC 2544 benchmark range only: root ↔ jump on 198.18.N.0/24, jump ↔ target on 198.19.N.0/24.
    let (root_ip, jump_ip) = (format!("198.18.{octet}.1"), format!("198.18.{octet}.2"));
    let (jump_in, target_ip) = (format!("198.19.{octet}.1"), format!("198.19.{octet}.2"));
    let jump_ns = Netns::new(&format!("lwj{tag}"));
    let target_ns = Netns::new(&format!("lwt{tag}"));
    let _v1 = Veth::new(
        &format!("lwr{tag}"),
        None,
        &format!("{root_ip}/24"),
        &format!("lwa{tag}"),
        &jump_ns,
        &format!("{jump_ip}/24"),
    );
    let _v2 = Veth::new(
        &format!("lwb{tag}"),
        Some(&jump_ns),
        &format!("{jump_in}/24"),
        &format!("lwc{tag}"),
        &target_ns,
        &format!("{target_ip}/24"),
    );

    let tmp = tempfile::tempdir().unwrap();
    let opts = SshOptions::for_workspace(&tmp.path().join("ws"), TrustPolicy::FirstUse).unwrap();
    let mut sshd1 = Sshd::new(
        &tmp.path().join("sshd1"),
        &jump_ip,
        22,
        Some(&jump_ns.0),
        "",
    );
    let mut sshd2 = Sshd::new(
        &tmp.path().join("sshd2"),
        &target_ip,
        22,
        Some(&target_ns.0),
        "",
    );
    sshd1.authorize(&opts.identity.public_line());
    sshd2.authorize(&opts.identity.public_line());
    sshd1.start();
    sshd2.start();

    let jump = Arc::new(SshHost::new(
        SshTarget {
            name: "virthost".into(),
            host: jump_ip.clone(),
            port: 22,
            user: "root".into(),
        },
        opts.clone(),
    ));
    let vm = SshHost::via(
        SshTarget {
            name: "undercloud".into(),
            host: target_ip.clone(),
            port: 22,
            user: "root".into(),
        },
        opts.clone(),
        jump.clone(),
    );
    // The target sees the connection coming from the jump host's inner address.
    let seen = vm.exec_ok(&sh("echo \"$SSH_CONNECTION\"")).await.unwrap();
    let fields: Vec<&str> = seen.split_whitespace().collect();
    assert_eq!(fields.first(), Some(&jump_in.as_str()), "{seen}");
    assert_eq!(fields.get(2), Some(&target_ip.as_str()), "{seen}");
    // A chain of two jumps: virthost → virthost (its own address, from inside) → target.
    // sshd1 listens only on jump_ip: tunnel to it by that address from inside the jump ns.
    let hop2 = Arc::new(SshHost::via(
        SshTarget {
            name: "virthost-2".into(),
            host: jump_ip.clone(),
            port: 22,
            user: "root".into(),
        },
        opts.clone(),
        jump.clone(),
    ));
    let vm2 = SshHost::via(
        SshTarget {
            name: "undercloud-2".into(),
            host: target_ip.clone(),
            port: 22,
            user: "root".into(),
        },
        opts.clone(),
        hop2,
    );
    assert_eq!(
        vm2.exec_ok(&Cmd::new(["echo", "two hops"])).await.unwrap(),
        "two hops\n"
    );

    // Pins are per address as seen by the client: both hosts are in known_hosts, in the
    // format OpenSSH uses for port 22.
    let kh = std::fs::read_to_string(tmp.path().join("ws/known_hosts")).unwrap();
    assert!(
        kh.lines()
            .any(|l| l.starts_with(&format!("{jump_ip} ssh-ed25519 "))),
        "{kh}"
    );
    assert!(
        kh.lines()
            .any(|l| l.starts_with(&format!("{target_ip} ssh-ed25519 "))),
        "{kh}"
    );

    // Plain OpenSSH with ProxyJump accepts the same pins strictly.
    let cfg = tmp.path().join("ssh_config");
    std::fs::write(
        &cfg,
        format!(
            "Host *\n  BatchMode yes\n  StrictHostKeyChecking yes\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n  IdentitiesOnly yes\n  IdentityFile {}\n  User root\n",
            tmp.path().join("ws/known_hosts").display(),
            opts.identity.path.display()
        ),
    )
    .unwrap();
    let out = Command::new("ssh")
        .arg("-F")
        .arg(&cfg)
        .args([
            "-J",
            &format!("root@{jump_ip}"),
            &target_ip,
            "echo",
            "jumped",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ssh -J refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "jumped\n");

    // The target's key changes: refused through the jump as well.
    sshd2.stop();
    sshd2.new_host_key();
    sshd2.start();
    let vm3 = SshHost::via(
        SshTarget {
            name: "undercloud".into(),
            host: target_ip.clone(),
            port: 22,
            user: "root".into(),
        },
        opts.clone(),
        jump.clone(),
    );
    let err = vm3.exec(&Cmd::new(["true"])).await.unwrap_err();
    assert!(matches!(err, HostError::HostKeyMismatch { .. }), "{err}");
}
