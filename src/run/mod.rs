//! The runner: executes a plan's steps, persists state, emits [`event::Event`]s.

pub mod cleanup;
pub mod containers;
pub mod event;
pub mod fault;
pub mod logs;
pub mod monitor;
pub mod ownership;
pub mod print;
pub mod runner;
pub mod session;
pub mod signatures;
pub mod snapshot;
pub mod state;
pub mod survey;
pub mod workspace;

pub use runner::{RunSummary, run};
