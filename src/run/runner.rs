//! The runner: executes a plan's steps as a dependency graph on tokio.
//!
//! A step starts once every step it depends on is done (or was already done); independent
//! steps run at once. A failed step blocks what depends on it and nothing else. Each applied
//! step is checked again afterwards: `apply` returning Ok is not enough, the check must
//! agree. Cancellation (Ctrl-C, SIGTERM) stops scheduling, drops the running steps (which
//! kills their commands) and records where things stood.

use super::fault;
use crate::engine::event::{Event, StageOutcome};
use crate::engine::state::{ResourceStatus, RunRecord, StateStore, StepStatus, now};
use crate::host::Cancel;
use crate::plan::{Ctx, Plan, PlanError, Selection, StepKey, validate};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;
use tokio::task::JoinSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pending,
    Running,
    /// Applied in this run.
    Done,
    /// Its check said done: nothing changed.
    AlreadyDone,
    Failed,
    /// Not run: something it depends on failed.
    Blocked,
    /// Not run: the run was cancelled.
    Cancelled,
    /// Its stage is outside the selection (`--from`, `--only`): assumed satisfied.
    Excluded,
    /// Its check could not be carried out: not done, not failed; dependants still run
    /// (a probe, never a precondition), the stage ends Unverified.
    Unverified,
}

impl Status {
    fn satisfied(self) -> bool {
        matches!(
            self,
            Status::Done | Status::AlreadyDone | Status::Excluded | Status::Unverified
        )
    }
    fn resolved(self) -> bool {
        !matches!(self, Status::Pending | Status::Running)
    }
}

/// How a run ended, stage by stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    pub ok: bool,
    pub cancelled: bool,
    pub stages: Vec<(String, StageOutcome)>,
    /// Steps whose check could not be carried out (`stage/step`): not done, not failed.
    pub unverified: Vec<String>,
}

struct Node {
    key: StepKey,
    stage: usize,
    deps: Vec<usize>,
    status: Status,
}

/// The failed step behind a failed or blocked one (a blocked step names what blocked it).
fn root_failure(nodes: &[Node], mut i: usize) -> usize {
    for _ in 0..nodes.len() {
        if nodes[i].status != Status::Blocked {
            break;
        }
        match nodes[i]
            .deps
            .iter()
            .find(|d| matches!(nodes[**d].status, Status::Failed | Status::Blocked))
        {
            Some(d) => i = *d,
            None => break,
        }
    }
    i
}

enum StepResult {
    AlreadyDone(String),
    Unverified(String),
    Done(u64),
    Failed(String),
}

