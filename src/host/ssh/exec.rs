//! Running commands: an argv [`Cmd`] wrapped so its process group can be killed, or a raw
//! shell line with byte streams (`labwarp ssh HOST CMD`).

use super::SshHost;
use super::output::{PGID_MARKER, Sink};
use super::session::KillPlan;
use crate::host::local::full_argv;
use crate::host::{Cmd, HostError, Output, OutputLine, Stream};
use russh::ChannelMsg;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

impl SshHost {
    /// The error for a connection that died under a running command.
    fn lost(&self, e: impl std::fmt::Display) -> HostError {
        HostError::Lost {
            host: self.target.name.clone(),
            reason: format!(
                "{}@{}: {e}",
                self.target.user,
                crate::host::known_hosts::host_pattern(&self.target.host, self.target.port)
            ),
        }
    }

    /// Runs a shell command string on a fresh channel.
    async fn run_line(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        lines: Option<mpsc::Sender<OutputLine>>,
        kill: Option<KillPlan>,
    ) -> Result<Output, HostError> {
        let mut session = self.open_session().await?;
        let pgid = kill.as_ref().map(|k| k.pgid.clone());
        session.kill = kill;
        // stdin is written while output is read: a command echoing its input would
        // otherwise fill the windows both ways and stall.
        let writer = session
            .start(command, stdin.is_some())
            .await
            .map_err(|e| self.lost(e))?;
        let feed = async move {
            if let (Some(mut w), Some(data)) = (writer, stdin) {
                // A command that exits without reading its input is not an error.
                let _ = w.write_all(data).await;
                let _ = w.shutdown().await;
            }
        };
        let ch = session.channel();
        let mut sink = Sink::new(lines);
        sink.pgid = pgid;
        let read = async {
            let mut code = None;
            let mut finished = false;
            while let Some(msg) = ch.wait().await {
                match msg {
                    ChannelMsg::Data { data } => sink.push(Stream::Stdout, &data).await,
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        sink.push(Stream::Stderr, &data).await
                    }
                    ChannelMsg::ExitStatus { exit_status } => {
                        code = i32::try_from(exit_status).ok();
                        finished = true;
                    }
                    ChannelMsg::ExitSignal { .. } => finished = true,
                    ChannelMsg::Failure => return Err(()),
                    ChannelMsg::Close => break,
                    _ => {}
                }
            }
            Ok((code, finished))
        };
        // Once reading ends (the command exited, or the connection died) the feed stops
        // too: on a dead connection the window never opens again and a pending write would
        // wait forever.
        let read = {
            tokio::pin!(feed);
            tokio::pin!(read);
            tokio::select! {
                r = &mut read => r,
                () = &mut feed => read.await,
            }
        };
        let Ok((code, finished)) = read else {
            return Err(self.other(format!("the server refused to run `{command}`")));
        };
        let (stdout, stderr) = sink.finish().await;
        if !finished {
            return Err(self.lost("the channel ended without an exit status"));
        }
        session.armed = false;
        Ok(Output {
            code,
            stdout,
            stderr,
        })
    }

    /// Runs `cmd` (with its sudo and timeout), collecting its output or streaming it to
    /// `lines`.
    pub(super) async fn run_cmd(
        &self,
        cmd: &Cmd,
        lines: Option<mpsc::Sender<OutputLine>>,
    ) -> Result<Output, HostError> {
        if cmd.argv.is_empty() {
            return Err(self.other("empty command"));
        }
        // sshd starts each command as a session leader: `$$` is the process group a
        // timeout or cancellation kills (channel signals are refused for root logins).
        let line = format!(
            "printf '{PGID_MARKER}%s\\n' \"$$\" >&2; exec {}",
            Cmd::new(full_argv(cmd, self.is_root())).to_shell()
        );
        let fut = async {
            let mut tries = 0u32;
            loop {
                let kill = KillPlan {
                    pgid: Arc::new(AtomicI32::new(0)),
                    sudo: cmd.sudo && !self.is_root(),
                };
                let started = kill.pgid.clone();
                let r = self
                    .run_line(&line, cmd.stdin.as_deref(), lines.clone(), Some(kill))
                    .await;
                // The marker is the line's first act: a channel lost before it arrived never
                // reached the command, so running it again is safe (three times at most). One
                // lost after it may have done its work: run again only a command that says
                // it is repeatable (twice at most); any other is the caller's to judge.
                let limit = match (started.load(Ordering::SeqCst) != 0, cmd.repeatable) {
                    (false, _) => 3,
                    (true, true) => 2,
                    (true, false) => 0,
                };
                match r {
                    Err(e) if e.is_lost() && tries < limit => {
                        tries += 1;
                        tracing::debug!(host = %self.target.name, "{e}; running the command again");
                        tokio::time::sleep(std::time::Duration::from_millis(100 << tries)).await;
                    }
                    r => return r,
                }
            }
        };
        match cmd.timeout {
            None => fut.await,
            Some(t) => tokio::time::timeout(t, fut)
                .await
                .map_err(|_| HostError::Timeout {
                    host: self.target.name.clone(),
                    cmd: cmd.to_shell(),
                    secs: t.as_secs(),
                })?,
        }
    }

    /// Runs a shell command line with raw byte streams (no line splitting, binary safe):
    /// stdout and stderr are copied to `out` and `err` as they arrive and `stdin`, when
    /// given, to the command. Returns the exit code (`None`: killed by a signal). This is
    /// `labwarp ssh HOST CMD`; library code uses [`Host::exec`](crate::host::Host::exec)
    /// with argv instead.
    pub async fn exec_raw<I, O, E>(
        &self,
        line: &str,
        stdin: Option<I>,
        out: &mut O,
        err: &mut E,
    ) -> Result<Option<i32>, HostError>
    where
        I: tokio::io::AsyncRead + Unpin + Send,
        O: tokio::io::AsyncWrite + Unpin + Send,
        E: tokio::io::AsyncWrite + Unpin + Send,
    {
        let mut session = self.open_session().await?;
        let writer = session
            .start(line, stdin.is_some())
            .await
            .map_err(|e| self.lost(e))?;
        let feed = async move {
            if let (Some(mut w), Some(mut input)) = (writer, stdin) {
                let _ = tokio::io::copy(&mut input, &mut w).await;
                let _ = w.shutdown().await;
            }
            // Input may never end (a terminal); the command's end decides.
            std::future::pending::<()>().await
        };
        let ch = session.channel();
        let read = async {
            let mut code = None;
            let mut finished = false;
            while let Some(msg) = ch.wait().await {
                match msg {
                    ChannelMsg::Data { data } => {
                        out.write_all(&data).await?;
                        out.flush().await?;
                    }
                    ChannelMsg::ExtendedData { data, .. } => {
                        err.write_all(&data).await?;
                        err.flush().await?;
                    }
                    ChannelMsg::ExitStatus { exit_status } => {
                        code = i32::try_from(exit_status).ok();
                        finished = true;
                    }
                    ChannelMsg::ExitSignal { .. } => finished = true,
                    ChannelMsg::Close => break,
                    _ => {}
                }
            }
            Ok::<_, std::io::Error>((code, finished))
        };
        let (code, finished) = tokio::select! {
            () = feed => return Err(self.other("stdin forwarding ended unexpectedly")),
            r = read => r?,
        };
        if !finished {
            return Err(self.lost("the channel ended without an exit status"));
        }
        session.armed = false;
        Ok(code)
    }
}
