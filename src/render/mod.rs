//! Artefacts rendered from a [`Lab`]: libvirt XML, cloud-init, undercloud.conf,
//! instackenv.json, ssh.config, the Ansible inventory and the files of the TripleO deploy
//! (containers-prepare-parameter.yaml, the baremetal deployment, network and VIP data, the
//! NFS environment file).
//!
//! Every function here is pure: a `Lab` plus a [`RenderContext`] (paths and facts the model
//! does not hold: where the workspace and disks live, the resolved domain type, addresses
//! already known, the VirtualBMC password) go in, text comes out. No I/O, no clock, no
//! randomness, so the same inputs give byte-identical files (golden-tested).
//!
//! Structured formats are built with their crates (quick-xml, serde_yaml, serde_json), never
//! by pasting values into strings. The line-based formats without a crate here each have one
//! writer that escapes or refuses per its own rules: `ini` (undercloud.conf), `exports`
//! (exports(5)) and `ssh_config::word`.

pub mod baremetal_deployment;
pub mod cloud_init;
pub mod containers_prepare;
pub mod domain_xml;
pub mod exports;
pub mod ini;
pub mod instackenv;
pub mod inventory;
pub mod network_data;
pub mod network_xml;
pub mod node_boot;
pub mod nova_nfs;
pub mod ssh_config;
pub mod tripleo_repos;
pub mod undercloud_conf;

#[cfg(test)]
mod tests;

use crate::lab::{DomainType, Lab, NetworkMode, Role, Secret};
use md5::{Digest, Md5};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// XML namespace of labwarp's ownership metadata in libvirt domains and networks. Cleanup
/// finds labwarp's resources with `virsh metadata DOMAIN --uri LABWARP_XMLNS`.
pub const LABWARP_XMLNS: &str = "https://labwarp.dev/xmlns/libvirt/1.0";
/// Prefix bound to [`LABWARP_XMLNS`] in rendered XML.
pub const LABWARP_XMLNS_PREFIX: &str = "labwarp";

/// The libvirt domain type actually used (the model's `auto` resolved by preflight).
pub use crate::lab::VirtType;

/// Direct kernel boot files (paths on the hypervisor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelBoot {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub cmdline: String,
}

/// An SSH host key pair to install in the undercloud through cloud-init, so that its host key
/// is known (and pinned) before the VM ever boots.
#[derive(Clone, PartialEq, Eq)]
pub struct HostKeyPair {
    /// OpenSSH private key (PEM-like `-----BEGIN OPENSSH PRIVATE KEY-----` block).
    pub private: Secret,
    /// `ssh-ed25519 AAAA... comment`
    pub public: String,
}

impl std::fmt::Debug for HostKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostKeyPair")
            .field("private", &self.private)
            .field("public", &self.public)
            .finish()
    }
}

/// TripleO's `MigrationSshPort` default: live migration over SSH between the computes.
pub const MIGRATION_SSH_PORT: u16 = 2022;

/// What the renderers need besides the Lab.
#[derive(Debug, Clone)]
pub struct RenderContext {
    /// Absolute workspace directory (the model's `workspace`, resolved).
    pub workspace: PathBuf,
    /// Private key every generated SSH access uses (`workspace/keys/id_ed25519`).
    pub ssh_private_key: PathBuf,
    /// Public half of `ssh_private_key` (one `authorized_keys` line), when it exists yet.
    pub ssh_public_key: Option<String>,
    /// Pinned host keys (`workspace/known_hosts`).
    pub known_hosts: PathBuf,
    /// Where the rendered ssh.config lives; the inventory points `ssh -F` at it so that jump
    /// hosts resolve with their own user, key and known_hosts.
    pub ssh_config: PathBuf,
    pub virt_type: VirtType,
    /// Guest architecture (`x86_64`).
    pub arch: String,
    /// Directory on the hypervisor for disks, seed ISOs and serial logs.
    pub image_dir: PathBuf,
    /// Direct kernel boot of the undercloud, when its image has no boot loader.
    pub undercloud_kernel: Option<KernelBoot>,
    /// The undercloud's address on its NAT network (a fixed DHCP host entry hands it out).
    pub undercloud_ip: Option<Ipv4Addr>,
    /// Overcloud node addresses already known (after deployment), by node name.
    pub node_addresses: BTreeMap<String, String>,
    /// SSH user on overcloud nodes (TripleO's `tripleo-admin`; older releases `heat-admin`).
    pub overcloud_user: String,
    /// The IPMI password of VirtualBMC; required for instackenv.json.
    pub vbmc_password: Option<Secret>,
    /// Host key pair installed in the undercloud (makes user-data a secret file).
    pub undercloud_host_key: Option<HostKeyPair>,
    /// The lab's identity (`plan::owner`), written into libvirt metadata so that cleanup
    /// can prove a domain or network is this lab's; empty: not written.
    pub lab_id: String,
}

