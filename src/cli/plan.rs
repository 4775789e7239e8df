//! `labwarp plan`: every step with what its check sees on the live hosts — the diff a run
//! would apply.

use super::EXIT_INVALID;
use super::common::{LabArgs, runtime};
use crate::plan::{Facts, Plan, Resource};
use crate::run::session::Session;
use serde::Serialize;
use std::process::ExitCode;
use tokio::sync::mpsc;

#[derive(Debug, Serialize)]
pub struct StepView {
    pub id: String,
    pub title: String,
    /// `done`, `todo` or `error` (the check itself failed).
    pub status: String,
    pub saw: String,
    pub resources: Vec<Resource>,
}

#[derive(Debug, Serialize)]
pub struct StageView {
    pub id: String,
    pub title: String,
    pub after: Vec<String>,
    pub steps: Vec<StepView>,
}

#[derive(Debug, Serialize)]
pub struct PlanView {
    pub lab: String,
    pub facts: Facts,
    pub stages: Vec<StageView>,
}

/// Runs every step's check (read-only) and collects what each saw.
pub async fn survey(s: &Session) -> PlanView {
    PlanView {
        lab: s.ctx.lab.name.clone(),
        facts: s.ctx.facts.clone(),
        stages: survey_plan(s, &s.plan).await,
    }
}

async fn survey_plan(s: &Session, plan: &Plan) -> Vec<StageView> {
    let mut out = Vec::new();
    for stage in plan {
        let mut steps = Vec::new();
        for p in &stage.steps {
            let sc = s.ctx.step(&stage.id, p.step.id());
            let (status, saw) = match p.step.check(&sc).await {
                Ok(c) if c.done => ("done", c.saw),
                Ok(c) => ("todo", c.saw),
                Err(e) => ("error", format!("{e:#}")),
            };
            steps.push(StepView {
                id: p.step.id().to_string(),
                title: p.step.title(),
                status: status.into(),
                saw,
                resources: p.step.resources(),
            });
        }
        out.push(StageView {
            id: stage.id.clone(),
            title: stage.title.clone(),
            after: stage.after.clone(),
            steps,
        });
    }
    out
}

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
                "done" => {
                    done += 1;
                    "  ="
                }
                "todo" => {
                    todo += 1;
                    "  +"
                }
                _ => {
                    todo += 1;
                    "  !"
                }
            };
            println!("{mark} {:<22} {}  [{}]", s.id, s.title, s.saw);
        }
    }
    println!("{done} step(s) already done, {todo} to apply (= done, + to apply, ! check failed)");
}

pub fn run(args: LabArgs, json: bool) -> ExitCode {
    let lab = match args.load() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let rt = match runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("labwarp: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    rt.block_on(async {
        let (tx, _rx) = mpsc::unbounded_channel();
        let s = match Session::open(lab, args.workspace.as_deref(), tx).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("labwarp plan: {e:#}");
                return ExitCode::from(EXIT_INVALID);
            }
        };
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
