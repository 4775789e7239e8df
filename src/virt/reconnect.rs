//! Surviving a libvirtd restart: detect a dead connection, reopen it with backoff, retry.
//!
//! A libvirt connection does not come back by itself: once the daemon closes the socket
//! (restart, crash, `systemctl restart libvirtd`), every later call on that `virConnect`
//! fails with "client socket is closed". So when a call fails, [`Libvirt::call`] asks
//! `virConnectIsAlive` (a local check, no RPC) whether the connection is gone. If it is, it
//! reopens the URI with backoff for at most the reconnect window (30 s by default) and, as
//! every `call` closure in this layer is idempotent (lookups, listings, snapshots, define
//! of the same XML, start-if-not-running, destroy-if-running, ...), runs it again on the new
//! connection. Calls that are not safe to repeat go through [`Libvirt::call_once`]: they
//! reconnect too (so the next call works) but fail with a message that says libvirtd went
//! away and the run can be resumed.
//!
//! Reconnects are serialised; clones share the new connection (a generation number tells
//! a caller whether someone else already replaced the one it saw fail).

use super::{Conn, Libvirt, VirtError};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use virt::connect::Connect;

/// How many times one call reconnects before giving up (a daemon that keeps dying).
const MAX_RECONNECTS_PER_CALL: u32 = 3;
/// First and longest pause between two reconnect attempts.
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Default for how long a reconnect keeps trying.
pub(crate) const DEFAULT_WINDOW: Duration = Duration::from_secs(30);

/// The advice every "libvirtd went away" error ends with.
const RESUME: &str = "start libvirtd again if it is not running (e.g. `systemctl start libvirtd`), then run the same `labwarp run` again: it resumes, skipping the steps already done";

enum Attempt<T> {
    /// The closure ran on a live connection (its own result, success or not).
    Done(Result<T, VirtError>),
    /// The connection was dead before the closure ran: it did not run.
    DeadBefore,
    /// The closure failed and the connection is dead now.
    DiedDuring(VirtError),
}

const CLOSED_OP: &str = "use the connection";

/// The error of a call that found its connection closed (and so did not run).
fn closed(ctx: &Conn) -> VirtError {
    VirtError::Libvirt {
        uri: ctx.uri.clone(),
        op: CLOSED_OP.into(),
        code: None,
        message: "the connection to libvirtd is closed".into(),
    }
}

/// Whether the failed call's connection is dead (the daemon closed it). Only libvirt's own
/// errors can mean that: "not found" or XML errors are answers from a live daemon.
fn dead(ctx: &Conn, err: &VirtError) -> bool {
    matches!(err, VirtError::Libvirt { .. }) && !ctx.conn.is_alive().unwrap_or(false)
}

impl Libvirt {
    /// The connection calls use now.
    pub(crate) fn current(&self) -> Arc<Conn> {
        // A poisoned lock only means a thread panicked while swapping an Arc: the value
        // inside is still a whole Arc.
        self.inner
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many times the connection was reopened since [`Libvirt::connect`].
    pub fn reconnects(&self) -> u64 {
        self.current().generation
    }

    /// How long a lost connection is retried before calls fail (default 30 s).
    pub fn set_reconnect_window(&self, window: Duration) {
        let ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        self.inner.window_ms.store(ms, Ordering::Relaxed);
    }

    /// One line each time the connection is lost and when it is back, for the run's log
    /// (the library itself prints nothing: the TUI owns the screen).
    pub fn notices(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.inner.notices.subscribe()
    }

    /// Changes each time the connection is reopened (value: its generation).
    pub(crate) fn generations(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.generations.subscribe()
    }

    fn notice(&self, line: String) {
        tracing::warn!("{line}");
        // Nobody subscribed: nothing to tell.
        let _ = self.inner.notices.send(line);
    }

    fn window(&self) -> Duration {
        Duration::from_millis(self.inner.window_ms.load(Ordering::Relaxed))
    }

    /// Runs one blocking closure against the connection on the blocking pool. The closure
    /// must be idempotent: when the daemon went away, it runs again on a new connection.
    pub(crate) async fn call<T, F>(&self, f: F) -> Result<T, VirtError>
    where
        T: Send + 'static,
        F: Fn(&Conn) -> Result<T, VirtError> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let mut reconnects = 0;
        loop {
            let ctx = self.current();
            let g = f.clone();
            let err = match self.attempt(ctx.clone(), move |c| g(c)).await? {
                Attempt::Done(r) => return r,
                Attempt::DeadBefore => None,
                Attempt::DiedDuring(e) => Some(e),
            };
            if reconnects == MAX_RECONNECTS_PER_CALL {
                let e = err.unwrap_or_else(|| closed(&ctx));
                return Err(self.gone(
                    &e,
                    format!("and the call failed again after {reconnects} reconnects"),
                ));
            }
            reconnects += 1;
            self.reconnect(ctx.generation, err.as_ref()).await?;
        }
    }

