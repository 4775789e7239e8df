//! Domains: typed snapshots and idempotent lifecycle operations.

use super::error::is_invalid_state;
use super::object::{self, obj_err};
use super::{Conn, Libvirt, Outcome, VirtError, xml};

mod info;
mod undefine;

pub(crate) use info::snapshot;
use info::state_of;
use serde::Serialize;
use std::fmt::Debug;
use std::net::IpAddr;
use std::time::Duration;
use undefine::undefine_blocking;
use virt::domain::Domain;
use virt::error::Error as LvError;
use virt::sys;

/// A domain's state as libvirt reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DomainState {
    NoState,
    Running,
    Blocked,
    Paused,
    /// Being shut down (libvirt's "in shutdown").
    ShuttingDown,
    Shutoff,
    Crashed,
    PmSuspended,
}

impl DomainState {
    pub fn as_str(self) -> &'static str {
        match self {
            DomainState::NoState => "nostate",
            DomainState::Running => "running",
            DomainState::Blocked => "blocked",
            DomainState::Paused => "paused",
            DomainState::ShuttingDown => "shutting-down",
            DomainState::Shutoff => "shutoff",
            DomainState::Crashed => "crashed",
            DomainState::PmSuspended => "pmsuspended",
        }
    }
}

impl std::fmt::Display for DomainState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an address was learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IpSource {
    /// libvirt's DHCP lease database (dnsmasq of a libvirt network).
    Lease,
    /// The QEMU guest agent inside the VM.
    Agent,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct DomainIp {
    pub addr: IpAddr,
    pub prefix: u8,
    pub source: IpSource,
    /// Interface name as libvirt reports it (host tap for leases, guest name for the agent).
    pub interface: String,
    pub mac: Option<String>,
}

/// A snapshot of one domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainInfo {
    pub name: String,
    pub uuid: String,
    /// Runtime id while active.
    pub id: Option<u32>,
    pub state: DomainState,
    /// Why it is in that state (`booted`, `destroyed`, `saved`, `user`, ...), when known.
    pub reason: Option<String>,
    pub active: bool,
    pub vcpus: u32,
    /// Current memory.
    pub memory_mib: u64,
    pub max_memory_mib: u64,
    pub autostart: bool,
    pub persistent: bool,
    pub has_managed_save: bool,
    pub snapshot_count: u32,
    /// Addresses from DHCP leases, then (when the domain has an agent channel and no lease
    /// answered) from the guest agent. Empty while shut off.
    pub ips: Vec<DomainIp>,
    /// The lab that owns this domain, from labwarp's `<metadata>` element (see
    /// [`xml::labwarp_lab`]); `None` for domains labwarp did not create.
    pub labwarp_lab: Option<String>,
}

/// What [`Libvirt::shutdown`] had to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownOutcome {
    /// The domain was not running.
    AlreadyOff,
    /// The guest shut down by itself after the ACPI request.
    Graceful,
    /// The guest did not stop in time and was destroyed (powered off).
    Forced,
}

/// Options for [`Libvirt::undefine`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UndefineOptions {
    /// Also delete the storage volumes the domain's disks use (those libvirt knows as volumes
    /// of a pool; plain files outside every pool are left alone and reported).
    pub remove_storage: bool,
}

/// What [`Libvirt::undefine`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undefined {
    /// `Done`, or `AlreadyAbsent` when there was no such domain.
    pub outcome: Outcome,
    /// Whether the domain was running and had to be destroyed first.
    pub destroyed: bool,
    /// Paths of the volumes deleted.
    pub removed_volumes: Vec<String>,
    /// Disk paths that were not deleted because no storage pool holds them.
    pub kept_paths: Vec<String>,
}

impl Undefined {
    fn new(outcome: Outcome) -> Self {
        Undefined {
            outcome,
            destroyed: false,
            removed_volumes: Vec::new(),
            kept_paths: Vec::new(),
        }
    }
}