impl RenderContext {
    /// Defaults for a lab whose workspace is `workspace` (absolute): workspace key and
    /// known_hosts, the first hypervisor's pool, the model's domain type (`auto` → qemu), the
    /// undercloud at the first address of its NAT network's DHCP range, and the lab's own
    /// VirtualBMC password if it sets one.
    pub fn for_lab(lab: &Lab, workspace: &Path) -> Self {
        let hv = lab.hypervisors.first();
        let image_dir = hv
            .map(|h| h.pool_path.clone())
            .unwrap_or_else(|| PathBuf::from("/var/lib/libvirt/images"));
        let uc_domain = lab.domain_name(&lab.undercloud.vm.name);
        let undercloud_kernel = match (&lab.images.overcloud_kernel, &lab.images.overcloud_initrd) {
            (Some(_), Some(_)) => Some(KernelBoot {
                kernel: image_dir.join(format!("{uc_domain}.vmlinuz")),
                initrd: image_dir.join(format!("{uc_domain}.initrd")),
                cmdline: lab.images.kernel_cmdline.clone(),
            }),
            _ => None,
        };
        let undercloud_ip = undercloud_nat_network(lab)
            .and_then(|n| n.dhcp.as_ref())
            .and_then(|d| d.start.parse().ok());
        RenderContext {
            workspace: workspace.to_path_buf(),
            ssh_private_key: crate::workspace::keys_dir(workspace).join("id_ed25519"),
            ssh_public_key: None,
            known_hosts: crate::workspace::known_hosts(workspace),
            ssh_config: crate::workspace::ssh_config(workspace),
            virt_type: VirtType::from_model(hv.map(|h| h.domain_type).unwrap_or(DomainType::Auto)),
            arch: "x86_64".into(),
            image_dir,
            undercloud_kernel,
            undercloud_ip,
            node_addresses: BTreeMap::new(),
            overcloud_user: "tripleo-admin".into(),
            vbmc_password: lab.overcloud.vbmc.password.clone(),
            undercloud_host_key: None,
            lab_id: String::new(),
        }
    }

    /// Disk `index` of a domain: `<domain>.qcow2` for the root disk, `<domain>-<n>.qcow2` after.
    pub fn disk_path(&self, domain: &str, index: usize) -> PathBuf {
        if index == 0 {
            self.image_dir.join(format!("{domain}.qcow2"))
        } else {
            self.image_dir.join(format!("{domain}-{index}.qcow2"))
        }
    }

    /// The NoCloud seed ISO (volume label `cidata`) of a domain.
    pub fn seed_iso_path(&self, domain: &str) -> PathBuf {
        self.image_dir.join(format!("{domain}-cidata.iso"))
    }

