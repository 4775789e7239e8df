//! One module per screen: its state, how it handles actions, and how it draws. A screen's
//! functions get the `Shell`, the screen's own state and, read-only, whatever else they read;
//! never the `App` (which calls them) nor another screen (`tests/quick/layers.rs` checks it). What
//! a screen wants done elsewhere it asks with a `shell::Request`.

pub mod cleanup;
pub mod connect;
pub mod dashboard;
pub mod forms;
pub mod preflight;
pub mod review;
pub mod snapshots;
pub mod troubleshoot;
pub mod welcome;
