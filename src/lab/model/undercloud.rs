//! The undercloud: its VM and the `undercloud.conf` fields labwarp manages.

use super::*;
use serde::{Deserialize, Serialize};

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
