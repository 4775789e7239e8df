//! The undercloud VM, its cloud-init and its undercloud.conf (ctlplane subnet included).

use super::fields::{self, range_len};
use super::networks::{MTU_MAX, MTU_MIN, overlap};
use super::paths;
use super::{Report, realistic, vms};
use crate::lab::model::Lab;
use ipnet::IpNet;
use std::net::IpAddr;

/// Below this the undercloud install gets OOM-killed (mariadb first): quickstart never goes
/// under 8192 MiB, OVB asks for 16 GiB.
pub const UNDERCLOUD_MEMORY_WARN_MIB: u64 = 8192;

pub fn undercloud(lab: &Lab, r: &mut Report) {
    let vm = &lab.undercloud.vm;
    vms::sizes("undercloud.vm", vm.vcpus, vm.memory_mib, &vm.disks, r);
    if realistic(lab) {
        // Below installers::UNDERCLOUD_REQUIRED_MIB the installer refuses (an error there).
        if vm.memory_mib >= super::installers::UNDERCLOUD_REQUIRED_MIB
            && vm.memory_mib < UNDERCLOUD_MEMORY_WARN_MIB
        {
            r.warning(
                "undercloud.vm.memory_mib",
                vm.memory_mib,
                format!("the undercloud install needs at least {UNDERCLOUD_MEMORY_WARN_MIB} MiB; below that the OOM killer stops mariadb"),
                "use 12288 (quickstart's default) or more",
            );
        }
        if let Some(root) = vm.disks.first()
            && root.size_gib < 40
        {
            r.warning(
                "undercloud.vm.disks[0].size_gib",
                root.size_gib,
                "the undercloud's container images need about 40 GiB",
                "use 50 GiB (quickstart's default)",
            );
        }
    }
    cloud_init(lab, r);
    conf(lab, r);
}

fn cloud_init(lab: &Lab, r: &mut Report) {
    let ci = &lab.undercloud.cloud_init;
    r.check(
        "undercloud.cloud_init.user",
        &ci.user,
        fields::unix_user(&ci.user),
    );
    if ci.user == "root" {
        r.error(
            "undercloud.cloud_init.user",
            "root",
            "TripleO refuses to install the undercloud as root",
            "use an unprivileged user such as `stack`",
        );
    }
    for (k, key) in ci.ssh_authorized_keys.iter().enumerate() {
        r.check(
            format!("undercloud.cloud_init.ssh_authorized_keys[{k}]"),
            &abbreviate(key),
            fields::ssh_public_key(key),
        );
    }
    r.check(
        "undercloud.cloud_init.timezone",
        &ci.timezone,
        fields::timezone(&ci.timezone),
    );
    for (k, ns) in ci.nameservers.iter().enumerate() {
        r.check(
            format!("undercloud.cloud_init.nameservers[{k}]"),
            ns,
            fields::ip(ns),
        );
    }
    for (k, pkg) in ci.packages.iter().enumerate() {
        r.check(
            format!("undercloud.cloud_init.packages[{k}]"),
            pkg,
            fields::package(pkg),
        );
    }
}

