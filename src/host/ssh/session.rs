//! Channels: each command gets its own session channel within the MaxSessions budget, and
//! a channel given up early (timeout, cancellation, error) takes its remote command down
//! with it.

use super::SshHost;
use super::connect::Conn;
use crate::host::{Cmd, HostError};
use russh::client::Msg;
use russh::{Channel, ChannelMsg, Sig};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;
use tokio::io::AsyncWrite;
use tokio::sync::OwnedSemaphorePermit;

/// How to kill a running remote command: its process group, once reported.
pub(super) struct KillPlan {
    /// 0 until the marker line arrived.
    pub(super) pgid: Arc<AtomicI32>,
    /// The command runs as root through sudo: the kill must too.
    pub(super) sudo: bool,
}

/// A channel in use plus its MaxSessions slot. Dropped while still `armed` (a timeout,
/// a cancellation, an error): the remote command's process group gets SIGKILL (from a
/// second channel on the same connection, within the same slot) and the channel is closed.
pub(super) struct Session {
    ch: Option<Channel<Msg>>,
    permit: Option<OwnedSemaphorePermit>,
    /// Keeps the connection alive while the channel is used.
    conn: Option<Conn>,
    pub(super) armed: bool,
    pub(super) kill: Option<KillPlan>,
}

impl Session {
    /// An armed session on `ch`; `permit` is its MaxSessions slot (none outside the budget).
    pub(super) fn new(ch: Channel<Msg>, permit: Option<OwnedSemaphorePermit>, conn: Conn) -> Self {
        Session {
            ch: Some(ch),
            permit,
            conn: Some(conn),
            armed: true,
            kill: None,
        }
    }

    pub(super) fn channel(&mut self) -> &mut Channel<Msg> {
        self.ch.as_mut().expect("channel present until drop")
    }

    /// Starts `command` on the channel. With `stdin`, returns the writer its input goes
    /// to; without, the input is closed at once.
    pub(super) async fn start(
        &mut self,
        command: &str,
        stdin: bool,
    ) -> Result<Option<impl AsyncWrite + 'static>, russh::Error> {
        let ch = self.channel();
        ch.exec(true, command).await?;
        if stdin {
            return Ok(Some(ch.make_writer()));
        }
        ch.eof().await?;
        Ok(None)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let (ch, permit, conn) = (self.ch.take(), self.permit.take(), self.conn.take());
        let Some(ch) = ch else { return };
        let armed = self.armed;
        let kill = self.kill.take().and_then(|k| {
            let pgid = k.pgid.load(Ordering::SeqCst);
            (armed && pgid > 1).then(|| {
                let mut argv = vec!["kill", "-KILL", "--"];
                if k.sudo {
                    argv.splice(0..0, ["sudo", "-n", "--"]);
                }
                let target = format!("-{pgid}");
                let mut words: Vec<String> = argv.into_iter().map(String::from).collect();
                words.push(target);
                Cmd::new(words).to_shell()
            })
        });
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if armed {
                    // Honoured by sshd for non-root logins only; harmless otherwise.
                    let _ = ch.signal(Sig::KILL).await;
                }
                let _ = ch.close().await;
                if let (Some(line), Some(conn)) = (kill, conn.as_ref()) {
                    kill_remote(conn, &line).await;
                }
                // The slot is given back only once the close is on its way.
                drop(permit);
                drop(conn);
            });
        }
    }
}

/// Runs `line` (a kill command) on its own channel; best effort, bounded.
async fn kill_remote(conn: &Conn, line: &str) {
    let attempt = async {
        for i in 0..6u32 {
            match conn.channel_open_session().await {
                Ok(mut ch) => {
                    let _ = ch.exec(true, line).await;
                    let _ = ch.eof().await;
                    while let Some(msg) = ch.wait().await {
                        if matches!(msg, ChannelMsg::Close) {
                            break;
                        }
                    }
                    return;
                }
                Err(russh::Error::ChannelOpenFailure(_)) => {
                    tokio::time::sleep(Duration::from_millis(25 << i)).await;
                }
                Err(_) => return,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), attempt).await;
}

/// An interactive PTY channel (see [`SshHost::open_pty`]).
pub struct PtySession {
    inner: Session,
}

impl PtySession {
    pub fn channel(&mut self) -> &mut Channel<Msg> {
        self.inner.channel()
    }

    /// Marks a normal end: dropping no longer sends SIGKILL.
    pub fn finished(&mut self) {
        self.inner.armed = false;
    }
}

impl SshHost {
    /// A session channel within the MaxSessions budget. A failure that means the
    /// connection is gone reconnects once; nothing has run yet, so retrying is safe.
    pub(super) async fn open_session(&self) -> Result<Session, HostError> {
        let permit = self
            .sessions
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| self.other("session limiter closed"))?;
        let mut retried = false;
        let mut refusals = 0;
        loop {
            let conn = self.connection().await?;
            match conn.channel_open_session().await {
                Ok(ch) => return Ok(Session::new(ch, Some(permit), conn)),
                // sshd frees a closed session's slot only on its next loop pass, so an open
                // right after a close can be refused although the limiter allowed it.
                Err(russh::Error::ChannelOpenFailure(reason)) if refusals < 6 => {
                    tracing::debug!(host = %self.target.name, "channel refused ({reason:?}); retrying");
                    tokio::time::sleep(Duration::from_millis(25 << refusals)).await;
                    refusals += 1;
                }
                Err(russh::Error::ChannelOpenFailure(reason)) => {
                    return Err(self.other(format!(
                        "server refused a new channel: {reason:?} (sshd MaxSessions lower than max_sessions {}?)",
                        self.opts.max_sessions
                    )));
                }
                Err(e) if !retried => {
                    tracing::debug!(host = %self.target.name, "connection lost ({e}); reconnecting");
                    self.forget(&conn).await;
                    retried = true;
                }
                Err(e) => return Err(self.connect_err(e)),
            }
        }
    }

    /// Opens an interactive login shell (or runs `command`) on a PTY. The caller owns the
    /// terminal plumbing; the channel counts against MaxSessions until dropped.
    pub async fn open_pty(
        &self,
        term: &str,
        cols: u32,
        rows: u32,
        command: Option<&str>,
    ) -> Result<PtySession, HostError> {
        let mut s = self.open_session().await?;
        let ch = s.channel();
        let err = |e: russh::Error| self.connect_err(e);
        ch.request_pty(false, term, cols, rows, 0, 0, &[])
            .await
            .map_err(err)?;
        match command {
            Some(c) => ch.exec(false, c).await.map_err(err)?,
            None => ch.request_shell(false).await.map_err(err)?,
        }
        Ok(PtySession { inner: s })
    }
}
