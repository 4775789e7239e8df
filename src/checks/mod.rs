//! Preflight checks: read-only probes of a hypervisor, each family in its own file, each
//! returning [`Finding`]s with the evidence they rest on and an idempotent [`Fix`].
//!
//! Every family is split in two: `gather` reads facts through a [`HostView`] (a [`Host`] plus
//! a root directory, so tests point it at a fixture tree), and `evaluate` turns facts into
//! findings without any I/O. Fixture tests therefore check the exact findings and fixes.

pub mod apparmor;
pub mod capacity;
pub mod commands;
pub mod finding;
pub mod fix_text;
pub mod images;
pub mod kvm_probe;
pub mod libvirt;
pub mod network;
pub mod qemu_conf;
pub mod user_os;
pub mod vbmc;
pub mod virtualization;

pub use finding::{Area, FileEdit, Finding, Fix, Report, Severity};

use crate::host::{Cmd, Host, HostError};
use crate::lab::{Hypervisor, Lab};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// How long any single probe command may run.
const CMD_TIMEOUT: Duration = Duration::from_secs(30);

/// A [`Host`] seen through a root directory: `/etc/libvirt/qemu.conf` is read from
/// `<root>/etc/libvirt/qemu.conf`. With a root other than `/` (a fixture tree) system commands
/// (`virsh`, `ip`, `ss`, `sudo`, ioctls) are not run and their facts are "not probed"; file
/// commands (`find`, `stat`, `df`, `md5sum`) run on the rooted paths.
pub struct HostView<'a> {
    pub host: &'a dyn Host,
    root: PathBuf,
    /// The host is this machine (kernel probes such as the KVM ioctl are possible).
    local: bool,
}

/// The result of reading one file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FileRead {
    Content(String),
    #[default]
    Missing,
    /// Unreadable for another reason (permission, I/O); the message says why.
    Error(String),
}

impl FileRead {
    pub fn content(&self) -> Option<&str> {
        match self {
            FileRead::Content(s) => Some(s),
            _ => None,
        }
    }
}

/// The result of running one probe command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdRun {
    /// Not run, and why (fixture root, remote host for a local-only probe).
    NotProbed(String),
    /// The command could not be started or timed out.
    Error(String),
    Ran {
        /// The command line as shown in evidence (`$ virsh -c qemu:///system uri`).
        shown: String,
        code: Option<i32>,
        stdout: String,
        stderr: String,
    },
}

impl CmdRun {
    /// Stdout of a command that exited 0.
    pub fn ok_stdout(&self) -> Option<&str> {
        match self {
            CmdRun::Ran {
                code: Some(0),
                stdout,
                ..
            } => Some(stdout),
            _ => None,
        }
    }

    /// The evidence text: the command line, its exit status and its output.
    pub fn evidence(&self) -> String {
        match self {
            CmdRun::NotProbed(why) => format!("not probed: {why}"),
            CmdRun::Error(e) => format!("could not run: {e}"),
            CmdRun::Ran {
                shown,
                code,
                stdout,
                stderr,
            } => {
                let mut s = format!("$ {shown}\n");
                s.push_str(stdout.trim_end());
                if !stderr.trim().is_empty() {
                    if !stdout.trim().is_empty() {
                        s.push('\n');
                    }
                    s.push_str(stderr.trim_end());
                }
                match code {
                    Some(0) => {}
                    Some(c) => s.push_str(&format!("\n(exit status {c})")),
                    None => s.push_str("\n(killed by a signal)"),
                }
                s.trim_end().to_string()
            }
        }
    }
}

impl Default for CmdRun {
    fn default() -> Self {
        CmdRun::NotProbed("not gathered".into())
    }
}

impl<'a> HostView<'a> {
    /// The host's real file system (`/`).
    pub fn system(host: &'a dyn Host, local: bool) -> Self {
        HostView {
            host,
            root: PathBuf::from("/"),
            local,
        }
    }

