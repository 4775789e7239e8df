//! A host reached over SSH with russh: one pinned, authenticated connection per host, shared
//! by every command, each command on its own channel.
//!
//! - Host keys are checked against `workspace/known_hosts` ([`KnownHosts`]) before any
//!   authentication; what happens on first contact is the caller's [`TrustPolicy`].
//! - Channels at once are capped by a semaphore at sshd's `MaxSessions` (10 by default).
//! - A dropped connection is re-established (with backoff) by the next command; a command
//!   that was running when the connection dropped fails, it is never re-run behind the
//!   caller's back.
//! - ProxyJump: a host created with [`SshHost::via`] tunnels its TCP stream through a
//!   `direct-tcpip` channel of the jump host's connection; jumps chain.

use super::keys::{Identity, fingerprint};
use super::known_hosts::{KnownHosts, Verdict, host_pattern};
use super::local::{full_argv, line_text};
use super::{Cmd, Host, HostError, Output, OutputLine, Stream};
use async_trait::async_trait;
use russh::client::{self, Handle, Msg};
use russh::keys::{PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{Channel, ChannelMsg, Sig};
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, mpsc};
use zeroize::Zeroizing;

/// What to do with a host key that is not pinned yet. A key that differs from the pinned
/// one is refused whatever the policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TrustPolicy {
    /// Refuse, reporting the fingerprint (`HostKeyUnknown`) so a human can confirm it.
    #[default]
    PinnedOnly,
    /// Accept and pin only a key with this SHA256 fingerprint (`SHA256:…`, prefix optional).
    Fingerprint(String),
    /// Accept and pin whatever key the host offers the first time (explicit opt-in).
    FirstUse,
}

impl TrustPolicy {
    fn accepts(&self, offered: &str) -> bool {
        match self {
            TrustPolicy::PinnedOnly => false,
            TrustPolicy::FirstUse => true,
            TrustPolicy::Fingerprint(fp) => {
                let want = fp.trim();
                let want = want.strip_prefix("SHA256:").unwrap_or(want);
                offered.strip_prefix("SHA256:") == Some(want)
            }
        }
    }
}

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// Display name (`virthost`, `undercloud`).
    pub name: String,
    /// Address as reachable from here, or from the jump host when there is one.
    pub host: String,
    pub port: u16,
    pub user: String,
}

/// Retry schedule for (re)connecting: `attempts` tries, waiting `first`, then twice as long
/// each time up to `max`. Only network failures are retried, never key or auth refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub attempts: u32,
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            attempts: 6,
            first: Duration::from_millis(200),
            max: Duration::from_secs(5),
        }
    }
}

/// Everything an [`SshHost`] needs besides its target.
#[derive(Debug, Clone)]
pub struct SshOptions {
    pub identity: Identity,
    pub known_hosts: KnownHosts,
    pub trust: TrustPolicy,
    /// Channels open at once on the connection (sshd's `MaxSessions`, default 10).
    pub max_sessions: usize,
    /// Per attempt: TCP connect + key exchange + authentication.
    pub connect_timeout: Duration,
    pub backoff: Backoff,
    /// Keepalive interval, so a dead peer is noticed even when idle.
    pub keepalive: Option<Duration>,
}

impl SshOptions {
    /// Defaults for a workspace: its key pair (created if absent) and its `known_hosts`.
    pub fn for_workspace(workspace: &Path, trust: TrustPolicy) -> Result<Self, HostError> {
        Ok(SshOptions {
            identity: super::keys::ensure_identity(workspace)?,
            known_hosts: KnownHosts::new(workspace.join("known_hosts")),
            trust,
            max_sessions: 10,
            connect_timeout: Duration::from_secs(15),
            backoff: Backoff::default(),
            keepalive: Some(Duration::from_secs(15)),
        })
    }
}

/// How a connection authenticates.
enum Auth<'a> {
    Key,
    Password(&'a Zeroizing<String>),
}

/// russh's callback object: checks the server key against the pins.
struct Client {
    target: SshTarget,
    known_hosts: KnownHosts,
    trust: TrustPolicy,
    /// Why the key was refused, for the caller (russh only sees `false`).
    refusal: Arc<StdMutex<Option<HostError>>>,
}