/// Runs the selected stages of `plan`. Events go to `ctx.events`; the state store records
/// every resource and step outcome as it happens. Cancelling `cancel` stops the run.
pub async fn run(
    plan: &Plan,
    ctx: Arc<Ctx>,
    store: Arc<StateStore>,
    selection: &Selection,
    cancel: &Cancel,
) -> anyhow::Result<RunSummary> {
    validate(plan)?;
    let mask = selection.mask(plan)?;
    let mut nodes = graph(plan, &mask)?;

    store.update(|s| {
        s.lab = ctx.lab.name.clone();
        s.libvirt_uri = ctx
            .lab
            .hypervisors
            .first()
            .map(|h| h.libvirt_uri.clone())
            .unwrap_or_default();
        s.last_run = Some(RunRecord {
            started: now(),
            finished: None,
            ok: None,
            cancelled: false,
            pid: std::process::id(),
        });
    })?;

    ctx.emit(Event::RunStarted {
        stages: plan
            .iter()
            .zip(&mask)
            .filter(|(_, m)| **m)
            .map(|(s, _)| s.info())
            .collect(),
    });

    let mut progress = StageProgress::new(&mask);
    let mut set: JoinSet<(usize, StepResult)> = JoinSet::new();
    let mut running: BTreeSet<usize> = BTreeSet::new();
    let mut cancelled = cancel.is_cancelled();

    loop {
        // Schedule (or block) every pending step whose dependencies are resolved.
        let mut changed = true;
        while changed && !cancelled {
            changed = false;
            for i in 0..nodes.len() {
                if nodes[i].status != Status::Pending {
                    continue;
                }
                let deps: Vec<Status> = nodes[i].deps.iter().map(|d| nodes[*d].status).collect();
                if let Some(bad) = nodes[i]
                    .deps
                    .iter()
                    .find(|d| matches!(nodes[**d].status, Status::Failed | Status::Blocked))
                {
                    let failed = nodes[root_failure(&nodes, *bad)].key.to_string();
                    nodes[i].status = Status::Blocked;
                    let n = &nodes[i];
                    progress.start(&ctx, plan, n.stage);
                    ctx.emit(Event::StepBlocked {
                        stage: n.key.stage.clone(),
                        step: n.key.step.clone(),
                        failed,
                    });
                    changed = true;
                } else if deps.iter().all(|s| s.satisfied()) {
                    nodes[i].status = Status::Running;
                    running.insert(i);
                    progress.start(&ctx, plan, nodes[i].stage);
                    let stage = &plan[nodes[i].stage];
                    let step = stage
                        .steps
                        .iter()
                        .find(|p| p.step.id() == nodes[i].key.step)
                        .map(|p| p.step.clone())
                        .ok_or_else(|| anyhow::anyhow!("step {} vanished", nodes[i].key))?;
                    let (ctx2, store2, key) = (ctx.clone(), store.clone(), nodes[i].key.clone());
                    set.spawn(async move { (i, run_step(ctx2, store2, step, key).await) });
                    changed = true;
                }
            }
        }
        progress.finish_resolved(&ctx, plan, &nodes);
        if set.is_empty() {
            break;
        }
        tokio::select! {
            joined = set.join_next() => {
                let Some(joined) = joined else { continue };
                let (i, result) = match joined {
                    Ok(r) => r,
                    // A step task panicked: find which by elimination is not possible with
                    // JoinError alone, so report it against every running step.
                    Err(e) => {
                        for i in std::mem::take(&mut running) {
                            fail(&ctx, &store, &mut nodes[i], format!("step panicked: {e}"));
                        }
                        continue;
                    }
                };
                running.remove(&i);
                let n = &mut nodes[i];
                match result {
                    StepResult::AlreadyDone(saw) => {
                        n.status = Status::AlreadyDone;
                        ctx.emit(Event::StepSkipped {
                            stage: n.key.stage.clone(),
                            step: n.key.step.clone(),
                            reason: saw,
                        });
                    }
                    StepResult::Unverified(saw) => {
                        n.status = Status::Unverified;
                        ctx.emit(Event::StepUnverified {
                            stage: n.key.stage.clone(),
                            step: n.key.step.clone(),
                            reason: saw,
                        });
                    }
                    StepResult::Done(ms) => {
                        n.status = Status::Done;
                        ctx.emit(Event::StepFinished {
                            stage: n.key.stage.clone(),
                            step: n.key.step.clone(),
                            elapsed_ms: ms,
                        });
                    }
                    StepResult::Failed(err) => fail(&ctx, &store, n, err),
                }
            }
            _ = cancel.cancelled(), if !cancelled => {
                {
                    cancelled = true;
                    // Dropping the step futures kills their commands (Host contract).
                    set.abort_all();
                    while set.join_next().await.is_some() {}
                    for i in std::mem::take(&mut running) {
                        let n = &mut nodes[i];
                        n.status = Status::Cancelled;
                        let key = n.key.to_string();
                        let _ = store.update(|s| {
                            s.record_step(&key, StepStatus::Failed, Some("cancelled".into()))
                        });
                        ctx.emit(Event::StepFailed {
                            stage: n.key.stage.clone(),
                            step: n.key.step.clone(),
                            error: "cancelled".into(),
                        });
                    }
                }
            }
        }
    }
    if cancelled {
        for n in nodes.iter_mut().filter(|n| n.status == Status::Pending) {
            n.status = Status::Cancelled;
        }
        progress.finish_resolved(&ctx, plan, &nodes);
    }

    let stages: Vec<(String, StageOutcome)> = plan
        .iter()
        .zip(&progress.outcomes)
        .filter_map(|(s, o)| o.map(|o| (s.id.clone(), o)))
        .collect();
    // Unverified is not a failure (nothing was found wrong), but it is said apart.
    let ok = !cancelled
        && stages
            .iter()
            .all(|(_, o)| matches!(o, StageOutcome::Done | StageOutcome::Unverified));
    store.update(|s| {
        if let Some(r) = s.last_run.as_mut() {
            r.finished = Some(now());
            r.ok = Some(ok);
            r.cancelled = cancelled;
        }
    })?;
    ctx.emit(Event::RunFinished { ok, cancelled });
    let unverified = nodes
        .iter()
        .filter(|n| n.status == Status::Unverified)
        .map(|n| n.key.to_string())
        .collect();
    Ok(RunSummary {
        ok,
        cancelled,
        stages,
        unverified,
    })
}

