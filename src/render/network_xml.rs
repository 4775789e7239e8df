//! libvirt network XML (`virsh net-define`).
//!
//! NAT and isolated networks are libvirt-managed bridges: `stp='off' delay='0'` and dnsmasq's
//! `no-ping` make the first DHCP answer immediate (otherwise each lease waits for a ping
//! probe). A bridged network points at an existing host bridge, which libvirt does not
//! configure (no STP, MTU or addresses).

use super::{LABWARP_XMLNS, LABWARP_XMLNS_PREFIX, RenderContext, Result, bad, lab_vms};
use crate::lab::{Lab, Network, NetworkMode};
use ipnet::Ipv4Net;
use quick_xml::Writer;
use quick_xml::events::BytesText;
use std::io;
use std::net::Ipv4Addr;

const DNSMASQ_XMLNS: &str = "http://libvirt.org/schemas/network/dnsmasq/1.0";

/// Addressing of a libvirt-managed network, computed before any XML is written.
struct Addressing {
    address: Ipv4Addr,
    prefix: u8,
    dhcp: Option<(String, String)>,
    /// (MAC, name, IP) fixed DHCP entries.
    hosts: Vec<(String, String, String)>,
}

fn addressing(lab: &Lab, ctx: &RenderContext, net: &Network, idx: usize) -> Result<Addressing> {
    let field = format!("networks[{idx}]");
    let cidr: Ipv4Net = net.cidr.parse().map_err(|_| {
        bad(
            format!("{field}.cidr"),
            net.cidr.as_str(),
            "is not an IPv4 CIDR such as 192.168.23.0/24",
        )
    })?;
    let address = match &net.gateway {
        Some(gw) => gw.parse().map_err(|_| {
            bad(
                format!("{field}.gateway"),
                gw.as_str(),
                "is not an IPv4 address",
            )
        })?,
        None => cidr.hosts().next().ok_or_else(|| {
            bad(
                format!("{field}.cidr"),
                net.cidr.as_str(),
                "has no host addresses; use a prefix of /30 or shorter",
            )
        })?,
    };
    let dhcp = net.dhcp.as_ref().map(|d| (d.start.clone(), d.end.clone()));
    let mut hosts = Vec::new();
    // The undercloud's fixed lease lives on the NAT network it is reached through.
    let is_uc_net = super::undercloud_nat_network(lab).is_some_and(|n| n.name == net.name);
    if let (true, Some(_), Some(ip)) = (is_uc_net, &dhcp, ctx.undercloud_ip) {
        let vms = lab_vms(lab)?;
        let uc = &vms[0];
        if let Some(nic) = uc.nics.iter().find(|n| n.network == net.name) {
            hosts.push((nic.mac.clone(), uc.name.clone(), ip.to_string()));
        }
    }
    Ok(Addressing {
        address,
        prefix: cidr.prefix_len(),
        dhcp,
        hosts,
    })
}

/// Whether `net` is the provisioning network left unaddressed in lab.yaml, whose address
/// (the hypervisor's, for VirtualBMC) comes from `overcloud.vbmc.address`: refused when that
/// address or the ctlplane subnet cannot be read, rather than silently left out.
fn is_unaddressed_provisioning(lab: &Lab, net: &Network) -> Result<bool> {
    if !net.cidr.is_empty()
        || lab
            .provisioning_network()
            .is_none_or(|p| p.name != net.name)
    {
        return Ok(false);
    }
    let v = &lab.overcloud.vbmc.address;
    v.parse::<std::net::IpAddr>()
        .map_err(|_| bad("overcloud.vbmc.address", v.as_str(), "is not an IP address"))?;
    let c = &lab.undercloud.conf.subnet.cidr;
    c.parse::<ipnet::IpNet>().map_err(|_| {
        bad(
            "undercloud.conf.subnet.cidr",
            c.as_str(),
            "is not a CIDR such as 192.168.24.0/24",
        )
    })?;
    Ok(true)
}

