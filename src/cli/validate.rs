//! `labwarp validate [FILE | --preset NAME]`: load, merge and validate a lab; print every
//! problem (errors and warnings) with its field path, value and fix.

use super::EXIT_INVALID;
use crate::lab;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// One line of the report on stdout. A reader that went away (`labwarp validate | head -1`)
/// ends the report quietly: `println!` would panic on the broken pipe.
fn say(line: impl std::fmt::Display) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

pub fn run(file: Option<PathBuf>, preset: Option<String>) -> ExitCode {
    let (origin, result) = match preset {
        Some(name) => (format!("preset {name}"), lab::load_preset(&name)),
        None => {
            let path = file.unwrap_or_else(|| PathBuf::from("lab.yaml"));
            (path.display().to_string(), lab::load_path(&path))
        }
    };
    match result {
        Ok(lab) => {
            let warnings: Vec<_> = lab::validate(&lab);
            for w in &warnings {
                say(format!("{origin}: {}: {w}", w.severity));
            }
            say(format!(
                "{origin}: valid ({})",
                plural(warnings.len(), "warning")
            ));
            ExitCode::SUCCESS
        }
        Err(err) => {
            say(&err);
            let errors = err.errors().count();
            say(format!(
                "{origin}: invalid ({}, {})",
                plural(errors, "error"),
                plural(err.problems.len() - errors, "warning")
            ));
            ExitCode::from(EXIT_INVALID)
        }
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
