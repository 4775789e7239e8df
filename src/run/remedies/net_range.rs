//! A lab network whose range collides with a route or address on the hypervisor (libvirt:
//! "Network is already in use by interface …"). The user's route is never touched: the lab's
//! network moves to a free range of the same size (gateway and DHCP range at the same
//! offsets) in lab.yaml, and the network's old definition (this lab's, proven) goes so the
//! step defines it anew.

use super::{Action, Prepared, lab_file};
use crate::checks::HostView;
use crate::checks::network::{HostNet, free_range, overlaps, parse_addrs, parse_routes};
use crate::lab::Network;
use crate::plan::{Ctx, Resource};
use crate::run::ownership::{self, Proof};
use crate::run::state::State;
use ipnet::{IpNet, Ipv4Net};
use std::net::Ipv4Addr;
use std::path::Path;

/// The hypervisor's routes and addresses, without those on the lab's own bridges.
async fn host_nets(ctx: &Ctx) -> anyhow::Result<Vec<HostNet>> {
    let view = HostView::system(ctx.virthost.as_ref(), super::local(ctx));
    let routes = view
        .sys_cmd(&["ip", "-j", "route", "show", "table", "all"])
        .await;
    let addrs = view.sys_cmd(&["ip", "-j", "addr"]).await;
    let (Some(r), Some(a)) = (routes.ok_stdout(), addrs.ok_stdout()) else {
        anyhow::bail!(
            "cannot read the hypervisor's routes: {} {}",
            routes.evidence(),
            addrs.evidence()
        );
    };
    let bridges: Vec<&str> = ctx.lab.networks.iter().map(|n| n.bridge.as_str()).collect();
    let mut nets = parse_routes(r);
    nets.extend(parse_addrs(a));
    nets.retain(|h| !bridges.contains(&h.dev.as_str()));
    Ok(nets)
}

/// `a` moved from `old` to `new` at the same offset.
fn shift(a: &str, old: Ipv4Net, new: Ipv4Net) -> Option<String> {
    let ip: Ipv4Addr = a.parse().ok()?;
    let off = u32::from(ip).checked_sub(u32::from(old.network()))?;
    Some(Ipv4Addr::from(u32::from(new.network()) + off).to_string())
}

/// The network on `new` instead of `old`: gateway and DHCP range at the same offsets.
pub fn moved(n: &Network, old: Ipv4Net, new: Ipv4Net) -> Network {
    let mut m = n.clone();
    m.cidr = new.to_string();
    m.gateway = n.gateway.as_deref().and_then(|g| shift(g, old, new));
    if let Some(d) = &mut m.dhcp
        && let (Some(s), Some(e)) = (shift(&d.start, old, new), shift(&d.end, old, new))
    {
        d.start = s;
        d.end = e;
    }
    m
}

/// Writes the moved networks into the file's YAML: in its own `networks` list when it has
/// one (the entries of that name), else the lab's whole list (it came from the preset).
fn write_networks(
    map: &mut serde_yaml::Mapping,
    moved: &[Network],
    all: &[Network],
) -> anyhow::Result<()> {
    let key = serde_yaml::Value::from("networks");
    if let Some(seq) = map.get_mut(&key).and_then(|v| v.as_sequence_mut()) {
        for n in moved {
            let entry = seq
                .iter_mut()
                .filter_map(|e| e.as_mapping_mut())
                .find(|e| e.get("name").and_then(|v| v.as_str()) == Some(n.name.as_str()));
            let Some(e) = entry else {
                anyhow::bail!("the lab file's networks list has no entry named {}", n.name);
            };
            e.insert("cidr".into(), n.cidr.clone().into());
            if let Some(g) = &n.gateway {
                e.insert("gateway".into(), g.clone().into());
            }
            if let Some(d) = &n.dhcp {
                e.insert("dhcp".into(), serde_yaml::to_value(d)?);
            }
        }
    } else {
        map.insert(key, serde_yaml::to_value(all)?);
    }
    Ok(())
}

