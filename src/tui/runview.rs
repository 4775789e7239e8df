//! A run as the dashboard shows it: the fold of the engine's events. Pure state; times come
//! from the app's clock (ticks), never read here.

use super::logview::LogRing;
use crate::run::event::{ContainerRow, Event, LogStream, StageInfo, StageOutcome, VmRow};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Running,
    Done,
    /// Already in the wanted state: nothing changed.
    Skipped,
    Failed,
}

#[derive(Debug, Clone)]
pub struct StepView {
    pub id: String,
    pub title: String,
    pub status: Status,
    pub elapsed_ms: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct StageView {
    pub id: String,
    pub title: String,
    pub status: Status,
    pub steps: Vec<StepView>,
    pub started_ms: Option<u64>,
    pub elapsed_ms: Option<u64>,
    pub eta_secs: Option<u64>,
    /// Latest progress of the running step: (done, total).
    pub progress: Option<(u64, Option<u64>)>,
}

impl StageView {
    pub fn steps_done(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s.status, Status::Done | Status::Skipped))
            .count()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub stage: String,
    pub step: String,
    pub error: String,
}

#[derive(Debug, Clone, Default)]
pub struct RunView {
    pub stages: Vec<StageView>,
    pub vms: Vec<VmRow>,
    pub containers: Vec<ContainerRow>,
    /// One log per stage, plus `podman:<name>` streams for container logs.
    pub logs: HashMap<String, LogRing>,
    pub failure: Option<Failure>,
    pub started: bool,
    pub finished: Option<(bool, bool)>,
}

impl RunView {
    fn stage_mut(&mut self, id: &str) -> Option<&mut StageView> {
        self.stages.iter_mut().find(|s| s.id == id)
    }

    fn step_mut(&mut self, stage: &str, step: &str) -> Option<&mut StepView> {
        self.stage_mut(stage)
            .and_then(|s| s.steps.iter_mut().find(|x| x.id == step))
    }

    pub fn running_stage(&self) -> Option<usize> {
        self.stages.iter().position(|s| s.status == Status::Running)
    }

    pub fn log(&self, stream: &str) -> Option<&LogRing> {
        self.logs.get(stream)
    }

    pub fn push_log(&mut self, stream: &str, kind: LogStream, line: String) {
        self.logs
            .entry(stream.to_string())
            .or_default()
            .push(kind, line);
    }

    /// Folds one event in. `now_ms` is the app clock, for elapsed times of running stages.
    pub fn apply(&mut self, ev: Event, now_ms: u64) {
        match ev {
            Event::RunStarted { stages } => {
                self.stages = stages.into_iter().map(stage_view).collect();
                self.failure = None;
                self.finished = None;
                self.started = true;
            }
            Event::StageStarted { stage } => {
                if let Some(s) = self.stage_mut(&stage) {
                    s.status = Status::Running;
                    s.started_ms = Some(now_ms);
                }
            }
            Event::StepStarted { stage, step } => {
                if let Some(s) = self.step_mut(&stage, &step) {
                    s.status = Status::Running;
                }
            }
            Event::StepSkipped {
                stage,
                step,
                reason,
            } => {
                if let Some(s) = self.step_mut(&stage, &step) {
                    s.status = Status::Skipped;
                }
                self.push_log(
                    &stage,
                    LogStream::Info,
                    format!("{step}: already done ({reason})"),
                );
            }
            Event::StepFinished {
                stage,
                step,
                elapsed_ms,
            } => {
                if let Some(s) = self.step_mut(&stage, &step) {
                    s.status = Status::Done;
                    s.elapsed_ms = Some(elapsed_ms);
                }
            }
            Event::StepFailed { stage, step, error } => {
                if let Some(s) = self.step_mut(&stage, &step) {
                    s.status = Status::Failed;
                }
                self.push_log(&stage, LogStream::Stderr, format!("{step} failed: {error}"));
                self.failure = Some(Failure { stage, step, error });
            }
            Event::Log {
                stage,
                step: _,
                stream,
                line,
            } => self.push_log(&stage, stream, line),
            Event::Progress {
                stage,
                done,
                total,
                eta_secs,
                ..
            } => {
                if let Some(s) = self.stage_mut(&stage) {
                    s.progress = Some((done, total));
                    s.eta_secs = eta_secs;
                }
            }
            Event::StageFinished {
                stage,
                outcome,
                elapsed_ms,
            } => {
                if let Some(s) = self.stage_mut(&stage) {
                    s.status = match outcome {
                        StageOutcome::Done => Status::Done,
                        StageOutcome::Failed => Status::Failed,
                        StageOutcome::Skipped => Status::Skipped,
                    };
                    s.elapsed_ms = Some(elapsed_ms);
                    s.eta_secs = None;
                    s.progress = None;
                }
            }
            Event::Vms { vms } => self.vms = vms,
            Event::Containers { containers } => self.containers = containers,
            // Findings are the preflight screen's; the app keeps them.
            Event::Finding { .. } => {}
            Event::RunFinished { ok, cancelled } => self.finished = Some((ok, cancelled)),
        }
    }

    /// Elapsed time of a stage: final when finished, live while running.
    pub fn elapsed(&self, s: &StageView, now_ms: u64) -> Option<u64> {
        s.elapsed_ms
            .or_else(|| s.started_ms.map(|t| now_ms.saturating_sub(t)))
    }
}

fn stage_view(info: StageInfo) -> StageView {
    StageView {
        id: info.id,
        title: info.title,
        status: Status::Pending,
        steps: info
            .steps
            .into_iter()
            .map(|s| StepView {
                id: s.id,
                title: s.title,
                status: Status::Pending,
                elapsed_ms: None,
            })
            .collect(),
        started_ms: None,
        elapsed_ms: None,
        eta_secs: None,
        progress: None,
    }
}

/// `1m05s`, `42s`, `1h02m`.
pub fn fmt_duration(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}
