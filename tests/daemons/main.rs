//! The tests against real daemons of this machine: libvirtd (the tiny guest under TCG, in
//! network namespaces), OpenSSH's sshd on loopback and in namespaces, podman, VirtualBMC, and
//! the cleanup, drift and security checks that run against them.
//!
//! One binary per kind of test (issue 19): the support modules are compiled once here and
//! every file below `use`s them from the crate root. Each test first takes its file's turn
//! (`common::turn`), so files run one after another as separate binaries did, a file's
//! tests side by side. Run one file's tests with `cargo test --test daemons FILE::`.

// Support modules shared by the files below (declared once).
#[path = "../common/mod.rs"]
mod common;
#[macro_use]
#[path = "../sshd/mod.rs"]
mod sshd;
#[path = "../drift_support/mod.rs"]
mod drift_support;
#[path = "../engine_support/mod.rs"]
mod engine_support;
#[path = "../tiny_guest_support/mod.rs"]
mod tiny_guest_support;

mod clean_ownership;
mod cli_check_ssh;
mod drift_libvirtd;
mod engine_libvirtd;
mod engine_remote;
mod kvm_probe;
mod podman;
mod podman_ssh;
mod remote_fixes;
mod render_boot;
mod security_hostile;
mod security_secrets;
mod ssh;
mod ssh_cli;
mod tiny_guest;
mod vbmc;
mod virt_libvirtd;
mod virt_ssh;
