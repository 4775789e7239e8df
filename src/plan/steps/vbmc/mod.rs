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

use crate::host::Cmd;
use crate::lab::Lab;
use crate::plan::{Check, Ctx, Facts, StepCtx};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the venv goes unless `LABWARP_VBMC_VENV` says otherwise.
pub const DEFAULT_VENV: &str = "/opt/labwarp-vbmc";
/// Parent of the per-lab VirtualBMC directories on a real hypervisor.
pub const STATE_ROOT: &str = "/var/lib/labwarp/vbmc";
/// What `pip install` gets (quickstart and the lab guide install the latest release).
pub const PIP_REQUIREMENT: &str = "virtualbmc";

/// The lab's VirtualBMC layout on the hypervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VbmcPaths {
    pub lab: String,
    pub venv: PathBuf,
    pub dir: PathBuf,
    /// vbmcd's control port (ZMQ REP on 127.0.0.1).
    pub server_port: u16,
    /// The libvirt URI vbmcd's BMCs use (local to the hypervisor).
    pub libvirt_uri: String,
}

impl VbmcPaths {
    pub fn new(lab: &Lab, facts: &Facts) -> Self {
        let uri = lab
            .hypervisors
            .first()
            .map(|h| h.libvirt_uri.clone())
            .unwrap_or_default();
        VbmcPaths {
            lab: lab.name.clone(),
            venv: facts.vbmc_venv.clone(),
            dir: facts.vbmc_dir.clone(),
            server_port: lab.overcloud.vbmc.base_port,
            libvirt_uri: local_uri(&uri),
        }
    }

    pub fn of(ctx: &Ctx) -> Self {
        Self::new(&ctx.lab, &ctx.facts)
    }

    /// The same lab with its directory elsewhere (as a state file recorded it).
    pub fn with_dir(mut self, dir: &Path) -> Self {
        self.dir = dir.to_path_buf();
        self
    }

    pub fn bin(&self, name: &str) -> PathBuf {
        self.venv.join("bin").join(name)
    }
    pub fn conf(&self) -> PathBuf {
        self.dir.join("virtualbmc.conf")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("vbmcd.pid")
    }
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("vbmcd.log")
    }
    pub fn nodes_dir(&self) -> PathBuf {
        self.dir.join("nodes")
    }
    pub fn node_dir(&self, domain: &str) -> PathBuf {
        self.nodes_dir().join(domain)
    }
    pub fn node_config(&self, domain: &str) -> PathBuf {
        self.node_dir(domain).join("config")
    }
    /// Where a new entry is put together before it is renamed into `nodes/`: vbmcd's
    /// `list` fails on an entry directory without its config, so one never appears there
    /// half written.
    pub fn staging_dir(&self, domain: &str) -> PathBuf {
        self.dir.join("staging").join(domain)
    }
    /// The systemd unit used when systemd is PID 1.
    pub fn unit_name(&self) -> String {
        format!("labwarp-vbmcd-{}.service", self.lab)
    }
    pub fn unit_path(&self) -> PathBuf {
        PathBuf::from("/etc/systemd/system").join(self.unit_name())
    }

    /// `virtualbmc.conf`: this lab's config dir, pid file, log and control port; passwords
    /// masked in `vbmc show`/`list` and in vbmcd's log.
    pub fn conf_text(&self) -> crate::render::Result<String> {
        let mut ini = crate::render::ini::Ini::configparser(&format!(
            "written by labwarp for lab {}",
            self.lab
        ));
        let path = |p: PathBuf| p.display().to_string();
        ini.section("default");
        ini.set(
            "config_dir",
            &path(self.nodes_dir()),
            "VirtualBMC config_dir",
        )?;
        ini.set("pid_file", &path(self.pid_file()), "VirtualBMC pid_file")?;
        ini.set(
            "server_port",
            &self.server_port.to_string(),
            "overcloud.vbmc.base_port",
        )?;
        ini.set("show_passwords", "false", "")?;
        ini.section("log");
        ini.set("logfile", &path(self.log_file()), "VirtualBMC logfile")?;
        ini.set("debug", "false", "")?;
        ini.section("ipmi");
        ini.set("session_timeout", "20", "")?;
        Ok(ini.finish())
    }

    /// `vbmc ARGS` against this lab's daemon (never starting one on its own).
    pub fn vbmc(&self, args: &[&str]) -> Cmd {
        let mut argv = vec![
            "env".to_string(),
            format!("VIRTUALBMC_CONFIG={}", self.conf().display()),
            self.bin("vbmc").display().to_string(),
            "--no-daemon".into(),
        ];
        argv.extend(args.iter().map(|s| s.to_string()));
        Cmd::new(argv).sudo().timeout(Duration::from_secs(30))
    }
}

/// vbmcd runs on the hypervisor: a remote URI as labwarp sees it is the local system one there.
fn local_uri(uri: &str) -> String {
    if uri.starts_with("qemu:///") {
        uri.to_string()
    } else {
        "qemu:///system".into()
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_uris_become_the_local_system_one() {
        assert_eq!(local_uri("qemu:///system"), "qemu:///system");
        assert_eq!(local_uri("qemu+ssh://root@hv/system"), "qemu:///system");
    }

    #[test]
    fn virtualbmc_conf_comes_from_the_ini_writer_and_refuses_a_percent() {
        let paths = VbmcPaths {
            lab: "lab1".into(),
            venv: PathBuf::from("/opt/vbmc"),
            dir: PathBuf::from("/var/lib/labwarp/vbmc/lab1"),
            server_port: 6230,
            libvirt_uri: "qemu:///system".into(),
        };
        let d = "/var/lib/labwarp/vbmc/lab1";
        assert_eq!(
            paths.conf_text().unwrap(),
            format!(
                "# written by labwarp for lab lab1\n[default]\nconfig_dir = {d}/nodes\npid_file = {d}/vbmcd.pid\nserver_port = 6230\nshow_passwords = false\n\n[log]\nlogfile = {d}/vbmcd.log\ndebug = false\n\n[ipmi]\nsession_timeout = 20\n"
            )
        );
        let odd = paths.with_dir(Path::new("/tmp/ws 50%/vbmc"));
        assert!(odd.conf_text().is_err());
    }
}
