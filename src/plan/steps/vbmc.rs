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
use crate::plan::{Check, Ctx, Facts, HostRole, Level, Resource, Step, StepCtx};
use async_trait::async_trait;
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
    pub fn conf_text(&self) -> String {
        format!(
            "# written by labwarp for lab {lab}\n[default]\nconfig_dir = {nodes}\npid_file = {pid}\nserver_port = {port}\nshow_passwords = false\n\n[log]\nlogfile = {log}\ndebug = false\n\n[ipmi]\nsession_timeout = 20\n",
            lab = self.lab,
            nodes = self.nodes_dir().display(),
            pid = self.pid_file().display(),
            port = self.server_port,
            log = self.log_file().display(),
        )
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

/// One node's BMC as vbmcd stores it (`<config_dir>/<domain>/config`, section `VirtualBMC`).
#[derive(Clone, PartialEq, Eq)]
pub struct BmcEntry {
    pub domain: String,
    pub username: String,
    pub password: String,
    pub address: String,
    pub port: u16,
    pub libvirt_uri: String,
    pub active: bool,
}

impl std::fmt::Debug for BmcEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BmcEntry")
            .field("domain", &self.domain)
            .field("username", &self.username)
            .field("password", &"***")
            .field("address", &self.address)
            .field("port", &self.port)
            .field("libvirt_uri", &self.libvirt_uri)
            .field("active", &self.active)
            .finish()
    }
}

impl BmcEntry {
    /// The file vbmcd reads (Python configparser syntax).
    pub fn to_config(&self) -> String {
        format!(
            "[VirtualBMC]\nusername = {}\npassword = {}\naddress = {}\nport = {}\ndomain_name = {}\nlibvirt_uri = {}\nactive = {}\n",
            self.username,
            self.password,
            self.address,
            self.port,
            self.domain,
            self.libvirt_uri,
            if self.active { "True" } else { "False" }
        )
    }

    /// Reads a config vbmcd wrote or labwarp wrote; `None` when a key is missing or bad.
    pub fn parse(text: &str) -> Option<BmcEntry> {
        let mut section = String::new();
        let mut get = std::collections::BTreeMap::new();
        for line in text.lines() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
                continue;
            }
            if let Some(s) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                section = s.to_string();
                continue;
            }
            if section != "VirtualBMC" {
                continue;
            }
            let (k, v) = l.split_once('=').or_else(|| l.split_once(':'))?;
            get.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
        let active = matches!(
            get.get("active").map(|s| s.to_ascii_lowercase()).as_deref(),
            Some("true" | "1" | "yes" | "on")
        );
        Some(BmcEntry {
            domain: get.remove("domain_name")?,
            username: get.remove("username")?,
            password: get.remove("password")?,
            address: get.remove("address")?,
            port: get.remove("port")?.parse().ok()?,
            libvirt_uri: get.remove("libvirt_uri")?,
            active,
        })
    }

    /// What differs from `want`, in words (never the password itself).
    pub fn differences(&self, want: &BmcEntry) -> Vec<String> {
        let mut d = Vec::new();
        if self.port != want.port {
            d.push(format!("port {} (plan: {})", self.port, want.port));
        }
        if self.address != want.address {
            d.push(format!("address {} (plan: {})", self.address, want.address));
        }
        if self.username != want.username {
            d.push(format!("user {} (plan: {})", self.username, want.username));
        }
        if self.password != want.password {
            d.push("a different password".into());
        }
        if self.libvirt_uri != want.libvirt_uri {
            d.push(format!(
                "libvirt URI {} (plan: {})",
                self.libvirt_uri, want.libvirt_uri
            ));
        }
        if self.domain != want.domain {
            d.push(format!("domain {} (plan: {})", self.domain, want.domain));
        }
        if !self.active {
            d.push("not active".into());
        }
        d
    }
}

/// Whether systemd is PID 1 on the hypervisor (`/run/systemd/system` exists exactly then).
async fn has_systemd(ctx: &StepCtx<'_>) -> anyhow::Result<bool> {
    Ok(ctx
        .host(HostRole::Virthost)
        .exists(Path::new("/run/systemd/system"))
        .await?)
}

