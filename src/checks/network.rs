//! Network: the lab's CIDRs against the host's routes and addresses, bridge names already
//! taken, VirtualBMC UDP ports in use, and the forwarding / bridge-netfilter sysctls.

use super::{Area, CheckContext, CmdRun, FileEdit, FileRead, Finding, Fix, HostView, Severity};
use ipnet::IpNet;
use std::net::IpAddr;
use std::path::PathBuf;

const AREA: Area = Area::Network;
const BRIDGE_NF: [&str; 3] = [
    "bridge-nf-call-iptables",
    "bridge-nf-call-ip6tables",
    "bridge-nf-call-arptables",
];

#[derive(Debug, Clone, Default)]
pub struct NetworkFacts {
    pub routes: CmdRun,
    pub addrs: CmdRun,
    pub links: CmdRun,
    pub udp: CmdRun,
    pub ip_forward: FileRead,
    /// (sysctl name, value) for the bridge-nf sysctls; Missing when br_netfilter is not loaded.
    pub bridge_nf: Vec<(String, FileRead)>,
}

pub async fn gather(view: &HostView<'_>, ctx: &CheckContext) -> NetworkFacts {
    let lab = ctx.lab.is_some();
    let skip = || CmdRun::NotProbed("no lab file (--local)".into());
    let mut bridge_nf = Vec::new();
    for n in BRIDGE_NF {
        bridge_nf.push((
            format!("net.bridge.{n}"),
            view.read(format!("/proc/sys/net/bridge/{n}")).await,
        ));
    }
    NetworkFacts {
        routes: if lab {
            view.sys_cmd(&["ip", "-j", "route", "show", "table", "all"])
                .await
        } else {
            skip()
        },
        addrs: if lab {
            view.sys_cmd(&["ip", "-j", "addr"]).await
        } else {
            skip()
        },
        links: if lab {
            view.sys_cmd(&["ip", "-j", "link"]).await
        } else {
            skip()
        },
        udp: if lab {
            // -p: which process holds a port (root sees every process).
            view.sys_cmd(&["ss", "-H", "-ulnp"]).await
        } else {
            skip()
        },
        ip_forward: view.read("/proc/sys/net/ipv4/ip_forward").await,
        bridge_nf,
    }
}

/// A free range of the same size for a clashing lab network, as `labwarp run --fix` would
/// write it (empty when there is none, or for IPv6).
fn suggestion(cidr: &IpNet, host: &[HostNet], lab: &crate::lab::Lab) -> String {
    let IpNet::V4(old) = cidr else {
        return String::new();
    };
    let mut taken: Vec<IpNet> = host.iter().map(|h| h.net).collect();
    taken.extend(
        lab.networks
            .iter()
            .filter_map(|n| n.cidr.parse::<IpNet>().ok()),
    );
    taken.extend(lab.undercloud.conf.subnet.cidr.parse::<IpNet>().ok());
    free_range(*old, &taken).map_or_else(String::new, |f| {
        format!(": {f} is free (labwarp run --fix writes it when the run fails on this)")
    })
}

/// A host network: a route destination or an interface address, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostNet {
    pub net: IpNet,
    pub dev: String,
    pub what: String,
}

/// Route destinations from `ip -j route` (the default route is skipped).
pub fn parse_routes(json: &str) -> Vec<HostNet> {
    let v: Vec<serde_json::Value> = serde_json::from_str(json).unwrap_or_default();
    v.iter()
        .filter_map(|r| {
            let dst = r.get("dst")?.as_str()?;
            if dst == "default" {
                return None;
            }
            let net = dst
                .parse::<IpNet>()
                .ok()
                .or_else(|| dst.parse::<IpAddr>().ok().map(IpNet::from))?;
            // Local/broadcast table entries describe the host's own addresses, not networks.
            if matches!(
                r.get("type").and_then(|t| t.as_str()),
                Some("local" | "broadcast" | "multicast" | "anycast")
            ) {
                return None;
            }
            let dev = r
                .get("dev")
                .and_then(|d| d.as_str())
                .unwrap_or("")
                .to_string();
            Some(HostNet {
                net,
                what: format!("route {dst} dev {dev}"),
                dev,
            })
        })
        .collect()
}

