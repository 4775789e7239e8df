//! The runner: executes a plan's steps, persists state, emits [`event::Event`]s.

pub mod cleanup;
pub mod containers;
pub mod logs;
pub mod monitor;
pub mod print;
pub mod remedies;
pub mod respin;
pub mod runner;
pub mod session;
pub mod signatures;
pub mod survey;

pub use runner::{RunSummary, run};

// The engine's events and state file, under their old names too.
pub use crate::engine::{event, fault, state};
pub use crate::plan::ownership;
