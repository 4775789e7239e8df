//! What the real tools refuse or cannot work with: TripleO's undercloud preflight
//! (python-tripleoclient `tripleoclient/v1/undercloud_preflight.py`), ironic's PXE and IPMI
//! expectations, libvirt's connection modes. A lab that breaks one of these fails on a real
//! server, so each is an error; `overrides: [RULE]` in lab.yaml turns it into a warning for
//! people who know what they are doing (README, "Overriding an installer rule").

use super::fields::{self, Bad};
use super::{Report, realistic, zones};
use crate::lab::model::{Lab, NetworkMode, Role};
use ipnet::IpNet;
use std::net::IpAddr;

/// tripleoclient's `REQUIRED_MB = 7680` ("We need 8 GB, leave a little room"): its preflight
/// raises "At least 7680 MB of memory is required for undercloud installation" when memory
/// plus swap is below it (labwarp's guests have no swap).
pub const UNDERCLOUD_REQUIRED_MIB: u64 = 7680;
/// A controller below this does not deploy (tripleo-quickstart issue #28: 4 GB controllers
/// fail with mariadb/rabbitmq OOM kills).
pub const CONTROLLER_REQUIRED_MIB: u64 = 6144;
/// Any other node below this does not deploy either (the overcloud image's services alone).
pub const NODE_REQUIRED_MIB: u64 = 2048;
/// MTU libvirt gives a network that sets none.
pub const LIBVIRT_DEFAULT_MTU: u32 = 1500;

/// Every rule an override may name, with what going ahead risks.
pub const RULES: &[(&str, &str)] = &[
    (
        "libvirt-session",
        "qemu:///session cannot create bridges or networks, and a root vbmcd cannot see its VMs",
    ),
    (
        "undercloud-memory",
        "tripleoclient's preflight refuses an undercloud below 7680 MB of memory plus swap",
    ),
    (
        "node-memory",
        "a controller below 6144 MiB, or another node below 2048 MiB, is OOM-killed during the deploy",
    ),
    (
        "ctlplane-nat",
        "local_interface on a NAT network: libvirt's DHCP answers the nodes before ironic's",
    ),
    (
        "provisioning-dhcp",
        "libvirt's DHCP on the provisioning network competes with ironic's PXE DHCP",
    ),
    (
        "pxe-network",
        "nodes whose first NIC is not on the undercloud's local_interface network never PXE-boot",
    ),
    (
        "local-mtu",
        "a local_mtu above the provisioning network's MTU drops large packets",
    ),
    (
        "container-cli",
        "TripleO on CentOS Stream 9 / RHEL 9 (Wallaby and later) runs containers with podman only",
    ),
    (
        "timezone",
        "a time zone missing from the IANA database fails timedatectl and the undercloud install",
    ),
    (
        "bmc-address",
        "ironic on the undercloud must reach VirtualBMC at the hypervisor's own address on the provisioning network",
    ),
];

impl Report {
    /// An installer rule broken: an error, or a warning when the lab overrides `rule`.
    fn refuse(
        &mut self,
        lab: &Lab,
        rule: &str,
        path: impl Into<String>,
        value: impl ToString,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        let message = message.into();
        if lab.overrides.iter().any(|o| o == rule) {
            self.warning(
                path,
                value,
                format!("{message} (going ahead: overridden by `overrides: [{rule}]`)"),
                fix,
            );
        } else {
            self.error(
                path,
                value,
                format!("{message} (rule {rule}; to go ahead anyway add it to `overrides`)"),
                fix,
            );
        }
    }
}

pub fn installers(lab: &Lab, r: &mut Report) {
    libvirt_mode(lab, r);
    memory(lab, r);
    provisioning(lab, r);
    container_cli(lab, r);
    timezones(lab, r);
    bmc_address(lab, r);
}

/// Every name under `overrides:` is a rule (checked whatever else is wrong).
pub fn overrides(lab: &Lab, r: &mut Report) {
    let names = RULES.iter().map(|(n, _)| *n);
    for (i, o) in lab.overrides.iter().enumerate() {
        if !RULES.iter().any(|(n, _)| n == o) {
            let fix = match crate::lab::diagnose::suggest(o, names.clone()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "use one of: {}",
                    names.clone().collect::<Vec<_>>().join(", ")
                ),
            };
            r.error(format!("overrides[{i}]"), o, "unknown rule", fix);
        }
    }
}