impl Client {
    fn verdict(&self, key: &PublicKeyOrCertificate) -> Result<(), HostError> {
        let t = &self.target;
        let addr = host_pattern(&t.host, t.port);
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            return Err(HostError::Connect {
                host: t.name.clone(),
                reason: format!("{addr} offered a host certificate; labwarp pins plain keys"),
            });
        };
        let offered = fingerprint(key);
        match self.known_hosts.check(&t.host, t.port, key)? {
            Verdict::Trusted => Ok(()),
            Verdict::Mismatch { pinned } => Err(HostError::HostKeyMismatch {
                host: t.name.clone(),
                addr,
                pinned: pinned.join(", "),
                offered,
            }),
            Verdict::Unknown if self.trust.accepts(&offered) => {
                tracing::info!(host = %t.name, %addr, %offered, "pinning new host key");
                self.known_hosts.pin(&t.host, t.port, key)
            }
            Verdict::Unknown => Err(HostError::HostKeyUnknown {
                host: t.name.clone(),
                addr,
                fingerprint: offered,
            }),
        }
    }
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        match self.verdict(key) {
            Ok(()) => Ok(true),
            Err(e) => {
                *self.refusal.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                Ok(false)
            }
        }
    }
}

type Conn = Arc<Handle<Client>>;

/// A host over SSH. Cheap to share (`Arc<SshHost>`); all clones of the Arc share one
/// connection.
pub struct SshHost {
    target: SshTarget,
    opts: SshOptions,
    via: Option<Arc<SshHost>>,
    conn: Mutex<Option<Conn>>,
    sessions: Arc<Semaphore>,
}

impl std::fmt::Debug for SshHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshHost")
            .field("target", &self.target)
            .field("via", &self.via.as_ref().map(|v| &v.target.name))
            .finish()
    }
}

impl SshHost {
    pub fn new(target: SshTarget, opts: SshOptions) -> Self {
        Self::build(target, opts, None)
    }

    /// A host reached through `jump` (ProxyJump); `target.host` is the address as the jump
    /// host sees it.
    pub fn via(target: SshTarget, opts: SshOptions, jump: Arc<SshHost>) -> Self {
        Self::build(target, opts, Some(jump))
    }

    fn build(target: SshTarget, opts: SshOptions, via: Option<Arc<SshHost>>) -> Self {
        let sessions = Arc::new(Semaphore::new(opts.max_sessions.max(1)));
        SshHost {
            target,
            opts,
            via,
            conn: Mutex::new(None),
            sessions,
        }
    }

    pub fn target(&self) -> &SshTarget {
        &self.target
    }

    fn is_root(&self) -> bool {
        self.target.user == "root"
    }

    fn other(&self, msg: impl Into<String>) -> HostError {
        HostError::Other {
            host: self.target.name.clone(),
            msg: msg.into(),
        }
    }

    fn connect_err(&self, reason: impl std::fmt::Display) -> HostError {
        HostError::Connect {
            host: self.target.name.clone(),
            reason: format!(
                "{}@{}: {reason}",
                self.target.user,
                host_pattern(&self.target.host, self.target.port)
            ),
        }
    }

    fn config(&self) -> Arc<client::Config> {
        Arc::new(client::Config {
            nodelay: true,
            keepalive_interval: self.opts.keepalive,
            keepalive_max: 3,
            ..client::Config::default()
        })
    }

