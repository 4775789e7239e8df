//! What `labwarp plan` shows (and the TUI's review screen): every step with what its
//! check sees on the live hosts, as data.

use super::session::Session;
use crate::plan::{Facts, Plan, Resource};
use serde::Serialize;

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
