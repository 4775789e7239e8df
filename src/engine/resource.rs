//! Resources labwarp creates: what the state file records and what cleanup removes.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// Which machine a resource lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostRole {
    /// The hypervisor (for the `demo` preset: this machine).
    Virthost,
    /// The undercloud (for `demo`: a sandbox directory on this machine).
    Undercloud,
}

/// Teardown levels, each including the ones before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// VMs, their disks, VirtualBMC entries (and what ran inside the undercloud).
    #[default]
    Nodes,
    /// Also networks, bridges, the storage pool and files labwarp wrote on the hypervisor.
    Virthost,
    /// Also the stack user, and configuration files restored from labwarp's backups.
    All,
}

impl Level {
    /// Every level, smallest first.
    pub const ALL: [Level; 3] = [Level::Nodes, Level::Virthost, Level::All];

    /// What a teardown at this level removes (the one description: CLI help, the TUI's
    /// guided cleanup and the docs say this).
    pub fn describe(self) -> &'static str {
        match self {
            Level::Nodes => "VMs, their disks and VirtualBMC entries",
            Level::Virthost => "also networks, bridges, the pool, vbmcd, hypervisor files",
            Level::All => "also the stack user, images, VBMC venv, restored configs",
        }
    }

    pub fn name(self) -> &'static str {
        self.as_str()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Nodes => "nodes",
            Level::Virthost => "virthost",
            Level::All => "all",
        }
    }
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "nodes" => Ok(Level::Nodes),
            "virthost" => Ok(Level::Virthost),
            "all" => Ok(Level::All),
            other => Err(format!(
                "unknown cleanup level `{other}`: use nodes, virthost or all"
            )),
        }
    }
}

/// One thing labwarp made. The order of variants is not the removal order: see
/// [`Resource::removal_rank`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Resource {
    /// A libvirt domain on the lab's URI (removed with managed save, snapshots, nvram).
    Domain { name: String },
    /// A libvirt network (its bridge goes with it).
    Network { name: String },
    /// A libvirt storage pool (definition only; its directory is a separate `Dir`).
    Pool { name: String },
    /// A VirtualBMC entry for a node (its config in the lab's VirtualBMC directory).
    VbmcEntry { node: String },
    /// The lab's vbmcd (its process group, or its systemd unit); `dir` is its directory.
    VbmcDaemon { dir: PathBuf },
    /// VirtualBMC's venv, shared by the labs on the hypervisor: removed at `all` only when
    /// labwarp made it (its marker file) and no other lab's vbmcd runs from it.
    VbmcVenv { path: PathBuf },
    /// A UDP port labwarp opened in the hypervisor's firewall (firewalld or iptables).
    FirewallPort { port: u16 },
    /// A podman container.
    Container { host: HostRole, name: String },
    /// A detached long command (`super::job::Job`): stopped if it still runs, then its
    /// files removed.
    Job {
        host: HostRole,
        dir: PathBuf,
        name: String,
    },
    /// A file labwarp wrote.
    File {
        host: HostRole,
        path: PathBuf,
        level: Level,
    },
    /// A directory labwarp created (with its marker file, `super::owner`). Removed only
    /// once empty of everything labwarp did not make, unless `whole`: a directory that is
    /// labwarp's own through and through (a VirtualBMC directory, cloud-init sources, the
    /// sandbox undercloud standing for a VM's disk), removed with its content once proven
    /// the lab's. A directory that existed before labwarp is never removed.
    Dir {
        host: HostRole,
        path: PathBuf,
        level: Level,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        whole: bool,
    },
    /// A user labwarp created (`stack`).
    User { host: HostRole, name: String },
    /// A configuration file labwarp changed after saving `backup`; cleanup restores it.
    /// `backup` holding the single line `labwarp:absent` means the file did not exist.
    ConfigBackup {
        host: HostRole,
        path: PathBuf,
        backup: PathBuf,
    },
}

/// Content of a backup file standing for "the file did not exist before labwarp".
pub const ABSENT_MARKER: &str = "labwarp:absent\n";

