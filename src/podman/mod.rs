//! podman over a [`Host`]: list containers, logs (tail and follow), restart, exec, and the
//! command line for an interactive shell. The TripleO undercloud runs its services as podman
//! containers (`keystone`, `ironic_conductor`, ...), so this is how labwarp looks at them.
//!
//! Every command is marked `sudo`: the host runs it through `sudo -n` when its user is not
//! root (containers of root and of other users are separate in podman).

mod ps;
mod shell;

pub use ps::{Container, ContainerState, Health, format_uptime, parse_ps};
pub use shell::{ShellKind, ShellVia, shell_argv};

use crate::host::{Cancel, Cmd, Host, HostError, Output, OutputLine, Stream};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum PodmanError {
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("{host}: no container named '{name}' (see `podman ps -a`)")]
    NotFound { host: String, name: String },
    #[error("{host}: `{cmd}` failed (exit {code}): {stderr}")]
    Failed {
        host: String,
        cmd: String,
        code: String,
        stderr: String,
    },
    #[error("{host}: cannot parse `podman ps` output: {message}")]
    Parse { host: String, message: String },
    #[error("{field}: {message}")]
    BadInput { field: String, message: String },
}

/// Container names as podman accepts them; anything else (spaces, a leading `-` that would
/// read as an option, shell characters) is refused before any command is built.
pub(crate) fn check_name(name: &str) -> Result<(), PodmanError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(PodmanError::BadInput {
            field: "container name".into(),
            message: format!(
                "'{name}' is not a podman container name (letters, digits, '_', '.', '-'; starting with a letter or digit)"
            ),
        })
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// podman on one host.
#[derive(Clone)]
pub struct Podman {
    host: Arc<dyn Host>,
}

impl std::fmt::Debug for Podman {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Podman")
            .field("host", &self.host.name())
            .finish()
    }
}

/// A running `podman logs -f`: lines arrive with [`LogFollow::next`]; dropping it (or
/// [`LogFollow::stop`]) kills the command.
pub struct LogFollow {
    rx: mpsc::Receiver<OutputLine>,
    cancel: Cancel,
    task: Option<JoinHandle<Result<Output, HostError>>>,
}

impl LogFollow {
    /// The next log line; `None` when the command ended (container removed, or stopped).
    pub async fn next(&mut self) -> Option<OutputLine> {
        self.rx.recv().await
    }

    /// Stops following and waits for the command to be gone.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for LogFollow {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Podman {
    pub fn new(host: Arc<dyn Host>) -> Self {
        Podman { host }
    }

    pub fn host_name(&self) -> &str {
        self.host.name()
    }

    fn cmd<I: IntoIterator<Item = S>, S: Into<String>>(&self, args: I) -> Cmd {
        let mut argv = vec!["podman".to_string()];
        argv.extend(args.into_iter().map(Into::into));
        Cmd::new(argv).sudo()
    }

    /// Runs a podman command; a failure mentioning a missing container becomes `NotFound`.
    async fn run_ok(&self, cmd: &Cmd, name: Option<&str>) -> Result<Output, PodmanError> {
        let out = self.host.exec(cmd).await?;
        if out.success() {
            return Ok(out);
        }
        let stderr = out.stderr_str().trim_end().to_string();
        if let Some(name) = name
            && stderr.contains("no such container")
        {
            return Err(PodmanError::NotFound {
                host: self.host.name().into(),
                name: name.into(),
            });
        }
        Err(PodmanError::Failed {
            host: self.host.name().into(),
            cmd: cmd.to_shell(),
            code: out
                .code
                .map_or_else(|| "signal".to_string(), |c| c.to_string()),
            stderr,
        })
    }

    /// Every container (running or not), sorted by name.
    pub async fn list(&self) -> Result<Vec<Container>, PodmanError> {
        let cmd = self
            .cmd(["ps", "-a", "--format", "json"])
            .timeout(Duration::from_secs(60));
        let out = self.run_ok(&cmd, None).await?;
        parse_ps(&out.stdout_str(), now_unix()).map_err(|e| PodmanError::Parse {
            host: self.host.name().into(),
            message: e.to_string(),
        })
    }