    /// A fixture tree standing in for `/`.
    pub fn rooted(host: &'a dyn Host, root: impl Into<PathBuf>, local: bool) -> Self {
        HostView {
            host,
            root: root.into(),
            local,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether this view is the host's real `/` (system commands may run).
    pub fn is_real(&self) -> bool {
        self.root == Path::new("/")
    }

    /// Whether kernel probes on this machine (ioctls on `/dev/kvm`) are meaningful.
    pub fn can_probe_kernel(&self) -> bool {
        self.local && self.is_real()
    }

    pub fn is_local(&self) -> bool {
        self.local
    }

    /// Maps an absolute host path into the view (`/etc/x` → `<root>/etc/x`). `..` components
    /// are dropped so a path can never climb out of the root.
    pub fn path(&self, p: &Path) -> PathBuf {
        let mut out = self.root.clone();
        for c in p.components() {
            if let Component::Normal(part) = c {
                out.push(part);
            }
        }
        out
    }

    pub async fn read(&self, p: impl AsRef<Path>) -> FileRead {
        let full = self.path(p.as_ref());
        match self.host.read_file(&full).await {
            Ok(bytes) => FileRead::Content(String::from_utf8_lossy(&bytes).into_owned()),
            Err(HostError::File { reason, .. }) if reason == "not found" => FileRead::Missing,
            Err(HostError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => FileRead::Missing,
            Err(e) => {
                // Root-only files (qemu.conf is 0600): read them through `sudo -n` when the
                // user is not root; keep the first error when that fails too.
                let first = e.to_string();
                if !first.contains("ermission denied") {
                    return FileRead::Error(first);
                }
                let cmd = Cmd::new(["cat", "--", full.to_string_lossy().as_ref()])
                    .sudo()
                    .timeout(CMD_TIMEOUT);
                match self.host.exec(&cmd).await {
                    Ok(out) if out.success() => FileRead::Content(out.stdout_str()),
                    _ => FileRead::Error(first),
                }
            }
        }
    }

    pub async fn exists(&self, p: impl AsRef<Path>) -> bool {
        self.host
            .exists(&self.path(p.as_ref()))
            .await
            .unwrap_or(false)
    }

    /// Names of the entries of a directory, sorted; `None` when it does not exist.
    pub async fn list_dir(&self, p: impl AsRef<Path>) -> Option<Vec<String>> {
        let full = self.path(p.as_ref());
        let full_s = full.to_string_lossy().into_owned();
        let cmd = Cmd::new([
            "find",
            full_s.as_str(),
            "-mindepth",
            "1",
            "-maxdepth",
            "1",
            "-printf",
            "%f\\n",
        ])
        .timeout(CMD_TIMEOUT);
        match self.host.exec(&cmd).await {
            Ok(out) if out.success() => {
                let mut names: Vec<String> = out
                    .stdout_str()
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect();
                names.sort();
                Some(names)
            }
            _ => None,
        }
    }

    /// Runs a command that only reads the rooted file system (`stat`, `df`, `md5sum`): path
    /// arguments must already be mapped with [`HostView::path`].
    pub async fn fs_cmd(&self, argv: &[String]) -> CmdRun {
        self.exec(argv, false).await
    }

    /// Runs a system probe (`virsh`, `ip`, `ss`, `sudo`); not run on a fixture root.
    pub async fn sys_cmd(&self, argv: &[&str]) -> CmdRun {
        if !self.is_real() {
            return CmdRun::NotProbed(format!(
                "fixture root {} (system commands run only against /)",
                self.root.display()
            ));
        }
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        self.exec(&argv, false).await
    }

    async fn exec(&self, argv: &[String], sudo: bool) -> CmdRun {
        let mut cmd = Cmd::new(argv.iter().cloned()).timeout(CMD_TIMEOUT);
        cmd.sudo = sudo;
        self.run(&cmd).await
    }

    /// Runs a prepared command (its own stdin, timeout, sudo) whatever the root, and keeps what
    /// it did as a [`CmdRun`].
    pub async fn run(&self, cmd: &Cmd) -> CmdRun {
        let shown = cmd.to_shell();
        match self.host.exec(cmd).await {
            Ok(out) => CmdRun::Ran {
                shown,
                code: out.code,
                stdout: out.stdout_str(),
                stderr: out.stderr_str(),
            },
            Err(e) => CmdRun::Error(e.to_string()),
        }
    }
}

/// Which qemu.conf settings the lab expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum QemuMode {
    /// qemu runs as root without a security driver (oooq-warp's recipe: `user = "root"`,
    /// `group = "root"`, `dynamic_ownership = 0`, `security_driver = "none"`): images may
    /// live anywhere root can read.
    #[default]
    Root,
    /// The distribution's defaults: qemu as its own user, dynamic ownership, the distro's
    /// security driver (AppArmor or SELinux) active.
    Distro,
}

/// Knobs of one check run.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOptions {
    /// Allowed memory overcommit: the plan may use up to `MemAvailable × overcommit`.
    pub overcommit: f64,
    pub qemu_mode: QemuMode,
    /// Whether nested KVM should be on (quickstart's default `nested: true`).
    pub want_nested: bool,
    /// Boot a probe guest for a definite KVM answer.
    pub deep: bool,
    /// Directory with the probe guest's `vmlinuz` and `initrd.img`
    /// (scripts/build-tiny-guest.sh DIR builds them).
    pub probe_guest: PathBuf,
    /// Upper bound for the probe boot.
    pub probe_timeout: Duration,
}

/// Where scripts/setup-host.sh builds the probe guest (`$LABWARP_TINY_GUEST_CACHE` overrides).
pub fn default_probe_guest_dir() -> PathBuf {
    std::env::var_os("LABWARP_TINY_GUEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/labwarp-test/tiny-guest"))
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            overcommit: 1.0,
            qemu_mode: QemuMode::Root,
            want_nested: true,
            deep: false,
            probe_guest: default_probe_guest_dir(),
            probe_timeout: Duration::from_secs(90),
        }
    }
}

