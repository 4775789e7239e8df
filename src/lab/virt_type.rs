//! The accelerator the VMs really get on this host: the model's `domain_type` (which may be
//! `auto`) resolved by preflight. One type for the plan, the renderers, the probe and output.

use super::DomainType;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The libvirt domain type actually used (`<domain type='kvm'|'qemu'>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VirtType {
    /// Hardware-assisted virtualisation.
    Kvm,
    /// Emulation with TCG.
    Qemu,
}

impl VirtType {
    pub fn as_str(self) -> &'static str {
        match self {
            VirtType::Kvm => "kvm",
            VirtType::Qemu => "qemu",
        }
    }

    /// The model's choice without a probe: `auto` becomes `qemu` (TCG works everywhere)
    /// until preflight has probed the host and the caller passes its answer instead.
    pub fn from_model(t: DomainType) -> Self {
        match t {
            DomainType::Kvm => VirtType::Kvm,
            DomainType::Qemu | DomainType::Auto => VirtType::Qemu,
        }
    }
}

impl fmt::Display for VirtType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
