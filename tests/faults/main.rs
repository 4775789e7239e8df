//! The fault tests: a disk filling up, libvirtd dying, a terminal resized, labwarp killed with
//! SIGKILL at named points, SSH connections cut, and the fixes that act on what broke.
//!
//! One binary per kind of test (issue 19): the support modules are compiled once here and
//! every file below `use`s them from the crate root. Each test first takes its file's turn
//! (`common::turn`), so files run one after another as separate binaries did, a file's
//! tests side by side. Run one file's tests with `cargo test --test faults FILE::`.

// Support modules shared by the files below (declared once).
#[path = "../common/mod.rs"]
mod common;
#[macro_use]
#[path = "../sshd/mod.rs"]
mod sshd;
#[path = "../engine_support/mod.rs"]
mod engine_support;
#[path = "../libvirtd_support/mod.rs"]
mod libvirtd_support;
#[path = "../tmux_support/mod.rs"]
mod tmux_support;

mod faults_disk;
mod faults_libvirtd;
mod faults_resize;
mod faults_sigkill;
mod faults_ssh;
mod run_fixes;
