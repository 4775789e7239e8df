//! Command-line interface: argument types and one handler per subcommand. No logic lives
//! here beyond parsing and printing; handlers call into the library modules.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit codes: 0 ok, 1 invalid input or failed checks, 2 usage error (clap's own).
pub const EXIT_INVALID: u8 = 1;

#[derive(Debug, Parser)]
#[command(
    name = "labwarp",
    version,
    about = "Build an OpenStack virtual lab on one KVM hypervisor, and keep it healthy"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a lab file (or a preset) and print every problem with its fix.
    Validate {
        /// Path to lab.yaml.
        file: Option<PathBuf>,
    },
}

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Some(Command::Validate { file }) => {
            let path = file.unwrap_or_else(|| PathBuf::from("lab.yaml"));
            match crate::lab::load_file(&path) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{}: {e}", path.display());
                    ExitCode::from(EXIT_INVALID)
                }
            }
        }
        None => {
            eprintln!("labwarp: no subcommand given (see labwarp --help)");
            ExitCode::from(2)
        }
    }
}
