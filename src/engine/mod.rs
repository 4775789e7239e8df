//! The engine's vocabulary, below checks, plan and run: the facts a plan is built from, the
//! runtime context steps act through, the resources labwarp makes and the teardown levels,
//! the state file, the events front ends fold, and VirtualBMC's layout.

pub mod ctx;
pub mod event;
pub mod facts;
pub mod fault;
pub mod resource;
pub mod state;
pub mod vbmc_layout;
