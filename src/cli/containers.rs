//! `labwarp containers`: the lab's containers where they run (the podman pane's twin): the
//! list, `--logs NAME`, `--restart NAME`, or `--shell NAME` (an interactive shell with the
//! terminal attached, over the pinned ssh.config when the container host is remote). podman
//! runs through `sudo -n` when the login is not root. Exit 1 on failure; with `--shell`, the
//! shell's own exit status.

use super::EXIT_INVALID;
use super::common::{LabArgs, with_read_only_session};
use crate::engine::event::ContainerRow;
use crate::run::containers;
use std::process::ExitCode;

/// What to do with the containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    List,
    Logs { name: String, tail: usize },
    Restart(String),
    Shell(String),
}

pub fn print_text(rows: &[ContainerRow]) {
    if rows.is_empty() {
        println!("no container of this lab exists");
        return;
    }
    println!(
        "{:<32} {:<10} {:<10} {:<10} image",
        "name", "state", "health", "uptime"
    );
    for c in rows {
        println!(
            "{:<32} {:<10} {:<10} {:<10} {}",
            c.name, c.state, c.health, c.uptime, c.image
        );
    }
}

fn print_json(v: serde_json::Value) -> ExitCode {
    match serde_json::to_string_pretty(&v) {
        Ok(t) => {
            println!("{t}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("labwarp containers: {e}");
            ExitCode::from(EXIT_INVALID)
        }
    }
}

fn failed(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("labwarp containers: {e}");
    ExitCode::from(EXIT_INVALID)
}

pub fn run(args: LabArgs, what: What, json: bool) -> ExitCode {
    with_read_only_session("containers", &args, async |s| {
        let ctx = &s.ctx;
        match &what {
            What::List => match containers::list(ctx).await {
                Ok(rows) if json => print_json(serde_json::json!({
                    "lab": ctx.lab.name,
                    "host": ctx.host(ctx.facts.container_host).name(),
                    "containers": rows,
                })),
                Ok(rows) => {
                    print_text(&rows);
                    ExitCode::SUCCESS
                }
                Err(e) => failed(e),
            },
            What::Logs { name, tail } => match containers::logs(ctx, name, *tail).await {
                Ok(lines) if json => print_json(serde_json::json!({
                    "container": name,
                    "lines": lines
                        .iter()
                        .map(|l| serde_json::json!({
                            "stream": match l.stream {
                                crate::host::Stream::Stdout => "stdout",
                                crate::host::Stream::Stderr => "stderr",
                            },
                            "line": l.line,
                        }))
                        .collect::<Vec<_>>(),
                })),
                Ok(lines) => {
                    for l in lines {
                        println!("{}", l.line);
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => failed(e),
            },
            What::Restart(name) => match containers::restart(ctx, name).await {
                Ok(()) if json => print_json(serde_json::json!({
                    "container": name,
                    "restarted": true,
                })),
                Ok(()) => {
                    println!("restarted {name}");
                    ExitCode::SUCCESS
                }
                Err(e) => failed(e),
            },
            What::Shell(name) => {
                let argv = match containers::shell_argv(ctx, name).await {
                    Ok(a) => a,
                    Err(e) => return failed(e),
                };
                if json {
                    // The command line, for a caller that runs it itself.
                    return print_json(serde_json::json!({ "container": name, "argv": argv }));
                }
                match tokio::process::Command::new(&argv[0])
                    .args(&argv[1..])
                    .status()
                    .await
                {
                    Ok(st) => {
                        ExitCode::from(st.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(1))
                    }
                    Err(e) => failed(format!("{}: {e}", argv[0])),
                }
            }
        }
    })
}
