//! Faults on SSH (SshHost against a real OpenSSH sshd on 127.0.0.1, tests/sshd/):
//! - the connection is cut mid-stream (sshd's per-connection processes get SIGKILL while a
//!   command streams output, and while a file is being written): the command fails with an
//!   error naming the host, nothing is re-run behind the caller's back, the target file is
//!   either absent or whole, and running the same idempotent operations again converges;
//! - sshd is restarted during a session: the next command reconnects (with backoff), and
//!   the reconnect still checks the host key against the pin: a restarted sshd with a new
//!   key is refused.

use crate::sshd::Sshd;
use labwarp::host::ssh::Backoff;
use labwarp::host::{Cmd, Host, HostError, SshHost, SshOptions, SshTarget, TrustPolicy};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

macro_rules! require_sshd {
    () => {
        if let Some(why) = crate::sshd::unavailable() {
            eprintln!("\n!!! SKIPPED: {why} !!!\n");
            return;
        }
    };
}

struct Fixture {
    tmp: tempfile::TempDir,
    sshd: Sshd,
    opts: SshOptions,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let mut opts =
            SshOptions::for_workspace(&tmp.path().join("workspace"), TrustPolicy::FirstUse)
                .unwrap();
        opts.backoff = Backoff {
            attempts: 40,
            first: Duration::from_millis(50),
            max: Duration::from_millis(500),
        };
        let mut sshd = Sshd::new(
            &tmp.path().join("sshd"),
            "127.0.0.1",
            crate::sshd::free_port(),
            None,
            "",
        );
        sshd.authorize(&opts.identity.public_line());
        sshd.start();
        Fixture { tmp, sshd, opts }
    }

    fn host(&self) -> Arc<SshHost> {
        Arc::new(SshHost::new(
            SshTarget {
                name: "faulthost".into(),
                host: "127.0.0.1".into(),
                port: self.sshd.port,
                user: "root".into(),
            },
            self.opts.clone(),
        ))
    }
}

/// Guards against a hang (the fault under test could make a call wait forever); no timing
/// is asserted.
async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .unwrap_or_else(|_| panic!("{what} hung after the fault"))
}

