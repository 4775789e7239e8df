//! VirtualBMC on the hypervisor: the venv it lives in, one `vbmcd` per lab, one IPMI
//! endpoint per overcloud node, and the firewall opened for their UDP ports.
//!
//! Why the entries are files and not `vbmc add`: `vbmc add` takes the IPMI password as an
//! argument, so it would show in `/proc/<pid>/cmdline` (and `ps`) for anyone on the host.
//! vbmcd (virtualbmc ≥ 2) rescans its `config_dir` every 3 s and starts every
//! `<domain>/config` whose `active` is true, so labwarp writes that file (mode 0600, through
//! the host's atomic write, never a command line) and only asks `vbmc start <domain>` (no
//! secret) to have it picked up at once.
//!
//! Each lab has its own directory (`Facts::vbmc_dir`) holding `virtualbmc.conf`, the pid
//! file, the log and `nodes/<domain>/config`; its daemon's control port (TCP on 127.0.0.1)
//! is the lab's VBMC base port, which is already unique per lab on a host (its UDP ports
//! are), so two labs' daemons never answer for each other.

use crate::plan::{Check, Ctx, StepCtx};
use std::path::Path;

pub use crate::engine::vbmc_layout::{DEFAULT_VENV, PIP_REQUIREMENT, STATE_ROOT, VbmcPaths};

fn p(path: &Path) -> String {
    path.display().to_string()
}

mod address;
mod daemon;
mod entry;
mod firewall;
mod install;
mod node;
pub mod reach;

pub use address::BmcAddress;
pub use daemon::{Daemon, daemon_pid, stop_daemon};
pub use entry::BmcEntry;
pub use firewall::{Firewall, OpenPorts, close_port, detect_firewall, iptables_rule, port_open};
pub use install::{Install, remove_venv, venv_marker};
pub use node::{Node, broken_entries, existing_entries, remove_entry};
pub use reach::BmcReachable;

/// `vbmc list` through the lab's daemon: `(domain, status, address, port)` rows, or why not.
pub async fn list(ctx: &Ctx, paths: &VbmcPaths) -> Result<Vec<[String; 4]>, String> {
    let cmd = paths.vbmc(&["list", "-f", "json"]);
    let out = ctx.virthost.exec(&cmd).await.map_err(|e| format!("{e}"))?;
    if !out.success() {
        return Err(format!(
            "`vbmc list` failed: {}",
            out.stderr_str().trim().lines().last().unwrap_or("")
        ));
    }
    let v: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("`vbmc list -f json` printed something else: {e}"))?;
    Ok(v.iter()
        .map(|r| {
            let s = |k: &str| match &r[k] {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            [s("Domain name"), s("Status"), s("Address"), s("Port")]
        })
        .collect())
}

/// Asks `status` every 250 ms, at most `tries` times, until it says done (what it saw is
/// narrated); otherwise returns what it saw last.
async fn wait_until_done<F, Fut>(
    ctx: &StepCtx<'_>,
    tries: usize,
    mut status: F,
) -> anyhow::Result<Result<(), String>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Check>>,
{
    let mut last = String::new();
    for _ in 0..tries {
        let c = status().await?;
        if c.done {
            ctx.info(c.saw);
            return Ok(Ok(()));
        }
        last = c.saw;
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    Ok(Err(last))
}
