//! One module per screen: its state, how it handles actions, and how it draws.

pub mod cleanup;
pub mod connect;
pub mod dashboard;
pub mod forms;
pub mod preflight;
pub mod review;
pub mod snapshots;
pub mod troubleshoot;
pub mod welcome;
