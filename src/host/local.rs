//! The machine labwarp runs on, as a [`Host`].
//!
//! Commands run without a shell (argv straight to exec), in their own process group so a
//! timeout, a cancellation or a dropped future kills the whole tree, not just the first child.

use super::{Cmd, Host, HostError, Output, OutputLine, Stream};
use async_trait::async_trait;
use std::path::Path;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

/// This machine. Commands with `sudo` go through `sudo -n` unless labwarp already runs as root.
#[derive(Debug, Clone)]
pub struct LocalHost {
    name: String,
    is_root: bool,
}

impl Default for LocalHost {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalHost {
    pub fn new() -> Self {
        Self::named("local")
    }

    /// A local host with another display name (e.g. the hypervisor's name from lab.yaml).
    pub fn named(name: impl Into<String>) -> Self {
        LocalHost {
            name: name.into(),
            is_root: nix::unistd::geteuid().is_root(),
        }
    }

    fn file_err(&self, path: &Path, reason: impl Into<String>) -> HostError {
        HostError::File {
            host: self.name.clone(),
            path: path.display().to_string(),
            reason: reason.into(),
        }
    }

    fn io_file_err(&self, path: &Path, e: std::io::Error) -> HostError {
        if e.kind() == std::io::ErrorKind::NotFound {
            self.file_err(path, "not found")
        } else {
            self.file_err(path, e.to_string())
        }
    }
}

#[async_trait]
impl Host for LocalHost {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(
        &self,
        cmd: &Cmd,
        lines: Option<mpsc::Sender<OutputLine>>,
    ) -> Result<Output, HostError> {
        let argv = full_argv(cmd, self.is_root);
        let Some((prog, args)) = argv.split_first() else {
            return Err(HostError::Other {
                host: self.name.clone(),
                msg: "empty command".into(),
            });
        };
        let mut command = Command::new(prog);
        command
            .args(args)
            .stdin(if cmd.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| HostError::Other {
            host: self.name.clone(),
            msg: format!("cannot start `{}`: {e}", cmd.to_shell()),
        })?;
        // Armed until the command finished normally: any other exit path kills the group.
        let mut guard = GroupKill(child.id());

        let stdin = child.stdin.take();
        let data = cmd.stdin.as_deref();
        let feed = async move {
            if let (Some(mut w), Some(data)) = (stdin, data) {
                // A command that exits without reading its input is not an error.
                let _ = w.write_all(data).await;
                let _ = w.shutdown().await;
            }
        };
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let work = async {
            let (out, err, ()) = tokio::join!(
                drain(stdout, Stream::Stdout, lines.clone()),
                drain(stderr, Stream::Stderr, lines),
                feed
            );
            let status = child.wait().await?;
            Ok::<_, std::io::Error>(Output {
                code: status.code(),
                stdout: out?,
                stderr: err?,
            })
        };
        let result = match cmd.timeout {
            Some(t) => match tokio::time::timeout(t, work).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(HostError::Timeout {
                        host: self.name.clone(),
                        cmd: cmd.to_shell(),
                        secs: t.as_secs(),
                    });
                }
            },
            None => work.await,
        };
        let out = result.map_err(|e| HostError::Other {
            host: self.name.clone(),
            msg: format!("`{}`: {e}", cmd.to_shell()),
        })?;
        guard.0 = None;
        Ok(out)
    }

    async fn read_file(&self, path: &Path) -> Result<Vec<u8>, HostError> {
        tokio::fs::read(path)
            .await
            .map_err(|e| self.io_file_err(path, e))
    }

    async fn write_file(&self, path: &Path, data: &[u8], mode: u32) -> Result<(), HostError> {
        let (p, d) = (path.to_path_buf(), data.to_vec());
        tokio::task::spawn_blocking(move || crate::workspace::write_atomic(&p, &d, mode))
            .await
            .map_err(|e| self.file_err(path, e.to_string()))?
            .map_err(|e| self.io_file_err(path, e))
    }

    async fn exists(&self, path: &Path) -> Result<bool, HostError> {
        // symlink_metadata: a dangling symlink still exists.
        match tokio::fs::symlink_metadata(path).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io_file_err(path, e)),
        }
    }
}

