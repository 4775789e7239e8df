//! `labwarp plan`: every step with what its check sees on the live hosts — the diff a run
//! would apply.

use super::EXIT_INVALID;
use super::common::{LabArgs, with_read_only_session};
use crate::run::survey::{PlanView, survey};
use std::process::ExitCode;

pub fn print_text(v: &PlanView) {
    println!(
        "lab {}: domain type {} ({})",
        v.lab, v.facts.domain_type, v.facts.domain_type_reason
    );
    for n in &v.facts.notes {
        println!("note: {n}");
    }
    let (mut done, mut todo) = (0, 0);
    for st in &v.stages {
        println!("{} — {}", st.id, st.title);
        for s in &st.steps {
            let mark = match s.status.as_str() {
                // Done for a run, but a restart is pending for what it changed.
                "done" if !s.drift.is_empty() => {
                    done += 1;
                    "  ~"
                }
                "done" => {
                    done += 1;
                    "  ="
                }
                "todo" if !s.drift.is_empty() => {
                    todo += 1;
                    "  ~"
                }
                "todo" => {
                    todo += 1;
                    "  +"
                }
                "unverified" => "  ?",
                _ => {
                    todo += 1;
                    "  !"
                }
            };
            if s.drift.is_empty() {
                println!("{mark} {:<22} {}  [{}]", s.id, s.title, s.saw);
                continue;
            }
            // One line per drifted field: `~ field: live → wanted (cost)`.
            println!("{mark} {:<22} {}", s.id, s.title);
            for d in &s.drift {
                println!("      {d}");
            }
        }
    }
    println!(
        "{done} step(s) already done, {todo} to apply (= done, + to apply, ~ exists but differs from lab.yaml, ? cannot be checked here, ! check failed)"
    );
}

pub fn run(args: LabArgs, json: bool) -> ExitCode {
    with_read_only_session("plan", &args, async |s| {
        let v = survey(&s).await;
        if json {
            match serde_json::to_string_pretty(&v) {
                Ok(t) => println!("{t}"),
                Err(e) => {
                    eprintln!("labwarp plan: {e}");
                    return ExitCode::from(EXIT_INVALID);
                }
            }
        } else {
            print_text(&v);
        }
        ExitCode::SUCCESS
    })
}
