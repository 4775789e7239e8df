//! The hypervisor form's network table: the fields of one row (`networks[i]`), and a new row.

use super::convert::{into_number, into_text, non_empty, opt_text, text, to_u32};
use super::spec::{Spec, specs};
use super::{Kind, Value};
use crate::lab::{DhcpRange, Lab, Network, NetworkMode};

/// A field of one row of the hypervisor form's network table (`networks[i]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetField {
    Name,
    Bridge,
    Mode,
    Cidr,
    Gateway,
    DhcpStart,
    DhcpEnd,
    Mtu,
    HostNic,
}

const NET_MODES: &[&str] = &["nat", "isolated", "bridged"];

/// Paths are below `networks[i]`.
pub const FIELDS: &[Spec<NetField>] = specs! {
    NetField::Name => "name", "Network name", Kind::Line,
        "libvirt network name; node groups and NICs refer to it.";
    NetField::Bridge => "bridge", "Bridge", Kind::Line,
        "Linux bridge of the network (at most 15 characters).";
    NetField::Mode => "mode", "Mode", Kind::Select(NET_MODES),
        "nat: libvirt NAT + DHCP. isolated: no forwarding (PXE). bridged: host NIC.";
    NetField::Cidr => "cidr", "CIDR", Kind::Line,
        "Address range (192.168.23.0/24); empty leaves it unaddressed (provisioning).";
    NetField::Gateway => "gateway", "Gateway", Kind::Line,
        "The host's address on the network; empty uses the first.";
    NetField::DhcpStart => "dhcp.start", "DHCP start", Kind::Line,
        "First address libvirt's DHCP hands out; empty: no DHCP.";
    NetField::DhcpEnd => "dhcp.end", "DHCP end", Kind::Line,
        "Last address libvirt's DHCP hands out.";
    NetField::Mtu => "mtu", "MTU", Kind::Line,
        "MTU of the network; empty keeps libvirt's default (1500).";
    NetField::HostNic => "host_nic", "Host NIC", Kind::Line,
        "Hypervisor NIC enslaved to the bridge (bridged mode only).";
};

pub fn get(lab: &Lab, i: usize, f: NetField) -> Value {
    let default_net = Network::default();
    let n = lab.networks.get(i).unwrap_or(&default_net);
    let dhcp = n.dhcp.as_ref();
    match f {
        NetField::Name => text(&n.name),
        NetField::Bridge => text(&n.bridge),
        NetField::Mode => text(match n.mode {
            NetworkMode::Nat => "nat",
            NetworkMode::Isolated => "isolated",
            NetworkMode::Bridged => "bridged",
        }),
        NetField::Cidr => text(&n.cidr),
        NetField::Gateway => opt_text(&n.gateway),
        NetField::DhcpStart => text(dhcp.map(|d| d.start.as_str()).unwrap_or("")),
        NetField::DhcpEnd => text(dhcp.map(|d| d.end.as_str()).unwrap_or("")),
        NetField::Mtu => text(&n.mtu.map(|m| m.to_string()).unwrap_or_default()),
        NetField::HostNic => opt_text(&n.host_nic),
    }
}

pub fn set(lab: &mut Lab, i: usize, f: NetField, v: Value) -> Result<(), String> {
    let Some(n) = lab.networks.get_mut(i) else {
        return Err(format!("network {i} no longer exists"));
    };
    match f {
        NetField::Name => n.name = into_text(v),
        NetField::Bridge => n.bridge = into_text(v),
        NetField::Mode => {
            n.mode = match into_text(v).as_str() {
                "isolated" => NetworkMode::Isolated,
                "bridged" => NetworkMode::Bridged,
                _ => NetworkMode::Nat,
            }
        }
        NetField::Cidr => n.cidr = into_text(v),
        NetField::Gateway => n.gateway = non_empty(into_text(v)),
        NetField::DhcpStart | NetField::DhcpEnd => {
            let v = into_text(v);
            let mut d = n.dhcp.take().unwrap_or(DhcpRange {
                start: String::new(),
                end: String::new(),
            });
            if f == NetField::DhcpStart {
                d.start = v;
            } else {
                d.end = v;
            }
            // Both ends empty: the network has no DHCP range.
            let empty = d.start.trim().is_empty() && d.end.trim().is_empty();
            n.dhcp = (!empty).then_some(d);
        }
        NetField::Mtu => {
            n.mtu = match non_empty(into_text(v)) {
                None => None,
                Some(s) => Some(to_u32(into_number(Value::Text(s))?)?),
            }
        }
        NetField::HostNic => n.host_nic = non_empty(into_text(v)),
    }
    Ok(())
}

/// A new network for the hypervisor's table: isolated and unaddressed, so it is valid as
/// added and the user fills in what it needs.
pub fn new_network(lab: &Lab) -> Network {
    let free = |s: &str| !lab.networks.iter().any(|n| n.name == s || n.bridge == s);
    let k = (lab.networks.len()..)
        .find(|k| free(&format!("net{k}")) && free(&format!("brnet{k}")))
        .unwrap_or(lab.networks.len());
    Network {
        name: format!("net{k}"),
        bridge: format!("brnet{k}"),
        mode: NetworkMode::Isolated,
        ..Network::default()
    }
}
