use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    labwarp::cli::run(labwarp::cli::Cli::parse())
}