    /// Like [`Libvirt::call`] for a closure that must not run twice (it may have taken
    /// effect before the daemon went away). A connection already dead before the call is
    /// reopened first; one that dies during the call is reopened for the calls that follow,
    /// and this one fails saying so.
    pub(crate) async fn call_once<T, F>(&self, f: F) -> Result<T, VirtError>
    where
        T: Send + 'static,
        F: FnOnce(&Conn) -> Result<T, VirtError> + Send + 'static,
    {
        let mut ctx = self.current();
        if !self.alive(ctx.clone()).await? {
            self.reconnect(ctx.generation, None).await?;
            ctx = self.current();
        }
        match self.attempt(ctx.clone(), f).await? {
            Attempt::Done(r) => r,
            Attempt::DeadBefore | Attempt::DiedDuring(_) => {
                // (DeadBefore: it died between the check above and the call.)
                let e = closed(&ctx);
                self.reconnect(ctx.generation, Some(&e)).await?;
                Err(self.gone(
                    &e,
                    "during a call that is not safe to repeat, so whether it took effect is unknown (the connection is back)".into(),
                ))
            }
        }
    }

    async fn alive(&self, ctx: Arc<Conn>) -> Result<bool, VirtError> {
        tokio::task::spawn_blocking(move || ctx.conn.is_alive().unwrap_or(false))
            .await
            .map_err(|e| VirtError::Join(e.to_string(), self.uri().to_string()))
    }

    /// Runs `f` on `ctx` unless the connection is already dead; tells a failure of a dead
    /// connection apart from the others.
    async fn attempt<T, F>(&self, ctx: Arc<Conn>, f: F) -> Result<Attempt<T>, VirtError>
    where
        T: Send + 'static,
        F: FnOnce(&Conn) -> Result<T, VirtError> + Send + 'static,
    {
        let world = self.inner.world.clone();
        let notices = self.inner.notices.clone();
        tokio::task::spawn_blocking(move || {
            if !ctx.conn.is_alive().unwrap_or(false) {
                return Attempt::DeadBefore;
            }
            let r = f(&ctx);
            // A test driver whose world lives in a file: keep the file up to date.
            if let Some(w) = &world
                && let Err(e) = w.save(&ctx)
            {
                let line = format!("could not save the test driver's world: {e}");
                tracing::warn!("{line}");
                let _ = notices.send(line);
            }
            match r {
                Err(e) if dead(&ctx, &e) => Attempt::DiedDuring(e),
                r => Attempt::Done(r),
            }
        })
        .await
        .map_err(|e| VirtError::Join(e.to_string(), self.uri().to_string()))
    }

    fn gone(&self, err: &VirtError, what: String) -> VirtError {
        // The call's own error says which call it was, unless it never ran.
        let call = match err {
            VirtError::Libvirt { op, .. } if op == CLOSED_OP => String::new(),
            VirtError::Libvirt { op, message, .. } => format!(" (the call: {op}: {message})"),
            other => format!(" (the call: {other})"),
        };
        VirtError::DaemonGone {
            uri: self.uri().to_string(),
            message: format!("{what}{call}; {RESUME}"),
        }
    }

    /// Replaces the connection of generation `seen` (which `err` showed dead) by a new one,
    /// trying with backoff for the reconnect window. Returns at once when another caller
    /// already replaced it.
    async fn reconnect(&self, seen: u64, err: Option<&VirtError>) -> Result<(), VirtError> {
        let _one_at_a_time = self.inner.reconnecting.lock().await;
        if self.current().generation != seen {
            return Ok(());
        }
        let uri = self.uri().to_string();
        let fallback = closed(&self.current());
        let err = err.unwrap_or(&fallback);
        let window = self.window();
        self.notice(format!(
            "lost the connection to libvirtd ({uri}): {err}; reconnecting for up to {} s",
            window.as_secs()
        ));
        let deadline = tokio::time::Instant::now() + window;
        let mut pause = BACKOFF_START;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let u = uri.clone();
            let opened = tokio::task::spawn_blocking(move || Connect::open(Some(&u)))
                .await
                .map_err(|e| VirtError::Join(e.to_string(), uri.clone()))?;
            let last = match opened {
                Ok(conn) => {
                    let next = Arc::new(Conn {
                        conn,
                        uri: uri.clone(),
                        generation: seen + 1,
                    });
                    *self
                        .inner
                        .current
                        .write()
                        .unwrap_or_else(|p| p.into_inner()) = next;
                    self.inner.generations.send_replace(seen + 1);
                    self.notice(format!(
                        "reconnected to libvirtd ({uri}) after {attempts} attempt(s)"
                    ));
                    return Ok(());
                }
                Err(e) => e.message().to_string(),
            };
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(self.gone(
                    err,
                    format!(
                        "and it did not come back within {} s ({attempts} attempts; last: {last})",
                        window.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(BACKOFF_MAX);
        }
    }
}