    /// One attempt: transport (direct or through the jump host), host key, authentication.
    async fn connect_once(&self, auth: Auth<'_>) -> Result<Handle<Client>, HostError> {
        let refusal = Arc::new(StdMutex::new(None));
        let handler = Client {
            target: self.target.clone(),
            known_hosts: self.opts.known_hosts.clone(),
            trust: self.opts.trust.clone(),
            refusal: refusal.clone(),
        };
        let t = &self.target;
        let handshake = async {
            match &self.via {
                None => client::connect(self.config(), (t.host.as_str(), t.port), handler).await,
                Some(jump) => {
                    // Boxed: the jump's connection may itself go through a jump.
                    let jc = Box::pin(jump.connection()).await?;
                    let ch = jc
                        .channel_open_direct_tcpip(
                            t.host.clone(),
                            u32::from(t.port),
                            "127.0.0.1",
                            0,
                        )
                        .await
                        .map_err(|e| {
                            self.connect_err(format!(
                                "jump through {} failed: {e}",
                                jump.target.name
                            ))
                        })?;
                    client::connect_stream(self.config(), ch.into_stream(), handler).await
                }
            }
            .map_err(|e| {
                let refused = refusal.lock().unwrap_or_else(|p| p.into_inner()).take();
                refused.unwrap_or_else(|| self.connect_err(e))
            })
        };
        let mut handle = tokio::time::timeout(self.opts.connect_timeout, handshake)
            .await
            .map_err(|_| self.connect_err("timed out"))??;
        let authenticated = tokio::time::timeout(self.opts.connect_timeout, async {
            match auth {
                Auth::Key => {
                    let key = PrivateKeyWithHashAlg::new(self.opts.identity.private.clone(), None);
                    handle.authenticate_publickey(t.user.clone(), key).await
                }
                // russh copies the password into its auth message and wipes it on drop.
                Auth::Password(pw) => {
                    handle
                        .authenticate_password(t.user.clone(), pw.as_str())
                        .await
                }
            }
        })
        .await
        .map_err(|_| self.connect_err("authentication timed out"))?
        .map_err(|e| self.connect_err(e))?;
        if !authenticated.success() {
            return Err(HostError::Auth {
                host: t.name.clone(),
                user: t.user.clone(),
            });
        }
        Ok(handle)
    }

    /// The shared connection, (re)established when missing or dropped.
    async fn connection(&self) -> Result<Conn, HostError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        *slot = None;
        let b = self.opts.backoff;
        let mut delay = b.first;
        let mut attempt = 1;
        loop {
            match self.connect_once(Auth::Key).await {
                Ok(h) => {
                    let c = Arc::new(h);
                    *slot = Some(c.clone());
                    return Ok(c);
                }
                Err(e @ HostError::Connect { .. }) if attempt < b.attempts => {
                    tracing::debug!(host = %self.target.name, attempt, "connect failed: {e}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(b.max);
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Forgets `dead` (if it is still the current connection) so the next call reconnects.
    async fn forget(&self, dead: &Conn) {
        let mut slot = self.conn.lock().await;
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, dead)) {
            *slot = None;
        }
    }

    /// Connects now (useful to surface host key and auth problems before any work).
    pub async fn connect(&self) -> Result<(), HostError> {
        self.connection().await.map(drop)
    }

    /// Closes the connection politely; the next command reconnects.
    pub async fn disconnect(&self) {
        if let Some(c) = self.conn.lock().await.take() {
            let _ = c
                .disconnect(russh::Disconnect::ByApplication, "", "en")
                .await;
        }
    }

    /// A session channel within the MaxSessions budget. A failure that means the
    /// connection is gone reconnects once; nothing has run yet, so retrying is safe.
    async fn open_session(&self) -> Result<Session, HostError> {
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
                Ok(ch) => {
                    return Ok(Session {
                        ch: Some(ch),
                        permit: Some(permit),
                        conn: Some(conn),
                        armed: true,
                        kill: None,
                    });
                }
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
        let lost = |e: &dyn std::fmt::Display| self.connect_err(format!("connection lost: {e}"));
        let ch = session.channel();
        ch.exec(true, command).await.map_err(|e| lost(&e))?;
        // stdin is written while output is read: a command echoing its input would
        // otherwise fill the windows both ways and stall.
        let writer = match stdin {
            Some(_) => Some(ch.make_writer()),
            None => {
                ch.eof().await.map_err(|e| lost(&e))?;
                None
            }
        };
        let feed = async move {
            if let (Some(mut w), Some(data)) = (writer, stdin) {
                // A command that exits without reading its input is not an error.
                let _ = w.write_all(data).await;
                let _ = w.shutdown().await;
            }
        };
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
            return Err(lost(&"the channel ended without an exit status"));
        }
        session.armed = false;
        Ok(Output {
            code,
            stdout,
            stderr,
        })
    }

    async fn run(
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
        let kill = KillPlan {
            pgid: Arc::new(AtomicI32::new(0)),
            sudo: cmd.sudo && !self.is_root(),
        };
        let fut = self.run_line(&line, cmd.stdin.as_deref(), lines, Some(kill));
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

    /// Runs a shell command line with raw byte streams (no line splitting, binary safe):
    /// stdout and stderr are copied to `out` and `err` as they arrive and `stdin`, when
    /// given, to the command. Returns the exit code (`None`: killed by a signal). This is
    /// `labwarp ssh HOST CMD`; library code uses [`Host::exec`] with argv instead.
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
        let lost = |e: &dyn std::fmt::Display| self.connect_err(format!("connection lost: {e}"));
        let ch = session.channel();
        ch.exec(true, line).await.map_err(|e| lost(&e))?;
        let writer = match stdin {
            Some(_) => Some(ch.make_writer()),
            None => {
                ch.eof().await.map_err(|e| lost(&e))?;
                None
            }
        };
        let feed = async move {
            if let (Some(mut w), Some(mut input)) = (writer, stdin) {
                let _ = tokio::io::copy(&mut input, &mut w).await;
                let _ = w.shutdown().await;
            }
            // Input may never end (a terminal); the command's end decides.
            std::future::pending::<()>().await
        };
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
            return Err(lost(&"the channel ended without an exit status"));
        }
        session.armed = false;
        Ok(code)
    }