/// Interface networks from `ip -j addr` (`local/prefixlen`, host bits cleared).
pub fn parse_addrs(json: &str) -> Vec<HostNet> {
    let v: Vec<serde_json::Value> = serde_json::from_str(json).unwrap_or_default();
    let mut out = Vec::new();
    for link in &v {
        let dev = link.get("ifname").and_then(|d| d.as_str()).unwrap_or("");
        for a in link
            .get("addr_info")
            .and_then(|a| a.as_array())
            .into_iter()
            .flatten()
        {
            let (Some(local), Some(plen)) = (
                a.get("local").and_then(|l| l.as_str()),
                a.get("prefixlen").and_then(|p| p.as_u64()),
            ) else {
                continue;
            };
            if let Ok(net) = format!("{local}/{plen}").parse::<IpNet>() {
                out.push(HostNet {
                    net: net.trunc(),
                    dev: dev.to_string(),
                    what: format!("address {local}/{plen} on {dev}"),
                });
            }
        }
    }
    out
}

/// Interface names from `ip -j link`.
pub fn parse_links(json: &str) -> Vec<String> {
    let v: Vec<serde_json::Value> = serde_json::from_str(json).unwrap_or_default();
    v.iter()
        .filter_map(|l| l.get("ifname")?.as_str().map(str::to_string))
        .collect()
}

/// The process holding a socket, from `ss -p`'s `users:(("name",pid=N,fd=M))`.
pub fn socket_owner(line: &str) -> Option<(String, u32)> {
    let rest = &line[line.find("users:((\"")? + 9..];
    let name = &rest[..rest.find('"')?];
    let pid = rest.split("pid=").nth(1)?;
    let pid = pid[..pid.find(|c: char| !c.is_ascii_digit())?]
        .parse()
        .ok()?;
    Some((name.to_string(), pid))
}

/// Local UDP ports from `ss -H -uln[p]` (4th column, `addr:port`).
pub fn parse_udp_ports(out: &str) -> Vec<(u16, String)> {
    out.lines()
        .filter_map(|l| {
            let local = l.split_whitespace().nth(3)?;
            let port = local.rsplit(':').next()?.parse().ok()?;
            Some((port, l.trim().to_string()))
        })
        .collect()
}

pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first range of `old`'s size in the private blocks (after `old` in its block first)
/// that overlaps nothing in `taken`.
pub fn free_range(old: ipnet::Ipv4Net, taken: &[IpNet]) -> Option<ipnet::Ipv4Net> {
    let blocks = [
        ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(192, 168, 0, 0), 16),
        ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(172, 16, 0, 0), 12),
        ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(10, 0, 0, 0), 8),
    ];
    let free = |c: &ipnet::Ipv4Net| !taken.iter().any(|t| overlaps(&IpNet::V4(*c), t));
    let mut after = Vec::new();
    let mut rest = Vec::new();
    for b in blocks.into_iter().flatten() {
        let Ok(subnets) = b.subnets(old.prefix_len()) else {
            continue;
        };
        for c in subnets {
            if b.contains(&old.network()) && c.network() > old.network() {
                after.push(c);
            } else {
                rest.push(c);
            }
            if after.len() + rest.len() > 70_000 {
                break;
            }
        }
    }
    after.into_iter().chain(rest).find(free)
}

/// Sets sysctls now and persists exactly those in their own file under /etc/sysctl.d (one
/// file per fix, so declining one fix never persists another's settings).
fn sysctl_fix(description: &str, file: &str, settings: &[(String, &str)]) -> Fix {
    let mut content = String::from("# Written by labwarp check --fix\n");
    for (k, v) in settings {
        content.push_str(&format!("{k} = {v}\n"));
    }
    Fix {
        description: format!("{description} now and persist it in {file}"),
        edits: vec![FileEdit {
            path: PathBuf::from(file),
            content,
            backup: None,
            mode: 0o644,
        }],
        commands: settings
            .iter()
            .map(|(k, v)| vec!["sysctl".into(), "-w".into(), format!("{k}={v}")])
            .collect(),
        restart: None,
    }
}