/// The argv actually executed: `sudo -n --` in front when asked for and not already root.
pub(crate) fn full_argv(cmd: &Cmd, is_root: bool) -> Vec<String> {
    let mut argv = Vec::with_capacity(cmd.argv.len() + 3);
    if cmd.sudo && !is_root {
        argv.extend(["sudo", "-n", "--"].map(String::from));
    }
    argv.extend(cmd.argv.iter().cloned());
    argv
}

/// Kills a process group when dropped, unless disarmed (set to `None`).
struct GroupKill(Option<u32>);

impl Drop for GroupKill {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            // ESRCH (already gone) is fine.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Reads a pipe to its end: whole bytes when collecting, or line by line to `lines`.
async fn drain<R: AsyncRead + Unpin>(
    pipe: Option<R>,
    stream: Stream,
    lines: Option<mpsc::Sender<OutputLine>>,
) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let Some(pipe) = pipe else {
        return Ok(buf);
    };
    match lines {
        None => {
            let mut pipe = pipe;
            pipe.read_to_end(&mut buf).await?;
        }
        Some(tx) => {
            let mut reader = BufReader::new(pipe);
            loop {
                buf.clear();
                if reader.read_until(b'\n', &mut buf).await? == 0 {
                    break;
                }
                let line = line_text(&buf);
                // A receiver that went away does not stop the command; keep draining.
                let _ = tx.send(OutputLine { stream, line }).await;
            }
            buf.clear();
        }
    }
    Ok(buf)
}

