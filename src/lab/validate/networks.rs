//! libvirt networks: names, bridges, addressing, DHCP, overlaps.

use super::Report;
use super::fields::{self, range_len};
use crate::lab::model::{Lab, NetworkMode};
use ipnet::IpNet;
use std::collections::HashMap;

pub const MTU_MIN: u32 = 576;
pub const MTU_MAX: u32 = 9216;

/// True when two networks share any address.
pub fn overlap(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// A /24 for `networks[i]` that fits the lab: the one of its gateway or DHCP start when it
/// has them, else the first free 192.168.N.0/24; never one another network or the ctlplane
/// subnet uses (a fix must not create a new problem).
fn suggest_cidr(lab: &Lab, i: usize) -> Option<IpNet> {
    let n = &lab.networks[i];
    let mut taken: Vec<IpNet> = lab
        .networks
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .filter_map(|(_, o)| o.cidr.parse().ok())
        .collect();
    taken.extend(lab.undercloud.conf.subnet.cidr.parse::<IpNet>().ok());
    let free = |c: &IpNet| !taken.iter().any(|t| overlap(t, c));
    let own = n
        .gateway
        .as_deref()
        .or(n.dhcp.as_ref().map(|d| d.start.as_str()))
        .and_then(|a| a.parse::<std::net::Ipv4Addr>().ok())
        .and_then(|a| ipnet::Ipv4Net::new(a, 24).ok())
        .map(|c| IpNet::V4(c.trunc()));
    own.filter(free).or_else(|| {
        (100..=254u8)
            .filter_map(|o| format!("192.168.{o}.0/24").parse::<IpNet>().ok())
            .find(free)
    })
}

pub fn networks(lab: &Lab, r: &mut Report) {
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut bridges: HashMap<&str, usize> = HashMap::new();
    let mut nets: Vec<(usize, IpNet)> = Vec::new();
    for (i, n) in lab.networks.iter().enumerate() {
        let p = format!("networks[{i}]");
        if r.check(format!("{p}.name"), &n.name, fields::name(&n.name, 63))
            .is_some()
        {
            if let Some(first) = names.get(n.name.as_str()) {
                r.error(
                    format!("{p}.name"),
                    &n.name,
                    format!("networks[{first}] already has this name"),
                    "give each network its own name",
                );
            } else {
                names.insert(&n.name, i);
            }
        }
        if r.check(format!("{p}.bridge"), &n.bridge, fields::ifname(&n.bridge))
            .is_some()
        {
            if let Some(first) = bridges.get(n.bridge.as_str()) {
                r.error(
                    format!("{p}.bridge"),
                    &n.bridge,
                    format!("networks[{first}] already uses this bridge"),
                    "give each network its own bridge name",
                );
            } else {
                bridges.insert(&n.bridge, i);
            }
        }
        if n.bridge == "virbr0" {
            r.warning(
                format!("{p}.bridge"),
                &n.bridge,
                "virbr0 belongs to libvirt's `default` network",
                "use a lab bridge of its own, e.g. brext",
            );
        }
        if let Some(nic) = n
            .host_nic
            .as_ref()
            .filter(|nic| lab.networks.iter().any(|o| &o.bridge == *nic))
        {
            r.error(
                format!("{p}.host_nic"),
                nic,
                "host_nic names a bridge of this lab; a bridge cannot enslave a lab bridge",
                "name the hypervisor's physical NIC (see `ip link`)",
            );
        }
        match (&n.mode, &n.host_nic) {
            (NetworkMode::Bridged, None) => r.error(
                format!("{p}.host_nic"),
                "",
                "a bridged network needs the host NIC to enslave",
                "set host_nic to the hypervisor's interface, e.g. eth1",
            ),
            (NetworkMode::Bridged, Some(nic)) => {
                r.check(format!("{p}.host_nic"), nic, fields::ifname(nic));
            }
            (_, Some(nic))
                if r.check(format!("{p}.host_nic"), nic, fields::ifname(nic))
                    .is_some() =>
            {
                r.warning(
                    format!("{p}.host_nic"),
                    nic,
                    "host_nic is only used with `mode: bridged`",
                    "remove host_nic, or set mode: bridged",
                );
            }
            _ => {}
        }
        if let Some(mtu) = n.mtu
            && !(MTU_MIN..=MTU_MAX).contains(&mtu)
        {
            r.error(
                format!("{p}.mtu"),
                mtu,
                format!("the MTU must be between {MTU_MIN} and {MTU_MAX}"),
                "use 1500, or 9000 for jumbo frames",
            );
        }
        if n.cidr.is_empty() {
            if n.mode == NetworkMode::Nat {
                r.error(
                    format!("{p}.cidr"),
                    "",
                    "a NAT network needs an address range",
                    "set cidr, e.g. 192.168.23.0/24",
                );
            }
            if n.gateway.is_some() || n.dhcp.is_some() {
                let key = if n.gateway.is_some() {
                    "gateway"
                } else {
                    "dhcp"
                };
                r.error(
                    format!("{p}.{key}"),
                    "",
                    format!("{key} needs the network's cidr"),
                    format!("set {p}.cidr, or remove {key}"),
                );
            }
            continue;
        }
        let checked = fields::cidr(&n.cidr).map_err(|b| fields::Bad {
            fix: match suggest_cidr(lab, i) {
                Some(s) if b.message.starts_with("not a network") => {
                    format!("write it like `{s}`")
                }
                _ => b.fix,
            },
            ..b
        });
        let Some(net) = r.check(format!("{p}.cidr"), &n.cidr, checked) else {
            continue;
        };
        if let Some((j, other)) = nets.iter().find(|(_, o)| overlap(o, &net)) {
            r.error(
                format!("{p}.cidr"),
                &n.cidr,
                format!("overlaps networks[{j}] ({other})"),
                "give each network its own range, e.g. the next free /24",
            );
        }
        nets.push((i, net));
        // libvirt gives the host the first address when no gateway is written.
        let gateway = match &n.gateway {
            Some(g) => r
                .check(format!("{p}.gateway"), g, fields::ip(g))
                .and_then(|ip| {
                    r.check(
                        format!("{p}.gateway"),
                        g,
                        fields::host_in(ip, &net, "the gateway"),
                    )
                    .map(|_| ip)
                }),
            None => Some(fields::first_host(&net)),
        };
        if let Some(d) = &n.dhcp {
            let start = r
                .check(format!("{p}.dhcp.start"), &d.start, fields::ip(&d.start))
                .and_then(|ip| {
                    r.check(
                        format!("{p}.dhcp.start"),
                        &d.start,
                        fields::host_in(ip, &net, "the DHCP start"),
                    )
                    .map(|_| ip)
                });
            let end = r
                .check(format!("{p}.dhcp.end"), &d.end, fields::ip(&d.end))
                .and_then(|ip| {
                    r.check(
                        format!("{p}.dhcp.end"),
                        &d.end,
                        fields::host_in(ip, &net, "the DHCP end"),
                    )
                    .map(|_| ip)
                });
            if let (Some(s), Some(e)) = (start, end) {
                if range_len(s, e) == 0 {
                    r.error(
                        format!("{p}.dhcp.end"),
                        &d.end,
                        format!("the DHCP range ends before its start {s}"),
                        "swap start and end, or raise end",
                    );
                } else if let Some(g) = gateway
                    && s <= g
                    && g <= e
                {
                    r.error(
                        format!("{p}.gateway"),
                        g,
                        format!("the gateway lies inside the DHCP range {s}-{e}"),
                        "move the gateway (usually .1) or the range out of each other's way",
                    );
                }
            }
        }
    }
}