fn fail(ctx: &Ctx, store: &StateStore, n: &mut Node, err: String) {
    n.status = Status::Failed;
    let key = n.key.to_string();
    if let Err(e) = store.update(|s| s.record_step(&key, StepStatus::Failed, Some(err.clone()))) {
        ctx.emit(Event::Log {
            stage: n.key.stage.clone(),
            step: Some(n.key.step.clone()),
            stream: crate::engine::event::LogStream::Stderr,
            line: e.to_string(),
        });
    }
    ctx.emit(Event::StepFailed {
        stage: n.key.stage.clone(),
        step: n.key.step.clone(),
        error: err,
    });
}

/// Where each stage stands: when its first step started, whether its `StageFinished` went
/// out (unselected stages count as finished: they report nothing), and how it ended.
struct StageProgress {
    started: Vec<Option<Instant>>,
    finished: Vec<bool>,
    outcomes: Vec<Option<StageOutcome>>,
}

impl StageProgress {
    fn new(mask: &[bool]) -> Self {
        StageProgress {
            started: vec![None; mask.len()],
            finished: mask.iter().map(|m| !m).collect(),
            outcomes: vec![None; mask.len()],
        }
    }

    /// Emits `StageStarted` the first time one of the stage's steps starts (or is blocked).
    fn start(&mut self, ctx: &Ctx, plan: &Plan, stage: usize) {
        if self.started[stage].is_none() {
            self.started[stage] = Some(Instant::now());
            ctx.emit(Event::StageStarted {
                stage: plan[stage].id.clone(),
            });
        }
    }

    /// Emits `StageFinished` for each selected stage whose steps are all resolved.
    fn finish_resolved(&mut self, ctx: &Ctx, plan: &Plan, nodes: &[Node]) {
        for (si, stage) in plan.iter().enumerate() {
            if self.finished[si] {
                continue;
            }
            let mine: Vec<&Node> = nodes.iter().filter(|n| n.stage == si).collect();
            if !mine.iter().all(|n| n.status.resolved()) {
                continue;
            }
            let outcome = if mine.iter().any(|n| n.status == Status::Failed) {
                StageOutcome::Failed
            } else if mine.iter().all(|n| n.status.satisfied()) {
                if mine.iter().any(|n| n.status == Status::Unverified) {
                    StageOutcome::Unverified
                } else {
                    StageOutcome::Done
                }
            } else {
                StageOutcome::Skipped
            };
            if self.started[si].is_none() {
                // Never started (empty, or cancelled before its first step): still report it.
                ctx.emit(Event::StageStarted {
                    stage: stage.id.clone(),
                });
            }
            self.finished[si] = true;
            self.outcomes[si] = Some(outcome);
            ctx.emit(Event::StageFinished {
                stage: stage.id.clone(),
                outcome,
                elapsed_ms: self.started[si]
                    .map(|t| t.elapsed().as_millis() as u64)
                    .unwrap_or(0),
            });
        }
    }
}

/// Flattens the plan into a graph of step indices. Steps of unselected stages are
/// `Excluded` (assumed satisfied).
fn graph(plan: &Plan, mask: &[bool]) -> Result<Vec<Node>, PlanError> {
    let mut nodes: Vec<Node> = Vec::new();
    let mut stage_steps: Vec<Vec<usize>> = Vec::new();
    // Transitive closure of stage dependencies, so an empty stage does not cut a chain.
    let mut closure: Vec<BTreeSet<usize>> = Vec::new();
    for (si, stage) in plan.iter().enumerate() {
        let mut c = BTreeSet::new();
        for a in &stage.after {
            if let Some(ai) = plan.iter().position(|s| &s.id == a) {
                c.insert(ai);
                c.extend(closure[ai].iter().copied());
            }
        }
        closure.push(c);
        let mut mine = Vec::new();
        for p in &stage.steps {
            let mut deps: Vec<usize> = closure[si]
                .iter()
                .flat_map(|ai| stage_steps[*ai].iter().copied())
                .collect();
            for a in &p.after {
                let d = mine
                    .iter()
                    .copied()
                    .find(|d: &usize| nodes[*d].key.step == *a)
                    .ok_or_else(|| PlanError::UnknownStep {
                        step: StepKey::new(&stage.id, p.step.id()),
                        missing: a.clone(),
                    })?;
                deps.push(d);
            }
            mine.push(nodes.len());
            nodes.push(Node {
                key: StepKey::new(&stage.id, p.step.id()),
                stage: si,
                deps,
                status: if mask[si] {
                    Status::Pending
                } else {
                    Status::Excluded
                },
            });
        }
        stage_steps.push(mine);
    }
    Ok(nodes)
}