/// libvirt's session mode: each user's private libvirtd, without the privileges to create
/// bridges or networks, whose VMs neither root's `virsh` nor a root vbmcd can see
/// (tripleo-quickstart issue #43, "virsh list --all doesn't see any VM").
fn libvirt_mode(lab: &Lab, r: &mut Report) {
    for (i, h) in lab.hypervisors.iter().enumerate() {
        let path = h.libvirt_uri.split('?').next().unwrap_or_default();
        if fields::libvirt_uri(&h.libvirt_uri).is_ok()
            && path.starts_with("qemu")
            && path.ends_with("/session")
        {
            let fixed = format!("{}/system", path.trim_end_matches("/session"));
            r.refuse(
                lab,
                "libvirt-session",
                format!("hypervisors[{i}].libvirt_uri"),
                &h.libvirt_uri,
                "a session libvirt cannot create the lab's bridges and networks, and root's vbmcd cannot see its VMs",
                format!("use `{fixed}`"),
            );
        }
    }
}

fn memory(lab: &Lab, r: &mut Report) {
    if !realistic(lab) {
        return;
    }
    let vm = &lab.undercloud.vm;
    if vm.memory_mib >= super::vms::MEMORY_MIN_MIB && vm.memory_mib < UNDERCLOUD_REQUIRED_MIB {
        r.refuse(
            lab,
            "undercloud-memory",
            "undercloud.vm.memory_mib",
            vm.memory_mib,
            format!(
                "`openstack undercloud install` refuses less than {UNDERCLOUD_REQUIRED_MIB} MB (tripleoclient's preflight, REQUIRED_MB)"
            ),
            "use `12288` (quickstart's default)",
        );
    }
    for (j, g) in lab.overcloud.nodes.iter().enumerate() {
        let (min, fix) = match g.role {
            Role::Controller => (CONTROLLER_REQUIRED_MIB, "use `8192` (quickstart's default)"),
            _ => (NODE_REQUIRED_MIB, "use `4096` (quickstart's compute size)"),
        };
        if g.count > 0 && g.memory_mib >= super::vms::MEMORY_MIN_MIB && g.memory_mib < min {
            r.refuse(
                lab,
                "node-memory",
                format!("overcloud.nodes[{j}].memory_mib"),
                g.memory_mib,
                format!(
                    "a {} with less than {min} MiB does not deploy (its services are OOM-killed)",
                    g.role
                ),
                fix,
            );
        }
    }
}

/// The undercloud NIC `local_interface` names (`ethN`), when it exists.
fn local_nic(lab: &Lab) -> Option<usize> {
    let n = lab
        .undercloud
        .conf
        .local_interface
        .strip_prefix("eth")?
        .parse::<usize>()
        .ok()?;
    (n < lab.undercloud.vm.nics.len()).then_some(n)
}

