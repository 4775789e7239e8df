//! Whether one resource labwarp makes exists, and its removal: what a step's undo and
//! cleanup both call, so the plan that makes a thing also knows how to take it away.

use super::job::Job;
use super::ownership;
use super::steps::vbmc::{self, VbmcPaths};
use crate::engine::ctx::Ctx;
use crate::engine::resource::{ABSENT_MARKER, HostRole, Resource};
use crate::host::Cmd;
use crate::workspace::owner::{MARKER_FILE, marker_path};
use ownership::user_comment;
use std::path::Path;

/// Whether a resource exists now.
pub async fn exists(ctx: &Ctx, r: &Resource) -> anyhow::Result<bool> {
    Ok(match r {
        Resource::File { host, path, .. } | Resource::Dir { host, path, .. } => {
            ctx.host(*host).exists(path).await?
        }
        Resource::ConfigBackup { host, backup, .. } => ctx.host(*host).exists(backup).await?,
        Resource::Container { host, name } => {
            let out = ctx
                .host(*host)
                .exec(&Cmd::new(["podman", "container", "exists", name]).sudo())
                .await;
            matches!(out, Ok(o) if o.success())
        }
        Resource::Job { host, dir, name } => {
            Job::new(dir, name).exists(ctx.host(*host).as_ref()).await?
        }
        Resource::User { host, name } => {
            let out = ctx
                .host(*host)
                .exec(&Cmd::new(["getent", "passwd", name]))
                .await?;
            // Only a user labwarp created (its comment names the lab) counts as ours.
            out.success() && out.stdout_str().contains(&user_comment(&ctx.lab.name))
        }
        Resource::Domain { name } => ctx.libvirt.domain_exists(name).await?,
        Resource::Network { name } => ctx
            .libvirt
            .networks()
            .await?
            .iter()
            .any(|n| &n.name == name),
        Resource::Pool { name } => ctx.libvirt.pools().await?.iter().any(|p| &p.name == name),
        Resource::VbmcEntry { node } => {
            let paths = VbmcPaths::of(ctx);
            ctx.virthost.exists(&paths.node_dir(node)).await?
        }
        Resource::VbmcDaemon { dir } => {
            let paths = VbmcPaths::of(ctx).with_dir(dir);
            ctx.virthost.exists(&paths.pid_file()).await?
                || ctx.virthost.exists(&paths.unit_path()).await?
        }
        Resource::VbmcVenv { path } => ctx.virthost.exists(&vbmc::venv_marker(path)).await?,
        Resource::FirewallPort { port } => {
            let (fw, _) = vbmc::detect_firewall(ctx).await?;
            match fw {
                vbmc::Firewall::None(_) => false,
                fw => vbmc::port_open(ctx, &fw, *port).await?,
            }
        }
    })
}

/// Refuses paths whose removal would be a disaster whatever the state file says.
fn safe_to_remove(path: &Path) -> anyhow::Result<()> {
    let depth = path.components().count();
    if !path.is_absolute() || depth < 3 {
        anyhow::bail!(
            "refusing to remove {}: labwarp only removes absolute paths at least two levels deep",
            path.display()
        );
    }
    Ok(())
}

