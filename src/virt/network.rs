//! Networks: snapshots with DHCP leases, idempotent define/start/destroy/undefine.

use super::error::is_unsupported;
use super::object::{self, obj_err};
use super::{Conn, Libvirt, Outcome, VirtError, ffi};
use serde::Serialize;
use std::net::IpAddr;
use virt::error::Error as LvError;
use virt::network::Network;

/// One DHCP lease handed out by a libvirt network's dnsmasq.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub interface: String,
    /// Seconds since the epoch when the lease expires.
    pub expiry: i64,
    pub ip: Option<IpAddr>,
    /// The address exactly as libvirt gave it (kept even if it does not parse).
    pub ip_text: String,
    pub prefix: u32,
    pub mac: Option<String>,
    pub hostname: Option<String>,
    pub client_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkInfo {
    pub name: String,
    pub uuid: String,
    /// The host bridge (`virbr0`, ...); `None` for networks without one.
    pub bridge: Option<String>,
    pub active: bool,
    pub persistent: bool,
    pub autostart: bool,
    /// DHCP leases (empty when inactive or when the driver keeps no lease database).
    pub leases: Vec<Lease>,
}

fn net_err(c: &Conn, op: &str, name: &str, e: LvError) -> VirtError {
    obj_err::<Network>(c, op, name, e)
}

fn lookup(c: &Conn, name: &str) -> Result<Network, VirtError> {
    object::lookup(c, name)
}

fn snapshot(c: &Conn, net: &Network) -> Result<NetworkInfo, VirtError> {
    let name = net.name().map_err(|e| c.lv("get network name", e))?;
    let err = |op: &str, e: LvError| net_err(c, op, &name, e);
    let active = net.is_active().map_err(|e| err("query", e))?;
    let leases = if active {
        match ffi::dhcp_leases(net) {
            Ok(v) => v
                .into_iter()
                .map(|l| Lease {
                    interface: l.iface,
                    expiry: l.expiry,
                    ip: l.ip.parse().ok(),
                    ip_text: l.ip,
                    prefix: l.prefix,
                    mac: l.mac,
                    hostname: l.hostname,
                    client_id: l.client_id,
                })
                .collect(),
            // The test driver has no lease database.
            Err(e) if is_unsupported(&e) => Vec::new(),
            Err(e) => return Err(err("get DHCP leases of", e)),
        }
    } else {
        Vec::new()
    };
    Ok(NetworkInfo {
        uuid: net.uuid_string().map_err(|e| err("get UUID of", e))?,
        // Networks without a bridge (hostdev, macvtap) make this call fail: no bridge.
        bridge: net.bridge_name().ok().filter(|b| !b.is_empty()),
        active,
        persistent: net.is_persistent().map_err(|e| err("query", e))?,
        autostart: net.autostart().map_err(|e| err("query", e))?,
        leases,
        name,
    })
}

impl Libvirt {
    /// Snapshots of every network, sorted by name.
    pub async fn networks(&self) -> Result<Vec<NetworkInfo>, VirtError> {
        self.call(|c| {
            let nets = c
                .conn
                .list_all_networks(0)
                .map_err(|e| c.lv("list networks", e))?;
            object::snapshots(c, &nets, snapshot, |i| &i.name)
        })
        .await
    }

    pub async fn network(&self, name: &str) -> Result<NetworkInfo, VirtError> {
        let name = name.to_string();
        self.call(move |c| snapshot(c, &lookup(c, &name)?)).await
    }

    pub async fn network_xml(&self, name: &str) -> Result<String, VirtError> {
        let name = name.to_string();
        self.call(move |c| {
            lookup(c, &name)?
                .xml_desc(0)
                .map_err(|e| net_err(c, "get XML of", &name, e))
        })
        .await
    }

    /// Defines (or redefines) a persistent network from XML.
    pub async fn define_network(&self, xml: &str) -> Result<NetworkInfo, VirtError> {
        let xml = xml.to_string();
        self.call(move |c| {
            let net = c
                .conn
                .define_network_xml(&xml)
                .map_err(|e| c.lv("define network", e))?;
            snapshot(c, &net)
        })
        .await
    }

    /// Starts a defined network; `AlreadyInState` when it is active.
    pub async fn start_network(&self, name: &str) -> Result<Outcome, VirtError> {
        let name = name.to_string();
        self.call(move |c| object::start::<Network>(c, &name)).await
    }

    pub async fn set_network_autostart(&self, name: &str, on: bool) -> Result<(), VirtError> {
        let name = name.to_string();
        self.call(move |c| object::set_autostart::<Network>(c, &name, on))
            .await
    }

    /// Stops a network; `AlreadyInState` when inactive, `AlreadyAbsent` when missing.
    pub async fn destroy_network(&self, name: &str) -> Result<Outcome, VirtError> {
        let name = name.to_string();
        self.call(move |c| object::stop::<Network>(c, &name)).await
    }

    /// Removes a network whatever its state: stops it if active, then undefines it.
    /// `AlreadyAbsent` when it does not exist.
    pub async fn undefine_network(&self, name: &str) -> Result<Outcome, VirtError> {
        let name = name.to_string();
        self.call(move |c| object::stop_and_undefine::<Network>(c, &name))
            .await
    }
}
