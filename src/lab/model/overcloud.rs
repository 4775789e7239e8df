//! The overcloud: node groups and roles, VirtualBMC, the deploy, live migration.

use super::*;
use serde::{Deserialize, Serialize};
use std::fmt;

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
