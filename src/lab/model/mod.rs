//! The lab model: every setting labwarp needs, typed, with quickstart-like defaults.
//!
//! Every struct has `#[serde(default, deny_unknown_fields)]` so that a user file naming only
//! some keys parses on its own (errors keep their line and column) and a misspelt key is an
//! error rather than silently ignored. Field names are the YAML keys and the paths that
//! validation messages name (`overcloud.nodes[1].memory_mib`).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

mod hypervisor;
mod network;
mod overcloud;
mod secret;
mod undercloud;
mod vm;

pub use hypervisor::*;
pub use network::*;
pub use overcloud::*;
pub use secret::*;
pub use undercloud::*;
pub use vm::*;

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