/// What the checks are about: the hypervisor and, unless `--local`, the lab to build on it.
#[derive(Debug, Clone)]
pub struct CheckContext {
    pub hypervisor: Hypervisor,
    /// `None` with `--local`: only host-level checks run.
    pub lab: Option<Lab>,
    pub options: CheckOptions,
}

impl CheckContext {
    /// `labwarp check --local`: this machine, system libvirt, no lab.
    pub fn local(options: CheckOptions) -> Self {
        CheckContext {
            hypervisor: Hypervisor {
                name: "local".into(),
                address: "local".into(),
                ..Hypervisor::default()
            },
            lab: None,
            options,
        }
    }

    /// The first hypervisor of a lab.
    pub fn for_lab(lab: Lab, options: CheckOptions) -> Self {
        let hypervisor = lab.hypervisors.first().cloned().unwrap_or_default();
        CheckContext {
            hypervisor,
            lab: Some(lab),
            options,
        }
    }
}

/// Every fact gathered in one run (the input of [`evaluate`]).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub virt: virtualization::VirtFacts,
    pub apparmor: apparmor::AppArmorFacts,
    pub qemu_conf: qemu_conf::QemuConfFacts,
    pub libvirt: libvirt::LibvirtFacts,
    pub capacity: capacity::CapacityFacts,
    pub images: images::ImageFacts,
    pub network: network::NetworkFacts,
    pub user_os: user_os::UserOsFacts,
    pub vbmc: vbmc::VbmcFacts,
    pub commands: commands::CommandsFacts,
}

/// Reads every fact through the view.
pub async fn gather(view: &HostView<'_>, ctx: &CheckContext) -> Facts {
    let libvirt = libvirt::gather(view, ctx).await;
    let mut virt = virtualization::gather(view, ctx).await;
    // The capabilities XML is read once, by the libvirt family.
    virt.capabilities = libvirt.capabilities.clone();
    if ctx.options.deep {
        virt.deep = Some(virtualization::deep_probe(view, ctx).await);
    }
    Facts {
        virt,
        apparmor: apparmor::gather(view, ctx).await,
        qemu_conf: qemu_conf::gather(view).await,
        libvirt,
        capacity: capacity::gather(view, ctx).await,
        images: images::gather(view, ctx).await,
        network: network::gather(view, ctx).await,
        user_os: user_os::gather(view, ctx).await,
        vbmc: vbmc::gather(view, ctx).await,
        commands: commands::gather(view, ctx).await,
    }
}

