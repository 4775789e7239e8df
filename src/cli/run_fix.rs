//! `labwarp run --fix`: the troubleshoot screen's `f`, headless. After a failed run whose
//! diagnosis carries a fix labwarp can apply, the fix is read on the hosts as they are now
//! (`run::remedies::prepare`), shown exactly, applied after the yes (or `--yes`), and the
//! run starts again: it resumes at the failed step.

use super::common::{LabArgs, confirm, lab_and_runtime, open_session};
use crate::run::remedies;
use crate::run::signatures::Remedy;

/// The first failed step of a run whose diagnosis has a fix labwarp can apply.
#[derive(Debug, Clone)]
pub struct Fixable {
    pub stage: String,
    pub step: String,
    pub title: String,
    pub remedy: Remedy,
}

/// Reads, shows and (once confirmed) applies the fix. True when it was applied, so the
/// run should start again.
pub fn fix(args: &LabArgs, yes: bool, json: bool, f: &Fixable) -> bool {
    let Ok((lab, rt)) = lab_and_runtime(args) else {
        return false;
    };
    rt.block_on(async {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let Ok(s) = open_session("run --fix", lab, args, tx).await else {
            return false;
        };
        let state = s.store.snapshot();
        let source = args.source();
        let p = match remedies::prepare(&s.ctx, &state, source.as_deref(), &f.remedy).await {
            Ok(p) => p,
            Err(e) => {
                eprintln!("labwarp run --fix: cannot read what to change: {e:#}");
                return false;
            }
        };
        if json {
            let v = serde_json::json!({
                "event": "fix",
                "stage": f.stage,
                "step": f.step,
                "title": f.title,
                "description": f.remedy.description,
                "lines": p.lines,
                "by_hand": p.by_hand,
            });
            println!("{v}");
        } else {
            println!(
                "\nfix for {}/{} ({}): {}",
                f.stage, f.step, f.title, f.remedy.description
            );
            for l in &p.lines {
                println!("  {l}");
            }
        }
        if let Some(h) = &p.by_hand {
            eprintln!("labwarp run --fix: labwarp changes nothing here: {h}");
            return false;
        }
        if !p.changes(&f.remedy) {
            eprintln!("labwarp run --fix: nothing to change");
            return false;
        }
        if !yes && !confirm("Apply this fix, then run again?") {
            return false;
        }
        match remedies::apply(&s.ctx, &f.remedy, &p).await {
            Ok(a) => {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"event": "fix-applied", "done": a.done})
                    );
                } else {
                    println!(
                        "fix applied ({}); running again from {}/{}",
                        a.done, f.stage, f.step
                    );
                }
                true
            }
            Err(e) => {
                eprintln!("labwarp run --fix: the fix failed: {e:#}");
                false
            }
        }
    })
}
