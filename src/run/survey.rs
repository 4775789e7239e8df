//! What `labwarp plan` shows (and the TUI's review screen): every step with what its
//! check sees on the live hosts, as data.

use super::session::Session;
use crate::plan::{Facts, Plan, Resource};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct StepView {
    pub id: String,
    pub title: String,
    /// `done`, `todo`, `unverified` (could not be checked here) or `error` (the check
    /// itself failed).
    pub status: String,
    pub saw: String,
    /// Fields of a live object that differ from lab.yaml (`~ field: live → wanted`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<crate::plan::Drift>,
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
            let (status, saw, drift) = match crate::plan::check_again_if_lost(&*p.step, &sc).await {
                Ok(c) if c.done => ("done", c.saw, c.drift),
                Ok(c) if c.unverified => ("unverified", c.saw, c.drift),
                Ok(c) => ("todo", c.saw, c.drift),
                Err(e) => ("error", format!("{e:#}"), Vec::new()),
            };
            steps.push(StepView {
                id: p.step.id().to_string(),
                title: p.step.title(),
                status: status.into(),
                saw,
                drift,
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
