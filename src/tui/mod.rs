//! The terminal UI. Pure parts: [`app`] (state + `update`), [`view`] (`draw`), the keymap,
//! forms and screens. Impure parts: [`driver`] (carries out effects) and [`terminal`] (the
//! event loop, terminal setup and restore).

pub mod action;
pub mod app;
pub mod driver;
pub mod fields;
pub mod form;
pub mod keymap;
pub mod logview;
pub mod msg;
pub mod pacer;
pub mod panes;
pub mod plan_lines;
pub mod raw_terminal;
pub mod runview;
pub mod screens;
pub mod severity;
pub mod shell;
#[cfg(test)]
mod snapshots_journey;
pub mod style;
pub mod svg;
pub mod terminal;
pub mod validate;
pub mod view;

pub use app::{App, Effect, Msg, Screen};

/// Options of the TUI (from the command line).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Theme name (`themes/NAME.yaml`); overrides the lab's.
    pub theme: Option<String>,
    /// Start straight into the demo preset.
    pub demo: bool,
    /// Workspace to look in for an existing lab.
    pub workspace: Option<std::path::PathBuf>,
}
