//! `labwarp presets`: the shipped presets, one per line with its description.

use crate::lab;
use std::process::ExitCode;

pub fn run() -> ExitCode {
    let presets = lab::presets();
    let width = presets.iter().map(|p| p.name.len()).max().unwrap_or(0);
    for p in presets {
        println!("{:width$}  {}", p.name, p.description);
    }
    ExitCode::SUCCESS
}
