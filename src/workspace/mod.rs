//! The workspace: one directory per lab holding what labwarp writes for it. This module is
//! the one place that names its entries (layout), writes files atomically, guards against
//! planted links, and keeps the lab's identity and ownership marks. It sits just above the
//! model: everything else may use it, it uses only `lab` and `quote`.

mod atomic;
mod guard;
pub mod owner;

pub use atomic::{write_atomic, write_atomic_mkdir};
pub use guard::{lab_id, refuse_link, refuse_links};

use std::path::{Path, PathBuf};

/// The lab file a workspace was built from (`labwarp run` records it; the TUI saves it).
pub const LAB_FILE: &str = "lab.yaml";
/// The run's state: what was made, with proof (see `run::state`).
pub const STATE_FILE: &str = "state.yaml";
/// Run and step logs.
pub const LOGS_DIR: &str = "logs";
/// The workspace SSH key pair.
pub const KEYS_DIR: &str = "keys";
/// Files with a secret (0600 in a 0700 directory).
pub const SECRETS_DIR: &str = "secrets";
/// Pinned SSH host keys of the hypervisor, the undercloud and the nodes.
pub const KNOWN_HOSTS: &str = "known_hosts";
/// The ssh_config that reaches the lab's hosts.
pub const SSH_CONFIG: &str = "ssh.config";
/// The Ansible inventory of the lab.
pub const INVENTORY: &str = "inventory.yaml";
/// The stand-in undercloud of a sandbox lab.
pub const SANDBOX_DIR: &str = "sandbox";
/// The demo's saved test-driver world (`virt::test_world`).
pub const TEST_WORLD: &str = "libvirt-test.xml";

/// Entries of the workspace that labwarp writes (files and directories): never written,
/// read back or deleted through a symbolic link.
pub const OWN_ENTRIES: &[&str] = &[
    STATE_FILE,
    LOGS_DIR,
    KEYS_DIR,
    SECRETS_DIR,
    KNOWN_HOSTS,
    SSH_CONFIG,
    INVENTORY,
    SANDBOX_DIR,
    owner::ID_FILE,
    TEST_WORLD,
];

pub fn lab_file(ws: &Path) -> PathBuf {
    ws.join(LAB_FILE)
}

pub fn state_file(ws: &Path) -> PathBuf {
    ws.join(STATE_FILE)
}

pub fn logs_dir(ws: &Path) -> PathBuf {
    ws.join(LOGS_DIR)
}

pub fn keys_dir(ws: &Path) -> PathBuf {
    ws.join(KEYS_DIR)
}

pub fn secrets_dir(ws: &Path) -> PathBuf {
    ws.join(SECRETS_DIR)
}

/// The lab's generated (or stashed) VirtualBMC password (see `secrets`).
pub fn vbmc_password_file(ws: &Path) -> PathBuf {
    secrets_dir(ws).join("vbmc-password")
}

pub fn known_hosts(ws: &Path) -> PathBuf {
    ws.join(KNOWN_HOSTS)
}

pub fn ssh_config(ws: &Path) -> PathBuf {
    ws.join(SSH_CONFIG)
}

pub fn inventory(ws: &Path) -> PathBuf {
    ws.join(INVENTORY)
}

pub fn sandbox_dir(ws: &Path) -> PathBuf {
    ws.join(SANDBOX_DIR)
}

/// Where a lab on `test:///default` keeps libvirt's world between processes.
pub fn test_world(ws: &Path) -> PathBuf {
    ws.join(TEST_WORLD)
}
