//! The lab model: every setting labwarp needs, typed, with quickstart-like defaults.
//!
//! Every struct has `#[serde(default, deny_unknown_fields)]` so that a user file naming only
//! some keys parses on its own (errors keep their line and column) and a misspelt key is an
//! error rather than silently ignored. Field names are the YAML keys and the paths that
//! validation messages name (`overcloud.nodes[1].memory_mib`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// A whole lab: what `lab.yaml` holds once a preset and the user's overrides are merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Lab {
    /// The preset this lab starts from (`labwarp presets`), overridden by the rest of the
    /// file (mappings merge by key, lists replace). `None`: written out in full.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Short name; prefixes everything labwarp creates (`<name>-undercloud`) for cleanup.
    pub name: String,
    /// One-line description (shown in `labwarp presets` and the welcome screen).
    pub description: String,
    /// Where keys, ssh.config, inventory, rendered files, logs and state.yaml live.
    pub workspace: PathBuf,
    /// Theme name from `themes/` (the TUI's `--theme` overrides it).
    pub theme: Option<String>,
    pub hypervisors: Vec<Hypervisor>,
    pub networks: Vec<Network>,
    pub images: Images,
    pub undercloud: Undercloud,
    pub overcloud: Overcloud,
    /// The TripleO release the lab deploys (quickstart's `-R`).
    #[serde(skip_serializing_if = "Tripleo::is_default")]
    pub tripleo: Tripleo,
    /// Installer rules this lab knowingly breaks, each error a warning (`undercloud-memory`,
    /// `node-memory`, ...; README, "Overriding an installer rule"). For those who know.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<String>,
    #[serde(skip_serializing_if = "super::snapshots::SnapshotSettings::is_default")]
    pub snapshots: super::snapshots::SnapshotSettings,
}

impl Default for Lab {
    fn default() -> Self {
        Lab {
            preset: None,
            name: "lab".into(),
            description: String::new(),
            workspace: PathBuf::from("workspace"),
            theme: None,
            hypervisors: vec![Hypervisor::default()],
            networks: vec![Network::default_external(), Network::default_provisioning()],
            images: Images::default(),
            undercloud: Undercloud::default(),
            overcloud: Overcloud::default(),
            tripleo: Tripleo::default(),
            overrides: Vec::new(),
            snapshots: Default::default(),
        }
    }
}

pub use super::tripleo::Tripleo;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DistroFamily {
    /// CentOS, RHEL, Rocky, Fedora: dnf, firewalld, SELinux.
    #[default]
    Rhel,
    /// Debian, Ubuntu: apt, AppArmor.
    Debian,
}

/// Which libvirt domain type the VMs get. `auto` lets preflight decide from a real probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DomainType {
    #[default]
    Auto,
    /// Hardware acceleration.
    Kvm,
    /// TCG software emulation.
    Qemu,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hypervisor {
    pub name: String,
    /// Hostname or IP address labwarp connects to over SSH (`local` = this machine, no SSH).
    pub address: String,
    pub ssh_user: String,
    pub ssh_port: u16,
    /// The unprivileged user that owns the lab (quickstart's `stack`).
    pub stack_user: String,
    /// `qemu:///system`, `qemu:///session`, `qemu+ssh://user@host/system`, `test:///default`.
    pub libvirt_uri: String,
    pub distro: DistroFamily,
    /// Storage pool directory for VM disks.
    pub pool_path: PathBuf,
    pub domain_type: DomainType,
}

impl Hypervisor {
    /// Whether labwarp runs on this hypervisor (`address: local`): no SSH. The one
    /// locality predicate (any other address, 127.0.0.2 included, is reached over SSH).
    pub fn is_local(&self) -> bool {
        self.address == "local"
    }
}