    /// Where the domain's serial console is logged.
    pub fn console_log_path(&self, domain: &str) -> PathBuf {
        self.image_dir.join(format!("{domain}-console.log"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{field}: network '{network}' is not defined in `networks`; add it or fix the name")]
    UnknownNetwork { field: String, network: String },
    #[error("{field}: '{value}' {problem}")]
    BadValue {
        field: String,
        value: String,
        problem: String,
    },
    #[error("{what} is missing: {fix}")]
    Missing { what: String, fix: String },
    #[error("MAC address {mac} is generated for both {first} and {second}; set one by hand")]
    DuplicateMac {
        mac: String,
        first: String,
        second: String,
    },
    #[error("cannot serialise {format}: {reason}")]
    Serialise {
        format: &'static str,
        reason: String,
    },
}

pub type Result<T> = std::result::Result<T, RenderError>;

fn bad(field: impl Into<String>, value: impl Into<String>, problem: &str) -> RenderError {
    RenderError::BadValue {
        field: field.into(),
        value: value.into(),
        problem: problem.into(),
    }
}

/// One rendered file, relative to the export directory.
#[derive(Clone, PartialEq, Eq)]
pub struct Artefact {
    pub path: PathBuf,
    pub contents: String,
    /// Holds a secret: written with mode 0600, never printed.
    pub secret: bool,
}

impl std::fmt::Debug for Artefact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let contents: &dyn std::fmt::Debug = if self.secret {
            &"<secret>"
        } else {
            &self.contents
        };
        f.debug_struct("Artefact")
            .field("path", &self.path)
            .field("secret", &self.secret)
            .field("contents", contents)
            .finish()
    }
}

/// Every artefact of the lab, in a stable order.
pub fn render_all(lab: &Lab, ctx: &RenderContext) -> Result<Vec<Artefact>> {
    let mut out = Vec::new();
    let plain = |path: String, contents: String| Artefact {
        path: PathBuf::from(path),
        contents,
        secret: false,
    };
    for net in &lab.networks {
        out.push(plain(
            format!("libvirt/networks/{}.xml", lab.domain_name(&net.name)),
            network_xml::render(lab, ctx, net)?,
        ));
    }
    for vm in lab_vms(lab)? {
        out.push(plain(
            format!("libvirt/domains/{}.xml", vm.domain),
            domain_xml::render(lab, ctx, &vm)?,
        ));
    }
    out.push(Artefact {
        path: PathBuf::from("cloud-init/user-data"),
        contents: cloud_init::user_data(lab, ctx)?,
        secret: ctx.undercloud_host_key.is_some(),
    });
    out.push(plain(
        "cloud-init/meta-data".into(),
        cloud_init::meta_data(lab)?,
    ));
    out.push(plain(
        "undercloud.conf".into(),
        undercloud_conf::render(lab)?,
    ));
    out.push(Artefact {
        path: PathBuf::from("instackenv.json"),
        contents: instackenv::render(lab, ctx)?,
        secret: true,
    });
    out.push(plain("ssh.config".into(), ssh_config::render(lab, ctx)?));
    out.push(plain("inventory.yaml".into(), inventory::render(lab, ctx)?));
    // The files the deploy uses besides instackenv.json (the plan uploads each to the
    // undercloud's home under the same name).
    out.push(plain(
        "tripleo/containers-prepare-parameter.yaml".into(),
        containers_prepare::render(lab)?,
    ));
    out.push(plain(
        "tripleo/overcloud-baremetal-deploy.yaml".into(),
        baremetal_deployment::render(lab)?,
    ));
    out.push(plain(
        "tripleo/network_data.yaml".into(),
        network_data::render(lab)?,
    ));
    out.push(plain(
        "tripleo/vip_data.yaml".into(),
        network_data::vip_data(lab)?,
    ));
    if lab.overcloud.live_migration.enabled {
        out.push(plain(
            "tripleo/nova-nfs.yaml".into(),
            nova_nfs::render(lab, ctx)?,
        ));
    }
    Ok(out)
}

/// What a VM is in the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmRole {
    Undercloud,
    Node(Role),
}

impl VmRole {
    pub fn as_str(self) -> &'static str {
        match self {
            VmRole::Undercloud => "undercloud",
            VmRole::Node(r) => r.as_str(),
        }
    }
}

/// One NIC of a concrete VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmNic {
    /// Network name in the model (not the libvirt name).
    pub network: String,
    /// `52:54:00:xx:xx:xx`, lower case.
    pub mac: String,
}

/// One concrete VM, with everything derived (domain name, MACs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vm {
    /// Name inside the lab (`undercloud`, `controller-0`).
    pub name: String,
    /// libvirt domain name (`<lab>-<name>`).
    pub domain: String,
    pub role: VmRole,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disks_gib: Vec<u32>,
    pub nics: Vec<VmNic>,
}

/// The undercloud followed by every overcloud node, with MACs fixed or derived.
pub fn lab_vms(lab: &Lab) -> Result<Vec<Vm>> {
    let mut vms = Vec::new();
    let uc = &lab.undercloud.vm;
    let mut nics = Vec::new();
    for (i, nic) in uc.nics.iter().enumerate() {
        let field = format!("undercloud.vm.nics[{i}]");
        require_network(lab, &format!("{field}.network"), &nic.network)?;
        let mac = match &nic.mac {
            Some(m) => normalise_mac(&format!("{field}.mac"), m)?,
            None => derived_mac(&lab.name, &uc.name, i),
        };
        nics.push(VmNic {
            network: nic.network.clone(),
            mac,
        });
    }
    vms.push(Vm {
        name: uc.name.clone(),
        domain: lab.domain_name(&uc.name),
        role: VmRole::Undercloud,
        vcpus: uc.vcpus,
        memory_mib: uc.memory_mib,
        disks_gib: uc.disks.iter().map(|d| d.size_gib).collect(),
        nics,
    });
    for (gi, group) in lab.overcloud.nodes.iter().enumerate() {
        for (ni, net) in group.networks.iter().enumerate() {
            require_network(lab, &format!("overcloud.nodes[{gi}].networks[{ni}]"), net)?;
        }
    }
    for node in lab.nodes() {
        let nics = node
            .group
            .networks
            .iter()
            .enumerate()
            .map(|(i, net)| VmNic {
                network: net.clone(),
                mac: derived_mac(&lab.name, &node.name, i),
            })
            .collect();
        vms.push(Vm {
            domain: lab.domain_name(&node.name),
            role: VmRole::Node(node.group.role),
            vcpus: node.group.vcpus,
            memory_mib: node.group.memory_mib,
            disks_gib: node.group.disks.iter().map(|d| d.size_gib).collect(),
            nics,
            name: node.name,
        });
    }
    let mut seen: BTreeMap<&str, String> = BTreeMap::new();
    for vm in &vms {
        for (i, nic) in vm.nics.iter().enumerate() {
            let owner = format!("{} NIC {i}", vm.name);
            if let Some(first) = seen.insert(&nic.mac, owner.clone()) {
                return Err(RenderError::DuplicateMac {
                    mac: nic.mac.clone(),
                    first,
                    second: owner,
                });
            }
        }
    }
    Ok(vms)
}