/// Turns facts into findings (pure).
pub fn evaluate(facts: &Facts, ctx: &CheckContext) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(virtualization::evaluate(&facts.virt, ctx));
    out.extend(apparmor::evaluate(&facts.apparmor, &facts.qemu_conf, ctx));
    out.extend(qemu_conf::evaluate(&facts.qemu_conf, ctx));
    out.extend(libvirt::evaluate(&facts.libvirt, ctx));
    out.extend(capacity::evaluate(&facts.capacity, ctx));
    out.extend(images::evaluate(&facts.images, ctx));
    out.extend(network::evaluate(&facts.network, ctx));
    out.extend(user_os::evaluate(&facts.user_os, ctx));
    out.extend(vbmc::evaluate(&facts.vbmc, ctx));
    out.extend(commands::evaluate(&facts.commands, ctx));
    out
}

/// Gathers and evaluates: the whole `labwarp check` minus printing.
pub async fn run(view: &HostView<'_>, ctx: &CheckContext) -> Report {
    let facts = gather(view, ctx).await;
    Report {
        host: view.host.name().to_string(),
        findings: evaluate(&facts, ctx),
    }
}

/// What applying a fix did, step by step (shown to the user).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub steps: Vec<String>,
    /// Whether anything was changed at all (false on a second run).
    pub changed: bool,
}

/// Applies a fix through the view: file edits go to rooted paths (so a fixture copy can be
/// fixed for real), commands run only against the real `/`. Safe to run twice: an edit whose
/// file already has the new content is skipped, an existing backup is never overwritten.
pub async fn apply_fix(view: &HostView<'_>, fix: &Fix) -> Result<Applied, HostError> {
    let mut applied = Applied::default();
    for edit in &fix.edits {
        let target = view.path(&edit.path);
        let current = view.read(&edit.path).await;
        if current.content() == Some(edit.content.as_str()) {
            applied
                .steps
                .push(format!("{}: already as wanted", edit.path.display()));
            continue;
        }
        if let (Some(backup), FileRead::Content(old)) = (&edit.backup, &current) {
            if view.exists(backup).await {
                applied.steps.push(format!(
                    "{}: backup {} kept (it holds the earlier original)",
                    edit.path.display(),
                    backup.display()
                ));
            } else {
                view.host
                    .write_root_file(&view.path(backup), old.as_bytes(), edit.mode)
                    .await?;
                applied.steps.push(format!(
                    "{}: backed up to {}",
                    edit.path.display(),
                    backup.display()
                ));
            }
        }
        if let Some(parent) = edit.path.parent()
            && !view.exists(parent).await
        {
            let dir = view.path(parent).to_string_lossy().into_owned();
            let out = view
                .host
                .exec(&Cmd::new(["mkdir", "-p", dir.as_str()]).sudo())
                .await?;
            if !out.success() {
                return Err(HostError::Other {
                    host: view.host.name().to_string(),
                    msg: format!("mkdir -p {dir}: {}", out.stderr_str().trim()),
                });
            }
        }
        // System files: as root (through sudo when the SSH user is not root).
        view.host
            .write_root_file(&target, edit.content.as_bytes(), edit.mode)
            .await?;
        applied.changed = true;
        applied
            .steps
            .push(format!("{}: written", edit.path.display()));
    }
    for argv in &fix.commands {
        let shown = Cmd::new(argv.iter().cloned()).to_shell();
        if !view.is_real() {
            applied.steps.push(format!(
                "not run on fixture root {}: {shown}",
                view.root().display()
            ));
            continue;
        }
        let cmd = Cmd::new(argv.iter().cloned()).sudo().timeout(CMD_TIMEOUT);
        let out = view.host.exec(&cmd).await?;
        if !out.success() {
            return Err(HostError::Other {
                host: view.host.name().to_string(),
                msg: format!(
                    "`{shown}` failed ({}): {}",
                    out.code
                        .map(|c| format!("exit {c}"))
                        .unwrap_or_else(|| "signal".into()),
                    out.stderr_str().trim()
                ),
            });
        }
        applied.changed = true;
        applied.steps.push(format!("ran: {shown}"));
    }
    if let Some(daemon) = &fix.restart
        && applied.changed
    {
        applied.steps.push(format!(
            "restart {daemon} for the change to take effect (labwarp does not restart it: running VMs depend on it)"
        ));
    }
    Ok(applied)
}
