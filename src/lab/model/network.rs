//! The lab's libvirt networks.

use serde::{Deserialize, Serialize};

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
