//! The lab's vbmcd: started (systemd unit or detached process), found by its pid file,
//! and stopped with the BMC processes it started.

use super::{VbmcPaths, broken_entries, list, p, wait_until_done};
use crate::host::Cmd;
use crate::plan::{Check, Ctx, HostRole, Level, Resource, Step, StepCtx};
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
        if h.read_file(&conf).await? != paths.conf_text()?.as_bytes() {
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
                whole: true,
            },
        ]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        self.status(ctx).await
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let paths = &self.paths;
        let h = ctx.host(HostRole::Virthost).clone();
        crate::plan::steps::files::make_own_dir(ctx, HostRole::Virthost, &paths.dir, Some("0700"))
            .await?;
        ctx.run_ok(
            HostRole::Virthost,
            &Cmd::new(["mkdir", "-p", "-m", "0700", "--", &p(&paths.nodes_dir())]).sudo(),
        )
        .await?;
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
        let conf = paths.conf_text()?;
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
        // vbmcd writes its pid file and binds its control port within a second or two on an
        // idle host; a busy one (Python importing libvirt and zmq on a loaded CPU) took over
        // 15 s here: up to 60 s.
        let Err(last) = wait_until_done(ctx, 240, || self.status(ctx)).await? else {
            return Ok(());
        };
        // Its output, and its log (where vbmcd writes why it refused to start).
        let mut tail = Vec::new();
        for f in [paths.dir.join("vbmcd.out"), paths.log_file()] {
            let text = h
                .read_file(&f)
                .await
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            tail.extend(text.lines().rev().take(5).map(str::to_string));
        }
        anyhow::bail!(
            "vbmcd did not come up: {last}; its output and log: {}",
            tail.join(" | ")
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
