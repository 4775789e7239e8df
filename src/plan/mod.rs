//! The plan: stages of idempotent steps, built purely from a [`Lab`] and the [`Facts`] read
//! from the hosts. Nothing here does I/O at build time; steps act only when the runner calls
//! `check`, `apply` or `undo` with a [`StepCtx`] that carries the live hosts.

pub mod drift;
pub mod job;
pub mod ownership;
pub mod remove;
pub mod snapshot;
pub use crate::workspace::owner;
pub mod stages;
pub mod step;
pub mod steps;
pub mod tripleo_stages;

// The engine's vocabulary, under its old names too (`plan::Ctx`, `plan::Resource`, …).
pub use crate::engine::facts::Facts;
pub use crate::engine::{ctx, resource};
pub use ctx::{Ctx, StepCtx};
pub use resource::{HostRole, Level, Resource};
pub use step::{Check, Drift, DriftCost, Step, check_again_if_lost};

use crate::engine::event::{StageInfo, StepInfo};
use serde::{Deserialize, Serialize};
use std::fmt;

use std::sync::Arc;

/// Names one step of a plan: `stage/step`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StepKey {
    pub stage: String,
    pub step: String,
}

impl StepKey {
    pub fn new(stage: impl Into<String>, step: impl Into<String>) -> Self {
        StepKey {
            stage: stage.into(),
            step: step.into(),
        }
    }
}

impl fmt::Display for StepKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.stage, self.step)
    }
}

/// A step placed in its stage, with the steps (of the same stage) it must wait for.
#[derive(Clone)]
pub struct PlannedStep {
    pub step: Arc<dyn Step>,
    /// Ids of steps in the same stage that must be done first. Steps of earlier stages the
    /// stage depends on are implied by [`Stage::after`].
    pub after: Vec<String>,
}

/// A group of steps shown as one line of progress (`hypervisor`, `undercloud-vm`, ...).
#[derive(Clone)]
pub struct Stage {
    pub id: String,
    pub title: String,
    /// Stages whose every step must be done before any step of this one starts.
    pub after: Vec<String>,
    pub steps: Vec<PlannedStep>,
}

impl Stage {
    pub fn new(id: &str, title: &str, after: &[&str]) -> Self {
        Stage {
            id: id.into(),
            title: title.into(),
            after: after.iter().map(|s| s.to_string()).collect(),
            steps: Vec::new(),
        }
    }

    /// Adds a step that waits for the previous step of this stage (the common case).
    pub fn then(mut self, step: impl Step + 'static) -> Self {
        let after = self
            .steps
            .last()
            .map(|p| vec![p.step.id().to_string()])
            .unwrap_or_default();
        self.steps.push(PlannedStep {
            step: Arc::new(step),
            after,
        });
        self
    }

    /// Adds a step that waits only for the named steps of this stage (empty: none), so it
    /// can run in parallel with its siblings (node VMs, for instance).
    pub fn with_after(mut self, step: impl Step + 'static, after: &[&str]) -> Self {
        self.steps.push(PlannedStep {
            step: Arc::new(step),
            after: after.iter().map(|s| s.to_string()).collect(),
        });
        self
    }

    pub fn info(&self) -> StageInfo {
        StageInfo {
            id: self.id.clone(),
            title: self.title.clone(),
            steps: self
                .steps
                .iter()
                .map(|p| StepInfo {
                    id: p.step.id().to_string(),
                    title: p.step.title(),
                })
                .collect(),
        }
    }
}

/// The whole plan, in order.
pub type Plan = Vec<Stage>;

/// Problems in a plan's shape (caught before anything runs).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("stage `{0}` appears twice in the plan")]
    DuplicateStage(String),
    #[error("step `{0}` appears twice in the plan")]
    DuplicateStep(StepKey),
    #[error(
        "stage `{stage}` waits for stage `{missing}`, which is not in the plan (or comes later)"
    )]
    UnknownStage { stage: String, missing: String },
    #[error("step `{step}` waits for `{missing}`, which is not an earlier step of its stage")]
    UnknownStep { step: StepKey, missing: String },
    #[error("no stage named `{0}` in the plan (known: {1})")]
    NoSuchStage(String, String),
}

