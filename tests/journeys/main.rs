//! The journeys: whole runs of labwarp as a user drives it — the demo lab on the test driver
//! (resume, drift, a fresh machine, the CLI and TUI twins), then the lab in a box (this
//! machine as the hypervisor over SSH, the tiny guest as the undercloud) and its snapshots.
//!
//! One binary per kind of test (issue 19): the support modules are compiled once here and
//! every file below `use`s them from the crate root. Each test first takes its file's turn
//! (`common::turn`), so files run one after another as separate binaries did, a file's
//! tests side by side. Run one file's tests with `cargo test --test journeys FILE::`.

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
#[path = "../lab_box/mod.rs"]
mod lab_box;
#[path = "../tiny_guest_support/mod.rs"]
mod tiny_guest_support;
#[path = "../tmux_support/mod.rs"]
mod tmux_support;

mod cli_twins;
mod drift_demo;
mod engine_demo;
mod engine_demo_resume;
mod fresh_machine;
mod lab_in_a_box;
mod snapshots;