fn dom_err(c: &Conn, op: &str, name: &str, e: LvError) -> VirtError {
    obj_err::<Domain>(c, op, name, e)
}

pub(crate) fn lookup(c: &Conn, name: &str) -> Result<Domain, VirtError> {
    object::lookup(c, name)
}

fn lookup_opt(c: &Conn, name: &str) -> Result<Option<Domain>, VirtError> {
    object::lookup_opt(c, name)
}

impl Libvirt {
    /// Snapshots of every domain (active and inactive), sorted by name.
    pub async fn domains(&self) -> Result<Vec<DomainInfo>, VirtError> {
        self.call(|c| {
            let doms = c
                .conn
                .list_all_domains(0)
                .map_err(|e| c.lv("list domains", e))?;
            object::snapshots(c, &doms, snapshot, |i| &i.name)
        })
        .await
    }

    /// A snapshot of one domain; `VirtError::NotFound` when it does not exist.
    pub async fn domain(&self, name: &str) -> Result<DomainInfo, VirtError> {
        let name = name.to_string();
        self.call(move |c| snapshot(c, &lookup(c, &name)?)).await
    }

    /// Whether a domain with this name exists.
    pub async fn domain_exists(&self, name: &str) -> Result<bool, VirtError> {
        let name = name.to_string();
        self.call(move |c| Ok(lookup_opt(c, &name)?.is_some()))
            .await
    }

    /// The domain's XML (live definition when running).
    pub async fn domain_xml(&self, name: &str) -> Result<String, VirtError> {
        let name = name.to_string();
        self.call(move |c| {
            lookup(c, &name)?
                .xml_desc(0)
                .map_err(|e| dom_err(c, "get XML of", &name, e))
        })
        .await
    }

    /// The domain's persistent definition (what it boots with next), whatever its state.
    pub async fn domain_xml_inactive(&self, name: &str) -> Result<String, VirtError> {
        let name = name.to_string();
        self.call(move |c| {
            lookup(c, &name)?
                .xml_desc(sys::VIR_DOMAIN_XML_INACTIVE)
                .map_err(|e| dom_err(c, "get XML of", &name, e))
        })
        .await
    }

    /// Sets vCPUs and memory in the persistent definition (the live VM keeps its own until
    /// it restarts): the inactive XML with only those elements changed, redefined.
    pub async fn resize_persistent(
        &self,
        name: &str,
        vcpus: u32,
        memory_mib: u64,
    ) -> Result<(), VirtError> {
        let xml = self.domain_xml_inactive(name).await?;
        let new = xml::with_sizes(&xml, vcpus, memory_mib).map_err(|message| VirtError::Xml {
            uri: self.uri().to_string(),
            what: format!("domain '{name}'"),
            message,
        })?;
        self.define_domain(&new).await.map(|_| ())
    }

    /// Defines (or redefines) a persistent domain from XML; returns its snapshot.
    pub async fn define_domain(&self, xml: &str) -> Result<DomainInfo, VirtError> {
        let xml = xml.to_string();
        self.call(move |c| {
            let dom = c
                .conn
                .define_domain_xml(&xml)
                .map_err(|e| c.lv("define domain", e))?;
            snapshot(c, &dom)
        })
        .await
    }

    /// Starts a defined domain (restoring its managed save if it has one). `AlreadyInState`
    /// when it already runs (or is paused).
    pub async fn start(&self, name: &str) -> Result<Outcome, VirtError> {
        let name = name.to_string();
        self.call(move |c| object::start::<Domain>(c, &name)).await
    }

    /// Powers a domain off at once. `AlreadyInState` when it is not running,
    /// `AlreadyAbsent` when it does not exist.
    pub async fn destroy(&self, name: &str) -> Result<Outcome, VirtError> {
        let name = name.to_string();
        self.call(move |c| object::stop::<Domain>(c, &name)).await
    }