    /// Password bootstrap: logs in once with `password` and appends labwarp's public key to
    /// the user's `~/.ssh/authorized_keys` unless it is already there. The password is only
    /// handed to the SSH authentication; it is never logged, stored or put on a command
    /// line, and the caller's copy is wiped when `password` drops.
    pub async fn install_key_with_password(
        &self,
        password: Zeroizing<String>,
    ) -> Result<(), HostError> {
        let handle = Arc::new(self.connect_once(Auth::Password(&password)).await?);
        drop(password);
        let ch = handle
            .channel_open_session()
            .await
            .map_err(|e| self.connect_err(e))?;
        let mut s = Session {
            ch: Some(ch),
            permit: None,
            conn: Some(handle.clone()),
            armed: true,
            kill: None,
        };
        let line = self.opts.identity.public_line();
        let cmd = Cmd::new(["sh", "-c", INSTALL_KEY, "labwarp-bootstrap", line.as_str()]);
        let ch = s.channel();
        ch.exec(true, cmd.to_shell())
            .await
            .map_err(|e| self.connect_err(e))?;
        let _ = ch.eof().await;
        let mut sink = Sink::new(None);
        let mut code = None;
        while let Some(msg) = ch.wait().await {
            match msg {
                ChannelMsg::Data { data } => sink.push(Stream::Stdout, &data).await,
                ChannelMsg::ExtendedData { data, .. } => sink.push(Stream::Stderr, &data).await,
                ChannelMsg::ExitStatus { exit_status } => code = Some(exit_status),
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        s.armed = false;
        drop(s);
        let _ = handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
        let (_, stderr) = sink.finish().await;
        if code != Some(0) {
            return Err(self.other(format!(
                "installing the key into ~/.ssh/authorized_keys failed: {}",
                String::from_utf8_lossy(&stderr).trim()
            )));
        }
        Ok(())
    }
}

/// Appends `$1` to `~/.ssh/authorized_keys` once (modes 700/600; SELinux labels restored
/// where that tool exists).
const INSTALL_KEY: &str = r#"set -e
umask 077
d="$HOME/.ssh"; f="$d/authorized_keys"
mkdir -p "$d"; touch "$f"
if ! grep -qxF -- "$1" "$f"; then
  if [ -s "$f" ] && [ -n "$(tail -c 1 "$f")" ]; then echo >> "$f"; fi
  printf '%s\n' "$1" >> "$f"
fi
chmod 700 "$d"; chmod 600 "$f"
if command -v restorecon >/dev/null 2>&1; then restorecon -R "$d" || true; fi"#;

/// Writes stdin to a temp file next to the target, sets the mode, flushes it to disk
/// (coreutils `sync FILE`; best effort elsewhere), renames it into place. The temp name is
/// fixed per target, so a write cut half-way (connection lost) leaves a file the next write
/// replaces rather than litter; `set -C` (noclobber) never follows a planted symlink.
const WRITE_FILE: &str = r#"set -e
umask 077
t="$(dirname -- "$1")/.$(basename -- "$1").labwarp-tmp"
trap 'rm -f -- "$t"' EXIT
rm -f -- "$t"
(set -C; : > "$t")
cat >> "$t"
chmod "$2" "$t"
sync -- "$t" 2>/dev/null || true
mv -f -- "$t" "$1"
trap - EXIT"#;

/// Marks the stderr line on which a wrapped command reports its process group.
const PGID_MARKER: &str = "labwarp-pgid:";

/// How to kill a running remote command: its process group, once reported.
struct KillPlan {
    /// 0 until the marker line arrived.
    pgid: Arc<AtomicI32>,
    /// The command runs as root through sudo: the kill must too.
    sudo: bool,
}

/// A channel in use plus its MaxSessions slot. Dropped while still `armed` (a timeout,
/// a cancellation, an error): the remote command's process group gets SIGKILL (from a
/// second channel on the same connection, within the same slot) and the channel is closed.
struct Session {
    ch: Option<Channel<Msg>>,
    permit: Option<OwnedSemaphorePermit>,
    /// Keeps the connection alive while the channel is used.
    conn: Option<Conn>,
    armed: bool,
    kill: Option<KillPlan>,
}

impl Session {
    fn channel(&mut self) -> &mut Channel<Msg> {
        self.ch.as_mut().expect("channel present until drop")
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

/// Collects output, or splits it into lines for a stream receiver.
struct Sink {
    lines: Option<mpsc::Sender<OutputLine>>,
    out: Vec<u8>,
    err: Vec<u8>,
    /// Set when the command reports its process group; stderr is held back line by line
    /// until the marker line is seen (and removed).
    pgid: Option<Arc<AtomicI32>>,
    pending: Vec<u8>,
}

impl Sink {
    fn new(lines: Option<mpsc::Sender<OutputLine>>) -> Self {
        Sink {
            lines,
            out: Vec::new(),
            err: Vec::new(),
            pgid: None,
            pending: Vec::new(),
        }
    }

    async fn push(&mut self, stream: Stream, data: &[u8]) {
        if stream == Stream::Stderr && self.pgid.is_some() {
            self.pending.extend_from_slice(data);
            while let Some(pos) = self.pending.iter().position(|b| *b == b'\n') {
                let raw: Vec<u8> = self.pending.drain(..=pos).collect();
                let text = line_text(&raw);
                if let Some(n) = text.strip_prefix(PGID_MARKER).and_then(|n| n.parse().ok()) {
                    if let Some(p) = self.pgid.take() {
                        p.store(n, Ordering::SeqCst);
                    }
                    let rest = std::mem::take(&mut self.pending);
                    self.push_raw(stream, &rest).await;
                    return;
                }
                self.push_raw(stream, &raw).await;
            }
            return;
        }
        self.push_raw(stream, data).await;
    }

    async fn push_raw(&mut self, stream: Stream, data: &[u8]) {
        let buf = match stream {
            Stream::Stdout => &mut self.out,
            Stream::Stderr => &mut self.err,
        };
        buf.extend_from_slice(data);
        let Some(tx) = &self.lines else { return };
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let raw: Vec<u8> = buf.drain(..=pos).collect();
            // A receiver that went away does not stop the command.
            let _ = tx
                .send(OutputLine {
                    stream,
                    line: line_text(&raw),
                })
                .await;
        }
    }

    /// Flushes partial last lines (streaming) and returns what was collected.
    async fn finish(mut self) -> (Vec<u8>, Vec<u8>) {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.push_raw(Stream::Stderr, &rest).await;
        }
        if let Some(tx) = self.lines.take() {
            for (stream, buf) in [
                (Stream::Stdout, &mut self.out),
                (Stream::Stderr, &mut self.err),
            ] {
                if !buf.is_empty() {
                    let line = line_text(buf);
                    let _ = tx.send(OutputLine { stream, line }).await;
                    buf.clear();
                }
            }
        }
        (self.out, self.err)
    }
}

#[async_trait]
impl Host for SshHost {
    fn name(&self) -> &str {
        &self.target.name
    }

    async fn exec(&self, cmd: &Cmd) -> Result<Output, HostError> {
        self.run(cmd, None).await
    }

    async fn exec_streaming(
        &self,
        cmd: &Cmd,
        lines: mpsc::Sender<OutputLine>,
    ) -> Result<Output, HostError> {
        self.run(cmd, Some(lines)).await
    }

    async fn read_file(&self, path: &Path) -> Result<Vec<u8>, HostError> {
        let p = path.to_string_lossy();
        let out = self
            .exec(&Cmd::new(["env", "LC_ALL=C", "cat", "--", p.as_ref()]))
            .await?;
        if out.success() {
            return Ok(out.stdout);
        }
        let stderr = out.stderr_str();
        let reason = if stderr.contains("No such file") {
            "not found".to_string()
        } else {
            stderr.trim().to_string()
        };
        Err(HostError::File {
            host: self.target.name.clone(),
            path: p.into_owned(),
            reason,
        })
    }

    async fn write_file(&self, path: &Path, data: &[u8], mode: u32) -> Result<(), HostError> {
        let p = path.to_string_lossy();
        let mode = format!("{:o}", mode & 0o7777);
        let cmd = Cmd::new(["sh", "-c", WRITE_FILE, "labwarp-write", p.as_ref(), &mode])
            .stdin(data.to_vec());
        let out = self.exec(&cmd).await?;
        if out.success() {
            Ok(())
        } else {
            Err(HostError::File {
                host: self.target.name.clone(),
                path: p.into_owned(),
                reason: out.stderr_str().trim().to_string(),
            })
        }
    }

    async fn exists(&self, path: &Path) -> Result<bool, HostError> {
        let p = path.to_string_lossy();
        let script = r#"test -e "$1" || test -L "$1""#;
        let out = self
            .exec(&Cmd::new([
                "sh",
                "-c",
                script,
                "labwarp-exists",
                p.as_ref(),
            ]))
            .await?;
        match out.code {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(HostError::File {
                host: self.target.name.clone(),
                path: p.into_owned(),
                reason: out.stderr_str().trim().to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_policy_matches_fingerprints_with_or_without_prefix() {
        let fp = "SHA256:abcDEF123";
        assert!(!TrustPolicy::PinnedOnly.accepts(fp));
        assert!(TrustPolicy::FirstUse.accepts(fp));
        assert!(TrustPolicy::Fingerprint("SHA256:abcDEF123".into()).accepts(fp));
        assert!(TrustPolicy::Fingerprint(" abcDEF123 ".into()).accepts(fp));
        assert!(!TrustPolicy::Fingerprint("SHA256:abcDEF124".into()).accepts(fp));
        assert!(!TrustPolicy::Fingerprint("abcdef123".into()).accepts(fp));
    }

    #[tokio::test]
    async fn sink_strips_the_pgid_marker_and_keeps_other_stderr() {
        let pgid = Arc::new(AtomicI32::new(0));
        let mut s = Sink::new(None);
        s.pgid = Some(pgid.clone());
        s.push(Stream::Stderr, b"bashrc noise\nlabwarp-pg").await;
        s.push(Stream::Stdout, b"out\n").await;
        s.push(Stream::Stderr, b"id:4242\nreal err\nlabwarp-pgid:1\n")
            .await;
        let (out, err) = s.finish().await;
        assert_eq!(pgid.load(Ordering::SeqCst), 4242);
        assert_eq!(out, b"out\n");
        // Only the first marker line is ours; later ones belong to the command.
        assert_eq!(err, b"bashrc noise\nreal err\nlabwarp-pgid:1\n");
    }

    #[tokio::test]
    async fn sink_splits_lines_across_chunks_and_flushes_the_tail() {
        let (tx, mut rx) = mpsc::channel(8);
        let mut s = Sink::new(Some(tx));
        s.push(Stream::Stdout, b"ab").await;
        s.push(Stream::Stderr, b"e1\n").await;
        s.push(Stream::Stdout, b"c\r\nd").await;
        let (out, err) = s.finish().await;
        assert!(out.is_empty() && err.is_empty());
        let got: Vec<(Stream, String)> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|l| (l.stream, l.line))
            .collect();
        assert_eq!(
            got,
            [
                (Stream::Stderr, "e1".to_string()),
                (Stream::Stdout, "abc".to_string()),
                (Stream::Stdout, "d".to_string())
            ]
        );
    }
}