/// The pid in the lab's pid file when that process is alive and is a vbmcd.
pub async fn daemon_pid(ctx: &Ctx, paths: &VbmcPaths) -> anyhow::Result<Option<u32>> {
    let h = &ctx.virthost;
    if !h.exists(&paths.pid_file()).await? {
        return Ok(None);
    }
    let text = match h.read_file(&paths.pid_file()).await {
        Ok(t) => t,
        // Removed between the two calls: the daemon just stopped.
        Err(_) => return Ok(None),
    };
    let Ok(pid) = String::from_utf8_lossy(&text).trim().parse::<u32>() else {
        return Ok(None);
    };
    if pid == 0 {
        return Ok(None);
    }
    // The pid may have been reused by something else: it must be a vbmcd.
    let cmdline = PathBuf::from(format!("/proc/{pid}/cmdline"));
    match h.read_file(&cmdline).await {
        Ok(c) if String::from_utf8_lossy(&c).contains("vbmcd") => Ok(Some(pid)),
        _ => Ok(None),
    }
}

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

/// Installs VirtualBMC from PyPI into its own venv on the hypervisor.
pub struct Install {
    pub venv: PathBuf,
}

impl Install {
    fn vbmc(&self) -> String {
        p(&self.venv.join("bin").join("vbmc"))
    }
}

#[async_trait]
impl Step for Install {
    fn id(&self) -> &str {
        "vbmc-install"
    }
    fn title(&self) -> String {
        format!("VirtualBMC in the venv {}", self.venv.display())
    }
    fn resources(&self) -> Vec<Resource> {
        // Shared by every lab on the hypervisor: only `all` removes it, and only when
        // labwarp made it and no other lab uses it (see `remove_venv`).
        vec![Resource::VbmcVenv {
            path: self.venv.clone(),
        }]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let cmd = Cmd::new([self.vbmc(), "--version".into()]).timeout(Duration::from_secs(60));
        match ctx.probe(HostRole::Virthost, &cmd).await {
            Ok(o) if o.success() => {
                let v = format!("{}{}", o.stdout_str(), o.stderr_str());
                Ok(Check::done(format!(
                    "{} --version: {}",
                    self.vbmc(),
                    v.trim()
                )))
            }
            Ok(o) => Ok(Check::todo(format!(
                "{} --version exited with {:?}: {}",
                self.vbmc(),
                o.code,
                o.stderr_str().trim()
            ))),
            Err(e) => Ok(Check::todo(format!("{} does not run: {e}", self.vbmc()))),
        }
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let venv = p(&self.venv);
        let python = self.venv.join("bin").join("python3");
        // A half-made venv from a killed run is completed by `venv` itself (idempotent).
        let h = ctx.host(HostRole::Virthost).clone();
        if !h.exists(&python).await? {
            // Marked first (so a run killed mid-creation still leaves it marked): made by
            // labwarp, `clean --level all` may remove it. A venv made by hand or by
            // scripts/setup-host.sh has no marker and is left alone.
            ctx.run_ok(
                HostRole::Virthost,
                &Cmd::new(["mkdir", "-p", "--", &venv]).sudo(),
            )
            .await?;
            h.write_file(
                &venv_marker(&self.venv),
                b"created by labwarp's vbmc-install step\n",
                0o644,
            )
            .await?;
            ctx.run_ok(
                HostRole::Virthost,
                &Cmd::new(["python3", "-m", "venv", "--", &venv]).sudo(),
            )
            .await
            .map_err(|e| {
                e.context(
                    "creating the VirtualBMC venv (needs python3-venv / python3 on the hypervisor)",
                )
            })?;
        }
        let pip = p(&self.venv.join("bin").join("pip"));
        ctx.run_ok(
            HostRole::Virthost,
            &Cmd::new([
                pip.as_str(),
                "install",
                "--disable-pip-version-check",
                "--progress-bar",
                "off",
                PIP_REQUIREMENT,
            ])
            .sudo()
            .timeout(Duration::from_secs(1800)),
        )
        .await
        .map_err(|e| {
            e.context(
                "pip install virtualbmc (libvirt-python builds against libvirt-dev, pkg-config, gcc and python3-dev)",
            )
        })?;
        Ok(())
    }
}

/// The file marking a venv labwarp created.
pub fn venv_marker(venv: &Path) -> PathBuf {
    venv.join(".labwarp-owned")
}