impl Resource {
    /// The lowest teardown level that removes this resource.
    pub fn level(&self) -> Level {
        match self {
            Resource::Domain { .. }
            | Resource::VbmcEntry { .. }
            | Resource::Container { .. }
            | Resource::Job { .. } => Level::Nodes,
            Resource::Network { .. }
            | Resource::Pool { .. }
            | Resource::VbmcDaemon { .. }
            | Resource::FirewallPort { .. } => Level::Virthost,
            Resource::File { level, .. } | Resource::Dir { level, .. } => *level,
            Resource::User { .. } | Resource::ConfigBackup { .. } | Resource::VbmcVenv { .. } => {
                Level::All
            }
        }
    }

    /// Removal order: what uses a thing goes before the thing (containers and BMC entries
    /// before domains, domains before their disks, disks before pools and networks,
    /// directories last, the user after its files; VirtualBMC entries before their daemon).
    pub fn removal_rank(&self) -> u8 {
        match self {
            // A job still running would start containers again behind the clean's back:
            // it is stopped (every process of its session) before any container goes.
            Resource::Job { .. } => 0,
            Resource::Container { .. } => 1,
            Resource::VbmcEntry { .. } => 2,
            // After the entries (removed through it), before its directory.
            Resource::VbmcDaemon { .. } | Resource::FirewallPort { .. } => 3,
            Resource::Domain { .. } => 4,
            Resource::File { .. } => 5,
            Resource::Pool { .. } => 6,
            Resource::Network { .. } => 7,
            // Deepest first, so a directory is emptied of labwarp's subdirectories before
            // it is looked at (see `Resource::Dir`).
            Resource::Dir { path, .. } => 8u8
                .saturating_add((32usize.saturating_sub(path.components().count())).min(40) as u8),
            Resource::VbmcVenv { .. } => 8,
            Resource::ConfigBackup { .. } => 60,
            Resource::User { .. } => 61,
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = |h: &HostRole| match h {
            HostRole::Virthost => "virthost",
            HostRole::Undercloud => "undercloud",
        };
        match self {
            Resource::Domain { name } => write!(f, "domain {name}"),
            Resource::Network { name } => write!(f, "network {name}"),
            Resource::Pool { name } => write!(f, "storage pool {name}"),
            Resource::VbmcEntry { node } => write!(f, "VirtualBMC entry {node}"),
            Resource::VbmcDaemon { dir } => write!(f, "vbmcd of {}", dir.display()),
            Resource::VbmcVenv { path } => write!(f, "VirtualBMC venv {}", path.display()),
            Resource::FirewallPort { port } => write!(f, "firewall opening UDP {port}"),
            Resource::Container { host, name } => {
                write!(f, "container {name} on {}", role(host))
            }
            Resource::Job { host, dir, name } => {
                write!(f, "job {name} ({}) on {}", dir.display(), role(host))
            }
            Resource::File { host, path, .. } => {
                write!(f, "file {} on {}", path.display(), role(host))
            }
            Resource::Dir {
                host, path, whole, ..
            } => write!(
                f,
                "directory {} on {}{}",
                path.display(),
                role(host),
                if *whole { " (with its content)" } else { "" }
            ),
            Resource::User { host, name } => write!(f, "user {name} on {}", role(host)),
            Resource::ConfigBackup { host, path, backup } => write!(
                f,
                "restore {} on {} from {}",
                path.display(),
                role(host),
                backup.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_nest_and_parse() {
        assert!(Level::Nodes < Level::Virthost && Level::Virthost < Level::All);
        assert_eq!("virthost".parse::<Level>(), Ok(Level::Virthost));
        assert!(
            "everything"
                .parse::<Level>()
                .unwrap_err()
                .contains("nodes, virthost or all")
        );
    }

    #[test]
    fn resources_round_trip_through_yaml() {
        let r = vec![
            Resource::Domain {
                name: "lab-undercloud".into(),
            },
            Resource::Dir {
                host: HostRole::Undercloud,
                path: "/tmp/x".into(),
                level: Level::Nodes,
                whole: false,
            },
        ];
        let y = serde_yaml::to_string(&r).unwrap();
        assert!(y.contains("kind: domain"), "{y}");
        let back: Vec<Resource> = serde_yaml::from_str(&y).unwrap();
        assert_eq!(back, r);
    }
}
