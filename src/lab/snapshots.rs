//! `snapshots:` in lab.yaml: the snapshot `labwarp run` takes after the undercloud install,
//! which `labwarp run --respin overcloud` goes back to.

use serde::{Deserialize, Serialize};

/// The default name of the run's snapshot after the undercloud install.
pub const RESPIN_DEFAULT: &str = "undercloud-installed";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SnapshotSettings {
    /// Name of the snapshot the run takes once the undercloud is installed; empty: none
    /// (`labwarp run --no-snapshot` skips it for one run).
    pub after_undercloud_install: String,
}

impl Default for SnapshotSettings {
    fn default() -> Self {
        SnapshotSettings {
            after_undercloud_install: RESPIN_DEFAULT.into(),
        }
    }
}

impl SnapshotSettings {
    pub fn is_default(&self) -> bool {
        *self == SnapshotSettings::default()
    }
}
