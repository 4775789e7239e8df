//! Which lab field each form field edits: its path (the same path validation names), label,
//! one-line help, kind, and how its value is read from and written to the `Lab`.

use super::form::{Kind, Value};
use crate::lab::{
    DhcpRange, Disk, DistroFamily, DomainType, Hypervisor, Lab, Network, NetworkMode, NodeGroup,
    Role, Secret, VmSpec,
};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupField {
    Role,
    Name,
    Count,
    Vcpus,
    Memory,
    Disk,
    Networks,
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKey {
    LabName,
    Workspace,
    HvName,
    HvAddress,
    HvSshUser,
    HvSshPort,
    HvStackUser,
    HvLibvirtUri,
    HvDistro,
    HvDomainType,
    HvPoolPath,
    Net(usize, NetField),
    UcVcpus,
    UcMemory,
    UcDisk,
    UcImage,
    UcImageMd5,
    UcUser,
    UcKeys,
    UcNameservers,
    UcHostname,
    UcLocalIp,
    UcLocalInterface,
    UcSubnetCidr,
    UcDhcpStart,
    UcDhcpEnd,
    UcGateway,
    UcInspectionStart,
    UcInspectionEnd,
    UcContainerCli,
    Group(usize, GroupField),
    VbmcPort,
    VbmcAddress,
    VbmcUser,
    VbmcPassword,
    DeployTemplates,
    DeployEnvFiles,
    LmEnabled,
    LmServer,
    LmExport,
}

const DISTROS: &[&str] = &["rhel", "debian"];
const DOMAIN_TYPES: &[&str] = &["auto", "kvm", "qemu"];
const ROLES: &[&str] = &["controller", "compute", "ceph", "custom"];
const CONTAINER_CLIS: &[&str] = &["podman", "docker"];
const YES_NO: &[&str] = &["no", "yes"];
const NET_MODES: &[&str] = &["nat", "isolated", "bridged"];

const fn stepper(min: u64, max: u64, step: u64, unit: &'static str) -> Kind {
    Kind::Stepper {
        min,
        max,
        step,
        unit,
    }
}

/// The hypervisor's fields, then the selected network's.
pub fn hypervisor_screen(net: usize, nets: usize) -> Vec<FieldKey> {
    use FieldKey::*;
    use NetField as N;
    let mut keys = vec![
        LabName,
        Workspace,
        HvName,
        HvAddress,
        HvSshUser,
        HvSshPort,
        HvStackUser,
        HvLibvirtUri,
        HvDistro,
        HvDomainType,
        HvPoolPath,
    ];
    if net < nets {
        for f in [
            N::Name,
            N::Bridge,
            N::Mode,
            N::Cidr,
            N::Gateway,
            N::DhcpStart,
            N::DhcpEnd,
            N::Mtu,
            N::HostNic,
        ] {
            keys.push(Net(net, f));
        }
    }
    keys
}

pub fn undercloud_screen() -> Vec<FieldKey> {
    use FieldKey::*;
    vec![
        UcVcpus,
        UcMemory,
        UcDisk,
        UcImage,
        UcImageMd5,
        UcUser,
        UcKeys,
        UcNameservers,
        UcHostname,
        UcLocalIp,
        UcLocalInterface,
        UcSubnetCidr,
        UcDhcpStart,
        UcDhcpEnd,
        UcGateway,
        UcInspectionStart,
        UcInspectionEnd,
        UcContainerCli,
    ]
}

/// The selected node group's fields, then the overcloud-wide ones.
pub fn overcloud_screen(group: usize, groups: usize) -> Vec<FieldKey> {
    use FieldKey::*;
    use GroupField as G;
    let mut keys = Vec::new();
    if group < groups {
        for f in [
            G::Role,
            G::Name,
            G::Count,
            G::Vcpus,
            G::Memory,
            G::Disk,
            G::Networks,
        ] {
            keys.push(Group(group, f));
        }
    }
    keys.extend([
        VbmcPort,
        VbmcAddress,
        VbmcUser,
        VbmcPassword,
        DeployTemplates,
        DeployEnvFiles,
        LmEnabled,
        LmServer,
        LmExport,
    ]);
    keys
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn opt_text(s: &Option<String>) -> Value {
    Value::Text(s.clone().unwrap_or_default())
}

fn into_text(v: Value) -> String {
    match v {
        Value::Text(s) => s,
        Value::Lines(l) => l.join(","),
        Value::Number(n) => n.to_string(),
    }
}

fn into_lines(v: Value) -> Vec<String> {
    match v {
        Value::Lines(l) => l,
        Value::Text(s) => s
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        Value::Number(n) => vec![n.to_string()],
    }
}

fn into_number(v: Value) -> Result<u64, String> {
    match v {
        Value::Number(n) => Ok(n),
        Value::Text(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not a whole number")),
        Value::Lines(_) => Err("expected a number".into()),
    }
}

fn non_empty(s: String) -> Option<String> {
    if s.trim().is_empty() { None } else { Some(s) }
}

fn disk0(disks: &[Disk]) -> u64 {
    disks.first().map(|d| u64::from(d.size_gib)).unwrap_or(0)
}

fn set_disk0(disks: &mut Vec<Disk>, gib: u64) -> Result<(), String> {
    let size_gib = u32::try_from(gib).map_err(|_| format!("{gib} GiB is too large"))?;
    match disks.first_mut() {
        Some(d) => d.size_gib = size_gib,
        None => disks.push(Disk { size_gib }),
    }
    Ok(())
}

fn to_u32(n: u64) -> Result<u32, String> {
    u32::try_from(n).map_err(|_| format!("{n} is too large"))
}

impl FieldKey {
    /// The lab path validation uses for this field.
    pub fn path(self) -> String {
        use FieldKey::*;
        match self {
            LabName => "name".into(),
            Workspace => "workspace".into(),
            HvName => "hypervisors[0].name".into(),
            HvAddress => "hypervisors[0].address".into(),
            HvSshUser => "hypervisors[0].ssh_user".into(),
            HvSshPort => "hypervisors[0].ssh_port".into(),
            HvStackUser => "hypervisors[0].stack_user".into(),
            HvLibvirtUri => "hypervisors[0].libvirt_uri".into(),
            HvDistro => "hypervisors[0].distro".into(),
            HvDomainType => "hypervisors[0].domain_type".into(),
            HvPoolPath => "hypervisors[0].pool_path".into(),
            Net(i, f) => format!(
                "networks[{i}].{}",
                match f {
                    NetField::Name => "name",
                    NetField::Bridge => "bridge",
                    NetField::Mode => "mode",
                    NetField::Cidr => "cidr",
                    NetField::Gateway => "gateway",
                    NetField::DhcpStart => "dhcp.start",
                    NetField::DhcpEnd => "dhcp.end",
                    NetField::Mtu => "mtu",
                    NetField::HostNic => "host_nic",
                }
            ),
            UcVcpus => "undercloud.vm.vcpus".into(),
            UcMemory => "undercloud.vm.memory_mib".into(),
            UcDisk => "undercloud.vm.disks[0].size_gib".into(),
            UcImage => "images.undercloud.source".into(),
            UcImageMd5 => "images.undercloud.md5".into(),
            UcUser => "undercloud.cloud_init.user".into(),
            UcKeys => "undercloud.cloud_init.ssh_authorized_keys".into(),
            UcNameservers => "undercloud.cloud_init.nameservers".into(),
            UcHostname => "undercloud.conf.undercloud_hostname".into(),
            UcLocalIp => "undercloud.conf.local_ip".into(),
            UcLocalInterface => "undercloud.conf.local_interface".into(),
            UcSubnetCidr => "undercloud.conf.subnet.cidr".into(),
            UcDhcpStart => "undercloud.conf.subnet.dhcp_start".into(),
            UcDhcpEnd => "undercloud.conf.subnet.dhcp_end".into(),
            UcGateway => "undercloud.conf.subnet.gateway".into(),
            UcInspectionStart => "undercloud.conf.subnet.inspection_start".into(),
            UcInspectionEnd => "undercloud.conf.subnet.inspection_end".into(),
            UcContainerCli => "undercloud.conf.container_cli".into(),
            Group(i, f) => format!(
                "overcloud.nodes[{i}].{}",
                match f {
                    GroupField::Role => "role",
                    GroupField::Name => "name",
                    GroupField::Count => "count",
                    GroupField::Vcpus => "vcpus",
                    GroupField::Memory => "memory_mib",
                    GroupField::Disk => "disks[0].size_gib",
                    GroupField::Networks => "networks",
                }
            ),
            VbmcPort => "overcloud.vbmc.base_port".into(),
            VbmcAddress => "overcloud.vbmc.address".into(),
            VbmcUser => "overcloud.vbmc.username".into(),
            VbmcPassword => "overcloud.vbmc.password".into(),
            DeployTemplates => "overcloud.deploy.templates".into(),
            DeployEnvFiles => "overcloud.deploy.environment_files".into(),
            LmEnabled => "overcloud.live_migration.enabled".into(),
            LmServer => "overcloud.live_migration.nfs_server".into(),
            LmExport => "overcloud.live_migration.export_path".into(),
        }
    }

    pub fn label(self) -> &'static str {
        use FieldKey::*;
        match self {
            LabName => "Lab name",
            Workspace => "Workspace",
            HvName => "Hypervisor name",
            HvAddress => "Address",
            HvSshUser => "SSH user",
            HvSshPort => "SSH port",
            HvStackUser => "Stack user",
            HvLibvirtUri => "libvirt URI",
            HvDistro => "Distro family",
            HvDomainType => "Domain type",
            HvPoolPath => "Storage pool",
            Net(_, f) => match f {
                NetField::Name => "Network name",
                NetField::Bridge => "Bridge",
                NetField::Mode => "Mode",
                NetField::Cidr => "CIDR",
                NetField::Gateway => "Gateway",
                NetField::DhcpStart => "DHCP start",
                NetField::DhcpEnd => "DHCP end",
                NetField::Mtu => "MTU",
                NetField::HostNic => "Host NIC",
            },
            UcVcpus => "vCPUs",
            UcMemory => "Memory",
            UcDisk => "Root disk",
            UcImage => "Base image",
            UcImageMd5 => "Image md5",
            UcUser => "Login user",
            UcKeys => "SSH keys",
            UcNameservers => "Nameservers",
            UcHostname => "Hostname",
            UcLocalIp => "local_ip",
            UcLocalInterface => "local_interface",
            UcSubnetCidr => "ctlplane CIDR",
            UcDhcpStart => "DHCP start",
            UcDhcpEnd => "DHCP end",
            UcGateway => "Gateway",
            UcInspectionStart => "Inspection start",
            UcInspectionEnd => "Inspection end",
            UcContainerCli => "Container CLI",
            Group(_, f) => match f {
                GroupField::Role => "Role",
                GroupField::Name => "Name prefix",
                GroupField::Count => "Count",
                GroupField::Vcpus => "vCPUs",
                GroupField::Memory => "Memory",
                GroupField::Disk => "Disk",
                GroupField::Networks => "Networks",
            },
            VbmcPort => "VBMC base port",
            VbmcAddress => "VBMC address",
            VbmcUser => "IPMI user",
            VbmcPassword => "IPMI password",
            DeployTemplates => "Templates",
            DeployEnvFiles => "Environment files",
            LmEnabled => "Live migration",
            LmServer => "NFS server",
            LmExport => "NFS export",
        }
    }

    pub fn help(self) -> &'static str {
        use FieldKey::*;
        match self {
            LabName => {
                "Prefix of every VM, network and file labwarp creates; cleanup finds them by it."
            }
            Workspace => "Directory for keys, ssh.config, inventory, logs and state.yaml.",
            HvName => "A short name for the hypervisor in the inventory and ssh.config.",
            HvAddress => "Host or IP labwarp reaches over SSH; `local` means this machine.",
            HvSshUser => "User labwarp logs in as (root, or a user with passwordless sudo).",
            HvSshPort => "sshd port on the hypervisor (22 by default).",
            HvStackUser => "Unprivileged user that owns the lab, as in quickstart (`stack`).",
            HvLibvirtUri => {
                "qemu:///system, qemu:///session, qemu+ssh://user@host/system or test:///default."
            }
            HvDistro => "rhel: dnf, firewalld, SELinux. debian: apt, AppArmor.",
            HvDomainType => "auto lets preflight choose kvm when /dev/kvm works, else qemu (slow).",
            HvPoolPath => "Directory of the libvirt storage pool holding VM disks.",
            Net(_, f) => match f {
                NetField::Name => "libvirt network name; node groups and NICs refer to it.",
                NetField::Bridge => "Linux bridge of the network (at most 15 characters).",
                NetField::Mode => {
                    "nat: libvirt NAT + DHCP. isolated: no forwarding (PXE). bridged: host NIC."
                }
                NetField::Cidr => {
                    "Address range (192.168.23.0/24); empty leaves it unaddressed (provisioning)."
                }
                NetField::Gateway => "The host's address on the network; empty uses the first.",
                NetField::DhcpStart => "First address libvirt's DHCP hands out; empty: no DHCP.",
                NetField::DhcpEnd => "Last address libvirt's DHCP hands out.",
                NetField::Mtu => "MTU of the network; empty keeps libvirt's default (1500).",
                NetField::HostNic => "Hypervisor NIC enslaved to the bridge (bridged mode only).",
            },
            UcVcpus => "vCPUs of the undercloud VM (quickstart uses 6; 4 is the least that works).",
            UcMemory => "Memory of the undercloud VM in MiB (12288 recommended, 8192 minimum).",
            UcDisk => "Root disk of the undercloud VM in GiB.",
            UcImage => "Cloud qcow2 for the undercloud: a local path or an http(s) URL.",
            UcImageMd5 => "Expected md5 of the image (32 hex digits); empty skips the check.",
            UcUser => "Login user cloud-init creates in the VM, with passwordless sudo.",
            UcKeys => "Extra public keys for the login user; the workspace key is always added.",
            UcNameservers => "DNS servers of the undercloud VM, one per line.",
            UcHostname => "undercloud_hostname in undercloud.conf (a fully qualified name).",
            UcLocalIp => "IP/prefix of the undercloud on the ctlplane (192.168.24.1/24).",
            UcLocalInterface => "Undercloud NIC on the provisioning network (eth1 with two NICs).",
            UcSubnetCidr => "ctlplane subnet; DHCP, gateway and inspection ranges lie inside it.",
            UcDhcpStart => "First address handed to deployed nodes.",
            UcDhcpEnd => "Last address handed to deployed nodes.",
            UcGateway => "Gateway of the ctlplane subnet (the undercloud's local_ip).",
            UcInspectionStart => "First address for introspection; must not overlap DHCP.",
            UcInspectionEnd => "Last address for introspection.",
            UcContainerCli => {
                "Container engine on the undercloud (podman on TripleO Train and later)."
            }
            Group(_, f) => match f {
                GroupField::Role => "controller, compute, ceph or custom (← → to change).",
                GroupField::Name => {
                    "Node name prefix (<prefix>-0, <prefix>-1…); empty uses the role."
                }
                GroupField::Count => "How many nodes of this group.",
                GroupField::Vcpus => "vCPUs per node.",
                GroupField::Memory => "Memory per node in MiB (controllers need 8192 or more).",
                GroupField::Disk => "Root disk per node in GiB.",
                GroupField::Networks => "Networks in NIC order, comma separated; the first is PXE.",
            },
            VbmcPort => "UDP port of the first node's VirtualBMC; the others follow.",
            VbmcAddress => "Address vbmcd listens on (the ctlplane .1 in quickstart).",
            VbmcUser => "IPMI user of every VirtualBMC.",
            VbmcPassword => "IPMI password; left empty, one is generated into the workspace.",
            DeployTemplates => "--templates directory for `openstack overcloud deploy`.",
            DeployEnvFiles => "-e files in order, one per line.",
            LmEnabled => "Share /var/lib/nova/instances over NFS so instances can live-migrate.",
            LmServer => "Host serving the NFS export: undercloud, a node name or an address.",
            LmExport => "Exported directory on the NFS server.",
        }
    }

    pub fn kind(self) -> Kind {
        use FieldKey::*;
        match self {
            HvSshPort => stepper(1, 65535, 1, ""),
            HvDistro => Kind::Select(DISTROS),
            HvDomainType => Kind::Select(DOMAIN_TYPES),
            Net(_, NetField::Mode) => Kind::Select(NET_MODES),
            UcVcpus => stepper(1, 256, 1, ""),
            UcMemory => stepper(512, 1 << 20, 1024, "MiB"),
            UcDisk => stepper(1, 65536, 10, "GiB"),
            UcKeys | UcNameservers | DeployEnvFiles => Kind::Multi,
            UcContainerCli => Kind::Select(CONTAINER_CLIS),
            Group(_, GroupField::Role) => Kind::Select(ROLES),
            Group(_, GroupField::Count) => stepper(0, 64, 1, ""),
            Group(_, GroupField::Vcpus) => stepper(1, 256, 1, ""),
            Group(_, GroupField::Memory) => stepper(512, 1 << 20, 1024, "MiB"),
            Group(_, GroupField::Disk) => stepper(1, 65536, 10, "GiB"),
            VbmcPort => stepper(1, 65535, 1, ""),
            VbmcPassword => Kind::Secret,
            LmEnabled => Kind::Select(YES_NO),
            _ => Kind::Line,
        }
    }

    pub fn get(self, lab: &Lab) -> Value {
        use FieldKey::*;
        let default_hv = Hypervisor::default();
        let hv = lab.hypervisors.first().unwrap_or(&default_hv);
        let uc = &lab.undercloud;
        let oc = &lab.overcloud;
        let sub = &uc.conf.subnet;
        match self {
            LabName => text(&lab.name),
            Workspace => text(&lab.workspace.display().to_string()),
            HvName => text(&hv.name),
            HvAddress => text(&hv.address),
            HvSshUser => text(&hv.ssh_user),
            HvSshPort => Value::Number(u64::from(hv.ssh_port)),
            HvStackUser => text(&hv.stack_user),
            HvLibvirtUri => text(&hv.libvirt_uri),
            HvDistro => text(match hv.distro {
                DistroFamily::Rhel => "rhel",
                DistroFamily::Debian => "debian",
            }),
            HvDomainType => text(match hv.domain_type {
                DomainType::Auto => "auto",
                DomainType::Kvm => "kvm",
                DomainType::Qemu => "qemu",
            }),
            HvPoolPath => text(&hv.pool_path.display().to_string()),
            Net(i, f) => {
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
            UcVcpus => Value::Number(u64::from(uc.vm.vcpus)),
            UcMemory => Value::Number(uc.vm.memory_mib),
            UcDisk => Value::Number(disk0(&uc.vm.disks)),
            UcImage => text(&lab.images.undercloud.source),
            UcImageMd5 => opt_text(&lab.images.undercloud.md5),
            UcUser => text(&uc.cloud_init.user),
            UcKeys => Value::Lines(uc.cloud_init.ssh_authorized_keys.clone()),
            UcNameservers => Value::Lines(uc.cloud_init.nameservers.clone()),
            UcHostname => text(&uc.conf.undercloud_hostname),
            UcLocalIp => text(&uc.conf.local_ip),
            UcLocalInterface => text(&uc.conf.local_interface),
            UcSubnetCidr => text(&sub.cidr),
            UcDhcpStart => text(&sub.dhcp_start),
            UcDhcpEnd => text(&sub.dhcp_end),
            UcGateway => text(&sub.gateway),
            UcInspectionStart => text(&sub.inspection_start),
            UcInspectionEnd => text(&sub.inspection_end),
            UcContainerCli => text(&uc.conf.container_cli),
            Group(i, f) => {
                let default_group = NodeGroup::default();
                let g = oc.nodes.get(i).unwrap_or(&default_group);
                match f {
                    GroupField::Role => text(g.role.as_str()),
                    GroupField::Name => text(&g.name),
                    GroupField::Count => Value::Number(u64::from(g.count)),
                    GroupField::Vcpus => Value::Number(u64::from(g.vcpus)),
                    GroupField::Memory => Value::Number(g.memory_mib),
                    GroupField::Disk => Value::Number(disk0(&g.disks)),
                    GroupField::Networks => text(&g.networks.join(", ")),
                }
            }
            VbmcPort => Value::Number(u64::from(oc.vbmc.base_port)),
            VbmcAddress => text(&oc.vbmc.address),
            VbmcUser => text(&oc.vbmc.username),
            VbmcPassword => text(oc.vbmc.password.as_ref().map(Secret::expose).unwrap_or("")),
            DeployTemplates => text(&oc.deploy.templates),
            DeployEnvFiles => Value::Lines(oc.deploy.environment_files.clone()),
            LmEnabled => text(if oc.live_migration.enabled {
                "yes"
            } else {
                "no"
            }),
            LmServer => text(&oc.live_migration.nfs_server),
            LmExport => text(&oc.live_migration.export_path),
        }
    }

    /// Writes a value into the lab. Errors only when the text cannot become the lab's type.
    pub fn set(self, lab: &mut Lab, v: Value) -> Result<(), String> {
        use FieldKey::*;
        if lab.hypervisors.is_empty() {
            lab.hypervisors.push(Hypervisor::default());
        }
        let hv = &mut lab.hypervisors[0];
        match self {
            LabName => lab.name = into_text(v),
            Workspace => lab.workspace = PathBuf::from(into_text(v)),
            HvName => hv.name = into_text(v),
            HvAddress => hv.address = into_text(v),
            HvSshUser => hv.ssh_user = into_text(v),
            HvSshPort => {
                let n = into_number(v)?;
                hv.ssh_port = u16::try_from(n).map_err(|_| format!("{n} is not a port"))?;
            }
            HvStackUser => hv.stack_user = into_text(v),
            HvLibvirtUri => hv.libvirt_uri = into_text(v),
            HvDistro => {
                hv.distro = match into_text(v).as_str() {
                    "debian" => DistroFamily::Debian,
                    _ => DistroFamily::Rhel,
                }
            }
            HvDomainType => {
                hv.domain_type = match into_text(v).as_str() {
                    "kvm" => DomainType::Kvm,
                    "qemu" => DomainType::Qemu,
                    _ => DomainType::Auto,
                }
            }
            HvPoolPath => hv.pool_path = PathBuf::from(into_text(v)),
            Net(i, f) => {
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
            }
            UcVcpus => lab.undercloud.vm.vcpus = to_u32(into_number(v)?)?,
            UcMemory => lab.undercloud.vm.memory_mib = into_number(v)?,
            UcDisk => set_disk0(&mut lab.undercloud.vm.disks, into_number(v)?)?,
            UcImage => lab.images.undercloud.source = into_text(v),
            UcImageMd5 => lab.images.undercloud.md5 = non_empty(into_text(v)),
            UcUser => lab.undercloud.cloud_init.user = into_text(v),
            UcKeys => lab.undercloud.cloud_init.ssh_authorized_keys = into_lines(v),
            UcNameservers => lab.undercloud.cloud_init.nameservers = into_lines(v),
            UcHostname => lab.undercloud.conf.undercloud_hostname = into_text(v),
            UcLocalIp => lab.undercloud.conf.local_ip = into_text(v),
            UcLocalInterface => lab.undercloud.conf.local_interface = into_text(v),
            UcSubnetCidr => lab.undercloud.conf.subnet.cidr = into_text(v),
            UcDhcpStart => lab.undercloud.conf.subnet.dhcp_start = into_text(v),
            UcDhcpEnd => lab.undercloud.conf.subnet.dhcp_end = into_text(v),
            UcGateway => lab.undercloud.conf.subnet.gateway = into_text(v),
            UcInspectionStart => lab.undercloud.conf.subnet.inspection_start = into_text(v),
            UcInspectionEnd => lab.undercloud.conf.subnet.inspection_end = into_text(v),
            UcContainerCli => lab.undercloud.conf.container_cli = into_text(v),
            Group(i, f) => {
                let Some(g) = lab.overcloud.nodes.get_mut(i) else {
                    return Err(format!("node group {i} no longer exists"));
                };
                match f {
                    GroupField::Role => {
                        g.role = match into_text(v).as_str() {
                            "compute" => Role::Compute,
                            "ceph" => Role::Ceph,
                            "custom" => Role::Custom,
                            _ => Role::Controller,
                        }
                    }
                    GroupField::Name => g.name = into_text(v),
                    GroupField::Count => g.count = to_u32(into_number(v)?)?,
                    GroupField::Vcpus => g.vcpus = to_u32(into_number(v)?)?,
                    GroupField::Memory => g.memory_mib = into_number(v)?,
                    GroupField::Disk => set_disk0(&mut g.disks, into_number(v)?)?,
                    GroupField::Networks => g.networks = into_lines(v),
                }
            }
            VbmcPort => {
                let n = into_number(v)?;
                lab.overcloud.vbmc.base_port =
                    u16::try_from(n).map_err(|_| format!("{n} is not a port"))?;
            }
            VbmcAddress => lab.overcloud.vbmc.address = into_text(v),
            VbmcUser => lab.overcloud.vbmc.username = into_text(v),
            VbmcPassword => lab.overcloud.vbmc.password = non_empty(into_text(v)).map(Secret),
            DeployTemplates => lab.overcloud.deploy.templates = into_text(v),
            DeployEnvFiles => lab.overcloud.deploy.environment_files = into_lines(v),
            LmEnabled => lab.overcloud.live_migration.enabled = into_text(v) == "yes",
            LmServer => lab.overcloud.live_migration.nfs_server = into_text(v),
            LmExport => lab.overcloud.live_migration.export_path = into_text(v),
        }
        Ok(())
    }
}

/// A new node group for the overcloud table: a compute sized like the last group.
pub fn new_group(lab: &Lab) -> NodeGroup {
    let template = lab.overcloud.nodes.last().cloned().unwrap_or_default();
    NodeGroup {
        role: Role::Compute,
        name: String::new(),
        count: 1,
        ..template
    }
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

/// Sum of what the VMs ask for: (vCPUs, MiB, GiB), for the totals line.
pub fn totals(lab: &Lab) -> (u64, u64, u64) {
    let vm = |v: &VmSpec| {
        (
            u64::from(v.vcpus),
            v.memory_mib,
            v.disks.iter().map(|d| u64::from(d.size_gib)).sum::<u64>(),
        )
    };
    let (mut c, mut m, mut d) = vm(&lab.undercloud.vm);
    for g in &lab.overcloud.nodes {
        let n = u64::from(g.count);
        c += n * u64::from(g.vcpus);
        m += n * g.memory_mib;
        d += n * g.disks.iter().map(|x| u64::from(x.size_gib)).sum::<u64>();
    }
    (c, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field reads back what it wrote: the binding is by name, in both directions.
    #[test]
    fn every_field_round_trips_through_the_lab() {
        let mut keys = hypervisor_screen(1, 2);
        keys.extend(undercloud_screen());
        keys.extend(overcloud_screen(1, 2));
        for key in keys {
            let mut lab = Lab::default();
            let v = match key.kind() {
                Kind::Stepper { min, .. } => Value::Number(min + 3),
                Kind::Select(opts) => Value::Text(opts[opts.len() - 1].to_string()),
                Kind::Multi => Value::Lines(vec!["a".into(), "b".into()]),
                _ if matches!(key, FieldKey::Net(_, NetField::Mtu)) => Value::Text("9000".into()),
                _ => Value::Text("probe-value".into()),
            };
            key.set(&mut lab, v.clone()).unwrap();
            let back = key.get(&lab);
            let expected = match (&v, key) {
                (Value::Text(_), FieldKey::Group(_, GroupField::Networks)) => {
                    Value::Text("probe-value".into())
                }
                _ => v.clone(),
            };
            assert_eq!(back, expected, "{key:?} ({})", key.path());
            assert_ne!(lab, Lab::default(), "{key:?} changed nothing");
        }
    }
}