/// One line without its terminator (`\n` or `\r\n`), invalid UTF-8 replaced.
pub(crate) fn line_text(raw: &[u8]) -> String {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    String::from_utf8_lossy(raw).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Cancel;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    fn sh(script: &str) -> Cmd {
        Cmd::new(["sh", "-c", script])
    }

    /// Whether a process is gone or a zombie (killed, not yet reaped by its new parent).
    fn dead(pid: &str) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z')),
        }
    }

    /// Polls (bounded) until the process is dead; the bound is generous, not a timing claim.
    async fn wait_dead(pid: &str) -> bool {
        for _ in 0..500 {
            if dead(pid) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn exec_collects_stdout_stderr_and_exit_code() {
        let h = LocalHost::new();
        let out = h.exec(&sh("echo out; echo err >&2; exit 3")).await.unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout_str(), "out\n");
        assert_eq!(out.stderr_str(), "err\n");
        assert!(!out.success());
        let ok = h.exec(&Cmd::new(["true"])).await.unwrap();
        assert!(ok.success());
    }

    #[tokio::test]
    async fn exec_killed_by_signal_has_no_code() {
        let out = LocalHost::new().exec(&sh("kill -9 $$")).await.unwrap();
        assert_eq!(out.code, None);
    }

    #[tokio::test]
    async fn exec_ok_reports_failure_with_stderr() {
        let h = LocalHost::named("virthost");
        assert_eq!(h.exec_ok(&sh("printf hi")).await.unwrap(), "hi");
        let err = h.exec_ok(&sh("echo boom >&2; exit 4")).await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, HostError::Failed { .. }), "{msg}");
        assert!(msg.contains("virthost") && msg.contains("exit 4") && msg.contains("boom"));
    }

    #[tokio::test]
    async fn missing_program_and_empty_argv_are_errors() {
        let h = LocalHost::new();
        let e = h
            .exec(&Cmd::new(["/nonexistent/labwarp-no-such-program"]))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("cannot start"), "{e}");
        let e = h.exec(&Cmd::new(Vec::<String>::new())).await.unwrap_err();
        assert!(e.to_string().contains("empty command"), "{e}");
    }

    #[tokio::test]
    async fn stdin_is_fed_and_closed() {
        let data: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
        let out = LocalHost::new()
            .exec(&Cmd::new(["cat"]).stdin(data.clone()))
            .await
            .unwrap();
        assert!(out.success());
        assert_eq!(out.stdout, data);
        // Without stdin the command reads EOF at once instead of hanging.
        let out = LocalHost::new().exec(&Cmd::new(["cat"])).await.unwrap();
        assert!(out.success() && out.stdout.is_empty());
        // A command that ignores its input does not fail on the broken pipe.
        let out = LocalHost::new()
            .exec(&Cmd::new(["true"]).stdin(vec![b'x'; 1 << 20]))
            .await
            .unwrap();
        assert!(out.success());
    }

    #[tokio::test]
    async fn streaming_delivers_lines_while_the_command_runs() {
        let dir = tempfile::tempdir().unwrap();
        let gate = dir.path().join("gate");
        let script = "echo first; echo warn >&2; while [ ! -e \"$1\" ]; do sleep 0.01; done; printf 'second\\r\\nlast-no-newline'";
        let cmd = Cmd::new(["sh", "-c", script, "sh", gate.to_str().unwrap()]);
        let (tx, mut rx) = mpsc::channel(16);
        let h = LocalHost::new();
        let run = tokio::spawn(async move { h.exec_streaming(&cmd, tx).await });
        let mut early = vec![rx.recv().await.unwrap(), rx.recv().await.unwrap()];
        early.sort_by_key(|l| l.line.clone());
        // Both lines arrived although the command is still blocked on the gate.
        assert!(!run.is_finished());
        assert_eq!(
            early,
            vec![
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
        assert!(out.success() && out.stdout.is_empty() && out.stderr.is_empty());
        let rest: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|l| l.line)
            .collect();
        assert_eq!(rest, ["second", "last-no-newline"]);
    }

    #[tokio::test]
    async fn invalid_utf8_is_replaced_not_an_error() {
        let (tx, mut rx) = mpsc::channel(4);
        LocalHost::new()
            .exec_streaming(&Cmd::new(["printf", "a\\377b\\n"]), tx)
            .await
            .unwrap();
        assert_eq!(rx.recv().await.unwrap().line, "a\u{fffd}b");
    }

    #[tokio::test]
    async fn hostile_words_stay_single_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let canary = dir.path().join("canary");
        let c = canary.to_str().unwrap();
        let words = [
            format!("; touch {c}"),
            format!("$(touch {c})"),
            format!("`touch {c}`"),
            format!("a\ntouch {c}\n"),
            "it's \"quoted\" \\ back".to_string(),
            "".to_string(),
            "*".to_string(),
        ];
        let mut argv = vec!["printf".to_string(), "%s\\0".to_string()];
        argv.extend(words.iter().cloned());
        let direct = Cmd::new(argv.clone());
        // The same argv once executed directly and once through a shell with to_shell().
        let via_shell = Cmd::new(["sh".to_string(), "-c".to_string(), direct.to_shell()]);
        let h = LocalHost::new();
        for cmd in [direct, via_shell] {
            let out = h.exec(&cmd).await.unwrap();
            let got: Vec<String> = out
                .stdout_str()
                .split_terminator('\0')
                .map(String::from)
                .collect();
            assert_eq!(got, words);
        }
        assert!(!canary.exists(), "a hostile word was executed");
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_process_group() {
        let (tx, mut rx) = mpsc::channel(4);
        let cmd = sh("sleep 300 & echo $!; wait").timeout(Duration::from_millis(300));
        let h = LocalHost::new();
        let run = tokio::spawn(async move { h.exec_streaming(&cmd, tx).await });
        let grandchild = rx.recv().await.unwrap().line;
        let err = run.await.unwrap().unwrap_err();
        assert!(matches!(err, HostError::Timeout { .. }), "{err}");
        assert!(err.to_string().contains("timed out"), "{err}");
        assert!(wait_dead(&grandchild).await, "sleep {grandchild} survived");
    }

    #[tokio::test]
    async fn cancellation_stops_the_command() {
        let cancel = Cancel::new();
        let (tx, mut rx) = mpsc::channel(4);
        let h = LocalHost::new();
        let c2 = cancel.clone();
        let run = tokio::spawn(async move {
            h.exec_cancellable(&sh("echo $$; exec sleep 300"), Some(tx), &c2)
                .await
        });
        let pid = rx.recv().await.unwrap().line;
        cancel.cancel();
        let err = run.await.unwrap().unwrap_err();
        assert!(matches!(err, HostError::Cancelled { .. }), "{err}");
        assert!(wait_dead(&pid).await, "process {pid} survived cancellation");
        // An already cancelled token refuses to start anything.
        let err = LocalHost::new()
            .exec_cancellable(&Cmd::new(["true"]), None, &cancel)
            .await
            .unwrap_err();
        assert!(matches!(err, HostError::Cancelled { .. }));
    }

    #[tokio::test]
    async fn dropping_the_future_kills_the_command() {
        let (tx, mut rx) = mpsc::channel(4);
        let h = LocalHost::new();
        let run =
            tokio::spawn(
                async move { h.exec_streaming(&sh("sleep 300 & echo $!; wait"), tx).await },
            );
        let pid = rx.recv().await.unwrap().line;
        run.abort();
        assert!(run.await.unwrap_err().is_cancelled());
        assert!(wait_dead(&pid).await, "sleep {pid} survived the drop");
    }

    #[test]
    fn sudo_prefix_only_when_not_root() {
        let cmd = Cmd::new(["virsh", "list"]).sudo();
        assert_eq!(
            full_argv(&cmd, false),
            ["sudo", "-n", "--", "virsh", "list"]
        );
        assert_eq!(full_argv(&cmd, true), ["virsh", "list"]);
        assert_eq!(full_argv(&Cmd::new(["id"]), false), ["id"]);
    }

    #[tokio::test]
    async fn sudo_command_runs() {
        // As root the prefix is skipped; otherwise sudo -n must be passwordless here.
        let out = LocalHost::new()
            .exec(&Cmd::new(["id", "-u"]).sudo())
            .await
            .unwrap();
        if out.success() {
            assert_eq!(out.stdout_str().trim(), "0");
        } else {
            eprintln!(
                "SKIPPED sudo_command_runs: sudo -n not passwordless for this user: {}",
                out.stderr_str()
            );
        }
    }

    #[tokio::test]
    async fn write_file_is_atomic_with_mode_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.conf");
        let h = LocalHost::new();
        h.write_file(&path, b"one\n", 0o600).await.unwrap();
        assert_eq!(h.read_file(&path).await.unwrap(), b"one\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
        // Overwrite changes content and mode; no temp file is left behind.
        h.write_file(&path, b"two", 0o644).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o644);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["secret.conf"]);
    }

    #[tokio::test]
    async fn file_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let h = LocalHost::new();
        let missing = dir.path().join("missing");
        let err = h.read_file(&missing).await.unwrap_err();
        match &err {
            HostError::File { reason, path, .. } => {
                assert_eq!(reason, "not found");
                assert!(path.ends_with("missing"));
            }
            other => panic!("unexpected {other}"),
        }
        let err = h
            .write_file(&dir.path().join("no/such/dir/f"), b"x", 0o644)
            .await
            .unwrap_err();
        assert!(matches!(err, HostError::File { .. }), "{err}");
        assert!(err.to_string().contains("no/such/dir/f"), "{err}");
    }

    #[tokio::test]
    async fn exists_sees_files_dirs_and_dangling_links() {
        let dir = tempfile::tempdir().unwrap();
        let h = LocalHost::new();
        let f = dir.path().join("f");
        std::fs::write(&f, "x").unwrap();
        let link = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &link).unwrap();
        assert!(h.exists(&f).await.unwrap());
        assert!(h.exists(dir.path()).await.unwrap());
        assert!(h.exists(&link).await.unwrap());
        assert!(!h.exists(&dir.path().join("nowhere")).await.unwrap());
    }
}