/// Long keys are shown by their start only.
fn abbreviate(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

/// An inclusive address range written as two fields, checked inside `net`.
struct Range {
    start: IpAddr,
    end: IpAddr,
}

impl Range {
    fn contains(&self, ip: IpAddr) -> bool {
        self.start <= ip && ip <= self.end
    }
    fn overlaps(&self, o: &Range) -> bool {
        self.start <= o.end && o.start <= self.end
    }
    fn len(&self) -> u128 {
        range_len(self.start, self.end)
    }
}

fn range(
    p: &str,
    start_key: &str,
    start: &str,
    end_key: &str,
    end: &str,
    net: &IpNet,
    r: &mut Report,
) -> Option<Range> {
    let s = r
        .check(format!("{p}.{start_key}"), start, fields::ip(start))
        .and_then(|ip| {
            r.check(
                format!("{p}.{start_key}"),
                start,
                fields::host_in(ip, net, "the range start"),
            )
            .map(|_| ip)
        });
    let e = r
        .check(format!("{p}.{end_key}"), end, fields::ip(end))
        .and_then(|ip| {
            r.check(
                format!("{p}.{end_key}"),
                end,
                fields::host_in(ip, net, "the range end"),
            )
            .map(|_| ip)
        });
    let range = Range { start: s?, end: e? };
    if range.len() == 0 {
        r.error(
            format!("{p}.{end_key}"),
            end,
            format!("the range ends before its start {start}"),
            format!("make {end_key} at least {start_key}"),
        );
        return None;
    }
    Some(range)
}

fn conf(lab: &Lab, r: &mut Report) {
    let c = &lab.undercloud.conf;
    let p = "undercloud.conf";
    if r.check(
        format!("{p}.undercloud_hostname"),
        &c.undercloud_hostname,
        fields::hostname(&c.undercloud_hostname),
    )
    .is_some()
        && !c.undercloud_hostname.trim_end_matches('.').contains('.')
    {
        r.error(
            format!("{p}.undercloud_hostname"),
            &c.undercloud_hostname,
            "the undercloud's host name must be fully qualified",
            format!(
                "write `{}.localdomain` (with a domain)",
                c.undercloud_hostname
            ),
        );
    }
    r.check(
        format!("{p}.local_interface"),
        &c.local_interface,
        fields::ifname(&c.local_interface),
    );
    if let Some(n) = c
        .local_interface
        .strip_prefix("eth")
        .and_then(|n| n.parse::<usize>().ok())
    {
        let nics = lab.undercloud.vm.nics.len();
        if n >= nics {
            r.error(
                format!("{p}.local_interface"),
                &c.local_interface,
                format!(
                    "the undercloud VM has {nics} NIC(s), so there is no {}",
                    c.local_interface
                ),
                "name one of its NICs (eth0 is the first), or add a NIC under undercloud.vm.nics",
            );
        }
    }
    if !(MTU_MIN..=MTU_MAX).contains(&c.local_mtu) {
        r.error(
            format!("{p}.local_mtu"),
            c.local_mtu,
            format!("the MTU must be between {MTU_MIN} and {MTU_MAX}"),
            "use 1500",
        );
    }
    for (k, ns) in c.undercloud_nameservers.iter().enumerate() {
        r.check(
            format!("{p}.undercloud_nameservers[{k}]"),
            ns,
            fields::ip(ns),
        );
    }
    for (k, ntp) in c.undercloud_ntp_servers.iter().enumerate() {
        r.check(
            format!("{p}.undercloud_ntp_servers[{k}]"),
            ntp,
            fields::host(ntp),
        );
    }
    r.check(
        format!("{p}.undercloud_timezone"),
        &c.undercloud_timezone,
        fields::timezone(&c.undercloud_timezone),
    );
    if !["podman", "docker"].contains(&c.container_cli.as_str()) {
        r.error(
            format!("{p}.container_cli"),
            &c.container_cli,
            "TripleO runs its containers with podman (or docker on old releases)",
            "use podman",
        );
    }
    r.check(
        format!("{p}.container_images_file"),
        &c.container_images_file,
        paths::owned(&c.container_images_file, true),
    );

    // [ctlplane-subnet]
    let s = &c.subnet;
    let sp = format!("{p}.subnet");
    let Some(net) = r.check(format!("{sp}.cidr"), &s.cidr, fields::cidr(&s.cidr)) else {
        return;
    };
    // libvirt may give the hypervisor an address on the ctlplane (the provisioning
    // network's `gateway`, where VirtualBMC listens), but never serve DHCP there: ironic does.
    let mut hypervisor_on_ctlplane: Vec<(usize, IpAddr)> = Vec::new();
    for (i, n) in lab.networks.iter().enumerate() {
        if let Ok(other) = n.cidr.parse::<IpNet>()
            && overlap(&net, &other)
        {
            // The provisioning network itself: libvirt DHCP there is the provisioning-dhcp
            // rule's (installers.rs), an address without DHCP is the hypervisor's.
            let is_provisioning = lab.provisioning_network().is_some_and(|p| p.name == n.name);
            if other == net && is_provisioning && n.dhcp.is_some() {
                continue;
            }
            if n.dhcp.is_none() && other == net {
                if let Some(host) = n
                    .gateway
                    .as_deref()
                    .and_then(|g| g.parse::<IpAddr>().ok())
                    .or_else(|| other.hosts().next())
                {
                    hypervisor_on_ctlplane.push((i, host));
                }
                continue;
            }
            r.error(
                    format!("{sp}.cidr"),
                    &s.cidr,
                    format!("overlaps networks[{i}] `{}` ({other}), which libvirt serves itself", n.name),
                    "the undercloud serves the ctlplane on a network libvirt leaves unaddressed: use a separate range",
                );
        }
    }
    let dhcp = range(
        &sp,
        "dhcp_start",
        &s.dhcp_start,
        "dhcp_end",
        &s.dhcp_end,
        &net,
        r,
    );
    let inspection = range(
        &sp,
        "inspection_start",
        &s.inspection_start,
        "inspection_end",
        &s.inspection_end,
        &net,
        r,
    );
    let gateway = r
        .check(format!("{sp}.gateway"), &s.gateway, fields::ip(&s.gateway))
        .and_then(|ip| {
            r.check(
                format!("{sp}.gateway"),
                &s.gateway,
                fields::host_in(ip, &net, "the gateway"),
            )
            .map(|_| ip)
        });
    if let (Some(d), Some(i)) = (&dhcp, &inspection)
        && d.overlaps(i)
    {
        r.error(
            format!("{sp}.inspection_start"),
            &s.inspection_start,
            format!(
                "the inspection range overlaps the DHCP range {}-{}",
                d.start, d.end
            ),
            "keep them apart (quickstart: DHCP .5-.30, inspection .100-.120)",
        );
    }
    let nodes = u128::from(super::node_count(lab));
    for (range, key, what) in [
        (&dhcp, "dhcp_end", "DHCP"),
        (&inspection, "inspection_end", "inspection"),
    ] {
        if let Some(rg) = range
            && rg.len() < nodes
        {
            r.error(
                format!("{sp}.{key}"),
                rg.end,
                format!(
                    "the {what} range has {} addresses for {nodes} nodes",
                    rg.len()
                ),
                format!("widen the range to at least {nodes} addresses"),
            );
        }
    }
    let in_ranges = |ip: IpAddr| {
        dhcp.as_ref().is_some_and(|d| d.contains(ip))
            || inspection.as_ref().is_some_and(|i| i.contains(ip))
    };
    for (i, host) in &hypervisor_on_ctlplane {
        let local = c
            .local_ip
            .split('/')
            .next()
            .and_then(|a| a.parse::<IpAddr>().ok());
        let clash = if Some(*host) == local {
            Some("the undercloud's local_ip")
        } else if in_ranges(*host) {
            Some("the ctlplane DHCP or inspection range")
        } else if [&c.undercloud_public_host, &c.undercloud_admin_host]
            .iter()
            .any(|h| h.parse::<IpAddr>().ok() == Some(*host))
        {
            Some("the undercloud's public or admin host address")
        } else {
            None
        };
        if let Some(what) = clash {
            r.error(
                format!("networks[{i}].gateway"),
                host,
                format!("the hypervisor's address on the provisioning network would be {what}"),
                "give the network a `gateway` outside local_ip and both ranges, e.g. the subnet's .254",
            );
        }
    }
    if let Some(g) = gateway
        && in_ranges(g)
    {
        r.error(
            format!("{sp}.gateway"),
            g,
            "the gateway lies inside the DHCP or inspection range",
            "use an address outside both, usually .1",
        );
    }
    if let Some(local) = r.check(
        format!("{p}.local_ip"),
        &c.local_ip,
        fields::ip_with_prefix(&c.local_ip),
    ) && r
        .check(
            format!("{p}.local_ip"),
            &c.local_ip,
            fields::host_in(local.addr(), &net, "local_ip"),
        )
        .is_some()
    {
        if local.prefix_len() != net.prefix_len() {
            r.error(
                format!("{p}.local_ip"),
                &c.local_ip,
                format!(
                    "the prefix differs from the ctlplane subnet's /{}",
                    net.prefix_len()
                ),
                format!("write {}/{}", local.addr(), net.prefix_len()),
            );
        } else if in_ranges(local.addr()) {
            r.error(
                format!("{p}.local_ip"),
                &c.local_ip,
                "local_ip lies inside the DHCP or inspection range",
                "use an address outside both, usually .1",
            );
        }
    }
    for key in ["undercloud_public_host", "undercloud_admin_host"] {
        let value = if key == "undercloud_public_host" {
            &c.undercloud_public_host
        } else {
            &c.undercloud_admin_host
        };
        if let Ok(ip) = value.parse::<IpAddr>() {
            if r.check(format!("{p}.{key}"), value, fields::host_in(ip, &net, key))
                .is_some()
                && in_ranges(ip)
            {
                r.error(
                    format!("{p}.{key}"),
                    value,
                    format!("{key} lies inside the DHCP or inspection range"),
                    "use an address outside both (quickstart: .2 and .3)",
                );
            }
        } else {
            r.check(format!("{p}.{key}"), value, fields::host(value));
        }
    }
}
