//! `labwarp clean --level nodes|virthost|all [--dry-run] [--yes]`: removes what labwarp
//! made, found from the state file and by discovery, in one converging pass.

use super::EXIT_INVALID;
use super::common::{LabArgs, confirm, lab_and_runtime, open_session};
use crate::plan::Level;
use crate::run::cleanup::{self, CleanPlan, FoundBy};
use std::process::ExitCode;
use tokio::sync::mpsc;

pub(super) fn print_list(p: &CleanPlan) {
    println!(
        "clean --level {} of lab {}: {} item(s) to remove",
        p.level.as_str(),
        p.lab,
        p.items.len()
    );
    for i in &p.items {
        let by = match i.found_by {
            FoundBy::State => "state file",
            FoundBy::Discovery => "discovered",
            FoundBy::Both => "state file + discovered",
        };
        println!("  - {:<70} ({by}; {})", i.what, i.proof);
    }
    if !p.kept.is_empty() {
        println!(
            "left alone: {} item(s) labwarp cannot prove it made",
            p.kept.len()
        );
        for k in &p.kept {
            println!("  = {}: {}", k.what, k.why);
            if let Some(c) = &k.by_hand {
                println!("      by hand: {c}");
            }
        }
    }
}

pub fn run(args: LabArgs, level: Level, dry_run: bool, yes: bool, json: bool) -> ExitCode {
    let (lab, rt) = match lab_and_runtime(&args) {
        Ok(v) => v,
        Err(code) => return code,
    };
    rt.block_on(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let s = match open_session("clean", lab, &args, tx).await {
            Ok(s) => s,
            Err(code) => return code,
        };
        let state = s.store.snapshot();
        let list = match cleanup::inventory(&s.ctx, &state, &s.plan, level).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("labwarp clean: cannot list what to remove: {e:#}");
                return ExitCode::from(EXIT_INVALID);
            }
        };
        if dry_run {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
            } else {
                print_list(&list);
                println!("dry run: nothing removed");
            }
            return ExitCode::SUCCESS;
        }
        if !json {
            print_list(&list);
        }
        if list.items.is_empty() {
            if json {
                println!("{}", serde_json::json!({"removed": [], "failed": []}));
            } else {
                println!("nothing to remove");
            }
            return ExitCode::SUCCESS;
        }
        if !yes && !confirm(&format!("Remove these {} item(s)?", list.items.len())) {
            return ExitCode::from(EXIT_INVALID);
        }
        let report = cleanup::execute(&s.ctx, &s.store, &list).await;
        while let Ok(e) = rx.try_recv() {
            if !json {
                println!("{}", crate::run::print::text(&e));
            }
        }
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
        } else {
            println!(
                "removed {} item(s), {} failed, {} left alone",
                report.removed.len(),
                report.failed.len(),
                list.kept.len() + report.kept.len()
            );
            for (what, why) in &report.kept {
                println!("  KEPT {what}: {why}");
            }
            for (what, err) in &report.failed {
                println!("  FAILED {what}: {err}");
            }
        }
        if report.ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    })
}
