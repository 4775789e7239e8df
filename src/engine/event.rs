//! Events: the only bridge between the back end (checks, plan, runner) and any front end
//! (the TUI folds them into its state; headless mode prints them as text or JSON lines).
//!
//! Events carry their own small snapshot types so that a front end depends on nothing but
//! this file.

use serde::{Deserialize, Serialize};

/// Identifies a stage (`hypervisor`, `images`, `undercloud-vm`, ...).
pub type StageId = String;
/// Identifies a step within its stage (`network-external`, `domain-undercloud`, ...).
pub type StepId = String;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepInfo {
    pub id: StepId,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageInfo {
    pub id: StageId,
    pub title: String,
    pub steps: Vec<StepInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Stdout,
    Stderr,
    /// labwarp's own narration of what a step does.
    Info,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageOutcome {
    /// Every step finished or was already done.
    Done,
    Failed,
    /// Not run: a stage it depends on failed, or the run was cancelled.
    Skipped,
    /// Every step finished or was already done, but some could not be verified here.
    Unverified,
}

/// One VM as the VM pane shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmRow {
    pub name: String,
    pub state: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub ips: Vec<String>,
}

/// One container as the podman pane shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRow {
    pub name: String,
    pub image: String,
    pub state: String,
    pub health: String,
    pub uptime: String,
}

/// A preflight finding as a front end shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRow {
    pub id: String,
    pub area: String,
    pub severity: String,
    pub title: String,
    pub evidence: String,
    pub fix: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The whole plan about to run, in order.
    RunStarted {
        stages: Vec<StageInfo>,
    },
    StageStarted {
        stage: StageId,
    },
    StepStarted {
        stage: StageId,
        step: StepId,
    },
    /// The step's check says it is already done: nothing changed.
    StepSkipped {
        stage: StageId,
        step: StepId,
        reason: String,
    },
    /// Not run: a step it depends on failed (`failed` is that step, `stage/step`, followed
    /// through any step it blocked in turn). Never "already done".
    StepBlocked {
        stage: StageId,
        step: StepId,
        failed: String,
    },
    StepFinished {
        stage: StageId,
        step: StepId,
        elapsed_ms: u64,
    },
    /// Its check could not be carried out here: neither done nor failed, counted apart.
    StepUnverified {
        stage: StageId,
        step: StepId,
        reason: String,
    },
    StepFailed {
        stage: StageId,
        step: StepId,
        error: String,
    },
    Log {
        stage: StageId,
        step: Option<StepId>,
        stream: LogStream,
        line: String,
    },
    /// `done` of `total` units (bytes, seconds, ...), with an estimate of what is left.
    Progress {
        stage: StageId,
        step: StepId,
        done: u64,
        total: Option<u64>,
        eta_secs: Option<u64>,
    },
    StageFinished {
        stage: StageId,
        outcome: StageOutcome,
        elapsed_ms: u64,
    },
    Vms {
        vms: Vec<VmRow>,
    },
    Containers {
        containers: Vec<ContainerRow>,
    },
    Finding {
        finding: FindingRow,
    },
    RunFinished {
        ok: bool,
        cancelled: bool,
    },
}