    /// Asks the guest to shut down (ACPI), waits up to `timeout` for it to stop, then
    /// destroys it. A domain that is not running is `AlreadyOff`; a missing one is
    /// `NotFound`.
    pub async fn shutdown(
        &self,
        name: &str,
        timeout: Duration,
    ) -> Result<ShutdownOutcome, VirtError> {
        let n = name.to_string();
        let requested = self
            .call(move |c| {
                let dom = lookup(c, &n)?;
                if !dom.is_active().map_err(|e| dom_err(c, "query", &n, e))? {
                    return Ok(false);
                }
                match dom.shutdown() {
                    Ok(()) => Ok(true),
                    Err(e) if is_invalid_state(&e) && !dom.is_active().unwrap_or(true) => Ok(false),
                    Err(e) => Err(dom_err(c, "shut down", &n, e)),
                }
            })
            .await?;
        if !requested {
            return Ok(ShutdownOutcome::AlreadyOff);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let n = name.to_string();
            let active = self
                .call(move |c| match lookup_opt(c, &n)? {
                    // A transient domain disappears when it stops.
                    None => Ok(false),
                    Some(d) => d.is_active().map_err(|e| dom_err(c, "query", &n, e)),
                })
                .await?;
            if !active {
                return Ok(ShutdownOutcome::Graceful);
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        match self.destroy(name).await? {
            Outcome::Done => Ok(ShutdownOutcome::Forced),
            _ => Ok(ShutdownOutcome::Graceful),
        }
    }

    /// Pauses a running domain (`AlreadyInState` if already paused).
    pub async fn suspend(&self, name: &str) -> Result<Outcome, VirtError> {
        let name = name.to_string();
        self.call(move |c| {
            let dom = lookup(c, &name)?;
            if state_of(c, &dom, &name)?.0 == DomainState::Paused {
                return Ok(Outcome::AlreadyInState);
            }
            dom.suspend().map_err(|e| dom_err(c, "suspend", &name, e))?;
            Ok(Outcome::Done)
        })
        .await
    }

    /// Saves a running domain's memory to libvirt's managed save file and stops it; the next
    /// [`Libvirt::start`] restores it.
    pub async fn managed_save(&self, name: &str) -> Result<Outcome, VirtError> {
        let name = name.to_string();
        self.call(move |c| {
            let dom = lookup(c, &name)?;
            if !dom.is_active().map_err(|e| dom_err(c, "query", &name, e))? {
                return Ok(Outcome::AlreadyInState);
            }
            dom.managed_save(0)
                .map_err(|e| dom_err(c, "managed-save", &name, e))?;
            Ok(Outcome::Done)
        })
        .await
    }

    /// Creates a snapshot from snapshot XML (`<domainsnapshot>`); returns its name.
    pub async fn create_snapshot(
        &self,
        name: &str,
        snapshot_xml: &str,
        flags: u32,
    ) -> Result<String, VirtError> {
        let name = name.to_string();
        let sx = snapshot_xml.to_string();
        // Not repeatable: a second try would fail on the name the first one took.
        self.call_once(move |c| {
            let dom = lookup(c, &name)?;
            let snap = dom
                .create_snapshot_xml(&sx, flags)
                .map_err(|e| dom_err(c, "snapshot", &name, e))?;
            snap.name().map_err(|e| dom_err(c, "snapshot", &name, e))
        })
        .await
    }

    /// Removes a domain whatever its state, in one call: destroys it if it runs, then
    /// undefines it together with its managed save image, snapshot and checkpoint metadata,
    /// NVRAM and TPM state, and (optionally) its storage volumes. A missing domain is
    /// `AlreadyAbsent`. Drivers that reject some of those flags get them removed one by
    /// one instead (managed save, snapshots), so the call converges everywhere.
    pub async fn undefine(
        &self,
        name: &str,
        opts: UndefineOptions,
    ) -> Result<Undefined, VirtError> {
        let name = name.to_string();
        self.call(move |c| undefine_blocking(c, &name, opts)).await
    }
}
