use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Every command may hold a secret (the workspace key, the VBMC password, a typed root
    // password): no core dumps of this process (SECURITY.md).
    if let Err(e) = labwarp::secrets::forbid_core_dumps() {
        eprintln!("labwarp: cannot disable core dumps: {e}");
    }
    labwarp::cli::run(labwarp::cli::Cli::parse())
}
