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
    /// What differs between the live object and the wanted one, field by field (a step
    /// whose object exists but has drifted from lab.yaml).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<Drift>,
}

/// What applying a drifted field costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriftCost {
    /// Applied to the running object at once.
    Live,
    /// Written to the persistent definition; takes effect when the VM restarts.
    NextBoot,
    /// Cannot be changed in place: the object must be made anew (what is lost is said).
    Recreate,
}

/// One field whose live value differs from the wanted one: `~ field: live → wanted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    pub field: String,
    pub live: String,
    pub wanted: String,
    pub cost: DriftCost,
    /// For a recreate: what making the object anew would lose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<String>,
    /// For a recreate: the command that does it (labwarp never does it unasked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

impl Drift {
    /// A field whose wanted value can be applied in place at `cost`.
    pub fn new(
        field: impl Into<String>,
        live: impl ToString,
        wanted: impl ToString,
        cost: DriftCost,
    ) -> Self {
        Drift {
            field: field.into(),
            live: live.to_string(),
            wanted: wanted.to_string(),
            cost,
            lost: None,
            command: None,
        }
    }

    /// A field that cannot be changed in place: what recreating loses and the command.
    pub fn recreate(
        field: impl Into<String>,
        live: impl ToString,
        wanted: impl ToString,
        lost: impl Into<String>,
        command: impl Into<String>,
    ) -> Self {
        Drift {
            lost: Some(lost.into()),
            command: Some(command.into()),
            ..Drift::new(field, live, wanted, DriftCost::Recreate)
        }
    }
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cost = match self.cost {
            DriftCost::Live => "applied live",
            DriftCost::NextBoot => "applied at next boot: restart needed",
            DriftCost::Recreate => "cannot be changed in place: recreate",
        };
        write!(
            f,
            "~ {}: {} → {} ({cost}",
            self.field, self.live, self.wanted
        )?;
        if let Some(lost) = &self.lost {
            write!(f, "; recreating: {lost}")?;
        }
        if let Some(cmd) = &self.command {
            write!(f, "; to recreate: `{cmd}`")?;
        }
        f.write_str(")")
    }
}

impl Check {
    pub fn done(saw: impl Into<String>) -> Self {
        Check {
            done: true,
            saw: saw.into(),
            unverified: false,
            drift: Vec::new(),
        }
    }
    pub fn todo(saw: impl Into<String>) -> Self {
        Check {
            done: false,
            saw: saw.into(),
            unverified: false,
            drift: Vec::new(),
        }
    }
    /// The object exists but differs from what is wanted: each field that differs.
    pub fn drifted(drift: Vec<Drift>) -> Self {
        Check {
            done: false,
            saw: drift
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
            unverified: false,
            drift,
        }
    }
    /// Could not be checked here; `saw` says why and what would be checked.
    pub fn unverified(saw: impl Into<String>) -> Self {
        Check {
            done: false,
            saw: saw.into(),
            unverified: true,
            drift: Vec::new(),
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
    /// (`tests/quick/tripleo_contract.rs`). Empty for a step that runs no `openstack`.
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
            crate::plan::remove::remove(ctx.ctx, &r, &mut |l| ctx.info(l)).await?;
        }
        Ok(())
    }
}

/// Runs `step`'s check, again (twice at most) when a command of it lost its SSH channel.
/// A check is read-only, so repeating it is safe; a small sshd (the tiny test guest's
/// dropbear) can close a channel before the exit status of a quick command is sent.
pub async fn check_again_if_lost(
    step: &dyn Step,
    ctx: &StepCtx<'_>,
) -> anyhow::Result<super::Check> {
    let mut tries = 0u32;
    loop {
        match step.check(ctx).await {
            Err(e) if tries < 2 && lost_channel(&e) => {
                tries += 1;
                ctx.info(format!(
                    "the check lost its connection ({e:#}); it is read-only, checking again"
                ));
                tokio::time::sleep(std::time::Duration::from_millis(500 << tries)).await;
            }
            r => return r,
        }
    }
}

fn lost_channel(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<crate::host::HostError>()
            .is_some_and(crate::host::HostError::is_lost)
    })
}