#[tokio::test]
async fn connection_cut_mid_stream_fails_naming_the_host_and_a_rerun_converges() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    let f = Fixture::new();
    let h = f.host();
    let mut report = Vec::new();

    // 1. A streaming command: 400 lines, slowly; cut after the 5th arrives.
    let script = "i=0; while [ $i -lt 400 ]; do i=$((i+1)); echo line $i; sleep 0.02; done";
    let (tx, mut rx) = mpsc::channel(1024);
    let h2 = h.clone();
    let run =
        tokio::spawn(async move { h2.exec_streaming(&Cmd::new(["sh", "-c", script]), tx).await });
    let mut got = 0;
    while got < 5 {
        bounded("first lines", rx.recv()).await.expect("a line");
        got += 1;
    }
    let killed = f.sshd.cut_connections();
    assert!(killed > 0, "no sshd connection process to kill");
    let r = bounded("the cut command", run).await.unwrap();
    while rx.try_recv().is_ok() {
        got += 1;
    }
    let err = match r {
        Err(e) => e,
        Ok(o) => panic!(
            "a command whose connection was cut must fail, not look finished: code {:?} after {got} lines",
            o.code
        ),
    };
    let msg = err.to_string();
    assert!(
        msg.contains("faulthost"),
        "the error must name the host: {msg}"
    );
    assert!(got < 400, "the command ran to its end despite the cut");
    report.push(format!("stream cut after {got}/400 lines: `{msg}`"));

    // The next command reconnects (backoff) and the same streaming command, run again by
    // the caller, completes.
    let (tx, mut rx) = mpsc::channel(1024);
    let short = "i=0; while [ $i -lt 20 ]; do i=$((i+1)); echo line $i; done";
    let out = bounded(
        "rerun",
        h.exec_streaming(&Cmd::new(["sh", "-c", short]), tx),
    )
    .await
    .expect("the rerun reconnects and succeeds");
    assert!(out.success());
    let mut lines = Vec::new();
    while let Ok(l) = rx.try_recv() {
        lines.push(l.line);
    }
    assert_eq!(lines.len(), 20, "{lines:?}");
    assert_eq!(lines.last().map(String::as_str), Some("line 20"));

    // 2. A file write cut half-way: the target is absent (never a partial file); writing
    // it again converges and leaves no temp file.
    let dir = f.tmp.path().join("remote");
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join("big.bin");
    let data: Vec<u8> = (0..64 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let h2 = h.clone();
    let (t2, d2) = (target.clone(), data.clone());
    let write = tokio::spawn(async move { h2.write_file(&t2, &d2, 0o600).await });
    // Cut once the temp file has started to grow.
    let tmp = dir.join(".big.bin.labwarp-tmp");
    let cut_at = bounded("the write to start", async {
        loop {
            if let Ok(m) = std::fs::metadata(&tmp)
                && m.len() > 0
            {
                return m.len();
            }
            if write.is_finished() {
                return 0;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    f.sshd.cut_connections();
    let r = bounded("the cut write", write).await.unwrap();
    match (&r, cut_at) {
        (Err(e), _) => {
            assert!(e.to_string().contains("faulthost"), "{e}");
            assert!(
                !target.exists(),
                "a cut write must not leave a partial target"
            );
            report.push(format!(
                "write cut at {cut_at} of {} bytes: `{e}`, target absent",
                data.len()
            ));
        }
        (Ok(()), 0) => report.push("write finished before the cut could land".into()),
        (Ok(()), _) => {
            // The rename happened before the kill landed: the file must be whole.
            assert_eq!(std::fs::read(&target).unwrap(), data);
            report.push("write completed just before the cut".into());
        }
    }
    bounded("rewrite", h.write_file(&target, &data, 0o600))
        .await
        .expect("writing again reconnects and succeeds");
    assert_eq!(std::fs::read(&target).unwrap(), data, "rewritten file");
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["big.bin"], "temp files left behind");
    eprintln!(
        "SSH CUT: {}; reruns converged (stream complete, file whole, no temp file)",
        report.join("; ")
    );
}

#[tokio::test]
async fn sshd_restarted_mid_session_reconnects_and_still_checks_the_pin() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    let mut f = Fixture::new();
    let h = f.host();
    let first = h
        .exec_ok(&Cmd::new(["sh", "-c", "echo $SSH_CONNECTION"]))
        .await
        .unwrap();

    // Same host key: the next command reconnects on its own.
    f.sshd.stop();
    f.sshd.start();
    let again = bounded(
        "after restart",
        h.exec_ok(&Cmd::new(["sh", "-c", "echo $SSH_CONNECTION"])),
    )
    .await
    .expect("reconnects after an sshd restart");
    assert_ne!(first, again, "expected a new connection");

    // sshd comes back with another host key: the reconnect is refused, naming the host,
    // and the pin is left as it was.
    let known = f.tmp.path().join("workspace/known_hosts");
    let pinned = std::fs::read_to_string(&known).unwrap();
    f.sshd.stop();
    f.sshd.new_host_key();
    f.sshd.start();
    let err = bounded("after a key change", h.exec_ok(&Cmd::new(["true"])))
        .await
        .expect_err("a changed host key must be refused on reconnect");
    assert!(
        matches!(err, HostError::HostKeyMismatch { .. }),
        "expected a host key mismatch, got: {err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("faulthost"), "{msg}");
    assert_eq!(
        std::fs::read_to_string(&known).unwrap(),
        pinned,
        "known_hosts changed"
    );
    eprintln!(
        "SSHD RESTART: same key -> reconnected (new connection); new key -> refused: `{msg}`"
    );
}
