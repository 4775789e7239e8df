//! A stale lock: vbmcd's pid file (in the lab's own VirtualBMC directory) names a process
//! that is no vbmcd any more (the daemon died without removing it, and its pid was reused
//! or is gone). vbmcd refuses to start while its pid file names any live process ("server
//! PID #N still running"), so the lab's BMCs never come up. The file is removed when its
//! holder is proven dead; a live vbmcd's pid file is never touched.

use super::{Action, Prepared};
use crate::plan::steps::vbmc::{VbmcPaths, daemon_pid};
use crate::plan::{Ctx, HostRole};

pub async fn prepare(ctx: &Ctx, p: &mut Prepared) -> anyhow::Result<()> {
    let paths = VbmcPaths::new(&ctx.lab, &ctx.facts);
    let file = paths.pid_file();
    let h = &ctx.virthost;
    if !h.exists(&file).await? {
        p.by_hand = Some(format!("{} is gone now: run again", file.display()));
        return Ok(());
    }
    if let Some(pid) = daemon_pid(ctx, &paths).await? {
        p.by_hand = Some(format!(
            "{} names pid {pid}, a live vbmcd (this lab's): not stale; run again",
            file.display()
        ));
        return Ok(());
    }
    let text = h.read_file(&file).await?;
    let named = String::from_utf8_lossy(&text).trim().to_string();
    let holder = match named.parse::<u32>() {
        Ok(pid) => match h
            .read_file(std::path::Path::new(&format!("/proc/{pid}/cmdline")))
            .await
        {
            Ok(c) => format!(
                "pid {pid}, now `{}` (not vbmcd: the pid was reused)",
                String::from_utf8_lossy(&c).replace('\0', " ").trim()
            ),
            Err(_) => format!("pid {pid}, which is not running"),
        },
        Err(_) => format!("{named:?}, not a pid"),
    };
    p.lines.push(format!(
        "{} (this lab's VirtualBMC directory) names {holder}: a stale lock left by a vbmcd that died",
        file.display()
    ));
    p.actions.push(Action::Run {
        host: HostRole::Virthost,
        argv: vec![
            "rm".into(),
            "-f".into(),
            "--".into(),
            file.to_string_lossy().into_owned(),
        ],
    });
    Ok(())
}