/// Removes the venv when labwarp made it and no vbmcd (of any lab) runs from it.
pub async fn remove_venv(
    ctx: &Ctx,
    venv: &Path,
    log: &mut (dyn FnMut(String) + Send),
) -> anyhow::Result<()> {
    let h = &ctx.virthost;
    if !h.exists(&venv_marker(venv)).await? {
        if h.exists(venv).await? {
            log(format!(
                "kept {}: labwarp did not create it (no {})",
                venv.display(),
                venv_marker(venv).display()
            ));
        }
        return Ok(());
    }
    let vbmcd = p(&venv.join("bin").join("vbmcd"));
    let out = h.exec(&Cmd::new(["ps", "-e", "-o", "args="])).await?;
    let users = out
        .stdout_str()
        .lines()
        .filter(|l| l.contains(&vbmcd))
        .count();
    if users > 0 {
        log(format!(
            "kept {}: {users} vbmcd process(es) of other labs run from it",
            venv.display()
        ));
        return Ok(());
    }
    h.exec_ok(&Cmd::new(["rm", "-rf", "--", &p(venv)]).sudo())
        .await?;
    log(format!("removed VirtualBMC venv {}", venv.display()));
    Ok(())
}

/// The lab's vbmcd: its config written, the daemon running and answering `vbmc list`.
/// Under systemd a unit (`labwarp-vbmcd-<lab>.service`), else a detached process in its own
/// session whose pid file is the lab's.
pub struct Daemon {
    pub paths: VbmcPaths,
}

impl Daemon {
    async fn status(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let paths = &self.paths;
        let h = ctx.host(HostRole::Virthost);
        let conf = paths.conf();
        if !h.exists(&conf).await? {
            return Ok(Check::todo(format!("{} missing", conf.display())));
        }
        if h.read_file(&conf).await? != paths.conf_text().as_bytes() {
            return Ok(Check::todo(format!(
                "{} differs from the plan",
                conf.display()
            )));
        }
        let broken = broken_entries(ctx.ctx, paths).await?;
        if !broken.is_empty() {
            return Ok(Check::todo(format!(
                "entry directories without their config (an interrupted run left them; `vbmc list` fails on them): {}",
                broken.join(", ")
            )));
        }
        let Some(pid) = daemon_pid(ctx.ctx, paths).await? else {
            return Ok(Check::todo(format!(
                "no vbmcd running for {} (pid file {})",
                paths.lab,
                paths.pid_file().display()
            )));
        };
        match list(ctx.ctx, paths).await {
            Ok(rows) => Ok(Check::done(format!(
                "vbmcd pid {pid} answers on 127.0.0.1:{} ({} entries)",
                paths.server_port,
                rows.len()
            ))),
            Err(e) => Ok(Check::todo(format!("vbmcd pid {pid} does not answer: {e}"))),
        }
    }
}

