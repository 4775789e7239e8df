//! Domains: typed snapshots and idempotent lifecycle operations.

use super::error::{is_invalid_state, is_missing, is_unsupported};
use super::object::{self, obj_err};
use super::{Ctx, Libvirt, Outcome, VirtError, xml};
use serde::Serialize;
use std::fmt::Debug;
use std::net::IpAddr;
use std::time::Duration;
use virt::domain::{Domain, DomainState as Lv, DomainStateReason as R};
use virt::enumutil::Enum;
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

fn dom_err(c: &Ctx, op: &str, name: &str, e: LvError) -> VirtError {
    obj_err::<Domain>(c, op, name, e)
}

pub(crate) fn lookup(c: &Ctx, name: &str) -> Result<Domain, VirtError> {
    object::lookup(c, name)
}

fn lookup_opt(c: &Ctx, name: &str) -> Result<Option<Domain>, VirtError> {
    object::lookup_opt(c, name)
}

/// CamelCase variant name → kebab-case reason text (`FromSnapshot` → `from-snapshot`).
fn kebab(s: &str) -> String {
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

fn known<E: Debug, I>(x: &Enum<E, I>) -> Option<String> {
    match x {
        Enum::Known(k) => Some(kebab(&format!("{k:?}"))).filter(|s| s != "unknown"),
        Enum::Unknown(_) => None,
    }
}

fn reason_text(r: &Enum<R, i32>) -> Option<String> {
    match r {
        Enum::Known(R::NoState(x)) => known(x),
        Enum::Known(R::Running(x)) => known(x),
        Enum::Known(R::Blocked(x)) => known(x),
        Enum::Known(R::Paused(x)) => known(x),
        Enum::Known(R::Shutdown(x)) => known(x),
        Enum::Known(R::Shutoff(x)) => known(x),
        Enum::Known(R::Crashed(x)) => known(x),
        Enum::Known(R::PMSuspended(x)) => known(x),
        Enum::Unknown(_) => None,
    }
}

fn map_state(s: Lv) -> DomainState {
    match s {
        Lv::NoState => DomainState::NoState,
        Lv::Running => DomainState::Running,
        Lv::Blocked => DomainState::Blocked,
        Lv::Paused => DomainState::Paused,
        Lv::Shutdown => DomainState::ShuttingDown,
        Lv::Shutoff => DomainState::Shutoff,
        Lv::Crashed => DomainState::Crashed,
        Lv::PMSuspended => DomainState::PmSuspended,
    }
}

/// The state alone (cheap; used while waiting for a shutdown).
fn state_of(c: &Ctx, dom: &Domain, name: &str) -> Result<(DomainState, Option<String>), VirtError> {
    // virt 0.5's `state()` swallows the call's error; ask `info()` first so that a vanished
    // domain is reported as missing rather than as an unknown state.
    let info = dom.info().map_err(|e| dom_err(c, "get info of", name, e))?;
    let (st, reason) = dom
        .state()
        .map_err(|e| dom_err(c, "get state of", name, e))?;
    let st = match st {
        Enum::Known(k) => map_state(k),
        Enum::Unknown(_) => match info.state {
            Enum::Known(k) => map_state(k),
            Enum::Unknown(_) => DomainState::NoState,
        },
    };
    Ok((st, reason_text(&reason)))
}

/// A call whose "not supported by this driver" answer means "no" rather than failure.
fn or_unsupported<T>(r: Result<T, LvError>, default: T) -> Result<T, LvError> {
    match r {
        Err(e) if is_unsupported(&e) => Ok(default),
        other => other,
    }
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

fn addresses(dom: &Domain, source: u32, tag: IpSource) -> Result<Vec<DomainIp>, LvError> {
    let ifaces = dom.interface_addresses(source, 0)?;
    let mut out = Vec::new();
    for iface in ifaces {
        for a in iface.addrs {
            let Some(addr) = parse_ip(&a.addr) else {
                continue;
            };
            if addr.is_loopback() {
                continue;
            }
            out.push(DomainIp {
                addr,
                prefix: u8::try_from(a.prefix).unwrap_or(u8::MAX),
                source: tag,
                interface: iface.name.clone(),
                mac: iface.hwaddr.clone(),
            });
        }
    }
    Ok(out)
}

/// `test:///default`, `test:///path.xml`, `test+...://`: libvirt's built-in test driver.
fn is_test_driver(uri: &str) -> bool {
    uri.split([':', '+']).next() == Some("test")
}

/// Each `<interface type='network'>` of the domain with its network's parsed XML; `None`
/// when the network cannot be looked up or read (then it is not known to be safe to ask).
fn nic_networks(c: &Ctx, domain: &xml::Element) -> Vec<(xml::NetworkNic, Option<xml::Element>)> {
    xml::network_nics(domain)
        .into_iter()
        .map(|nic| {
            let net = c
                .conn
                .lookup_network_by_name(&nic.network)
                .and_then(|n| n.xml_desc(0))
                .ok()
                .and_then(|x| xml::parse(&x).ok());
            (nic, net)
        })
        .collect()
}

/// DHCP leases of the domain's NICs, read from each network that serves DHCP and matched
/// by MAC (what libvirt's lease source does, minus the networks that have no `<ip>`).
/// Networks without a lease database (the test driver) or that fail give no addresses.
fn leases_per_network(c: &Ctx, nics: &[(xml::NetworkNic, Option<xml::Element>)]) -> Vec<DomainIp> {
    let mut out = Vec::new();
    for (nic, net) in nics {
        let Some(mac) = &nic.mac else { continue };
        if !net.as_ref().is_some_and(xml::network_has_dhcp) {
            continue;
        }
        let Ok(n) = c.conn.lookup_network_by_name(&nic.network) else {
            continue;
        };
        let Ok(leases) = super::ffi::dhcp_leases(&n) else {
            continue;
        };
        for l in leases {
            if !l
                .mac
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(mac))
            {
                continue;
            }
            let Some(addr) = parse_ip(&l.ip) else {
                continue;
            };
            out.push(DomainIp {
                addr,
                prefix: u8::try_from(l.prefix).unwrap_or(u8::MAX),
                source: IpSource::Lease,
                interface: nic.target.clone().unwrap_or_else(|| l.iface.clone()),
                mac: Some(mac.clone()),
            });
        }
    }
    out
}

pub(crate) fn snapshot(c: &Ctx, dom: &Domain) -> Result<DomainInfo, VirtError> {
    let name = dom.name().map_err(|e| c.lv("get domain name", e))?;
    let err = |op: &str, e: LvError| dom_err(c, op, &name, e);
    let (state, reason) = state_of(c, dom, &name)?;
    let info = dom.info().map_err(|e| err("get info of", e))?;
    let active = dom.is_active().map_err(|e| err("query", e))?;
    let persistent = dom.is_persistent().map_err(|e| err("query", e))?;
    let autostart = or_unsupported(dom.autostart(), false).map_err(|e| err("query", e))?;
    let has_managed_save =
        or_unsupported(dom.has_managed_save(0), false).map_err(|e| err("query", e))?;
    let snapshot_count = or_unsupported(dom.num_snapshots(0), 0).map_err(|e| err("query", e))?;
    let xml_text = dom.xml_desc(0).map_err(|e| err("get XML of", e))?;
    let tree = xml::parse(&xml_text).map_err(|m| c.xml_err(&format!("domain '{name}'"), m))?;

    let mut ips = Vec::new();
    if active {
        let nics = nic_networks(c, &tree);
        // libvirt's test driver answers virDomainInterfaceAddresses (whatever the source)
        // from the `<ip>` of each NIC's network and dereferences it unchecked: a NIC on a
        // network without `<ip>` (an isolated provisioning network) segfaults the whole
        // process (libvirt 9.0; `virsh domifaddr` crashes the same way). So the domain-wide
        // call is made only when every network NIC's network is known to have an `<ip>`;
        // otherwise the leases are read per network, only from networks that serve DHCP.
        let all_have_ip = nics
            .iter()
            .all(|(_, net)| net.as_ref().is_some_and(xml::network_has_ip));
        if all_have_ip {
            let lease = sys::VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE;
            ips = match addresses(dom, lease, IpSource::Lease) {
                Ok(v) => v,
                Err(e) if is_missing(&e) => return Err(err("get addresses of", e)),
                // No lease database for this network type: not an error for a snapshot.
                Err(_) => Vec::new(),
            };
        } else {
            ips = leases_per_network(c, &nics);
        }
        // The agent source goes through the same crashing code on the test driver; on the
        // other drivers it does not depend on the networks.
        let agent_safe = all_have_ip || !is_test_driver(&c.uri);
        if ips.is_empty() && agent_safe && xml::has_guest_agent(&tree) {
            let agent = sys::VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT;
            // An agent that is not up yet is normal while booting: no addresses, no error.
            ips = addresses(dom, agent, IpSource::Agent).unwrap_or_default();
        }
        ips.sort_by_key(|a| (a.source, a.addr));
        ips.dedup();
    }

    Ok(DomainInfo {
        uuid: dom.uuid_string().map_err(|e| err("get UUID of", e))?,
        id: if active { dom.id() } else { None },
        state,
        reason,
        active,
        vcpus: info.nr_virt_cpu,
        memory_mib: info.memory / 1024,
        max_memory_mib: info.max_mem / 1024,
        autostart,
        persistent,
        has_managed_save,
        snapshot_count,
        ips,
        labwarp_lab: xml::labwarp_lab(&tree),
        name,
    })
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

fn undefine_blocking(c: &Ctx, name: &str, opts: UndefineOptions) -> Result<Undefined, VirtError> {
    let Some(dom) = lookup_opt(c, name)? else {
        return Ok(Undefined::new(Outcome::AlreadyAbsent));
    };
    let mut report = Undefined::new(Outcome::Done);
    // Disks must be read before the definition is gone.
    let disks = if opts.remove_storage {
        let text = dom
            .xml_desc(sys::VIR_DOMAIN_XML_INACTIVE)
            .map_err(|e| dom_err(c, "get XML of", name, e))?;
        let tree = xml::parse(&text).map_err(|m| c.xml_err(&format!("domain '{name}'"), m))?;
        xml::domain_disks(&tree)
    } else {
        Vec::new()
    };

    report.destroyed = match object::stop_active(c, &dom, name) {
        Ok(o) => o == Outcome::Done,
        Err(VirtError::NotFound { .. }) => false,
        Err(e) => return Err(e),
    };

    // A transient domain is gone once destroyed.
    let persistent = match dom.is_persistent() {
        Ok(p) => p,
        Err(e) if is_missing(&e) => false,
        Err(e) => return Err(dom_err(c, "query", name, e)),
    };
    if persistent {
        undefine_flags_converging(c, &dom, name)?;
    }

    for d in disks {
        remove_disk_volume(c, &d, &mut report)?;
    }
    Ok(report)
}

/// Undefines with every cleanup flag; on "unsupported flag" retries with fewer flags after
/// removing what those flags would have removed.
fn undefine_flags_converging(c: &Ctx, dom: &Domain, name: &str) -> Result<(), VirtError> {
    let base = sys::VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | sys::VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA;
    let attempts = [
        base | sys::VIR_DOMAIN_UNDEFINE_NVRAM
            | sys::VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
            | sys::VIR_DOMAIN_UNDEFINE_TPM,
        base | sys::VIR_DOMAIN_UNDEFINE_NVRAM | sys::VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA,
        base | sys::VIR_DOMAIN_UNDEFINE_NVRAM,
        base,
    ];
    let mut last = None;
    for flags in attempts {
        match dom.undefine_flags(flags) {
            Ok(()) => return Ok(()),
            Err(e) if is_missing(&e) => return Ok(()),
            Err(e) if is_unsupported(&e) => last = Some(e),
            Err(e) => return Err(dom_err(c, "undefine", name, e)),
        }
    }
    // Last resort for drivers without undefine flags: remove managed save and snapshot
    // metadata by hand, then plain undefine.
    if dom.has_managed_save(0).unwrap_or(false) {
        dom.managed_save_remove(0)
            .map_err(|e| dom_err(c, "remove managed save of", name, e))?;
    }
    if let Ok(snaps) = dom.list_all_snapshots(0) {
        for s in snaps {
            match s.delete(sys::VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY) {
                Ok(()) => {}
                Err(e) if is_missing(&e) => {}
                Err(e) => return Err(dom_err(c, "delete snapshot metadata of", name, e)),
            }
        }
    }
    match dom.undefine() {
        Ok(()) => Ok(()),
        Err(e) if is_missing(&e) => Ok(()),
        Err(e) => {
            let first = last
                .map(|l| format!(" (with flags: {})", l.message()))
                .unwrap_or_default();
            Err(c.lv(format!("undefine domain '{name}'{first}"), e))
        }
    }
}

fn remove_disk_volume(
    c: &Ctx,
    d: &xml::DiskSource,
    report: &mut Undefined,
) -> Result<(), VirtError> {
    let vol = if let Some((pool, volume)) = &d.pool_volume {
        let p = match c.conn.lookup_storage_pool_by_name(pool) {
            Ok(p) => p,
            Err(e) if is_missing(&e) => return Ok(()),
            Err(e) => return Err(c.lv(format!("look up pool '{pool}'"), e)),
        };
        p.lookup_storage_vol_by_name(volume)
    } else if let Some(path) = &d.path {
        c.conn.lookup_storage_vol_by_path(path)
    } else {
        return Ok(());
    };
    match vol {
        Ok(v) => {
            let path = v.path().unwrap_or_default();
            match v.delete(0) {
                Ok(()) => report.removed_volumes.push(path),
                Err(e) if is_missing(&e) => {}
                Err(e) => return Err(c.lv(format!("delete volume {path}"), e)),
            }
        }
        Err(e) if is_missing(&e) => {
            if let Some(p) = &d.path {
                report.kept_paths.push(p.clone());
            }
        }
        Err(e) => return Err(c.lv("look up volume", e)),
    }
    Ok(())
}