pub async fn prepare(
    ctx: &Ctx,
    state: &State,
    lab_file: Option<&Path>,
    p: &mut Prepared,
) -> anyhow::Result<()> {
    let host = host_nets(ctx).await?;
    let lab = &ctx.lab;
    let mut taken: Vec<IpNet> = host.iter().map(|h| h.net).collect();
    taken.extend(
        lab.networks
            .iter()
            .filter_map(|n| n.cidr.parse::<IpNet>().ok()),
    );
    taken.extend(lab.undercloud.conf.subnet.cidr.parse::<IpNet>().ok());
    let mut new_lab = lab.clone();
    let mut moved_nets = Vec::new();
    let mut removals = Vec::new();
    for (i, n) in lab.networks.iter().enumerate() {
        let Ok(IpNet::V4(old)) = n.cidr.parse::<IpNet>() else {
            continue;
        };
        let clashes: Vec<&str> = host
            .iter()
            .filter(|h| overlaps(&IpNet::V4(old), &h.net))
            .map(|h| h.what.as_str())
            .collect();
        if clashes.is_empty() {
            continue;
        }
        let new = free_range(old, &taken).ok_or_else(|| {
            anyhow::anyhow!(
                "no free /{} range is left in the private blocks",
                old.prefix_len()
            )
        })?;
        taken.push(IpNet::V4(new));
        let m = moved(n, old, new);
        p.lines.push(format!(
            "networks[{i}] ({}) {old} collides with the hypervisor's {} (left as it is)",
            n.name,
            clashes.join("; ")
        ));
        p.lines.push(format!(
            "  lab.yaml: networks[{i}].cidr {old} → {new}, gateway {} → {}, dhcp {} → {}",
            n.gateway.as_deref().unwrap_or("-"),
            m.gateway.as_deref().unwrap_or("-"),
            n.dhcp
                .as_ref()
                .map_or("-".into(), |d| format!("{}-{}", d.start, d.end)),
            m.dhcp
                .as_ref()
                .map_or("-".into(), |d| format!("{}-{}", d.start, d.end)),
        ));
        new_lab.networks[i] = m.clone();
        moved_nets.push(m);
        // Its definition with the old range (defined, not started) must go, if this lab's.
        let name = lab.domain_name(&n.name);
        let r = Resource::Network { name: name.clone() };
        match ownership::prove(ctx, state, &r).await? {
            Proof::Absent => {}
            Proof::Ours(why) => {
                p.lines.push(format!("  libvirt network {name}: {why}"));
                removals.push(Action::RemoveNetwork { name });
            }
            Proof::NotOurs(why) => {
                p.by_hand = Some(format!(
                    "libvirt network {name} {why}; labwarp leaves it alone. If it is not needed: {}",
                    ownership::by_hand(ctx, &r).unwrap_or_default()
                ));
                return Ok(());
            }
        }
    }
    if moved_nets.is_empty() {
        p.by_hand = Some(
            "no lab network overlaps a route or address on the hypervisor now: run again".into(),
        );
        return Ok(());
    }
    let Some(file) = lab_file else {
        p.by_hand = Some(format!(
            "the lab comes from a preset, not a file: save it as lab.yaml with {}",
            moved_nets
                .iter()
                .map(|n| format!("networks {} cidr {}", n.name, n.cidr))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return Ok(());
    };
    let all = new_lab.networks.clone();
    let (text, checked) = lab_file::edited(file, |m| write_networks(m, &moved_nets, &all))?;
    for n in &moved_nets {
        anyhow::ensure!(
            checked.network(&n.name).map(|c| &c.cidr) == Some(&n.cidr),
            "the lab file would not give networks {} the range {}",
            n.name,
            n.cidr
        );
    }
    p.actions.push(Action::EditLab {
        file: file.to_path_buf(),
        text,
        lab: Box::new(new_lab),
    });
    p.actions.extend(removals);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_range_of_the_same_size_after_the_old_one() {
        let old: Ipv4Net = "192.168.23.0/24".parse().unwrap();
        let taken: Vec<IpNet> = ["192.168.23.0/24", "192.168.24.0/24", "192.168.0.0/20"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(
            free_range(old, &taken),
            Some("192.168.25.0/24".parse().unwrap())
        );
        let n = Network::default_external();
        let m = moved(&n, old, "192.168.25.0/24".parse().unwrap());
        assert_eq!(m.gateway.as_deref(), Some("192.168.25.1"));
        let d = m.dhcp.unwrap();
        assert_eq!(
            (d.start.as_str(), d.end.as_str()),
            ("192.168.25.10", "192.168.25.50")
        );
        // The whole 192.168/16 taken: the next private block.
        let all: Vec<IpNet> = vec!["192.168.0.0/16".parse().unwrap()];
        assert_eq!(
            free_range(old, &all),
            Some("172.16.0.0/24".parse().unwrap())
        );
    }
}