impl Default for Hypervisor {
    fn default() -> Self {
        Hypervisor {
            name: "virthost".into(),
            address: "127.0.0.2".into(),
            ssh_user: "root".into(),
            ssh_port: 22,
            stack_user: "stack".into(),
            libvirt_uri: "qemu:///system".into(),
            distro: DistroFamily::Rhel,
            pool_path: PathBuf::from("/var/lib/libvirt/images"),
            domain_type: DomainType::Auto,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// libvirt NAT with DHCP (quickstart's `external`).
    #[default]
    Nat,
    /// No forwarding: PXE/provisioning (quickstart's `overcloud` on `brovc`).
    Isolated,
    /// A host bridge enslaving `host_nic` (the lab guide's `os-ctlplane`).
    Bridged,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct DhcpRange {
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Network {
    pub name: String,
    /// Linux bridge name (at most 15 characters).
    pub bridge: String,
    pub mode: NetworkMode,
    /// `192.168.23.0/24`; empty for a network libvirt does not address (provisioning).
    pub cidr: String,
    /// The host's address on the network (libvirt's `<ip address>`); defaults to the
    /// first address of the CIDR when empty.
    pub gateway: Option<String>,
    pub dhcp: Option<DhcpRange>,
    pub mtu: Option<u32>,
    /// Host NIC enslaved to the bridge when `mode: bridged`.
    pub host_nic: Option<String>,
}

impl Network {
    pub fn default_external() -> Self {
        Network {
            name: "external".into(),
            bridge: "brext".into(),
            mode: NetworkMode::Nat,
            cidr: "192.168.23.0/24".into(),
            gateway: Some("192.168.23.1".into()),
            dhcp: Some(DhcpRange {
                start: "192.168.23.10".into(),
                end: "192.168.23.50".into(),
            }),
            mtu: None,
            host_nic: None,
        }
    }

    pub fn default_provisioning() -> Self {
        Network {
            name: "overcloud".into(),
            bridge: "brovc".into(),
            mode: NetworkMode::Isolated,
            cidr: String::new(),
            gateway: None,
            dhcp: None,
            mtu: None,
            host_nic: None,
        }
    }
}

/// Where an image comes from and how to verify it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ImageSource {
    /// A local path or an http(s) URL.
    pub source: String,
    /// Expected md5 (32 hex digits).
    pub md5: Option<String>,
    /// URL of a `.md5` file holding the expected sum (quickstart's `<url>.md5`).
    pub md5_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Images {
    pub cache_dir: PathBuf,
    /// Base image of the undercloud VM (a cloud qcow2).
    pub undercloud: ImageSource,
    /// Kernel and initrd for direct kernel boot of the overcloud image (as quickstart does).
    pub overcloud_kernel: Option<ImageSource>,
    pub overcloud_initrd: Option<ImageSource>,
    /// Kernel command line used with direct boot.
    pub kernel_cmdline: String,
}

impl Default for Images {
    fn default() -> Self {
        Images {
            cache_dir: PathBuf::from("/var/cache/labwarp/images"),
            undercloud: ImageSource {
                source: "https://cloud.centos.org/centos/9-stream/x86_64/images/CentOS-Stream-GenericCloud-9-latest.x86_64.qcow2".into(),
                md5: None,
                md5_url: None,
            },
            overcloud_kernel: None,
            overcloud_initrd: None,
            kernel_cmdline: "console=ttyS0 root=/dev/vda1".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Nic {
    /// Name of a network in `networks`.
    pub network: String,
    /// Fixed MAC (`52:54:00:xx:xx:xx`); generated deterministically from the VM name if empty.
    pub mac: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Disk {
    pub size_gib: u32,
}

/// Size and wiring of one VM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VmSpec {
    pub name: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    /// The first disk is the root disk.
    pub disks: Vec<Disk>,
    pub nics: Vec<Nic>,
}

impl Default for VmSpec {
    fn default() -> Self {
        VmSpec {
            name: "undercloud".into(),
            vcpus: 6,
            memory_mib: 12288,
            disks: vec![Disk { size_gib: 50 }],
            nics: vec![
                Nic {
                    network: "external".into(),
                    mac: None,
                },
                Nic {
                    network: "overcloud".into(),
                    mac: None,
                },
            ],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloudInit {
    /// The login user created in the VM (with passwordless sudo).
    pub user: String,
    /// Public keys installed for `user` (the workspace key is always added).
    pub ssh_authorized_keys: Vec<String>,
    pub timezone: String,
    pub nameservers: Vec<String>,
    pub packages: Vec<String>,
}

impl Default for CloudInit {
    fn default() -> Self {
        CloudInit {
            user: "stack".into(),
            ssh_authorized_keys: Vec::new(),
            timezone: "UTC".into(),
            nameservers: vec!["1.0.0.1".into()],
            packages: Vec::new(),
        }
    }
}

/// `[ctlplane-subnet]` of undercloud.conf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CtlplaneSubnet {
    pub cidr: String,
    pub dhcp_start: String,
    pub dhcp_end: String,
    pub gateway: String,
    pub inspection_start: String,
    pub inspection_end: String,
    pub masquerade: bool,
}

impl Default for CtlplaneSubnet {
    fn default() -> Self {
        CtlplaneSubnet {
            cidr: "192.168.24.0/24".into(),
            dhcp_start: "192.168.24.5".into(),
            dhcp_end: "192.168.24.30".into(),
            gateway: "192.168.24.1".into(),
            inspection_start: "192.168.24.100".into(),
            inspection_end: "192.168.24.120".into(),
            masquerade: true,
        }
    }
}

/// The `undercloud.conf` fields labwarp manages (TripleO's names). Not `enable_heat` nor
/// `enable_nova`: tripleoclient 20 marks both deprecated for removal and ignores them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UndercloudConf {
    pub undercloud_hostname: String,
    /// `192.168.24.1/24`
    pub local_ip: String,
    pub undercloud_public_host: String,
    pub undercloud_admin_host: String,
    pub local_interface: String,
    pub local_mtu: u32,
    pub undercloud_nameservers: Vec<String>,
    pub undercloud_ntp_servers: Vec<String>,
    pub undercloud_timezone: String,
    pub container_cli: String,
    pub container_images_file: String,
    pub undercloud_debug: bool,
    pub generate_service_certificate: bool,
    pub enable_ironic: bool,
    pub enable_ironic_inspector: bool,
    pub clean_nodes: bool,
    pub subnet: CtlplaneSubnet,
}

impl Default for UndercloudConf {
    fn default() -> Self {
        UndercloudConf {
            undercloud_hostname: "undercloud.localdomain".into(),
            local_ip: "192.168.24.1/24".into(),
            undercloud_public_host: "192.168.24.2".into(),
            undercloud_admin_host: "192.168.24.3".into(),
            local_interface: "eth1".into(),
            local_mtu: 1500,
            undercloud_nameservers: vec!["1.0.0.1".into()],
            undercloud_ntp_servers: vec!["pool.ntp.org".into()],
            undercloud_timezone: "UTC".into(),
            container_cli: "podman".into(),
            container_images_file: "/home/stack/containers-prepare-parameter.yaml".into(),
            undercloud_debug: true,
            generate_service_certificate: false,
            enable_ironic: true,
            enable_ironic_inspector: true,
            clean_nodes: false,
            subnet: CtlplaneSubnet::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Undercloud {
    pub vm: VmSpec,
    pub cloud_init: CloudInit,
    pub conf: UndercloudConf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    Controller,
    Compute,
    Ceph,
    Custom,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Controller => "controller",
            Role::Compute => "compute",
            Role::Ceph => "ceph",
            Role::Custom => "custom",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `count` identical nodes of one role, named `<name>-0`, `<name>-1`, ...
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeGroup {
    pub role: Role,
    /// Node name prefix; defaults to the role name when empty.
    pub name: String,
    pub count: u32,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disks: Vec<Disk>,
    /// Networks the nodes attach to, in NIC order (the first is the PXE NIC).
    pub networks: Vec<String>,
}

impl Default for NodeGroup {
    fn default() -> Self {
        NodeGroup {
            role: Role::Controller,
            name: String::new(),
            count: 1,
            vcpus: 2,
            memory_mib: 8192,
            disks: vec![Disk { size_gib: 50 }],
            networks: vec!["overcloud".into()],
        }
    }
}

impl NodeGroup {
    /// The name prefix actually used: `name`, or the role when `name` is empty.
    pub fn prefix(&self) -> &str {
        if self.name.is_empty() {
            self.role.as_str()
        } else {
            &self.name
        }
    }

    /// The group's TripleO role, and how `openstack overcloud roles generate` makes it: the
    /// role of the templates' `roles/` directory itself (`Controller`, `Compute`,
    /// `CephStorage`) for a group named after its role, else a copy under the group's own
    /// name (`Compute:ComputeHci`); a custom group is a copy of `Controller`
    /// (`Controller:ControllerAio`).
    pub fn tripleo_role(&self) -> (String, String) {
        let base = match self.role {
            Role::Controller | Role::Custom => "Controller",
            Role::Compute => "Compute",
            Role::Ceph => "CephStorage",
        };
        if self.role != Role::Custom && self.prefix() == self.role.as_str() {
            return (base.to_string(), base.to_string());
        }
        let name = format!("{base}{}", camel(self.prefix()));
        (name.clone(), format!("{base}:{name}"))
    }
}

/// `aio` → `Aio`, `hci-large` → `HciLarge`: a TripleO role name is letters and digits.
fn camel(s: &str) -> String {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// A secret value: never printed by `Debug`/`Display`, wiped on drop.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Vbmc {
    /// UDP port of the first node; the rest follow in node order (6230, 6231, ...).
    pub base_port: u16,
    /// Address the BMCs listen on: the hypervisor's own address on the provisioning
    /// network (that network's `gateway`), which ironic on the undercloud reaches over its
    /// `local_interface`. Not the undercloud's `local_ip` (quickstart's `.1`: there VBMC ran
    /// on the undercloud), nor inside its DHCP or inspection ranges.
    pub address: String,
    pub username: String,
    /// IPMI password; generated per lab into the workspace when not set. Never written back
    /// to lab.yaml (`secrets::stash_vbmc_password` moves a typed one into the workspace).
    #[serde(skip_serializing)]
    pub password: Option<Secret>,
}

impl Default for Vbmc {
    fn default() -> Self {
        Vbmc {
            base_port: 6230,
            address: "192.168.24.254".into(),
            username: "admin".into(),
            password: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Deploy {
    /// `--templates` directory.
    pub templates: String,
    /// `-e` files in order.
    pub environment_files: Vec<String>,
}

impl Default for Deploy {
    fn default() -> Self {
        Deploy {
            templates: "/usr/share/openstack-tripleo-heat-templates".into(),
            environment_files: Vec::new(),
        }
    }
}

/// NFS shared storage for Nova live migration (TripleO's `NovaNfs*` parameters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveMigration {
    pub enabled: bool,
    /// Host serving the export: `undercloud`, a node name, or an address.
    pub nfs_server: String,
    pub export_path: String,
    pub nfs_version: String,
    pub mount_options: String,
}

impl Default for LiveMigration {
    fn default() -> Self {
        LiveMigration {
            enabled: false,
            nfs_server: "undercloud".into(),
            export_path: "/export/nova".into(),
            nfs_version: "4".into(),
            mount_options: "context=system_u:object_r:nfs_t:s0".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Overcloud {
    pub nodes: Vec<NodeGroup>,
    pub vbmc: Vbmc,
    pub deploy: Deploy,
    pub live_migration: LiveMigration,
}

impl Default for Overcloud {
    fn default() -> Self {
        Overcloud {
            nodes: vec![
                NodeGroup {
                    role: Role::Controller,
                    ..NodeGroup::default()
                },
                NodeGroup {
                    role: Role::Compute,
                    ..NodeGroup::default()
                },
            ],
            vbmc: Vbmc::default(),
            deploy: Deploy::default(),
            live_migration: LiveMigration::default(),
        }
    }
}

/// One concrete overcloud node, expanded from a group.
#[derive(Debug, Clone, PartialEq)]
pub struct Node<'a> {
    pub name: String,
    pub group: &'a NodeGroup,
    pub vbmc_port: u16,
}

impl Lab {
    /// Every overcloud node in order, with its VirtualBMC port.
    pub fn nodes(&self) -> Vec<Node<'_>> {
        let mut out = Vec::new();
        let mut port = self.overcloud.vbmc.base_port as u32;
        for group in &self.overcloud.nodes {
            for i in 0..group.count {
                out.push(Node {
                    name: format!("{}-{}", group.prefix(), i),
                    group,
                    vbmc_port: port.min(u16::MAX as u32) as u16,
                });
                port += 1;
            }
        }
        out
    }

    /// libvirt name of a lab VM: the lab name as prefix, so cleanup can discover it.
    pub fn domain_name(&self, vm: &str) -> String {
        format!("{}-{}", self.name, vm)
    }

    pub fn network(&self, name: &str) -> Option<&Network> {
        self.networks.iter().find(|n| n.name == name)
    }

    /// The provisioning (ctlplane) network: the one the undercloud's `local_interface`
    /// (`ethN`, its N-th NIC) is on; when that names no NIC, the network the nodes PXE-boot
    /// from (their first). Validation insists the two agree (the `pxe-network` rule).
    pub fn provisioning_network(&self) -> Option<&Network> {
        let by_interface = self
            .undercloud
            .conf
            .local_interface
            .strip_prefix("eth")
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| self.undercloud.vm.nics.get(n))
            .and_then(|nic| self.network(&nic.network));
        by_interface.or_else(|| {
            self.overcloud
                .nodes
                .iter()
                .find_map(|g| g.networks.first())
                .and_then(|n| self.network(n))
        })
    }

    /// The hypervisor's address on the provisioning network, where VirtualBMC listens, with
    /// the ctlplane prefix: the network's own `gateway` (or first address) when it carries
    /// the ctlplane's cidr, else `overcloud.vbmc.address` when that lies in the ctlplane
    /// subnet and the network is unaddressed (labwarp then gives the bridge that address).
    /// `None` when neither holds (validation says why).
    pub fn hypervisor_ctlplane_address(&self) -> Option<(std::net::IpAddr, u8)> {
        let net = self.provisioning_network()?;
        let ctlplane: ipnet::IpNet = self.undercloud.conf.subnet.cidr.parse().ok()?;
        if net.cidr.is_empty() {
            let a: std::net::IpAddr = self.overcloud.vbmc.address.parse().ok()?;
            return ctlplane.contains(&a).then_some((a, ctlplane.prefix_len()));
        }
        let cidr: ipnet::IpNet = net.cidr.parse().ok()?;
        if cidr != ctlplane {
            return None;
        }
        let a = match &net.gateway {
            Some(g) => g.parse().ok()?,
            None => cidr.hosts().next()?,
        };
        Some((a, cidr.prefix_len()))
    }
}
