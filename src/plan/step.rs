//! One idempotent unit of work: `check` (already done? and what it saw), `apply`, `undo`.

use super::{Resource, StepCtx};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// What a step's check saw on the live hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The step's outcome is already in place: a run skips it.
    pub done: bool,
    /// The evidence, in words (`domain lab-undercloud exists, running`).
    pub saw: String,
    /// The check could not be carried out here (nothing runs where it would look): the
    /// step is neither done nor failed. The runner reports it as UNVERIFIED, counts it
    /// apart and never as done; a rerun checks again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unverified: bool,
}

impl Check {
    pub fn done(saw: impl Into<String>) -> Self {
        Check {
            done: true,
            saw: saw.into(),
            unverified: false,
        }
    }
    pub fn todo(saw: impl Into<String>) -> Self {
        Check {
            done: false,
            saw: saw.into(),
            unverified: false,
        }
    }
    /// Could not be checked here; `saw` says why and what would be checked.
    pub fn unverified(saw: impl Into<String>) -> Self {
        Check {
            done: false,
            saw: saw.into(),
            unverified: true,
        }
    }
}

#[async_trait]
pub trait Step: Send + Sync {
    /// Stable id within its stage (`network-external`, `domain-undercloud`).
    fn id(&self) -> &str;
    /// What the step does, in words.
    fn title(&self) -> String;
    /// The resources this step creates: recorded in the state file before ("creating") and
    /// after ("created") `apply`, and removed by cleanup at their level.
    fn resources(&self) -> Vec<Resource> {
        Vec::new()
    }
    /// Every `openstack` command line this step's check and apply issue, as the words
    /// after `openstack` (what [`crate::plan::steps::openstack::OpenstackCli::cmd`] runs),
    /// so that TripleO's own argument parsers can judge them without running anything
    /// (`tests/tripleo_contract.rs`). Empty for a step that runs no `openstack`.
    fn openstack_argv(&self) -> Vec<Vec<String>> {
        Vec::new()
    }
    /// Whether the step's outcome is already in place. Read-only.
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check>;
    /// Makes the outcome true. Must converge from any partial state a killed run left.
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()>;
    /// Removes what `apply` created. The default removes the step's resources.
    async fn undo(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        for r in self.resources() {
            crate::run::cleanup::remove(ctx.ctx, &r, &mut |l| ctx.info(l)).await?;
        }
        Ok(())
    }
}