pub fn evaluate(facts: &NetworkFacts, ctx: &CheckContext) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(lab) = &ctx.lab {
        let lab_bridges: Vec<&str> = lab.networks.iter().map(|n| n.bridge.as_str()).collect();
        // CIDR overlap.
        let mut host_nets = Vec::new();
        if let Some(j) = facts.routes.ok_stdout() {
            host_nets.extend(parse_routes(j));
        }
        if let Some(j) = facts.addrs.ok_stdout() {
            host_nets.extend(parse_addrs(j));
        }
        let probed = facts.routes.ok_stdout().is_some() || facts.addrs.ok_stdout().is_some();
        for n in lab.networks.iter().filter(|n| !n.cidr.is_empty()) {
            let id = format!("net.overlap.{}", n.name);
            let Ok(cidr) = n.cidr.parse::<IpNet>() else {
                out.push(Finding::new(
                    id,
                    AREA,
                    Severity::Fail,
                    format!("networks[{}].cidr {:?} is not a CIDR", n.name, n.cidr),
                    format!("networks: name {}, cidr {:?}", n.name, n.cidr),
                ));
                continue;
            };
            if !probed {
                out.push(Finding::new(
                    id,
                    AREA,
                    Severity::Info,
                    format!("{} ({cidr}) not compared with host routes", n.name),
                    format!("{}\n{}", facts.routes.evidence(), facts.addrs.evidence()),
                ));
                continue;
            }
            let clashes: Vec<&HostNet> = host_nets
                .iter()
                .filter(|h| overlaps(&cidr, &h.net) && !lab_bridges.contains(&h.dev.as_str()))
                .collect();
            out.push(if clashes.is_empty() {
                Finding::new(
                    id,
                    AREA,
                    Severity::Ok,
                    format!("{} ({cidr}) overlaps no host route or address", n.name),
                    format!(
                        "host networks: {}",
                        host_nets.iter().map(|h| h.what.as_str()).collect::<Vec<_>>().join("; ")
                    ),
                )
            } else {
                Finding::new(
                    id,
                    AREA,
                    Severity::Fail,
                    format!("{} ({cidr}) overlaps a host network", n.name),
                    clashes.iter().map(|h| h.what.as_str()).collect::<Vec<_>>().join("\n"),
                )
                .with_fix(Fix::manual(format!(
                    "Pick a free range for networks[{}].cidr in lab.yaml (and its gateway and DHCP range){}",
                    n.name,
                    suggestion(&cidr, &host_nets, lab)
                )))
            });
        }
        // Bridge names.
        if let Some(j) = facts.links.ok_stdout() {
            let links = parse_links(j);
            for n in &lab.networks {
                let id = format!("net.bridge.{}", n.name);
                if n.bridge.len() > 15 {
                    out.push(Finding::new(
                        id,
                        AREA,
                        Severity::Fail,
                        format!("Bridge name {:?} is longer than 15 characters", n.bridge),
                        format!(
                            "networks[{}].bridge = {:?} ({} characters)",
                            n.name,
                            n.bridge,
                            n.bridge.len()
                        ),
                    ));
                } else if links.contains(&n.bridge) {
                    out.push(Finding::new(
                        id,
                        AREA,
                        Severity::Warn,
                        format!(
                            "Interface {} already exists: from an earlier run of this lab, or taken by something else",
                            n.bridge
                        ),
                        format!("$ ip -j link: interfaces {}", links.join(", ")),
                    ));
                } else {
                    out.push(Finding::new(
                        id,
                        AREA,
                        Severity::Ok,
                        format!("Bridge name {} is free", n.bridge),
                        format!("$ ip -j link: interfaces {}", links.join(", ")),
                    ));
                }
            }
        }
        // VirtualBMC ports.
        if let Some(ss) = facts.udp.ok_stdout() {
            let used = parse_udp_ports(ss);
            let nodes = lab.nodes();
            let taken: Vec<(String, Option<(String, u32)>)> = nodes
                .iter()
                .flat_map(|node| {
                    used.iter()
                        .filter(move |(p, _)| *p == node.vbmc_port)
                        .map(move |(p, line)| {
                            (
                                format!("{} (port {p}): {line}", node.name),
                                socket_owner(line),
                            )
                        })
                })
                .collect();
            let ports = nodes
                .iter()
                .map(|n| n.vbmc_port.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let evidence = taken
                .iter()
                .map(|(t, _)| t.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            // vbmcd's BMC processes are named `vbmcd` (the script's name).
            let others: Vec<String> = taken
                .iter()
                .filter_map(|(_, o)| o.as_ref())
                .filter(|(name, _)| name != "vbmcd")
                .map(|(name, pid)| format!("{name} (pid {pid})"))
                .collect();
            let unknown = taken.iter().any(|(_, o)| o.is_none());
            out.push(if taken.is_empty() {
                Finding::new(
                    "net.vbmc-ports",
                    AREA,
                    Severity::Ok,
                    format!("VirtualBMC UDP ports free: {ports}"),
                    format!("$ ss -H -ulnp\n{}", ss.trim_end()),
                )
            } else if !others.is_empty() {
                Finding::new(
                    "net.vbmc-ports",
                    AREA,
                    Severity::Fail,
                    format!(
                        "VirtualBMC UDP ports taken by another process: {}",
                        others.join(", ")
                    ),
                    evidence,
                )
                .with_fix(Fix::manual(
                    "Stop that process, or move overcloud.vbmc.base_port in lab.yaml to free ports",
                ))
            } else if unknown {
                Finding::new(
                    "net.vbmc-ports",
                    AREA,
                    Severity::Warn,
                    "VirtualBMC UDP ports already in use (a vbmcd from an earlier run, or another service)",
                    evidence,
                )
                .with_fix(Fix::manual(
                    "Stop what listens there, or move overcloud.vbmc.base_port in lab.yaml",
                ))
            } else {
                Finding::new(
                    "net.vbmc-ports",
                    AREA,
                    Severity::Info,
                    "VirtualBMC UDP ports already served by vbmcd (this lab's once its nodes are registered: vbmc.answers says whether they answer)",
                    evidence,
                )
            });
        } else {
            out.push(Finding::new(
                "net.vbmc-ports",
                AREA,
                Severity::Info,
                "VirtualBMC UDP ports not probed",
                facts.udp.evidence(),
            ));
        }
    }
    // Sysctls.
    out.push(match &facts.ip_forward {
        FileRead::Content(v) if v.trim() == "1" => Finding::new(
            "net.ip-forward",
            AREA,
            Severity::Ok,
            "IPv4 forwarding is on",
            format!("/proc/sys/net/ipv4/ip_forward: {}", v.trim()),
        ),
        FileRead::Content(v) => Finding::new(
            "net.ip-forward",
            AREA,
            Severity::Info,
            "IPv4 forwarding is off (libvirt turns it on when it starts a NAT network)",
            format!("/proc/sys/net/ipv4/ip_forward: {}", v.trim()),
        )
        .with_fix(sysctl_fix(
            "Turn IPv4 forwarding on",
            "/etc/sysctl.d/90-labwarp-ip-forward.conf",
            &[("net.ipv4.ip_forward".into(), "1")],
        )),
        other => Finding::new(
            "net.ip-forward",
            AREA,
            Severity::Warn,
            "Cannot read /proc/sys/net/ipv4/ip_forward",
            format!("{other:?}"),
        ),
    });
    let on: Vec<&String> = facts
        .bridge_nf
        .iter()
        .filter(|(_, r)| r.content().is_some_and(|v| v.trim() == "1"))
        .map(|(n, _)| n)
        .collect();
    let ev = facts
        .bridge_nf
        .iter()
        .map(|(n, r)| match r {
            FileRead::Content(v) => format!("{n} = {}", v.trim()),
            FileRead::Missing => format!("{n}: not present (br_netfilter not loaded)"),
            FileRead::Error(e) => format!("{n}: {e}"),
        })
        .collect::<Vec<_>>()
        .join("\n");
    out.push(if on.is_empty() {
        Finding::new(
            "net.bridge-nf",
            AREA,
            Severity::Ok,
            "Bridged traffic does not go through iptables (bridge-nf-call-* off or br_netfilter absent)",
            ev,
        )
    } else {
        Finding::new(
            "net.bridge-nf",
            AREA,
            Severity::Warn,
            format!(
                "{} on: firewall rules filter the lab's bridged traffic (PXE and DHCP may be dropped)",
                on.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ),
            ev,
        )
        .with_fix(sysctl_fix(
            "Set the bridge-nf-call sysctls to 0",
            "/etc/sysctl.d/90-labwarp-bridge-nf.conf",
            &on.iter().map(|n| ((*n).clone(), "0")).collect::<Vec<_>>(),
        ))
    });
    out
}
