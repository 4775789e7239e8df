//! A libvirt network's drift: its DHCP range changes in place (`virNetworkUpdate`); its
//! bridge, forward mode or address cannot (the network is made anew).

use crate::plan::{Drift, DriftCost};
use crate::virt::xml::{self, Element};
use std::net::Ipv4Addr;

/// The fields of a `<network>` definition that labwarp compares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkFields {
    pub bridge: Option<String>,
    pub forward: Option<String>,
    /// The first `<ip>`: `address/prefix`.
    pub ip: Option<String>,
    /// The first `<ip>`'s first DHCP range.
    pub dhcp: Option<(String, String)>,
    /// The first `<ip>`'s fixed leases (`mac name ip`), sorted.
    pub hosts: Vec<String>,
    /// Every other `<ip>` (`family address/prefix`, e.g. an IPv6 one added by hand), sorted.
    pub other_ips: Vec<String>,
}

fn prefix_of(ip: &Element) -> Option<u32> {
    if let Some(p) = ip.attr("prefix") {
        return p.parse().ok();
    }
    let mask: Ipv4Addr = ip.attr("netmask")?.parse().ok()?;
    Some(u32::from(mask).count_ones())
}

/// An `<ip>` as compared: `family address/prefix` (libvirt's family defaults to ipv4).
fn address_of(ip: &Element) -> String {
    format!(
        "{} {}/{}",
        ip.attr("family").unwrap_or("ipv4"),
        ip.attr("address").unwrap_or("-"),
        prefix_of(ip).map_or_else(|| "-".to_string(), |p| p.to_string())
    )
}

pub fn fields(net: &Element) -> NetworkFields {
    let ip = net.child("ip");
    NetworkFields {
        bridge: net
            .child("bridge")
            .and_then(|b| b.attr("name"))
            .map(str::to_string),
        // No `<forward>`: an isolated network.
        forward: Some(
            net.child("forward")
                .and_then(|f| f.attr("mode"))
                .unwrap_or("none")
                .to_string(),
        ),
        ip: ip.and_then(|ip| Some(format!("{}/{}", ip.attr("address")?, prefix_of(ip)?))),
        dhcp: ip
            .and_then(|ip| ip.child("dhcp"))
            .and_then(|d| d.child("range"))
            .and_then(|r| Some((r.attr("start")?.to_string(), r.attr("end")?.to_string()))),
        hosts: {
            let mut h: Vec<String> = ip
                .and_then(|ip| ip.child("dhcp"))
                .map(|d| {
                    d.children_named("host")
                        .map(|h| {
                            [h.attr("mac"), h.attr("name"), h.attr("ip")]
                                .iter()
                                .map(|v| v.unwrap_or("-"))
                                .collect::<Vec<_>>()
                                .join(" ")
                        })
                        .collect()
                })
                .unwrap_or_default();
            h.sort();
            h
        },
        other_ips: {
            let mut v: Vec<String> = net.children_named("ip").skip(1).map(address_of).collect();
            v.sort();
            v
        },
    }
}

fn show(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "none".into())
}

fn show_list(v: &[String]) -> String {
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}

fn show_range(r: &Option<(String, String)>) -> String {
    r.as_ref()
        .map(|(s, e)| format!("{s}-{e}"))
        .unwrap_or_else(|| "none".into())
}