#[async_trait]
impl Step for Daemon {
    fn id(&self) -> &str {
        "vbmcd"
    }
    fn title(&self) -> String {
        format!(
            "vbmcd for this lab (config {}, control port {})",
            self.paths.conf().display(),
            self.paths.server_port
        )
    }
    fn resources(&self) -> Vec<Resource> {
        vec![
            Resource::VbmcDaemon {
                dir: self.paths.dir.clone(),
            },
            Resource::Dir {
                host: HostRole::Virthost,
                path: self.paths.dir.clone(),
                level: Level::Virthost,
            },
        ]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        self.status(ctx).await
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let paths = &self.paths;
        let h = ctx.host(HostRole::Virthost).clone();
        for d in [paths.dir.clone(), paths.nodes_dir()] {
            ctx.run_ok(
                HostRole::Virthost,
                &Cmd::new(["mkdir", "-p", "-m", "0700", "--", &p(&d)]).sudo(),
            )
            .await?;
        }
        for d in broken_entries(ctx.ctx, paths).await? {
            ctx.run_ok(
                HostRole::Virthost,
                &Cmd::new(["rm", "-rf", "--", &p(&paths.node_dir(&d))]).sudo(),
            )
            .await?;
            ctx.info(format!(
                "removed the entry directory {d}: it has no config (an interrupted run left it)"
            ));
        }
        let conf = paths.conf_text();
        let changed =
            !h.exists(&paths.conf()).await? || h.read_file(&paths.conf()).await? != conf.as_bytes();
        h.write_file(&paths.conf(), conf.as_bytes(), 0o600).await?;
        let running = daemon_pid(ctx.ctx, paths).await?;
        if let (Some(pid), true) = (running, changed) {
            // The daemon reads its config once: restart it on the new one.
            ctx.info(format!(
                "{} changed: restarting vbmcd pid {pid}",
                paths.conf().display()
            ));
            stop_daemon(ctx.ctx, paths, &mut |l| ctx.info(l)).await?;
        }
        if daemon_pid(ctx.ctx, paths).await?.is_none() {
            if has_systemd(ctx).await? {
                let unit = format!(
                    "# written by labwarp for lab {lab}\n[Unit]\nDescription=VirtualBMC for labwarp lab {lab}\nAfter=network.target libvirtd.service\n\n[Service]\nType=simple\nEnvironment=VIRTUALBMC_CONFIG={conf}\nExecStart={vbmcd} --foreground\nRestart=on-failure\n\n[Install]\nWantedBy=multi-user.target\n",
                    lab = paths.lab,
                    conf = paths.conf().display(),
                    vbmcd = paths.bin("vbmcd").display(),
                );
                h.write_file(&paths.unit_path(), unit.as_bytes(), 0o644)
                    .await?;
                ctx.run_ok(
                    HostRole::Virthost,
                    &Cmd::new(["systemctl", "daemon-reload"]).sudo(),
                )
                .await?;
                ctx.run_ok(
                    HostRole::Virthost,
                    &Cmd::new(["systemctl", "enable", "--now", &paths.unit_name()]).sudo(),
                )
                .await?;
            } else {
                // No systemd: `setsid -f` detaches vbmcd into its own session (so its BMC
                // children share its process group, which cleanup kills as one) with the
                // output in the lab's log. `--foreground` keeps vbmcd from forking again, so
                // its pid file holds its real pid (its own daemon mode writes 0 there).
                ctx.run_ok(
                    HostRole::Virthost,
                    &Cmd::new([
                        "sh".to_string(),
                        "-c".into(),
                        "VIRTUALBMC_CONFIG=\"$1\" exec setsid -f \"$2\" --foreground </dev/null >>\"$3\" 2>&1".into(),
                        "sh".into(),
                        p(&paths.conf()),
                        p(&paths.bin("vbmcd")),
                        p(&paths.dir.join("vbmcd.out")),
                    ])
                    .sudo(),
                )
                .await?;
            }
        }
        // vbmcd writes its pid file and binds its control port within a second or two.
        let mut last = String::new();
        for _ in 0..60 {
            let c = self.status(ctx).await?;
            if c.done {
                ctx.info(c.saw);
                return Ok(());
            }
            last = c.saw;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let tail = h
            .read_file(&paths.dir.join("vbmcd.out"))
            .await
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        anyhow::bail!(
            "vbmcd did not come up: {last}; its output: {}",
            tail.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
        )
    }
}

/// Stops the lab's vbmcd and the BMC processes it started (its process group), and the
/// systemd unit when there is one. Already stopped is fine.
pub async fn stop_daemon(
    ctx: &Ctx,
    paths: &VbmcPaths,
    log: &mut (dyn FnMut(String) + Send),
) -> anyhow::Result<()> {
    let h = &ctx.virthost;
    if h.exists(&paths.unit_path()).await? {
        let _ = h
            .exec(&Cmd::new(["systemctl", "disable", "--now", &paths.unit_name()]).sudo())
            .await;
        h.exec(&Cmd::new(["rm", "-f", "--", &p(&paths.unit_path())]).sudo())
            .await?;
        let _ = h
            .exec(&Cmd::new(["systemctl", "daemon-reload"]).sudo())
            .await;
        log(format!("removed systemd unit {}", paths.unit_name()));
    }
    // The pid file survives a kill -9 of vbmcd; its BMC children (same process group) may
    // then still hold the UDP ports: signal the whole group, leader alive or not.
    let pid = match h.read_file(&paths.pid_file()).await {
        Ok(t) => String::from_utf8_lossy(&t).trim().parse::<u32>().ok(),
        Err(_) => None,
    };
    let Some(pid) = pid.filter(|p| *p > 1) else {
        return Ok(());
    };
    let alive = daemon_pid(ctx, paths).await?.is_some();
    // Only a group still made of vbmcd processes is ours to kill (pids get reused).
    let group = group_members(ctx, pid).await?;
    if alive || !group.is_empty() {
        for sig in ["TERM", "KILL"] {
            let _ = h
                .exec(&Cmd::new(["kill", &format!("-{sig}"), "--", &format!("-{pid}")]).sudo())
                .await;
            for _ in 0..40 {
                if group_members(ctx, pid).await?.is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if group_members(ctx, pid).await?.is_empty() {
                break;
            }
        }
        log(format!("stopped vbmcd (process group {pid})"));
    }
    let _ = h
        .exec(&Cmd::new(["rm", "-f", "--", &p(&paths.pid_file())]).sudo())
        .await;
    Ok(())
}

/// Processes in process group `pgid` whose command line names vbmcd.
async fn group_members(ctx: &Ctx, pgid: u32) -> anyhow::Result<Vec<u32>> {
    let out = ctx
        .virthost
        .exec(&Cmd::new(["ps", "-e", "-o", "pid=,pgid=,args="]))
        .await?;
    Ok(out
        .stdout_str()
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let pid: u32 = w.next()?.parse().ok()?;
            let g: u32 = w.next()?.parse().ok()?;
            let args: Vec<&str> = w.collect();
            (g == pgid && args.join(" ").contains("vbmcd")).then_some(pid)
        })
        .collect())
}

