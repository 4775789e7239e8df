//! A VirtualBMC UDP port of the lab is taken. Held by this lab's own vbmcd (a stale daemon
//! or BMC of an earlier run: its pid file, its process group, or its environment naming the
//! lab's VirtualBMC config prove it), the daemon is stopped and the stage starts it anew.
//! Held by anything else (another service, another lab's vbmcd), it is left alone and the
//! lab moves: `overcloud.vbmc.base_port` in lab.yaml to the first run of free ports.

use super::{Action, Prepared, lab_file};
use crate::checks::network::{parse_udp_ports, socket_owner};
use crate::host::Cmd;
use crate::plan::Ctx;
use crate::plan::steps::vbmc::{VbmcPaths, daemon_pid};
use std::path::Path;

/// UDP ports in use on the hypervisor, with their holder (name, pid) when `ss` says.
async fn used(ctx: &Ctx, args: &str) -> anyhow::Result<Vec<(u16, Option<(String, u32)>)>> {
    let out = ctx
        .virthost
        .exec(&Cmd::new(["ss", "-H", args]).sudo())
        .await?;
    anyhow::ensure!(
        out.success(),
        "ss {args} on the hypervisor failed: {}",
        out.stderr_str().trim()
    );
    Ok(parse_udp_ports(&out.stdout_str())
        .into_iter()
        .map(|(port, line)| (port, socket_owner(&line)))
        .collect())
}

/// Whether process `pid` is this lab's vbmcd or one of the BMCs it started.
async fn lab_vbmc(ctx: &Ctx, paths: &VbmcPaths, pid: u32) -> anyhow::Result<bool> {
    let daemon = daemon_pid(ctx, paths).await?;
    if daemon == Some(pid) {
        return Ok(true);
    }
    let read = |f: String| Cmd::new(["cat", f.as_str()]).sudo();
    let stat = ctx
        .virthost
        .exec(&read(format!("/proc/{pid}/stat")))
        .await?;
    // `pid (comm) state ppid pgrp …`: after the last `)`.
    let stat = stat.stdout_str();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    if let Some(d) = daemon
        && fields.iter().skip(1).take(2).any(|f| *f == d.to_string())
    {
        return Ok(true);
    }
    let env = ctx
        .virthost
        .exec(&read(format!("/proc/{pid}/environ")))
        .await?;
    let want = format!("VIRTUALBMC_CONFIG={}", paths.conf().display());
    Ok(env.stdout.split(|b| *b == 0).any(|v| v == want.as_bytes()))
}

pub async fn prepare(ctx: &Ctx, lab_file: Option<&Path>, p: &mut Prepared) -> anyhow::Result<()> {
    let paths = VbmcPaths::new(&ctx.lab, &ctx.facts);
    let nodes = ctx.lab.nodes();
    let udp = used(ctx, "-ulnp").await?;
    let mut foreign = Vec::new();
    let mut ours = Vec::new();
    for n in &nodes {
        for (_, holder) in udp.iter().filter(|(port, _)| *port == n.vbmc_port) {
            let who = holder
                .as_ref()
                .map_or("an unknown process".into(), |(name, pid)| {
                    format!("{name} (pid {pid})")
                });
            let mine = match holder {
                Some((_, pid)) => lab_vbmc(ctx, &paths, *pid).await?,
                None => false,
            };
            p.lines.push(format!(
                "{} UDP port {} is held by {who}{}",
                n.name,
                n.vbmc_port,
                if mine { ", this lab's VirtualBMC" } else { "" }
            ));
            if let (true, Some((_, pid))) = (mine, holder) {
                ours.push(*pid);
            } else {
                foreign.push(n.vbmc_port);
            }
        }
    }
    // This lab's own (a stale daemon or an orphaned BMC, proven above): stopped, and the
    // stage starts the daemon again.
    ours.sort_unstable();
    ours.dedup();
    let stop = |p: &mut Prepared| {
        for pid in &ours {
            p.actions.push(Action::Run {
                host: crate::plan::HostRole::Virthost,
                argv: vec!["kill".into(), "-TERM".into(), pid.to_string()],
            });
        }
        p.actions.push(Action::StopVbmcd);
    };
    if foreign.is_empty() && !ours.is_empty() {
        p.lines
            .push("  this lab's VirtualBMC is stopped; the stage starts it again".into());
        stop(p);
        return Ok(());
    }
    if foreign.is_empty() {
        p.by_hand = Some("no VirtualBMC port of the lab is taken now: run again".into());
        return Ok(());
    }
    // Free ports for every node, and vbmcd's control port (TCP, the base port) too.
    let tcp = used(ctx, "-tlnp").await?;
    let taken = |port: u16| udp.iter().chain(&tcp).any(|(q, _)| *q == port);
    let count = nodes.len().max(1) as u32;
    let old = ctx.lab.overcloud.vbmc.base_port;
    let base = (u32::from(old) + count..=u32::from(u16::MAX) - count)
        .chain(1024..u32::from(old))
        .find(|b| (*b..*b + count).all(|q| !taken(q as u16)))
        .ok_or_else(|| anyhow::anyhow!("no run of {count} free UDP ports on the hypervisor"))?
        as u16;
    p.lines.push(format!(
        "  left alone; lab.yaml: overcloud.vbmc.base_port {old} → {base} (ports {base}-{})",
        u32::from(base) + count - 1
    ));
    let Some(file) = lab_file else {
        p.by_hand = Some(format!(
            "the lab comes from a preset, not a file: save it as lab.yaml with overcloud.vbmc.base_port: {base}"
        ));
        return Ok(());
    };
    let (text, checked) = lab_file::edited(file, |m| {
        lab_file::child(lab_file::child(m, "overcloud"), "vbmc")
            .insert("base_port".into(), u64::from(base).into());
        Ok(())
    })?;
    anyhow::ensure!(checked.overcloud.vbmc.base_port == base);
    let mut lab = ctx.lab.clone();
    lab.overcloud.vbmc.base_port = base;
    p.actions.push(Action::EditLab {
        file: file.to_path_buf(),
        text,
        lab: Box::new(lab),
    });
    if !ours.is_empty() {
        stop(p);
    }
    Ok(())
}
