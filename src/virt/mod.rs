//! libvirt access: domains, networks, storage pools and volumes, leases, lifecycle events.
//!
//! Every libvirt call blocks (it may do RPC to a daemon, even over SSH), so [`Libvirt`] runs
//! each call on tokio's blocking pool (`spawn_blocking`) and async callers never stall the
//! runtime. One [`Libvirt`] wraps one connection; it is cheap to clone and `Send + Sync`.
//! libvirt connections are thread-safe, so concurrent calls on clones are fine.
//!
//! Operations are idempotent where that makes sense and say what they did with [`Outcome`]:
//! destroying a shut-off domain is `AlreadyInState`, undefining a missing one `AlreadyAbsent`.
//!
//! URIs: any libvirt URI works (`test:///default`, `qemu:///system`, `qemu:///session`,
//! remote ones). Remote SSH URIs are checked so that host key checking is never disabled; see
//! [`uri`] for how the workspace `known_hosts` and key are used.

mod devices;
pub mod domain;
pub mod error;
mod events;
mod ffi;
pub mod listing;
pub mod media;
pub mod network;
mod network_update;
mod object;
mod reconnect;
mod save;
pub mod storage;
mod test_world;
pub mod uri;
pub mod xml;

pub use domain::{
    DomainInfo, DomainIp, DomainState, IpSource, ShutdownOutcome, UndefineOptions, Undefined,
};
pub use error::{Kind, Outcome, VirtError};
pub use events::{Watch, WatchEvent, WatchMode};
pub use listing::DomainBrief;
pub use network::{Lease, NetworkInfo};
pub use save::ResumeAs;
pub use storage::{PoolInfo, PoolState, VolumeInfo, VolumeSpec};
pub use test_world::world_uri;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use virt::connect::Connect;
use virt::error::Error as LvError;

/// A libvirt connection usable from async code. Clones share the connection, and a
/// reconnect after a libvirtd restart (see [`reconnect`]) is seen by every clone.
#[derive(Clone)]
pub struct Libvirt {
    inner: Arc<Inner>,
}

struct Inner {
    uri: String,
    /// The connection in use; replaced whole when libvirtd went away and came back.
    current: RwLock<Arc<Conn>>,
    /// Held while reopening, so that concurrent calls reconnect once.
    reconnecting: tokio::sync::Mutex<()>,
    /// How long a lost connection is retried, in milliseconds.
    window_ms: AtomicU64,
    /// "Lost the connection" / "reconnected" lines for the front end (see
    /// [`Libvirt::notices`]).
    notices: tokio::sync::broadcast::Sender<String>,
    /// The current connection's generation, for watches that must re-register their
    /// event callbacks on a new connection.
    generations: tokio::sync::watch::Sender<u64>,
    /// The test driver's world file, written after every call (see [`test_world`]).
    world: Option<Arc<test_world::World>>,
}

impl std::fmt::Debug for Libvirt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Libvirt")
            .field("uri", &self.inner.uri)
            .finish()
    }
}

/// What a blocking call sees: the connection and the URI (for error messages). (Not the
/// engine's runtime `engine::ctx::Ctx`.)
pub(crate) struct Conn {
    pub(crate) conn: Connect,
    pub(crate) uri: String,
    /// 0 for the first connection, +1 per reconnect.
    pub(crate) generation: u64,
}

impl Conn {
    /// Wraps a libvirt error with what labwarp was doing.
    pub(crate) fn lv(&self, op: impl Into<String>, e: LvError) -> VirtError {
        VirtError::Libvirt {
            uri: self.uri.clone(),
            op: op.into(),
            code: error::code_of(&e),
            message: e.message().to_string(),
        }
    }

    pub(crate) fn not_found(&self, kind: Kind, name: &str) -> VirtError {
        VirtError::NotFound {
            uri: self.uri.clone(),
            kind,
            name: name.to_string(),
        }
    }

    pub(crate) fn xml_err(&self, what: &str, message: impl Into<String>) -> VirtError {
        VirtError::Xml {
            uri: self.uri.clone(),
            what: what.to_string(),
            message: message.into(),
        }
    }
}

/// libvirt passes on only the first line of ssh's stderr; for a changed host key that is
/// OpenSSH's row of `@` signs, which tells the user nothing. Say what it means.
fn explain_connect_error(message: &str) -> String {
    if message.contains("@@@@@@@@") {
        format!(
            "{message} — the host's SSH key differs from the one pinned in the workspace known_hosts; refusing to connect (check why the key changed before removing the old line)"
        )
    } else {
        message.to_string()
    }
}

impl Libvirt {
    /// Opens a connection to `uri`. SSH URIs that disable host key checking are refused
    /// ([`uri::check`]). The process-wide libvirt event loop is started first (once), so
    /// that lifecycle events and keepalives work on this connection.
    pub async fn connect(uri: &str) -> Result<Libvirt, VirtError> {
        uri::check(uri)?;
        events::ensure_event_loop();
        let owned = uri.to_string();
        let conn = tokio::task::spawn_blocking(move || Connect::open(Some(&owned)))
            .await
            .map_err(|e| VirtError::Join(e.to_string(), uri.to_string()))?
            .map_err(|e| VirtError::Connect {
                uri: uri.to_string(),
                message: explain_connect_error(e.message()),
            })?;
        let window = u64::try_from(reconnect::DEFAULT_WINDOW.as_millis()).unwrap_or(u64::MAX);
        Ok(Libvirt {
            inner: Arc::new(Inner {
                uri: uri.to_string(),
                current: RwLock::new(Arc::new(Conn {
                    conn,
                    uri: uri.to_string(),
                    generation: 0,
                })),
                reconnecting: tokio::sync::Mutex::new(()),
                window_ms: AtomicU64::new(window),
                notices: tokio::sync::broadcast::channel(16).0,
                generations: tokio::sync::watch::Sender::new(0),
                world: None,
            }),
        })
    }

    /// The URI this connection was opened with.
    pub fn uri(&self) -> &str {
        &self.inner.uri
    }

    /// The hypervisor's host name (as libvirt reports it).
    pub async fn hostname(&self) -> Result<String, VirtError> {
        self.call(|c| c.conn.hostname().map_err(|e| c.lv("get host name", e)))
            .await
    }

    /// The daemon's libvirt version as (major, minor, micro).
    pub async fn lib_version(&self) -> Result<(u32, u32, u32), VirtError> {
        self.call(|c| {
            let v = c.conn.lib_version().map_err(|e| c.lv("get version", e))?;
            Ok((v / 1_000_000, (v / 1000) % 1000, v % 1000))
        })
        .await
    }

    /// The capabilities XML (domain types, arches, ...).
    pub async fn capabilities(&self) -> Result<String, VirtError> {
        self.call(|c| {
            c.conn
                .capabilities()
                .map_err(|e| c.lv("get capabilities", e))
        })
        .await
    }
}
