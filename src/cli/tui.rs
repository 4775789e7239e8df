//! `labwarp` with no subcommand: the terminal UI.

use std::process::ExitCode;

pub fn run(demo: bool, theme: Option<String>) -> ExitCode {
    let opts = crate::tui::Options {
        theme,
        demo,
        workspace: None,
    };
    match crate::tui::terminal::run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("labwarp: {e:#}");
            ExitCode::from(super::EXIT_INVALID)
        }
    }
}