/// Removes one resource the caller has proven the lab's (cleanup's inventory, or a
/// step's undo of what its apply made); "already gone" is success. Returns why it was
/// left alone instead, for a directory that holds what labwarp did not make (never
/// removed) or a path that became a symbolic link. `log` narrates what was done.
pub async fn remove(
    ctx: &Ctx,
    r: &Resource,
    log: &mut (dyn FnMut(String) + Send),
) -> anyhow::Result<Option<String>> {
    match r {
        Resource::File { host, path, .. } => {
            safe_to_remove(path)?;
            let h = ctx.host(*host);
            // `rm -f` on a link removes the link, never what it points at (`exists` sees a
            // dangling link too).
            if h.exists(path).await? {
                run_ok(ctx, *host, Cmd::new(["rm", "-f", "--"]).arg_path(path)).await?;
                log(format!("removed file {}", path.display()));
            }
        }
        Resource::Dir {
            host, path, whole, ..
        } => {
            safe_to_remove(path)?;
            if ownership::is_link(ctx, *host, path).await {
                return Ok(Some(format!(
                    "{} is a symbolic link: labwarp never follows one to delete",
                    path.display()
                )));
            }
            let h = ctx.host(*host);
            if !h.exists(path).await? {
                return Ok(None);
            }
            if *whole {
                run_ok(ctx, *host, Cmd::new(["rm", "-rf", "--"]).arg_path(path)).await?;
                log(format!(
                    "removed directory {} with its content",
                    path.display()
                ));
            } else {
                let left = list_dir(ctx, *host, path).await?;
                if !left.is_empty() {
                    let why = format!(
                        "directory {} holds what labwarp did not make, so it stays: {}",
                        path.display(),
                        summarise(&left)
                    );
                    log(format!("kept {why}"));
                    return Ok(Some(why));
                }
                run_ok(
                    ctx,
                    *host,
                    Cmd::new(["rm", "-f", "--"]).arg_path(&marker_path(path)),
                )
                .await?;
                run_ok(ctx, *host, Cmd::new(["rmdir", "--"]).arg_path(path)).await?;
                log(format!("removed directory {} (empty)", path.display()));
            }
        }
        Resource::Container { host, name } => {
            // `rm -f` stops a running or paused container; `--ignore` makes a missing one fine.
            run_ok(
                ctx,
                *host,
                Cmd::new(["podman", "rm", "-f", "--ignore", "-t", "0", name]).sudo(),
            )
            .await?;
            log(format!("removed container {name}"));
        }
        Resource::Job { host, dir, name } => {
            let job = Job::new(dir, name);
            safe_to_remove(&job.base())?;
            let h = ctx.host(*host);
            // No pid file, no worker: the files alone say whether anything is there.
            if job.exists(h.as_ref()).await? {
                for line in job.stop_and_remove(h.as_ref()).await? {
                    log(line);
                }
            }
        }
        Resource::User { host, name } => {
            if exists(ctx, r).await? {
                // Processes first (quickstart: pkill, then pkill -9), then the user and home.
                let h = ctx.host(*host);
                let _ = h
                    .exec(&Cmd::new(["pkill", "-KILL", "-u", name]).sudo())
                    .await;
                run_ok(ctx, *host, Cmd::new(["userdel", "-r", "-f", name]).sudo()).await?;
                log(format!("removed user {name}"));
            }
        }
        Resource::ConfigBackup { host, path, backup } => {
            let h = ctx.host(*host);
            if h.exists(backup).await? {
                let saved = h.read_file(backup).await?;
                if saved == ABSENT_MARKER.as_bytes() {
                    if h.exists(path).await? {
                        run_ok(ctx, *host, Cmd::new(["rm", "-f", "--"]).arg_path(path)).await?;
                    }
                    log(format!(
                        "removed {} (it did not exist before labwarp)",
                        path.display()
                    ));
                } else {
                    // Keep the file's mode (qemu.conf is 0600): the backup was written with it.
                    let mode = h
                        .exec(&Cmd::new(["stat", "-c", "%a", "--"]).arg_path(backup))
                        .await
                        .ok()
                        .filter(|o| o.success())
                        .and_then(|o| u32::from_str_radix(o.stdout_str().trim(), 8).ok())
                        .unwrap_or(0o644);
                    h.write_file(path, &saved, mode).await?;
                    log(format!(
                        "restored {} from {}",
                        path.display(),
                        backup.display()
                    ));
                }
                run_ok(ctx, *host, Cmd::new(["rm", "-f", "--"]).arg_path(backup)).await?;
            }
        }
        Resource::Domain { name } => {
            let u = crate::plan::steps::libvirt::remove_domain(&ctx.libvirt, name).await?;
            if u.outcome != crate::virt::Outcome::AlreadyAbsent {
                log(format!(
                    "removed domain {name}{}{}",
                    if u.destroyed {
                        " (was running: destroyed first)"
                    } else {
                        ""
                    },
                    if u.removed_volumes.is_empty() {
                        String::new()
                    } else {
                        format!(", volumes {}", u.removed_volumes.join(", "))
                    }
                ));
            }
        }
        Resource::Network { name } => {
            if ctx.libvirt.undefine_network(name).await? != crate::virt::Outcome::AlreadyAbsent {
                log(format!("removed network {name} (and its bridge)"));
            }
        }
        Resource::Pool { name } => {
            // Stops it first; the pool's directory is a separate `Dir` resource.
            if ctx.libvirt.undefine_pool(name).await? != crate::virt::Outcome::AlreadyAbsent {
                log(format!("removed storage pool {name}"));
            }
        }
        Resource::VbmcEntry { node } => {
            vbmc::remove_entry(ctx, &VbmcPaths::of(ctx), node, log).await?;
        }
        Resource::VbmcDaemon { dir } => {
            vbmc::stop_daemon(ctx, &VbmcPaths::of(ctx).with_dir(dir), log).await?;
        }
        Resource::VbmcVenv { path } => {
            vbmc::remove_venv(ctx, path, log).await?;
        }
        Resource::FirewallPort { port } => {
            if vbmc::close_port(ctx, *port).await? {
                log(format!("closed UDP {port} in the firewall"));
            }
        }
    }
    Ok(None)
}

pub(crate) async fn run_ok(ctx: &Ctx, role: HostRole, cmd: Cmd) -> anyhow::Result<()> {
    let out = ctx.host(role).exec(&cmd).await?;
    if !out.success() {
        anyhow::bail!(
            "`{}` on {} failed: {}",
            cmd.to_shell(),
            ctx.host(role).name(),
            out.stderr_str().trim()
        );
    }
    Ok(())
}

pub(crate) trait ArgPath {
    fn arg_path(self, p: &Path) -> Self;
}

impl ArgPath for Cmd {
    fn arg_path(mut self, p: &Path) -> Self {
        self.argv.push(p.to_string_lossy().into_owned());
        self.sudo = true;
        self
    }
}

/// The entries of a directory but labwarp's marker (`ls -A`: hidden ones too).
pub async fn list_dir(ctx: &Ctx, role: HostRole, dir: &Path) -> anyhow::Result<Vec<String>> {
    let p = dir.to_string_lossy().into_owned();
    let out = ctx
        .host(role)
        .exec(&Cmd::new(["ls", "-A", "-1", "--", &p]).sudo())
        .await?;
    if !out.success() {
        anyhow::bail!(
            "cannot list {} on {}: {}",
            dir.display(),
            ctx.host(role).name(),
            out.stderr_str().trim()
        );
    }
    Ok(out
        .stdout_str()
        .lines()
        .filter(|l| !l.is_empty() && *l != MARKER_FILE)
        .map(str::to_string)
        .collect())
}

pub fn summarise(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
    let more = names.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}