/// The network XML of `net` (a member of `lab.networks`).
pub fn render(lab: &Lab, ctx: &RenderContext, net: &Network) -> Result<String> {
    let idx = lab
        .networks
        .iter()
        .position(|n| n.name == net.name)
        .unwrap_or(0);
    // XML 1.0 cannot carry most control characters, and libvirt would refuse them.
    super::single_line("name", &lab.name)?;
    super::single_line(&format!("networks[{idx}].name"), &net.name)?;
    super::single_line(&format!("networks[{idx}].bridge"), &net.bridge)?;
    let managed = net.mode != NetworkMode::Bridged;
    let addr = if managed && !net.cidr.is_empty() {
        Some(addressing(lab, ctx, net, idx)?)
    } else if let (true, Some((a, prefix))) = (
        managed && is_unaddressed_provisioning(lab, net)?,
        lab.hypervisor_ctlplane_address(),
    ) {
        // An unaddressed provisioning network: the hypervisor gets the VirtualBMC address
        // on it (no DHCP: ironic serves it), so that the undercloud reaches the BMCs.
        match a {
            std::net::IpAddr::V4(address) => Some(Addressing {
                address,
                prefix,
                dhcp: None,
                hosts: Vec::new(),
            }),
            std::net::IpAddr::V6(_) => None,
        }
    } else {
        None
    };
    let with_dnsmasq = addr.as_ref().is_some_and(|a| a.dhcp.is_some());
    let name = lab.domain_name(&net.name);

    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    let mut root = w.create_element("network");
    if with_dnsmasq {
        root = root.with_attribute(("xmlns:dnsmasq", DNSMASQ_XMLNS));
    }
    root.write_inner_content(|w| {
        write_name_and_metadata(
            w,
            &name,
            "network",
            &[
                ("lab", lab.name.as_str()),
                ("name", net.name.as_str()),
                ("id", ctx.lab_id.as_str()),
            ],
        )?;
        match net.mode {
            NetworkMode::Nat => {
                w.create_element("forward")
                    .with_attribute(("mode", "nat"))
                    .write_inner_content(|w| {
                        w.create_element("nat").write_inner_content(|w| {
                            w.create_element("port")
                                .with_attribute(("start", "1024"))
                                .with_attribute(("end", "65535"))
                                .write_empty()?;
                            Ok(())
                        })?;
                        Ok(())
                    })?;
            }
            NetworkMode::Bridged => {
                w.create_element("forward")
                    .with_attribute(("mode", "bridge"))
                    .write_empty()?;
            }
            NetworkMode::Isolated => {}
        }
        let mut bridge = w
            .create_element("bridge")
            .with_attribute(("name", net.bridge.as_str()));
        if managed {
            bridge = bridge
                .with_attribute(("stp", "off"))
                .with_attribute(("delay", "0"));
        }
        bridge.write_empty()?;
        if let (true, Some(mtu)) = (managed, net.mtu) {
            w.create_element("mtu")
                .with_attribute(("size", mtu.to_string().as_str()))
                .write_empty()?;
        }
        if let Some(a) = &addr {
            // An address without DHCP (the provisioning network, where the hypervisor owns
            // the VirtualBMC address): no dnsmasq at all, ironic serves DHCP and DNS there.
            if a.dhcp.is_none() {
                w.create_element("dns")
                    .with_attribute(("enable", "no"))
                    .write_empty()?;
            }
            write_ip(w, a)?;
        }
        if with_dnsmasq {
            w.create_element("dnsmasq:options")
                .write_inner_content(|w| {
                    w.create_element("dnsmasq:option")
                        .with_attribute(("value", "no-ping"))
                        .write_empty()?;
                    Ok(())
                })?;
        }
        Ok(())
    })
    .map_err(xml_error)?;
    finish(w)
}

fn write_ip(w: &mut Writer<Vec<u8>>, a: &Addressing) -> io::Result<()> {
    let address = a.address.to_string();
    let prefix = a.prefix.to_string();
    let ip = w
        .create_element("ip")
        .with_attribute(("address", address.as_str()))
        .with_attribute(("prefix", prefix.as_str()));
    match &a.dhcp {
        None => {
            ip.write_empty()?;
        }
        Some((start, end)) => {
            ip.write_inner_content(|w| {
                w.create_element("dhcp").write_inner_content(|w| {
                    w.create_element("range")
                        .with_attribute(("start", start.as_str()))
                        .with_attribute(("end", end.as_str()))
                        .write_empty()?;
                    for (mac, name, ip) in &a.hosts {
                        w.create_element("host")
                            .with_attribute(("mac", mac.as_str()))
                            .with_attribute(("name", name.as_str()))
                            .with_attribute(("ip", ip.as_str()))
                            .write_empty()?;
                    }
                    Ok(())
                })?;
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// `<name>NAME</name>` and `<metadata><labwarp:KIND xmlns:labwarp=… ATTRS/></metadata>`:
/// the libvirt object's name and the labwarp element by which cleanup knows it as ours.
pub(super) fn write_name_and_metadata(
    w: &mut Writer<Vec<u8>>,
    name: &str,
    kind: &str,
    attrs: &[(&str, &str)],
) -> io::Result<()> {
    w.create_element("name")
        .write_text_content(BytesText::new(name))?;
    w.create_element("metadata").write_inner_content(|w| {
        let mut e = w
            .create_element(format!("{LABWARP_XMLNS_PREFIX}:{kind}"))
            .with_attribute((
                format!("xmlns:{LABWARP_XMLNS_PREFIX}").as_str(),
                LABWARP_XMLNS,
            ));
        // An empty value (the lab's id when unknown) is left out.
        for a in attrs.iter().filter(|(_, v)| !v.is_empty()) {
            e = e.with_attribute(*a);
        }
        e.write_empty()?;
        Ok(())
    })?;
    Ok(())
}

pub(super) fn xml_error(e: io::Error) -> super::RenderError {
    super::RenderError::Serialise {
        format: "XML",
        reason: e.to_string(),
    }
}

pub(super) fn finish(w: Writer<Vec<u8>>) -> Result<String> {
    let mut s = String::from_utf8(w.into_inner()).map_err(|e| super::RenderError::Serialise {
        format: "XML",
        reason: e.to_string(),
    })?;
    s.push('\n');
    Ok(s)
}