/// What differs between the wanted network XML and the live (persistent) one. `recreate`:
/// the command that makes the network anew. Fields the wanted XML leaves to libvirt (a
/// bridge name it picks) are not compared.
pub fn drift(wanted_xml: &str, live_xml: &str, recreate: &str) -> Result<Vec<Drift>, String> {
    let want = fields(&xml::parse(wanted_xml)?);
    let live = fields(&xml::parse(live_xml)?);
    let lost = "the network goes down and every VM on it loses its link until restarted";
    let mut out = Vec::new();
    if want.bridge.is_some() && want.bridge != live.bridge {
        out.push(Drift::recreate(
            "bridge",
            show(&live.bridge),
            show(&want.bridge),
            lost,
            recreate,
        ));
    }
    if want.forward != live.forward {
        out.push(Drift::recreate(
            "forward",
            show(&live.forward),
            show(&want.forward),
            lost,
            recreate,
        ));
    }
    if want.ip != live.ip {
        out.push(Drift::recreate(
            "cidr",
            show(&live.ip),
            show(&want.ip),
            format!("{lost}, and their DHCP leases"),
            recreate,
        ));
    }
    if want.dhcp != live.dhcp {
        // A range replaced by another is an update; DHCP switched on or off is not.
        if want.dhcp.is_some() && live.dhcp.is_some() && want.ip == live.ip {
            out.push(Drift::new(
                "dhcp_range",
                show_range(&live.dhcp),
                show_range(&want.dhcp),
                DriftCost::Live,
            ));
        } else {
            out.push(Drift::recreate(
                "dhcp_range",
                show_range(&live.dhcp),
                show_range(&want.dhcp),
                lost,
                recreate,
            ));
        }
    }
    // The undercloud's fixed lease: its address is the one labwarp reaches it by (pinned in
    // known_hosts, written into ssh.config and the inventory), so a change is not patched
    // into the network under a running VM.
    if want.hosts != live.hosts {
        out.push(Drift::recreate(
            "dhcp_hosts",
            show_list(&live.hosts),
            show_list(&want.hosts),
            format!(
                "{lost}; the VM with a fixed lease changes address (it is pinned in known_hosts, ssh.config and the inventory), so its VMs are made anew too"
            ),
            recreate,
        ));
    }
    // An address added to the live network (an IPv6 one by `virsh net-edit`, say) or one the
    // lab no longer has: libvirt takes a network's addresses only when it is defined.
    if want.other_ips != live.other_ips {
        out.push(Drift::recreate(
            "other_addresses",
            show_list(&live.other_ips),
            show_list(&want.other_ips),
            lost,
            recreate,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(bridge: &str, addr: &str, dhcp: Option<(&str, &str)>) -> String {
        let range = dhcp
            .map(|(s, e)| format!("<dhcp><range start='{s}' end='{e}'/></dhcp>"))
            .unwrap_or_default();
        format!(
            "<network><name>n</name><forward mode='nat'/><bridge name='{bridge}' stp='off'/><ip address='{addr}' netmask='255.255.255.0'>{range}</ip></network>"
        )
    }

    /// The one drift row of `d`: its field, cost, live and wanted values.
    fn only(d: &[Drift]) -> (&str, DriftCost, &str, &str) {
        assert_eq!(d.len(), 1, "{d:?}");
        let r = &d[0];
        (r.field.as_str(), r.cost, r.live.as_str(), r.wanted.as_str())
    }

    #[test]
    fn the_same_network_has_no_drift_whatever_the_netmask_spelling() {
        let a = net("br0", "192.168.5.1", Some(("192.168.5.10", "192.168.5.50")));
        let b = a.replace("netmask='255.255.255.0'", "prefix='24'");
        assert_eq!(drift(&a, &b, "cmd").unwrap(), Vec::new());
    }

    #[test]
    fn a_dhcp_range_is_updated_live_and_a_cidr_or_bridge_is_a_recreate() {
        let live = net("br0", "192.168.5.1", Some(("192.168.5.10", "192.168.5.50")));
        let want = net("br0", "192.168.5.1", Some(("192.168.5.20", "192.168.5.60")));
        let d = drift(&want, &live, "cmd").unwrap();
        assert_eq!(
            d,
            vec![Drift::new(
                "dhcp_range",
                "192.168.5.10-192.168.5.50",
                "192.168.5.20-192.168.5.60",
                DriftCost::Live
            )]
        );
        let want = net("br1", "192.168.6.1", Some(("192.168.6.10", "192.168.6.50")));
        let d = drift(&want, &live, "labwarp run --fresh virthost").unwrap();
        let fields: Vec<_> = d.iter().map(|d| (d.field.as_str(), d.cost)).collect();
        assert_eq!(
            fields,
            vec![
                ("bridge", DriftCost::Recreate),
                ("cidr", DriftCost::Recreate),
                ("dhcp_range", DriftCost::Recreate)
            ]
        );
        assert_eq!(d[1].live, "192.168.5.1/24");
        assert_eq!(d[1].wanted, "192.168.6.1/24");
        assert!(d[1].to_string().contains("`labwarp run --fresh virthost`"));
        assert!(
            d[1].to_string()
                .contains("recreating: the network goes down")
        );
    }

    #[test]
    fn a_changed_fixed_lease_is_a_recreate() {
        let host = |ip: &str| {
            net("br0", "192.168.5.1", Some(("192.168.5.10", "192.168.5.50"))).replace(
                "</dhcp>",
                &format!("<host mac='52:54:00:aa:bb:cc' name='uc' ip='{ip}'/></dhcp>"),
            )
        };
        assert_eq!(
            drift(&host("192.168.5.10"), &host("192.168.5.10"), "cmd").unwrap(),
            Vec::new()
        );
        let d = drift(&host("192.168.5.20"), &host("192.168.5.10"), "cmd").unwrap();
        assert_eq!(
            only(&d),
            (
                "dhcp_hosts",
                DriftCost::Recreate,
                "52:54:00:aa:bb:cc uc 192.168.5.10",
                "52:54:00:aa:bb:cc uc 192.168.5.20"
            )
        );
    }

    #[test]
    fn an_address_added_by_hand_is_a_recreate_and_only_it() {
        let want = net("br0", "192.168.5.1", Some(("192.168.5.10", "192.168.5.50")));
        let live = want.replace(
            "</network>",
            "<ip family='ipv6' address='fd00:5::1' prefix='64'/></network>",
        );
        let d = drift(&want, &live, "labwarp run --fresh virthost").unwrap();
        assert_eq!(
            only(&d),
            (
                "other_addresses",
                DriftCost::Recreate,
                "ipv6 fd00:5::1/64",
                "none"
            )
        );
        // The same extra address on both sides (in another order of attributes) is no drift.
        let both = live.replace(
            "<ip family='ipv6' address='fd00:5::1' prefix='64'/>",
            "<ip prefix='64' address='fd00:5::1' family='ipv6'/>",
        );
        assert_eq!(drift(&live, &both, "cmd").unwrap(), Vec::new());
    }

    #[test]
    fn dhcp_switched_off_is_a_recreate() {
        let live = net("br0", "192.168.5.1", Some(("192.168.5.10", "192.168.5.50")));
        let want = net("br0", "192.168.5.1", None);
        let d = drift(&want, &live, "cmd").unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].cost, DriftCost::Recreate);
        assert_eq!(d[0].wanted, "none");
    }

    #[test]
    fn bad_xml_is_an_error_not_a_panic() {
        assert!(drift("<network", "<network/>", "cmd").is_err());
    }
}
