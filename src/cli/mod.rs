//! Command-line interface: argument types and one handler per subcommand. No logic lives
//! here beyond parsing and printing; handlers call into the library modules.

pub mod check;
mod check_bmc;
mod clean;
mod common;
mod containers;
mod drift;
pub mod export;
mod plan;
mod presets;
mod respin;
mod run;
mod run_fix;
mod snapshot;
pub mod ssh;
mod status;
mod tui;
mod validate;
mod vms;

pub use common::LabArgs;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit codes: 0 ok, 1 invalid input or failed checks, 2 usage error (clap's own).
pub const EXIT_INVALID: u8 = 1;

#[derive(Debug, Parser)]
#[command(
    name = "labwarp",
    version,
    about = "Build an OpenStack virtual lab on one KVM hypervisor, and keep it healthy"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// With no subcommand: walk the whole journey with the demo preset (no hypervisor needed).
    #[arg(long)]
    pub demo: bool,
    /// With no subcommand: colour theme of the TUI (themes/NAME.yaml). NO_COLOR is respected.
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a lab file (or a preset) and print every problem with its fix.
    /// Exit code 0 when valid (warnings allowed), 1 when invalid.
    Validate {
        /// Path to the lab file [default: lab.yaml].
        #[arg(conflicts_with = "preset")]
        file: Option<PathBuf>,
        /// Validate a shipped preset instead of a file (see `labwarp presets`).
        #[arg(long, value_name = "NAME")]
        preset: Option<String>,
    },
    /// List the shipped presets with a one-line description each.
    Presets,
    /// Render every artefact of a lab (libvirt XML, cloud-init, undercloud.conf,
    /// instackenv.json, ssh.config, Ansible inventory) into a directory.
    /// Exit code 0 when written, 1 when the lab is invalid or a file cannot be written.
    Export {
        /// Directory to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Path to the lab file [default: lab.yaml].
        #[arg(conflicts_with = "preset")]
        file: Option<PathBuf>,
        /// Export a shipped preset instead of a file (see `labwarp presets`).
        #[arg(long, value_name = "NAME")]
        preset: Option<String>,
    },
    /// Check the hypervisor's prerequisites; print findings with evidence and fixes.
    Check(check::CheckArgs),
    /// Run a command on a lab hypervisor, or open a shell there, over labwarp's own SSH
    /// connection (workspace key, host key pinned in workspace/known_hosts).
    /// Exit code: the command's; 1 bad lab file or host name; 255 connection failure.
    Ssh {
        /// Lab host: a hypervisor, `<hypervisor>-stack`, the undercloud VM (`<name>`, `<name>-root`) or an overcloud node, as in ssh.config.
        host: String,
        /// Command to run: the words are joined with spaces and run by the remote shell, as
        /// with ssh. None: an interactive shell on a PTY.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        cmd: Vec<String>,
        /// Path to the lab file [default: lab.yaml].
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Pin the host key on first contact if its SHA256 fingerprint is this one.
        #[arg(
            long,
            value_name = "FINGERPRINT",
            conflicts_with = "trust_on_first_use"
        )]
        trust_host_key: Option<String>,
        /// Pin whatever host key is offered on first contact (a changed key is still refused).
        #[arg(long, alias = "trust-first-use")]
        trust_on_first_use: bool,
        /// Ask for the user's password once (no echo) and use it only to install labwarp's
        /// public key into ~/.ssh/authorized_keys; the password is never stored.
        #[arg(long)]
        bootstrap: bool,
    },
    /// Show every step of the plan with what its check sees on the live hosts (hypervisor
    /// preparation incl. qemu.conf, AppArmor and nested KVM; images; VMs; install; deploy;
    /// live migration when enabled).
    Plan {
        #[command(flatten)]
        lab: LabArgs,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Build the lab: run the plan's steps, resuming from the first that is not done.
    /// Exit 0 when every stage finished, 1 otherwise, 130 when cancelled.
    Run {
        #[command(flatten)]
        lab: LabArgs,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Print events as JSON lines.
        #[arg(long)]
        json: bool,
        /// Start at this stage (earlier stages are assumed done).
        #[arg(long, value_name = "STAGE", conflicts_with = "only")]
        from: Option<String>,
        /// Run only this stage.
        #[arg(long, value_name = "STAGE")]
        only: Option<String>,
        /// Tear the lab down to this level first (nodes, virthost or all), as
        /// `labwarp clean --level LEVEL` would, then build it (quickstart's `--teardown`).
        #[arg(long, value_name = "LEVEL")]
        fresh: Option<crate::plan::Level>,
        /// When a step fails with a diagnosis labwarp can fix (a missing package, a
        /// qemu.conf/AppArmor denial, a network range in use, a taken VBMC port, a leftover
        /// domain, a full disk), show the exact change, apply it once confirmed (or with
        /// --yes) and run again from the failed step.
        #[arg(long)]
        fix: bool,
        /// overcloud: restore the snapshot taken after the undercloud install and deploy the
        /// overcloud again; undercloud: rebuild the undercloud from the base image.
        #[arg(long, value_name = "LEVEL", conflicts_with_all = ["fresh", "from", "only"])]
        respin: Option<crate::run::respin::Respin>,
        /// Take no snapshot after the undercloud install (lab.yaml
        /// `snapshots.after_undercloud_install` names it; default undercloud-installed).
        #[arg(long)]
        no_snapshot: bool,
        /// Restart running VMs whose changed settings (vCPUs, memory) wait for the next
        /// boot. Without it a restart is asked for on a terminal, and refused otherwise.
        #[arg(long)]
        restart: bool,
    },
    /// Show what exists (state file) and what is left (live checks).
    Status {
        #[command(flatten)]
        lab: LabArgs,
        #[arg(long)]
        json: bool,
    },
    /// The lab's VMs as the dashboard shows them: state, vCPUs, memory, addresses (read from
    /// libvirt; the hypervisor over SSH when it is remote). Exit 1 when libvirt cannot be read.
    Vms {
        #[command(flatten)]
        lab: LabArgs,
        #[arg(long)]
        json: bool,
    },
    /// The lab's containers where they run (the undercloud, or the hypervisor): the list, or
    /// one container's logs, a restart, or a shell. podman runs through sudo when the login
    /// is not root. Exit 1 on failure; with --shell, the shell's exit status.
    Containers {
        #[command(flatten)]
        lab: LabArgs,
        /// Print the last lines of this container's log.
        #[arg(long, value_name = "NAME", conflicts_with_all = ["restart", "shell"])]
        logs: Option<String>,
        /// How many log lines (with --logs).
        #[arg(long, value_name = "N", default_value_t = 200, requires = "logs")]
        tail: usize,
        /// Restart this container.
        #[arg(long, value_name = "NAME", conflicts_with = "shell")]
        restart: Option<String>,
        /// Open an interactive shell in this container (bash when it has one, else sh).
        #[arg(long, value_name = "NAME")]
        shell: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Whole-lab snapshots: save, restore, list (sizes, ages), delete.
    #[command(subcommand)]
    Snapshot(snapshot::Action),
    /// Remove what labwarp created, at a level: nodes, virthost or all (every level also
    /// removes the lab's snapshots).
    Clean {
        #[command(flatten)]
        lab: LabArgs,
        /// nodes: VMs, their disks and VirtualBMC entries; virthost: also networks, bridges,
        /// the pool, vbmcd, hypervisor files; all: also the stack user, images, VBMC venv,
        /// restored configs (`engine::resource::Level::describe`).
        #[arg(long, value_name = "LEVEL")]
        level: crate::plan::Level,
        /// List what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Some(Command::Validate { file, preset }) => validate::run(file, preset),
        Some(Command::Presets) => presets::run(),
        Some(Command::Export { out, file, preset }) => export::run(&out, file, preset),
        Some(Command::Check(args)) => check::run(args),
        Some(Command::Ssh {
            host,
            cmd,
            config,
            trust_host_key,
            trust_on_first_use,
            bootstrap,
        }) => ssh::run(ssh::SshArgs {
            host,
            cmd,
            config,
            trust_host_key,
            trust_on_first_use,
            bootstrap,
        }),
        Some(Command::Plan { lab, json }) => plan::run(lab, json),
        Some(Command::Run {
            lab,
            yes,
            json,
            from,
            only,
            fresh,
            fix,
            respin,
            no_snapshot,
            restart,
        }) => {
            let sel = match (from, only) {
                (Some(f), _) => crate::plan::Selection::From(f),
                (_, Some(o)) => crate::plan::Selection::Only(o),
                _ => crate::plan::Selection::All,
            };
            run::run(
                lab,
                run::RunOptions {
                    yes,
                    json,
                    selection: sel,
                    fresh,
                    fix,
                    respin,
                    no_snapshot,
                    restart,
                },
            )
        }
        Some(Command::Status { lab, json }) => status::run(lab, json),
        Some(Command::Vms { lab, json }) => vms::run(lab, json),
        Some(Command::Containers {
            lab,
            logs,
            tail,
            restart,
            shell,
            json,
        }) => {
            let what = match (logs, restart, shell) {
                (Some(name), _, _) => containers::What::Logs { name, tail },
                (_, Some(name), _) => containers::What::Restart(name),
                (_, _, Some(name)) => containers::What::Shell(name),
                _ => containers::What::List,
            };
            containers::run(lab, what, json)
        }
        Some(Command::Snapshot(action)) => snapshot::run(action),
        Some(Command::Clean {
            lab,
            level,
            dry_run,
            yes,
            json,
        }) => clean::run(lab, level, dry_run, yes, json),
        None => tui::run(cli.demo, cli.theme),
    }
}
