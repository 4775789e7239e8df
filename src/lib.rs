//! labwarp: builds an OpenStack virtual lab on one Linux/KVM hypervisor and keeps it healthy.
//!
//! The crate is a library (every module testable on its own) plus a thin binary (`main.rs`).
//! See ARCHITECTURE.md for the module map and the one flow of data.

pub mod checks;
pub mod cli;
pub mod engine;
pub mod host;
pub mod lab;
pub mod plan;
pub mod podman;
pub mod quote;
pub mod render;
pub mod run;
pub mod secrets;
pub mod theme;
pub mod tui;
pub mod virt;
pub mod workspace;