/// One node's IPMI endpoint: its config in the lab's vbmcd directory, started and running.
pub struct Node {
    pub id: String,
    pub paths: VbmcPaths,
    pub entry: BmcEntry,
}

impl Node {
    pub fn new(id: String, paths: VbmcPaths, lab: &Lab, domain: &str, port: u16) -> Self {
        let v = &lab.overcloud.vbmc;
        let entry = BmcEntry {
            domain: domain.to_string(),
            username: v.username.clone(),
            password: v
                .password
                .as_ref()
                .map(|s| s.expose().to_string())
                .unwrap_or_default(),
            address: v.address.clone(),
            port,
            libvirt_uri: paths.libvirt_uri.clone(),
            active: true,
        };
        Node { id, paths, entry }
    }

    async fn status(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let h = ctx.host(HostRole::Virthost);
        let d = &self.entry.domain;
        let path = self.paths.node_config(d);
        if !h.exists(&path).await? {
            return Ok(Check::todo(format!("no VirtualBMC entry for {d}")));
        }
        let have = BmcEntry::parse(&String::from_utf8_lossy(&h.read_file(&path).await?));
        let Some(have) = have else {
            return Ok(Check::todo(format!("{} unreadable", path.display())));
        };
        let diff = have.differences(&self.entry);
        if !diff.is_empty() {
            return Ok(Check::todo(format!(
                "VirtualBMC entry {d} has {}",
                diff.join(", ")
            )));
        }
        let rows = match list(ctx.ctx, &self.paths).await {
            Ok(r) => r,
            Err(e) => return Ok(Check::todo(format!("vbmcd does not answer: {e}"))),
        };
        match rows.iter().find(|r| &r[0] == d) {
            Some(r) if r[1] == "running" => Ok(Check::done(format!(
                "VirtualBMC {d} running on {}:{}",
                r[2], r[3]
            ))),
            Some(r) => Ok(Check::todo(format!("VirtualBMC {d} is {}", r[1]))),
            None => Ok(Check::todo(format!("vbmcd does not list {d}"))),
        }
    }
}