fn require_network(lab: &Lab, field: &str, name: &str) -> Result<()> {
    if lab.network(name).is_some() {
        Ok(())
    } else {
        Err(RenderError::UnknownNetwork {
            field: field.into(),
            network: name.into(),
        })
    }
}

/// A locally administered MAC in QEMU's `52:54:00` range, stable for (lab, VM, NIC): the same
/// lab always gets the same MACs, so DHCP host entries and instackenv.json stay valid across
/// re-renders.
pub fn derived_mac(lab: &str, vm: &str, nic: usize) -> String {
    let digest = Md5::digest(format!("labwarp\0{lab}\0{vm}\0{nic}").as_bytes());
    format!(
        "52:54:00:{:02x}:{:02x}:{:02x}",
        digest[0], digest[1], digest[2]
    )
}

fn normalise_mac(field: &str, mac: &str) -> Result<String> {
    let parts: Vec<&str> = mac.split(':').collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    if !ok {
        return Err(bad(
            field,
            mac,
            "is not a MAC address; write six hex pairs such as 52:54:00:12:34:56",
        ));
    }
    Ok(mac.to_ascii_lowercase())
}

/// The NAT network the undercloud reaches the hypervisor on: its first NIC on a NAT network
/// with an address range. Its fixed DHCP entry makes the undercloud's address known early.
pub fn undercloud_nat_network(lab: &Lab) -> Option<&crate::lab::Network> {
    lab.undercloud
        .vm
        .nics
        .iter()
        .filter_map(|nic| lab.network(&nic.network))
        .find(|n| n.mode == NetworkMode::Nat && !n.cidr.is_empty())
}

/// The undercloud's address as the hypervisor sees it (where SSH goes).
pub fn undercloud_address(ctx: &RenderContext) -> Result<Ipv4Addr> {
    ctx.undercloud_ip.ok_or_else(|| RenderError::Missing {
        what: "the undercloud's address".into(),
        fix: "attach the undercloud to a NAT network with a DHCP range (its first address is \
              reserved for the undercloud)"
            .into(),
    })
}

/// The undercloud's control-plane address (`local_ip` without its prefix length).
pub fn undercloud_ctlplane_ip(lab: &Lab) -> Result<Ipv4Addr> {
    let raw = &lab.undercloud.conf.local_ip;
    let addr = raw.split('/').next().unwrap_or_default();
    addr.parse().map_err(|_| {
        bad(
            "undercloud.conf.local_ip",
            raw.as_str(),
            "is not an IPv4 address with prefix length such as 192.168.24.1/24",
        )
    })
}

/// A host address handed to ssh (ssh.config `HostName`, Ansible's `ansible_host`): one word
/// that ssh cannot take for an option.
fn host_address(field: &str, value: &str) -> Result<()> {
    single_line(field, value)?;
    if value.is_empty() || value.starts_with('-') || value.chars().any(char::is_whitespace) {
        return Err(bad(
            field,
            value,
            "is not a host name or IP address; give one such as 192.168.1.10 or virthost.example.org",
        ));
    }
    Ok(())
}

/// Rejects text that could leave its line in a line-based format (ssh_config, INI).
fn single_line(field: &str, value: &str) -> Result<()> {
    if value.chars().any(|c| c.is_control()) {
        return Err(bad(
            field,
            value.escape_debug().to_string(),
            "contains a newline or control character; remove it",
        ));
    }
    Ok(())
}
