//! Domain lifecycle events, with a polling fallback, behind one `watch()`.
//!
//! libvirt delivers events through an event loop the application provides. We register
//! libvirt's default implementation once per process and run it on a dedicated thread
//! (`virEventRunDefaultImpl` blocks in poll()). It must be registered before a connection
//! is opened for that connection to deliver events, so [`Libvirt::connect`] calls
//! [`ensure_event_loop`] first.

use super::domain::{DomainInfo, lookup, snapshot};
use super::{Libvirt, VirtError, ffi};
use std::collections::{BTreeSet, HashMap};
use std::sync::Once;
use std::time::Duration;
use tokio::sync::mpsc;

static EVENT_LOOP: Once = Once::new();

/// Registers libvirt's default event loop and starts its thread (once per process). Also
/// silences libvirt's default error printer: errors reach callers as values, and the TUI
/// must not get stray text on its screen.
pub(crate) fn ensure_event_loop() {
    EVENT_LOOP.call_once(|| {
        virt::error::clear_error_callback();
        if virt::event::event_register_default_impl().is_err() {
            tracing::warn!("libvirt event loop unavailable: watches will poll");
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("libvirt-events".into())
            .spawn(|| {
                loop {
                    if virt::event::event_run_default_impl().is_err() {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the libvirt event thread: {e}");
        }
    });
}

/// How a [`Watch`] learns about changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchMode {
    /// libvirt lifecycle events (plus a periodic resync for addresses, which have no event).
    Events,
    /// Periodic listing and comparison (drivers without events).
    Polling,
}

/// One change seen by a [`Watch`].
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent {
    /// A new domain, or a domain whose snapshot differs from the last one sent.
    Changed(DomainInfo),
    /// A domain that no longer exists.
    Removed { name: String },
    /// Reading the state failed (e.g. the daemon went away); the watch keeps trying.
    Error(String),
}

/// A stream of domain snapshots on change. Dropping it stops the watch and deregisters
/// the libvirt callback.
pub struct Watch {
    rx: mpsc::Receiver<WatchEvent>,
    mode: WatchMode,
}

impl Watch {
    pub fn mode(&self) -> WatchMode {
        self.mode
    }

    /// The next change; `None` once the watch has stopped.
    pub async fn next(&mut self) -> Option<WatchEvent> {
        self.rx.recv().await
    }
}

impl Libvirt {
    /// Watches every domain: first one `Changed` per existing domain, then a snapshot each
    /// time one changes. Uses lifecycle events when the connection supports them and polls
    /// otherwise; `resync` is the polling period (and, with events, how often addresses and
    /// other event-less fields are re-read).
    pub async fn watch(&self, resync: Duration) -> Result<Watch, VirtError> {
        self.start_watch(resync, true).await
    }

    /// Like [`Libvirt::watch`] but never uses events (for drivers whose events are not
    /// trusted, and to test the fallback).
    pub async fn watch_polling(&self, interval: Duration) -> Result<Watch, VirtError> {
        self.start_watch(interval, false).await
    }

    async fn start_watch(&self, resync: Duration, use_events: bool) -> Result<Watch, VirtError> {
        let (raw_tx, raw_rx) = mpsc::unbounded_channel::<ffi::RawEvent>();
        let registration = if use_events {
            register(self, &raw_tx).await?
        } else {
            None
        };
        let mode = if registration.is_some() {
            WatchMode::Events
        } else {
            WatchMode::Polling
        };
        // Initial state before returning, so that callers see it in order.
        let initial = self.domains().await;
        let (tx, rx) = mpsc::channel(256);
        let lv = self.clone();
        tokio::spawn(async move {
            let mut reg = registration;
            run_watch(&lv, initial, raw_rx, &raw_tx, &mut reg, tx, resync, mode).await;
            if let Some(r) = reg {
                deregister(&lv, r).await;
            }
        });
        Ok(Watch { rx, mode })
    }
}

/// A lifecycle callback: its id and the connection generation it belongs to (a callback
/// dies with its connection; see [`super::reconnect`]).
#[derive(Debug, Clone, Copy)]
struct Registration {
    id: i32,
    generation: u64,
}

/// Registers the lifecycle callback on the current connection; `None` when the driver
/// has no events.
async fn register(
    lv: &Libvirt,
    raw_tx: &mpsc::UnboundedSender<ffi::RawEvent>,
) -> Result<Option<Registration>, VirtError> {
    let tx = raw_tx.clone();
    lv.call(move |c| {
        Ok(ffi::register_lifecycle(&c.conn, tx.clone())
            .ok()
            .map(|id| Registration {
                id,
                generation: c.generation,
            }))
    })
    .await
}

/// Removes a callback, unless its connection is gone (the id means nothing on another).
async fn deregister(lv: &Libvirt, r: Registration) {
    let _ = lv
        .call_once(move |c| {
            if c.generation == r.generation {
                let _ = ffi::deregister(&c.conn, r.id);
            }
            Ok(())
        })
        .await;
}

#[allow(clippy::too_many_arguments)]
async fn run_watch(
    lv: &Libvirt,
    initial: Result<Vec<DomainInfo>, VirtError>,
    mut raw: mpsc::UnboundedReceiver<ffi::RawEvent>,
    raw_tx: &mpsc::UnboundedSender<ffi::RawEvent>,
    reg: &mut Option<Registration>,
    tx: mpsc::Sender<WatchEvent>,
    resync: Duration,
    mode: WatchMode,
) {
    let mut known: HashMap<String, DomainInfo> = HashMap::new();
    if !apply_listing(&mut known, initial, &tx).await {
        return;
    }
    let mut generations = lv.generations();
    let mut tick = tokio::time::interval(resync.max(Duration::from_millis(50)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick fires at once; the initial listing covered it
    loop {
        tokio::select! {
            _ = tx.closed() => return,
            _ = tick.tick() => {
                if !apply_listing(&mut known, lv.domains().await, &tx).await {
                    return;
                }
                // A re-registration that failed at the reconnect is tried again.
                if mode == WatchMode::Events
                    && reg.is_some_and(|r| r.generation != lv.reconnects())
                    && let Ok(Some(r)) = register(lv, raw_tx).await
                {
                    *reg = Some(r);
                }
            }
            // libvirtd restarted and the connection was reopened: the callback died with
            // the old connection, and changes made meanwhile sent no event.
            Ok(()) = generations.changed(), if mode == WatchMode::Events => {
                if let Ok(Some(r)) = register(lv, raw_tx).await {
                    *reg = Some(r);
                }
                if !apply_listing(&mut known, lv.domains().await, &tx).await {
                    return;
                }
            }
            ev = raw.recv(), if mode == WatchMode::Events => {
                let Some(ev) = ev else { continue };
                // Collapse a burst (define+start, stop+undefine) into one refresh per domain.
                let mut names = BTreeSet::from([ev.domain]);
                while let Ok(more) = raw.try_recv() {
                    names.insert(more.domain);
                }
                for name in names {
                    if !refresh_one(lv, &mut known, name, &tx).await {
                        return;
                    }
                }
            }
        }
    }
}

/// Compares a full listing with what was sent; sends the differences. False when the
/// receiver is gone.
async fn apply_listing(
    known: &mut HashMap<String, DomainInfo>,
    listing: Result<Vec<DomainInfo>, VirtError>,
    tx: &mpsc::Sender<WatchEvent>,
) -> bool {
    let list = match listing {
        Ok(l) => l,
        Err(e) => return tx.send(WatchEvent::Error(e.to_string())).await.is_ok(),
    };
    let names: BTreeSet<String> = list.iter().map(|d| d.name.clone()).collect();
    let gone: Vec<String> = known
        .keys()
        .filter(|k| !names.contains(*k))
        .cloned()
        .collect();
    for name in gone {
        known.remove(&name);
        if tx.send(WatchEvent::Removed { name }).await.is_err() {
            return false;
        }
    }
    for d in list {
        if known.get(&d.name) != Some(&d) {
            known.insert(d.name.clone(), d.clone());
            if tx.send(WatchEvent::Changed(d)).await.is_err() {
                return false;
            }
        }
    }
    true
}

async fn refresh_one(
    lv: &Libvirt,
    known: &mut HashMap<String, DomainInfo>,
    name: String,
    tx: &mpsc::Sender<WatchEvent>,
) -> bool {
    let n = name.clone();
    let res = lv.call(move |c| snapshot(c, &lookup(c, &n)?)).await;
    let ev = match res {
        Ok(d) => {
            if known.get(&d.name) == Some(&d) {
                return true;
            }
            known.insert(d.name.clone(), d.clone());
            WatchEvent::Changed(d)
        }
        Err(VirtError::NotFound { .. }) => {
            if known.remove(&name).is_none() {
                return true;
            }
            WatchEvent::Removed { name }
        }
        Err(e) => WatchEvent::Error(e.to_string()),
    };
    tx.send(ev).await.is_ok()
}