#[async_trait]
impl Step for Node {
    fn id(&self) -> &str {
        &self.id
    }
    fn title(&self) -> String {
        format!(
            "VirtualBMC for {} on {}:{} (UDP)",
            self.entry.domain, self.entry.address, self.entry.port
        )
    }
    fn resources(&self) -> Vec<Resource> {
        vec![Resource::VbmcEntry {
            node: self.entry.domain.clone(),
        }]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        self.status(ctx).await
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let pw = &self.entry.password;
        if pw.is_empty() || pw.contains('%') || pw.trim() != pw || pw.contains('\n') {
            anyhow::bail!(
                "overcloud.vbmc.password: VirtualBMC stores it in an INI file, so it must be non-empty, without `%`, newlines or surrounding spaces; choose another"
            );
        }
        let h = ctx.host(HostRole::Virthost);
        let d = self.entry.domain.clone();
        let path = self.paths.node_config(&d);
        // A running BMC keeps its old port until stopped: stop it first (no-op when none).
        if h.exists(&path).await? {
            let _ = ctx
                .run(HostRole::Virthost, &self.paths.vbmc(&["stop", &d]))
                .await;
        }
        // The password goes only into this 0600 file, never onto a command line.
        let config = self.entry.to_config();
        if h.exists(&self.paths.node_dir(&d)).await? {
            h.write_file(&path, config.as_bytes(), 0o600).await?;
        } else {
            // A new entry appears in `nodes/` whole (renamed in with its config) or not at
            // all, whenever this run is killed.
            let staging = self.paths.staging_dir(&d);
            let sh = |args: &[&str]| Cmd::new(args.iter().copied()).sudo();
            ctx.run_ok(HostRole::Virthost, &sh(&["rm", "-rf", "--", &p(&staging)]))
                .await?;
            ctx.run_ok(
                HostRole::Virthost,
                &sh(&["mkdir", "-p", "-m", "0700", "--", &p(&staging)]),
            )
            .await?;
            h.write_file(&staging.join("config"), config.as_bytes(), 0o600)
                .await?;
            ctx.run_ok(
                HostRole::Virthost,
                &sh(&["mv", "-T", "--", &p(&staging), &p(&self.paths.node_dir(&d))]),
            )
            .await?;
        }
        ctx.info(format!(
            "wrote {} (mode 0600): {}:{} user {}",
            path.display(),
            self.entry.address,
            self.entry.port,
            self.entry.username
        ));
        ctx.run_ok(HostRole::Virthost, &self.paths.vbmc(&["start", &d]))
            .await?;
        let mut last = String::new();
        for _ in 0..40 {
            let c = self.status(ctx).await?;
            if c.done {
                ctx.info(c.saw);
                return Ok(());
            }
            last = c.saw;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        anyhow::bail!(
            "{last} (see {} on the hypervisor: is {}:{} free and the address assigned there?)",
            self.paths.log_file().display(),
            self.entry.address,
            self.entry.port
        )
    }
}

/// Removes one node's entry: through vbmcd when it answers (which stops the BMC), else the
/// directory alone (no daemon, no BMC process). Already gone is fine.
pub async fn remove_entry(
    ctx: &Ctx,
    paths: &VbmcPaths,
    domain: &str,
    log: &mut (dyn FnMut(String) + Send),
) -> anyhow::Result<()> {
    let h = &ctx.virthost;
    let dir = paths.node_dir(domain);
    if !h.exists(&dir).await? {
        return Ok(());
    }
    if list(ctx, paths).await.is_ok() {
        let _ = h.exec(&paths.vbmc(&["delete", domain])).await;
    }
    if h.exists(&dir).await? {
        h.exec_ok(&Cmd::new(["rm", "-rf", "--", &p(&dir)]).sudo())
            .await?;
    }
    log(format!("removed VirtualBMC entry {domain}"));
    Ok(())
}

/// Entries that exist in the lab's directory now (whatever the plan says).
pub async fn existing_entries(ctx: &Ctx, paths: &VbmcPaths) -> anyhow::Result<Vec<String>> {
    let h = &ctx.virthost;
    if !h.exists(&paths.nodes_dir()).await? {
        return Ok(Vec::new());
    }
    let out = h
        .exec(&Cmd::new(["ls", "-1", "--", &p(&paths.nodes_dir())]).sudo())
        .await?;
    Ok(out
        .stdout_str()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// Entries in the lab's directory without their `config` file. vbmcd's `list` answers
/// "No domain with matching name" for such a directory, whichever domains exist, so one
/// left by an interrupted write would keep vbmcd from ever answering.
pub async fn broken_entries(ctx: &Ctx, paths: &VbmcPaths) -> anyhow::Result<Vec<String>> {
    let mut broken = Vec::new();
    for d in existing_entries(ctx, paths).await? {
        if !ctx.virthost.exists(&paths.node_config(&d)).await? {
            broken.push(d);
        }
    }
    Ok(broken)
}

/// Which firewall guards the hypervisor's INPUT, with the evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Firewall {
    Firewalld,
    Iptables,
    None(String),
}

/// firewalld when `firewall-cmd --state` says running; iptables when the INPUT chain drops
/// or rejects anything (policy or rule); else none, with what was seen.
pub async fn detect_firewall(ctx: &Ctx) -> anyhow::Result<(Firewall, String)> {
    let h = &ctx.virthost;
    let fw = h.exec(&Cmd::new(["firewall-cmd", "--state"]).sudo()).await;
    let fw_seen = match &fw {
        Ok(o) if o.success() && o.stdout_str().trim() == "running" => {
            return Ok((Firewall::Firewalld, "firewall-cmd --state: running".into()));
        }
        Ok(o) => format!(
            "firewall-cmd --state: {}",
            format!("{}{}", o.stdout_str(), o.stderr_str()).trim()
        ),
        Err(_) => "firewall-cmd: not installed".into(),
    };
    let ipt = h.exec(&Cmd::new(["iptables", "-S", "INPUT"]).sudo()).await;
    match ipt {
        Ok(o) if o.success() => {
            let rules = o.stdout_str();
            let guards = rules.lines().any(|l| {
                l.starts_with("-P INPUT DROP")
                    || l.starts_with("-P INPUT REJECT")
                    || (l.starts_with("-A INPUT")
                        && (l.contains("-j DROP") || l.contains("-j REJECT")))
            });
            let seen = format!(
                "{fw_seen}; iptables -S INPUT: {}",
                rules.trim().replace('\n', "; ")
            );
            if guards {
                Ok((Firewall::Iptables, seen))
            } else {
                Ok((Firewall::None(seen.clone()), seen))
            }
        }
        Ok(o) => {
            let seen = format!(
                "{fw_seen}; iptables -S INPUT failed: {}",
                o.stderr_str().trim()
            );
            Ok((Firewall::None(seen.clone()), seen))
        }
        Err(_) => {
            let seen = format!("{fw_seen}; iptables: not installed");
            Ok((Firewall::None(seen.clone()), seen))
        }
    }
}

/// The iptables rule labwarp adds for one port (its comment names the lab).
pub fn iptables_rule(lab: &str, port: u16) -> Vec<String> {
    [
        "INPUT",
        "-p",
        "udp",
        "--dport",
        &port.to_string(),
        "-m",
        "comment",
        "--comment",
        &format!("labwarp {lab} vbmc"),
        "-j",
        "ACCEPT",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Whether the port is open for the lab in the active firewall (true when none runs).
pub async fn port_open(ctx: &Ctx, fw: &Firewall, port: u16) -> anyhow::Result<bool> {
    let h = &ctx.virthost;
    Ok(match fw {
        Firewall::Firewalld => h
            .exec(
                &Cmd::new([
                    "firewall-cmd".to_string(),
                    format!("--query-port={port}/udp"),
                ])
                .sudo(),
            )
            .await?
            .success(),
        Firewall::Iptables => {
            let mut argv = vec!["iptables".to_string(), "-C".into()];
            argv.extend(iptables_rule(&ctx.lab.name, port));
            h.exec(&Cmd::new(argv).sudo()).await?.success()
        }
        Firewall::None(_) => true,
    })
}

/// Closes what labwarp opened for a port (both firewalls, whichever runs). Already closed is fine.
pub async fn close_port(ctx: &Ctx, port: u16) -> anyhow::Result<bool> {
    let h = &ctx.virthost;
    let (fw, _) = detect_firewall(ctx).await?;
    let mut closed = false;
    match fw {
        Firewall::Firewalld => {
            for perm in [false, true] {
                let mut argv = vec!["firewall-cmd".to_string()];
                if perm {
                    argv.push("--permanent".into());
                }
                argv.push(format!("--remove-port={port}/udp"));
                closed |= h.exec(&Cmd::new(argv).sudo()).await?.success();
            }
        }
        _ => {
            // Delete every copy of the rule (a rule added twice by hand is still ours).
            for _ in 0..16 {
                let mut argv = vec!["iptables".to_string(), "-D".into()];
                argv.extend(iptables_rule(&ctx.lab.name, port));
                match h.exec(&Cmd::new(argv).sudo()).await {
                    Ok(o) if o.success() => closed = true,
                    _ => break,
                }
            }
        }
    }
    Ok(closed)
}

/// Opens the nodes' UDP ports in the hypervisor's firewall; a no-op (with the evidence)
/// when no firewall guards INPUT.
pub struct OpenPorts {
    pub ports: Vec<u16>,
}

#[async_trait]
impl Step for OpenPorts {
    fn id(&self) -> &str {
        "vbmc-firewall"
    }
    fn title(&self) -> String {
        format!(
            "firewall: UDP {} open for VirtualBMC",
            self.ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
    fn resources(&self) -> Vec<Resource> {
        self.ports
            .iter()
            .map(|p| Resource::FirewallPort { port: *p })
            .collect()
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let (fw, seen) = detect_firewall(ctx.ctx).await?;
        if let Firewall::None(_) = fw {
            return Ok(Check::done(format!("no firewall guards INPUT ({seen})")));
        }
        let mut closed = Vec::new();
        for p in &self.ports {
            if !port_open(ctx.ctx, &fw, *p).await? {
                closed.push(p.to_string());
            }
        }
        Ok(if closed.is_empty() {
            Check::done(format!("{fw:?}: UDP ports open"))
        } else {
            Check::todo(format!("{fw:?}: UDP {} not open", closed.join(", ")))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let (fw, seen) = detect_firewall(ctx.ctx).await?;
        for port in &self.ports {
            if port_open(ctx.ctx, &fw, *port).await? {
                continue;
            }
            match fw {
                Firewall::Firewalld => {
                    for perm in [false, true] {
                        let mut argv = vec!["firewall-cmd".to_string()];
                        if perm {
                            argv.push("--permanent".into());
                        }
                        argv.push(format!("--add-port={port}/udp"));
                        ctx.run_ok(HostRole::Virthost, &Cmd::new(argv).sudo())
                            .await?;
                    }
                }
                Firewall::Iptables => {
                    let mut argv = vec!["iptables".to_string(), "-I".into()];
                    argv.extend(iptables_rule(&ctx.lab().name, *port));
                    ctx.run_ok(HostRole::Virthost, &Cmd::new(argv).sudo())
                        .await?;
                }
                Firewall::None(_) => {
                    ctx.info(format!("no firewall to open: {seen}"));
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> BmcEntry {
        BmcEntry {
            domain: "lab-controller-0".into(),
            username: "admin".into(),
            password: "s3cret".into(),
            address: "127.0.0.1".into(),
            port: 6230,
            libvirt_uri: "qemu:///system".into(),
            active: true,
        }
    }

    #[test]
    fn entry_round_trips_and_reads_what_vbmcd_rewrites() {
        let e = entry();
        assert_eq!(BmcEntry::parse(&e.to_config()), Some(e.clone()));
        // vbmcd's own _store_config (configparser) after `vbmc stop`: same keys, active False.
        let theirs = "[VirtualBMC]\ndomain_name = lab-controller-0\nusername = admin\npassword = s3cret\nport = 6230\naddress = 127.0.0.1\nlibvirt_uri = qemu:///system\nactive = False\n\n";
        let got = BmcEntry::parse(theirs).unwrap();
        assert_eq!(got.differences(&e), vec!["not active".to_string()]);
        assert_eq!(BmcEntry::parse("[VirtualBMC]\nport = x\n"), None);
    }

    #[test]
    fn differences_name_fields_but_never_the_password() {
        let mut other = entry();
        other.port = 6231;
        other.password = "another".into();
        let d = other.differences(&entry()).join(", ");
        assert!(d.contains("port 6231 (plan: 6230)"), "{d}");
        assert!(d.contains("a different password"), "{d}");
        assert!(!d.contains("another") && !d.contains("s3cret"), "{d}");
        assert!(!format!("{other:?}").contains("another"));
    }

    #[test]
    fn remote_uris_become_the_local_system_one() {
        assert_eq!(local_uri("qemu:///system"), "qemu:///system");
        assert_eq!(local_uri("qemu+ssh://root@hv/system"), "qemu:///system");
    }

    #[test]
    fn iptables_rule_is_tagged_with_the_lab() {
        let r = iptables_rule("lab1", 6230).join(" ");
        assert_eq!(
            r,
            "INPUT -p udp --dport 6230 -m comment --comment labwarp lab1 vbmc -j ACCEPT"
        );
    }
}
