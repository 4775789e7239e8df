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

/// Why `name` cannot name a snapshot (it becomes a directory name and a command-line word):
/// 1–64 of `A-Za-z0-9._-`, not starting with `.` or `-`. `None` when it can.
pub fn snapshot_name_problem(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    (!ok).then(|| {
        format!(
            "snapshot name {name:?}: use 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' or '-' (e.g. undercloud-installed)"
        )
    })
}
