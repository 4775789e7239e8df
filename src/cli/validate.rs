//! `labwarp validate [FILE | --preset NAME]`: load, merge and validate a lab; print every
//! problem (errors and warnings) with its field path, value and fix.

use super::EXIT_INVALID;
use crate::lab;
use std::path::PathBuf;
use std::process::ExitCode;

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
                println!("{origin}: {}: {w}", w.severity);
            }
            println!("{origin}: valid ({})", plural(warnings.len(), "warning"));
            ExitCode::SUCCESS
        }
        Err(err) => {
            println!("{err}");
            let errors = err.errors().count();
            println!(
                "{origin}: invalid ({}, {})",
                plural(errors, "error"),
                plural(err.problems.len() - errors, "warning")
            );
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