/// Checks that every dependency names an earlier stage or an earlier step of the same stage,
/// so the graph has no cycles by construction.
pub fn validate(plan: &Plan) -> Result<(), PlanError> {
    let mut stages_seen: Vec<&str> = Vec::new();
    for stage in plan {
        if stages_seen.contains(&stage.id.as_str()) {
            return Err(PlanError::DuplicateStage(stage.id.clone()));
        }
        for a in &stage.after {
            if !stages_seen.contains(&a.as_str()) {
                return Err(PlanError::UnknownStage {
                    stage: stage.id.clone(),
                    missing: a.clone(),
                });
            }
        }
        let mut steps_seen: Vec<&str> = Vec::new();
        for p in &stage.steps {
            let key = StepKey::new(&stage.id, p.step.id());
            if steps_seen.contains(&p.step.id()) {
                return Err(PlanError::DuplicateStep(key));
            }
            for a in &p.after {
                if !steps_seen.contains(&a.as_str()) {
                    return Err(PlanError::UnknownStep {
                        step: key,
                        missing: a.clone(),
                    });
                }
            }
            steps_seen.push(p.step.id());
        }
        stages_seen.push(&stage.id);
    }
    Ok(())
}

/// Which stages a run covers: everything, from one stage on, or one stage only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Selection {
    #[default]
    All,
    From(String),
    Only(String),
}

impl Selection {
    /// Whether each stage of `plan` is selected; an unknown stage name is an error naming
    /// the stages that exist.
    pub fn mask(&self, plan: &Plan) -> Result<Vec<bool>, PlanError> {
        let find = |name: &str| {
            plan.iter().position(|s| s.id == name).ok_or_else(|| {
                PlanError::NoSuchStage(
                    name.to_string(),
                    plan.iter()
                        .map(|s| s.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            })
        };
        Ok(match self {
            Selection::All => vec![true; plan.len()],
            Selection::From(s) => {
                let i = find(s)?;
                (0..plan.len()).map(|j| j >= i).collect()
            }
            Selection::Only(s) => {
                let i = find(s)?;
                (0..plan.len()).map(|j| j == i).collect()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;

    struct Noop(&'static str);

    #[async_trait]
    impl Step for Noop {
        fn id(&self) -> &str {
            self.0
        }
        fn title(&self) -> String {
            format!("noop {}", self.0)
        }
        async fn check(&self, _: &StepCtx<'_>) -> anyhow::Result<Check> {
            Ok(Check::done("always"))
        }
        async fn apply(&self, _: &StepCtx<'_>) -> anyhow::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn then_chains_and_with_after_runs_in_parallel() {
        let s = Stage::new("a", "A", &[])
            .then(Noop("one"))
            .then(Noop("two"))
            .with_after(Noop("three"), &["one"]);
        assert_eq!(s.steps[0].after, Vec::<String>::new());
        assert_eq!(s.steps[1].after, vec!["one".to_string()]);
        assert_eq!(s.steps[2].after, vec!["one".to_string()]);
        assert_eq!(validate(&vec![s]), Ok(()));
    }

    #[test]
    fn validate_rejects_forward_and_unknown_dependencies() {
        let a = Stage::new("a", "A", &["b"]).then(Noop("x"));
        let b = Stage::new("b", "B", &[]).then(Noop("y"));
        assert_eq!(
            validate(&vec![a, b.clone()]),
            Err(PlanError::UnknownStage {
                stage: "a".into(),
                missing: "b".into()
            })
        );
        let c = Stage::new("c", "C", &[]).with_after(Noop("z"), &["later"]);
        assert!(matches!(
            validate(&vec![c]),
            Err(PlanError::UnknownStep { .. })
        ));
        assert_eq!(
            validate(&vec![b.clone(), b]),
            Err(PlanError::DuplicateStage("b".into()))
        );
    }

    #[test]
    fn selection_masks_and_names_known_stages() {
        let plan = vec![
            Stage::new("a", "A", &[]),
            Stage::new("b", "B", &["a"]),
            Stage::new("c", "C", &["b"]),
        ];
        assert_eq!(
            Selection::From("b".into()).mask(&plan).unwrap(),
            vec![false, true, true]
        );
        assert_eq!(
            Selection::Only("b".into()).mask(&plan).unwrap(),
            vec![false, true, false]
        );
        let err = Selection::Only("zz".into()).mask(&plan).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no stage named `zz` in the plan (known: a, b, c)"
        );
    }
}