async fn run_step(
    ctx: Arc<Ctx>,
    store: Arc<StateStore>,
    step: Arc<dyn crate::plan::Step>,
    key: StepKey,
) -> StepResult {
    let started = Instant::now();
    ctx.emit(Event::StepStarted {
        stage: key.stage.clone(),
        step: key.step.clone(),
    });
    let sc = ctx.step(&key.stage, &key.step);
    let k = key.to_string();
    let r: anyhow::Result<Option<String>> = async {
        fault::point(&ctx.workspace, &k, "before-check").await?;
        let before = crate::plan::check_again_if_lost(&*step, &sc).await?;
        if before.unverified {
            store
                .update(|s| s.record_step(&k, StepStatus::Unverified, Some(before.saw.clone())))?;
            return Err(Unverified(before.saw).into());
        }
        if before.done {
            // A run killed between apply and its record left these "creating": they are
            // ours and exist, so they are created. Resources not in the state file were
            // there before labwarp and stay unclaimed.
            let resources = step.resources();
            store.update(|s| {
                for r in &resources {
                    let ours = s
                        .resources
                        .iter()
                        .any(|e| &e.resource == r && e.status == ResourceStatus::Creating);
                    if ours {
                        s.record_resource(r, ResourceStatus::Created, &k);
                    }
                }
                s.record_step(&k, StepStatus::Done, None)
            })?;
            return Ok(Some(before.saw));
        }
        sc.info(format!("to do: {}", before.saw));
        // Recorded before apply: only what labwarp is about to make (absent now) or can
        // prove is the lab's. What exists and is not is never claimed, and a file or a
        // container in the way is not overwritten or replaced: the step stops, naming it.
        let resources = claimable(&ctx, &store, step.resources()).await?;
        store.update(|s| {
            s.record_step(&k, StepStatus::Running, None);
            for r in &resources {
                s.record_resource(r, ResourceStatus::Creating, &k);
            }
        })?;
        fault::point(&ctx.workspace, &k, "before-apply").await?;
        step.apply(&sc).await?;
        fault::point(&ctx.workspace, &k, "after-apply").await?;
        let after = crate::plan::check_again_if_lost(&*step, &sc).await?;
        if !after.done && !after.unverified {
            anyhow::bail!("applied, but the check still says: {}", after.saw);
        }
        // Applied, and what was made is the lab's. A check that can only call the result
        // unverified (an image downloaded with no md5 to verify it) is said apart, never done.
        let (status, saw) = if after.unverified {
            (StepStatus::Unverified, Some(after.saw.clone()))
        } else {
            (StepStatus::Done, None)
        };
        store.update(|s| {
            for r in &resources {
                s.record_resource(r, ResourceStatus::Created, &k);
            }
            s.record_step(&k, status, saw);
        })?;
        if after.unverified {
            return Err(Unverified(after.saw).into());
        }
        Ok(None)
    }
    .await;
    match r {
        Err(e) if e.downcast_ref::<Unverified>().is_some() => {
            StepResult::Unverified(e.downcast::<Unverified>().map(|u| u.0).unwrap_or_default())
        }
        Ok(Some(saw)) => StepResult::AlreadyDone(saw),
        Ok(None) => StepResult::Done(started.elapsed().as_millis() as u64),
        Err(e) => StepResult::Failed(format!("{e:#}")),
    }
}

/// A check that could not be carried out (carried out of `run_step`'s body as an error).
#[derive(Debug)]
struct Unverified(String);

impl std::fmt::Display for Unverified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unverified: {}", self.0)
    }
}

impl std::error::Error for Unverified {}

/// The resources of a step about to apply that labwarp may record as its own (see above).
async fn claimable(
    ctx: &Ctx,
    store: &StateStore,
    resources: Vec<crate::plan::Resource>,
) -> anyhow::Result<Vec<crate::plan::Resource>> {
    use crate::plan::Resource;
    use crate::plan::ownership::{Proof, lives_in_undercloud_vm, prove};
    let state = store.snapshot();
    let mut out = Vec::new();
    for r in resources {
        let recorded = state.resources.iter().any(|e| e.resource == r);
        if recorded || lives_in_undercloud_vm(ctx, &r) {
            out.push(r);
            continue;
        }
        match prove(ctx, &state, &r).await? {
            Proof::Absent | Proof::Ours(_) => out.push(r),
            Proof::NotOurs(why) => match r {
                Resource::File { .. } | Resource::Container { .. } => anyhow::bail!(
                    "{r} is in the way and labwarp did not make it ({why}); labwarp will not overwrite or remove it: move it aside or remove it yourself{}, then run again",
                    crate::plan::ownership::by_hand(ctx, &r)
                        .map(|c| format!(" (`{c}`)"))
                        .unwrap_or_default()
                ),
                // Used as it is (an existing directory, a network to start), never claimed.
                _ => {}
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