/// The provisioning (ctlplane) network: the undercloud's `local_interface` network. Ironic's
/// dnsmasq (ironic-inspector's and neutron's DHCP for the ctlplane subnet) answers the nodes'
/// PXE DHCP there, so it must be a network libvirt's own dnsmasq does not serve: two DHCP
/// servers on one segment race, and a node booted by libvirt's gets no PXE options.
fn provisioning(lab: &Lab, r: &mut Report) {
    let Some(n) = local_nic(lab) else {
        return;
    };
    let name = &lab.undercloud.vm.nics[n].network;
    let Some((i, net)) = lab
        .networks
        .iter()
        .enumerate()
        .find(|(_, net)| &net.name == name)
    else {
        return;
    };
    let iface = &lab.undercloud.conf.local_interface;
    if net.mode == NetworkMode::Nat {
        // The field that is wrong is local_interface; the fix names a NIC on a network that
        // can carry PXE, never one that moves the nodes onto the NAT network.
        let fix = lab
            .undercloud
            .vm
            .nics
            .iter()
            .enumerate()
            .find(|(_, nic)| {
                lab.network(&nic.network)
                    .is_some_and(|o| o.mode != NetworkMode::Nat)
            })
            .map(|(k, nic)| format!("use `eth{k}` (the undercloud's NIC on `{}`)", nic.network))
            .unwrap_or_else(|| {
                "attach the undercloud to an isolated provisioning network (undercloud.vm.nics) and name that NIC here".into()
            });
        r.refuse(
            lab,
            "ctlplane-nat",
            "undercloud.conf.local_interface",
            iface,
            format!("{iface} is on `{name}`, a NAT network where libvirt's DHCP answers the nodes before ironic's PXE"),
            fix,
        );
        return;
    }
    if let Some(d) = &net.dhcp {
        r.refuse(
            lab,
            "provisioning-dhcp",
            format!("networks[{i}].dhcp"),
            format!("{}-{}", d.start, d.end),
            format!("libvirt's DHCP on `{name}`, the provisioning network ({iface}), competes with ironic's PXE DHCP"),
            format!("remove networks[{i}].dhcp: the undercloud serves DHCP there"),
        );
    }
    let net_mtu = net.mtu.unwrap_or(LIBVIRT_DEFAULT_MTU);
    let local_mtu = lab.undercloud.conf.local_mtu;
    if local_mtu > net_mtu
        && (super::networks::MTU_MIN..=super::networks::MTU_MAX).contains(&local_mtu)
    {
        r.refuse(
            lab,
            "local-mtu",
            "undercloud.conf.local_mtu",
            local_mtu,
            format!("larger than the MTU {net_mtu} of `{name}`, the provisioning network: large packets are dropped"),
            format!("use `{net_mtu}`, or raise networks[{i}].mtu"),
        );
    }
    for (j, g) in lab.overcloud.nodes.iter().enumerate() {
        if let Some(first) = g.networks.first()
            && first != name
            && g.count > 0
        {
            let fix = if g.networks.contains(name) {
                format!("put `{name}` first in the list")
            } else {
                format!("use `{name}`")
            };
            r.refuse(
                lab,
                "pxe-network",
                format!("overcloud.nodes[{j}].networks[0]"),
                first,
                format!("nodes PXE-boot from their first network, but the undercloud's {iface} is on `{name}`: ironic never sees them"),
                fix,
            );
        }
    }
}

fn container_cli(lab: &Lab, r: &mut Report) {
    if lab.undercloud.conf.container_cli == "docker" {
        r.refuse(
            lab,
            "container-cli",
            "undercloud.conf.container_cli",
            "docker",
            "the TripleO releases labwarp installs (Wallaby and later, on CentOS Stream 9 / RHEL 9) run containers with podman only",
            "use `podman`",
        );
    }
}

/// `Ok` when `value` names a zone of the IANA database (the compiled-in list).
pub fn zone_exists(value: &str) -> fields::Check {
    if zones::ZONES.binary_search(&value).is_ok() {
        return Ok(());
    }
    let fix = match crate::lab::diagnose::suggest(value, zones::ZONES.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => "use a zone of the IANA database (`timedatectl list-timezones`), e.g. `UTC`".into(),
    };
    Err(Bad {
        message: "no such time zone in the IANA database".into(),
        fix,
    })
}

fn timezones(lab: &Lab, r: &mut Report) {
    for (path, tz) in [
        (
            "undercloud.cloud_init.timezone",
            &lab.undercloud.cloud_init.timezone,
        ),
        (
            "undercloud.conf.undercloud_timezone",
            &lab.undercloud.conf.undercloud_timezone,
        ),
    ] {
        if fields::timezone(tz).is_ok()
            && let Err(b) = zone_exists(tz)
        {
            r.refuse(lab, "timezone", path, tz, b.message, b.fix);
        }
    }
}

