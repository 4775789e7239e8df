//! The TUI tests: the wizard in tmux (a real terminal) and the TUI's driver run in a child
//! process against a real libvirtd or the demo lab.
//!
//! One binary per kind of test (issue 19): the support modules are compiled once here and
//! every file below `use`s them from the crate root. Each test first takes its file's turn
//! (`common::turn`), so files run one after another as separate binaries did, a file's
//! tests side by side. Run one file's tests with `cargo test --test tui FILE::`.

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
#[path = "../tui_driver_support/mod.rs"]
mod tui_driver_support;

mod tui_fixes;
mod tui_respin;
mod tui_tmux;
