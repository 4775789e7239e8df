//! The file system of the lab's pool (or image cache) is full. What uses the space is
//! shown; offered for removal is only what labwarp can prove is its own and no longer
//! needed: files of this lab recorded in the state file (labwarp made them) that are a
//! partial or rejected download (`.part`, `.bad`), or that no step of the lab as it is now
//! wants any more (a disk of a node the lab no longer has). Anything else is left to the
//! person, with what to do.

use super::{Action, Prepared};
use crate::host::Cmd;
use crate::plan::{Ctx, HostRole, Resource};
use crate::run::state::State;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A command's output on the hypervisor (as root), or its error.
async fn out(ctx: &Ctx, argv: &[&str]) -> anyhow::Result<String> {
    let o = ctx
        .virthost
        .exec(&Cmd::new(argv.iter().copied()).sudo())
        .await?;
    anyhow::ensure!(
        o.success(),
        "`{}` failed: {}",
        argv.join(" "),
        o.stderr_str().trim()
    );
    Ok(o.stdout_str())
}

/// Bytes a file takes on disk (its blocks: a sparse disk image counts what it holds).
async fn size(ctx: &Ctx, path: &Path) -> u64 {
    let p = path.to_string_lossy();
    out(ctx, &["du", "-s", "-B1", "--", &p])
        .await
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// The files of this lab's state file, on the hypervisor, in `dirs`.
fn recorded_files<'a>(state: &'a State, dirs: &'a [PathBuf]) -> impl Iterator<Item = &'a PathBuf> {
    state
        .resources
        .iter()
        .filter_map(move |e| match &e.resource {
            Resource::File {
                host: HostRole::Virthost,
                path,
                ..
            } if dirs.iter().any(|d| path.starts_with(d)) => Some(path),
            _ => None,
        })
}

pub async fn prepare(ctx: &Ctx, state: &State, p: &mut Prepared) -> anyhow::Result<()> {
    let dirs = vec![ctx.facts.pool_dir.clone(), ctx.facts.image_cache.clone()];
    for d in &dirs {
        let dp = d.to_string_lossy();
        if let Ok(df) = out(ctx, &["df", "-P", "-h", "--", &dp]).await {
            p.lines.push(format!(
                "{}: {}",
                d.display(),
                df.lines().last().unwrap_or("").trim()
            ));
        }
        // What uses the space there, largest first.
        if let Ok(du) = out(
            ctx,
            &[
                "sh",
                "-c",
                "du -s -B1 -- \"$1\"/* 2>/dev/null || true",
                "sh",
                &dp,
            ],
        )
        .await
        {
            let mut rows: Vec<(u64, &str)> = du
                .lines()
                .filter_map(|l| {
                    let (n, path) = l.split_once('\t')?;
                    Some((n.parse().ok()?, path))
                })
                .collect();
            rows.sort_by_key(|r| std::cmp::Reverse(r.0));
            for (n, path) in rows.iter().take(6) {
                p.lines.push(format!("  {:>10}  {path}", human(*n)));
            }
        }
    }
    let plan = crate::plan::stages::build(&ctx.lab, &ctx.facts, &ctx.workspace)?;
    let wanted: BTreeSet<PathBuf> = plan
        .iter()
        .flat_map(|s| &s.steps)
        .flat_map(|ps| ps.step.resources())
        .filter_map(|r| match r {
            Resource::File { path, .. } => Some(path),
            _ => None,
        })
        .collect();
    let mut freed = 0;
    let mut seen = BTreeSet::new();
    for path in recorded_files(state, &dirs) {
        let name = path.to_string_lossy();
        let stale = name.ends_with(".part") || name.ends_with(".bad");
        let unneeded = stale || !wanted.contains(path);
        if !unneeded || !seen.insert(path.clone()) || !ctx.virthost.exists(path).await? {
            continue;
        }
        let n = size(ctx, path).await;
        freed += n;
        p.lines.push(format!(
            "  {} ({}): made by this lab (state file), {}",
            path.display(),
            human(n),
            if stale {
                "a partial or rejected download"
            } else {
                "no step of the lab wants it now"
            }
        ));
        p.actions.push(Action::Run {
            host: HostRole::Virthost,
            argv: vec!["rm".into(), "-f".into(), "--".into(), name.into_owned()],
        });
    }
    if p.actions.is_empty() {
        p.by_hand = Some(
            "nothing there is provably labwarp's and unneeded. Free space on that file system (the list above shows what uses it), or point hypervisors[0].pool_path / images.cache_dir at a larger one; then run again".into(),
        );
    } else {
        p.lines.push(format!("  frees about {}", human(freed)));
    }
    Ok(())
}