    /// One container by exact name; `None` when there is none.
    pub async fn container(&self, name: &str) -> Result<Option<Container>, PodmanError> {
        check_name(name)?;
        let filter = format!("name=^{name}$");
        let cmd = self
            .cmd(["ps", "-a", "--filter", &filter, "--format", "json"])
            .timeout(Duration::from_secs(60));
        let out = self.run_ok(&cmd, None).await?;
        let list = parse_ps(&out.stdout_str(), now_unix()).map_err(|e| PodmanError::Parse {
            host: self.host.name().into(),
            message: e.to_string(),
        })?;
        Ok(list.into_iter().find(|c| c.name == name))
    }

    fn logs_cmd(&self, name: &str, tail: Option<usize>, follow: bool) -> Cmd {
        let mut args = vec!["logs".to_string()];
        if follow {
            args.push("--follow".into());
        }
        if let Some(n) = tail {
            args.push("--tail".into());
            args.push(n.to_string());
        }
        args.push(name.into());
        self.cmd(args)
    }

    /// The last `tail` lines of a container's log (all when `None`), stdout and stderr in
    /// the order podman printed them.
    pub async fn logs(
        &self,
        name: &str,
        tail: Option<usize>,
    ) -> Result<Vec<OutputLine>, PodmanError> {
        check_name(name)?;
        let cmd = self
            .logs_cmd(name, tail, false)
            .timeout(Duration::from_secs(120));
        let (tx, mut rx) = mpsc::channel(1024);
        let collect = async move {
            let mut lines = Vec::new();
            while let Some(l) = rx.recv().await {
                lines.push(l);
            }
            lines
        };
        let (res, lines) = tokio::join!(self.host.exec_streaming(&cmd, tx), collect);
        let out = res?;
        if !out.success() {
            let stderr: Vec<&str> = lines
                .iter()
                .filter(|l| l.stream == Stream::Stderr)
                .map(|l| l.line.as_str())
                .collect();
            let stderr = stderr.join("\n");
            if stderr.contains("no such container") {
                return Err(PodmanError::NotFound {
                    host: self.host.name().into(),
                    name: name.into(),
                });
            }
            return Err(PodmanError::Failed {
                host: self.host.name().into(),
                cmd: cmd.to_shell(),
                code: out.code.map_or_else(|| "signal".into(), |c| c.to_string()),
                stderr,
            });
        }
        Ok(lines)
    }

    /// Follows a container's log (`podman logs --follow --tail N`), streaming lines.
    pub async fn follow_logs(
        &self,
        name: &str,
        tail: Option<usize>,
    ) -> Result<LogFollow, PodmanError> {
        check_name(name)?;
        // Fail early and clearly for a missing container instead of an empty stream.
        if self.container(name).await?.is_none() {
            return Err(PodmanError::NotFound {
                host: self.host.name().into(),
                name: name.into(),
            });
        }
        let cmd = self.logs_cmd(name, tail, true);
        let (tx, rx) = mpsc::channel(1024);
        let cancel = Cancel::new();
        let host = self.host.clone();
        let c2 = cancel.clone();
        let task = tokio::spawn(async move { host.exec_cancellable(&cmd, Some(tx), &c2).await });
        Ok(LogFollow {
            rx,
            cancel,
            task: Some(task),
        })
    }

    /// Restarts a container (stop with `timeout` grace, then start).
    pub async fn restart(&self, name: &str, timeout: Duration) -> Result<(), PodmanError> {
        check_name(name)?;
        let secs = timeout.as_secs().to_string();
        let cmd = self
            .cmd(["restart", "--time", &secs, name])
            .timeout(timeout + Duration::from_secs(120));
        self.run_ok(&cmd, Some(name)).await.map(|_| ())
    }

    /// Runs a command inside a running container (no TTY) and returns its output; a non-zero
    /// exit of the command is returned in `Output`, not as an error.
    pub async fn exec(&self, name: &str, argv: &[&str]) -> Result<Output, PodmanError> {
        check_name(name)?;
        if argv.is_empty() {
            return Err(PodmanError::BadInput {
                field: "command".into(),
                message: "give the command to run in the container".into(),
            });
        }
        let mut args = vec!["exec", name];
        args.extend_from_slice(argv);
        let out = self.host.exec(&self.cmd(args)).await?;
        // podman's own failures use 125 (e.g. no such container); 126/127 mean the command
        // could not be run; anything else is the command's own exit status.
        if out.code == Some(125) && out.stderr_str().contains("no such container") {
            return Err(PodmanError::NotFound {
                host: self.host.name().into(),
                name: name.into(),
            });
        }
        Ok(out)
    }
}
