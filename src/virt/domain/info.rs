//! A domain as labwarp reports it: state and its reason, addresses (agent, leases), info.

use super::{DomainInfo, DomainIp, DomainState, IpSource, dom_err};
use crate::virt::error::{is_missing, is_unsupported};
use crate::virt::{Conn, VirtError, xml};
use std::fmt::Debug;
use std::net::IpAddr;
use virt::domain::{Domain, DomainState as Lv, DomainStateReason as R};
use virt::enumutil::Enum;
use virt::error::Error as LvError;
use virt::sys;

/// CamelCase variant name → kebab-case reason text (`FromSnapshot` → `from-snapshot`).
pub(super) fn kebab(s: &str) -> String {
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

pub(super) fn known<E: Debug, I>(x: &Enum<E, I>) -> Option<String> {
    match x {
        Enum::Known(k) => Some(kebab(&format!("{k:?}"))).filter(|s| s != "unknown"),
        Enum::Unknown(_) => None,
    }
}

pub(super) fn reason_text(r: &Enum<R, i32>) -> Option<String> {
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

pub(super) fn map_state(s: Lv) -> DomainState {
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
pub(super) fn state_of(
    c: &Conn,
    dom: &Domain,
    name: &str,
) -> Result<(DomainState, Option<String>), VirtError> {
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
pub(super) fn or_unsupported<T>(r: Result<T, LvError>, default: T) -> Result<T, LvError> {
    match r {
        Err(e) if is_unsupported(&e) => Ok(default),
        other => other,
    }
}

pub(super) fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

pub(super) fn addresses(
    dom: &Domain,
    source: u32,
    tag: IpSource,
) -> Result<Vec<DomainIp>, LvError> {
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
pub(super) fn is_test_driver(uri: &str) -> bool {
    uri.split([':', '+']).next() == Some("test")
}

/// Each `<interface type='network'>` of the domain with its network's parsed XML; `None`
/// when the network cannot be looked up or read (then it is not known to be safe to ask).
pub(super) fn nic_networks(
    c: &Conn,
    domain: &xml::Element,
) -> Vec<(xml::NetworkNic, Option<xml::Element>)> {
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
pub(super) fn leases_per_network(
    c: &Conn,
    nics: &[(xml::NetworkNic, Option<xml::Element>)],
) -> Vec<DomainIp> {
    let mut out = Vec::new();
    for (nic, net) in nics {
        let Some(mac) = &nic.mac else { continue };
        if !net.as_ref().is_some_and(xml::network_has_dhcp) {
            continue;
        }
        let Ok(n) = c.conn.lookup_network_by_name(&nic.network) else {
            continue;
        };
        let Ok(leases) = crate::virt::ffi::dhcp_leases(&n) else {
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

pub(crate) fn snapshot(c: &Conn, dom: &Domain) -> Result<DomainInfo, VirtError> {
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
