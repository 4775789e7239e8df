//! The hypervisor: where the lab runs and how labwarp reaches it.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
