//! The lab's containers where they run (the session's container host: the undercloud, its
//! sandbox, or the hypervisor), as the dashboard's podman pane and `labwarp containers`
//! both reach them: list (only the lab's, by its labels), logs, restart, and the argv of an
//! interactive shell. podman runs through `sudo -n` for a login that is not root: TripleO's
//! containers are root's.

use crate::engine::event::ContainerRow;
use crate::host::OutputLine;
use crate::plan::{Ctx, HostRole};
use crate::podman::{Podman, PodmanError, ShellKind, ShellVia};
use std::time::Duration;

/// How long a restart lets a container stop before it is killed.
pub const RESTART_GRACE: Duration = Duration::from_secs(10);

/// podman on the lab's container host.
pub fn podman(ctx: &Ctx) -> Podman {
    Podman::new(ctx.host(ctx.facts.container_host).clone())
}

/// The lab's containers (carrying its name and identity labels), as the pane shows them.
pub async fn list(ctx: &Ctx) -> Result<Vec<ContainerRow>, PodmanError> {
    crate::plan::steps::openstack::lab_containers(ctx).await
}

/// Refuses a name that is not one of the lab's containers (no reaching into others').
async fn lab_container(ctx: &Ctx, name: &str) -> Result<(), PodmanError> {
    if list(ctx).await?.iter().any(|c| c.name == name) {
        return Ok(());
    }
    Err(PodmanError::NotFound {
        host: ctx.host(ctx.facts.container_host).name().to_string(),
        name: name.to_string(),
    })
}

/// The last `tail` lines of one of the lab's containers' log.
pub async fn logs(ctx: &Ctx, name: &str, tail: usize) -> Result<Vec<OutputLine>, PodmanError> {
    lab_container(ctx, name).await?;
    podman(ctx).logs(name, Some(tail)).await
}

/// Restarts one of the lab's containers.
pub async fn restart(ctx: &Ctx, name: &str) -> Result<(), PodmanError> {
    lab_container(ctx, name).await?;
    podman(ctx).restart(name, RESTART_GRACE).await
}

/// Where the container host is, for a shell with the terminal attached: this machine (the
/// sandbox, or a local hypervisor), else `ssh -F workspace/ssh.config` to its alias (the
/// host keys pinned there), through sudo when that login is not root.
pub fn shell_via(ctx: &Ctx) -> Result<ShellVia, String> {
    let lab = &ctx.lab;
    let hv = lab.hypervisors.first();
    let root_here = nix::unistd::geteuid().is_root();
    let (alias, user) = match ctx.facts.container_host {
        HostRole::Undercloud if ctx.facts.sandbox => {
            return Ok(ShellVia::Local { root: root_here });
        }
        HostRole::Virthost if hv.is_none_or(|h| h.is_local()) => {
            return Ok(ShellVia::Local { root: root_here });
        }
        HostRole::Virthost => {
            let hv = hv.ok_or("the lab names no hypervisor")?;
            (hv.name.clone(), hv.ssh_user.clone())
        }
        HostRole::Undercloud => (
            crate::render::ssh_config::undercloud_alias(lab).map_err(|e| e.to_string())?,
            lab.undercloud.cloud_init.user.clone(),
        ),
    };
    let config = crate::workspace::ssh_config(&ctx.workspace);
    if !config.is_file() {
        return Err(format!(
            "{} does not exist yet: the undercloud-vm stage writes it",
            config.display()
        ));
    }
    Ok(ShellVia::Ssh {
        ssh_prefix: vec!["ssh".into(), "-F".into(), config.display().to_string()],
        destination: alias,
        root: user == "root",
    })
}

/// The argv of an interactive shell (bash when the image has it) in one of the lab's
/// containers.
pub async fn shell_argv(ctx: &Ctx, name: &str) -> Result<Vec<String>, String> {
    lab_container(ctx, name).await.map_err(|e| e.to_string())?;
    let via = shell_via(ctx)?;
    crate::podman::shell_argv(name, ShellKind::Auto, &via).map_err(|e| e.to_string())
}
