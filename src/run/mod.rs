//! The runner: executes a plan's steps, persists state, emits [`event::Event`]s.

pub mod event;
