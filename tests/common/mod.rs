//! Shared fixtures for integration tests (each test binary declares this once with `mod common;`).
#![allow(dead_code)]

pub mod hostile;
pub mod labyaml;
pub mod podman;
pub mod procs;
pub mod turn;

pub use turn::turn;

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique to this test process and call: `PREFIX-PID-N` (short enough for bridges
/// when the prefix is ≤ 4 characters).
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{:x}{n:x}", std::process::id() % 0xfffff)
}

/// Removes a libvirt domain with `virsh` when dropped (also when the test panics), so a
/// failing test never leaves domains behind. Independent of the code under test on purpose.
pub struct DomainGuard {
    pub uri: String,
    pub name: String,
}

impl Drop for DomainGuard {
    fn drop(&mut self) {
        let _ = Command::new("virsh")
            .args(["-q", "-c", &self.uri, "destroy", &self.name])
            .output();
        let _ = Command::new("virsh")
            .args([
                "-q",
                "-c",
                &self.uri,
                "undefine",
                &self.name,
                "--managed-save",
                "--snapshots-metadata",
                "--nvram",
            ])
            .output();
    }
}

/// Same for a libvirt network.
pub struct NetworkGuard {
    pub uri: String,
    pub name: String,
}

impl Drop for NetworkGuard {
    fn drop(&mut self) {
        for verb in ["net-destroy", "net-undefine"] {
            let _ = Command::new("virsh")
                .args(["-q", "-c", &self.uri, verb, &self.name])
                .output();
        }
    }
}

/// Same for a storage pool.
pub struct PoolGuard {
    pub uri: String,
    pub name: String,
}

impl Drop for PoolGuard {
    fn drop(&mut self) {
        for verb in ["pool-destroy", "pool-undefine"] {
            let _ = Command::new("virsh")
                .args(["-q", "-c", &self.uri, verb, &self.name])
                .output();
        }
    }
}

/// A diskless TCG domain: 64 MiB, one vCPU, no NIC, no graphics. SeaBIOS finds nothing to
/// boot and idles, which is all a lifecycle test needs.
pub fn tiny_domain_xml(name: &str, metadata: &str) -> String {
    format!(
        "<domain type='qemu'>\n  <name>{name}</name>\n  <metadata>{metadata}</metadata>\n  \
         <memory unit='MiB'>64</memory>\n  <vcpu>1</vcpu>\n  \
         <os><type arch='x86_64'>hvm</type></os>\n  <on_poweroff>destroy</on_poweroff>\n  \
         <devices>\n    <memballoon model='none'/>\n  </devices>\n</domain>\n"
    )
}