/// VirtualBMC runs on the hypervisor and its BMCs listen on `overcloud.vbmc.address`, which
/// ironic on the undercloud reaches over `local_interface` (`pm_addr` in instackenv.json): it
/// must be the hypervisor's own address on that provisioning network (the network's
/// `gateway`), and nobody else's there. A wildcard is where a server listens, not an address
/// anyone can send to (metal3-dev-env issues #158/#161: BMCs "down" with listen address `::`).
fn bmc_address(lab: &Lab, r: &mut Report) {
    let v = &lab.overcloud.vbmc;
    let Ok(addr) = fields::ip(&v.address) else {
        return;
    };
    let p = "overcloud.vbmc.address";
    let c = &lab.undercloud.conf;
    let s = &c.subnet;
    let ip = |t: &str| t.split('/').next().and_then(|a| a.parse::<IpAddr>().ok());
    let in_range = |a: &str, b: &str| match (ip(a), ip(b)) {
        (Some(a), Some(b)) => a <= addr && addr <= b,
        _ => false,
    };
    // The provisioning network and the hypervisor's address on it, when it has one.
    let prov = local_nic(lab)
        .map(|n| &lab.undercloud.vm.nics[n].network)
        .and_then(|name| {
            lab.networks
                .iter()
                .enumerate()
                .find(|(_, n)| &n.name == name)
        });
    // A local_interface that names no NIC is that field's problem, not the BMC's.
    if prov.is_none() {
        return;
    }
    // A NAT or DHCP-serving provisioning network is reported by its own rule
    // (ctlplane-nat, provisioning-dhcp): an address advised from it would be wrong too.
    if prov.is_some_and(|(_, n)| n.mode == NetworkMode::Nat || n.dhcp.is_some()) {
        return;
    }
    let host = lab.hypervisor_ctlplane_address().map(|(a, _)| a);
    // An unaddressed provisioning network takes the BMC address itself: advise a free one.
    let derived = prov.is_some_and(|(_, n)| n.cidr.is_empty());
    let taken = |a: IpAddr| {
        ip(&c.local_ip) == Some(a)
            || [
                &c.undercloud_public_host,
                &c.undercloud_admin_host,
                &s.gateway,
            ]
            .iter()
            .any(|h| ip(h) == Some(a))
            || [
                (&s.dhcp_start, &s.dhcp_end),
                (&s.inspection_start, &s.inspection_end),
            ]
            .iter()
            .any(|(x, y)| matches!((ip(x), ip(y)), (Some(x), Some(y)) if x <= a && a <= y))
    };
    let free = s.cidr.parse::<IpNet>().ok().and_then(|n| {
        n.hosts()
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .find(|a| !taken(*a))
    });
    let fix = match (prov, host) {
        _ if derived => match free {
            Some(f) => format!("use `{f}` (free on the ctlplane subnet; labwarp gives it to the hypervisor on the provisioning network)"),
            None => "use a ctlplane address outside local_ip and the DHCP and inspection ranges".into(),
        },
        (_, Some(h)) => format!("use `{h}` (the hypervisor's address on the provisioning network)"),
        (Some((i, n)), None) => format!(
            "give networks[{i}] `{}` the ctlplane's cidr and a `gateway` outside local_ip and the DHCP and inspection ranges (e.g. the subnet's .254), and use that address here",
            n.name
        ),
        (None, None) => "use the hypervisor's address on the network the undercloud's local_interface and the nodes share".into(),
    };
    let why = if addr.is_unspecified() {
        Some(
            "a wildcard address is where a server listens, not an address ironic can send IPMI to"
                .to_string(),
        )
    } else if ip(&c.local_ip) == Some(addr) {
        Some("this is the undercloud's own local_ip: ironic would send IPMI to itself, and vbmcd on the hypervisor cannot listen there".into())
    } else if in_range(&s.dhcp_start, &s.dhcp_end)
        || in_range(&s.inspection_start, &s.inspection_end)
    {
        Some(
            "inside the ctlplane DHCP or inspection range: ironic hands this address to a node"
                .into(),
        )
    } else if taken(addr) {
        Some("the undercloud's public, admin or gateway address on the ctlplane".into())
    } else if host != Some(addr) {
        Some(match prov {
            Some((_, n)) => format!(
                "not the hypervisor's address on `{}`, the network the undercloud's local_interface and the nodes share: vbmcd cannot listen there, or ironic cannot reach it",
                n.name
            ),
            None => "the undercloud's local_interface is on no lab network, so no address there is the hypervisor's".into(),
        })
    } else {
        None
    };
    if let Some(why) = why {
        r.refuse(lab, "bmc-address", p, &v.address, why, fix);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_documented_in_the_readme_and_each_has_an_invalid_case() {
        let readme = include_str!("../../../README.md");
        let cases = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid_configs");
        let expected: String = std::fs::read_dir(cases)
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "expected"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .collect();
        for (rule, _) in RULES {
            assert!(
                readme.contains(&format!("| `{rule}` |")),
                "{rule} not in README"
            );
            assert!(
                expected.contains(&format!("(rule {rule};")),
                "no case in tests/invalid_configs breaks {rule}"
            );
        }
    }

    #[test]
    fn zones_are_sorted_and_checked() {
        assert!(zones::ZONES.windows(2).all(|w| w[0] < w[1]));
        assert!(zone_exists("Europe/Paris").is_ok());
        assert!(zone_exists("UTC").is_ok());
        assert_eq!(
            zone_exists("Europe/Pariss").unwrap_err().fix,
            "did you mean `Europe/Paris`?"
        );
    }
}
