//! A run as the dashboard shows it: the fold of the engine's events. Pure state; times come
//! from the app's clock (ticks), never read here.

use super::logview::LogRing;
use crate::engine::event::{ContainerRow, Event, LogStream, StageInfo, StageOutcome, VmRow};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Running,
    Done,
    /// Already in the wanted state: nothing changed.
    Skipped,
    Failed,
    /// Not run: a step (or stage) it depends on failed, or the run was cancelled.
    Blocked,
    /// Could not be checked here: neither done nor failed (shown in yellow, counted apart).
    Unverified,
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

/// What the dashboard keeps of all its log streams together (every stage's and every
/// container's): past either bound the oldest lines of the biggest stream are dropped, so
/// memory stays bounded however many lines and streams arrive. ~100-byte lines hit the line
/// bound (~45 MB held, see BENCHMARKS.md); long lines hit the byte bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBudget {
    pub lines: usize,
    /// Text bytes.
    pub bytes: usize,
}

impl Default for LogBudget {
    fn default() -> Self {
        LogBudget {
            lines: 200_000,
            bytes: 48 << 20,
        }
    }
}

/// A longer line is cut to this many bytes in the pane (a runaway line without newlines
/// must not take the whole budget).
pub const MAX_LINE_BYTES: usize = 16 << 10;

#[derive(Debug, Clone, Default)]
pub struct RunView {
    pub stages: Vec<StageView>,
    pub vms: Vec<VmRow>,
    pub containers: Vec<ContainerRow>,
    /// One log per stage, plus `podman:<name>` streams for container logs.
    pub logs: HashMap<String, LogRing>,
    pub log_budget: LogBudget,
    /// Lines and text bytes held by all of `logs` together.
    held_lines: usize,
    held_bytes: usize,
    /// Lines pushed so far (the arrival order of the next line).
    arrived: u64,
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

    pub fn push_log(&mut self, stream: &str, kind: LogStream, mut line: String) {
        if line.len() > MAX_LINE_BYTES {
            let mut cut = MAX_LINE_BYTES;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            let total = line.len();
            line.truncate(cut);
            line.push_str(&format!(" … ({} bytes cut)", total - cut));
        }
        let bytes = line.len();
        // No key allocation per line for a stream that exists (`entry` would take a String).
        if !self.logs.contains_key(stream) {
            self.logs.insert(stream.to_string(), LogRing::default());
        }
        self.held_lines += 1;
        self.held_bytes += bytes;
        let Some(ring) = self.logs.get_mut(stream) else {
            return; // inserted above
        };
        self.arrived += 1;
        if let Some(gone) = ring.push_at(kind, line, self.arrived) {
            self.held_lines -= 1;
            self.held_bytes -= gone;
        }
        while self.held_lines > 1
            && (self.held_lines > self.log_budget.lines || self.held_bytes > self.log_budget.bytes)
        {
            if !self.drop_oldest(stream) {
                break;
            }
        }
    }

    /// Lines and text bytes held by all log streams together.
    pub fn log_held(&self) -> (usize, usize) {
        (self.held_lines, self.held_bytes)
    }

    /// Drops the oldest line of all streams (the busy stream's own, usually).
    fn drop_oldest(&mut self, pushed: &str) -> bool {
        let victim = if self.logs.len() == 1 {
            self.logs.get_mut(pushed)
        } else {
            self.logs
                .values_mut()
                .filter(|r| !r.is_empty())
                .min_by_key(|r| r.oldest_at())
        };
        match victim.and_then(LogRing::pop_oldest) {
            Some(gone) => {
                self.held_lines -= 1;
                self.held_bytes -= gone;
                true
            }
            None => false,
        }
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
            Event::StepBlocked {
                stage,
                step,
                failed,
            } => {
                if let Some(s) = self.step_mut(&stage, &step) {
                    s.status = Status::Blocked;
                }
                self.push_log(
                    &stage,
                    LogStream::Info,
                    format!("{step}: not run: {failed} failed"),
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
            Event::StepUnverified {
                stage,
                step,
                reason,
            } => {
                if let Some(s) = self.step_mut(&stage, &step) {
                    s.status = Status::Unverified;
                }
                self.push_log(
                    &stage,
                    LogStream::Info,
                    format!("{step}: UNVERIFIED ({reason})"),
                );
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
                        StageOutcome::Skipped => Status::Blocked,
                        StageOutcome::Unverified => Status::Unverified,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_budget_holds_for_all_streams_together() {
        let mut v = RunView {
            log_budget: LogBudget {
                lines: 100,
                bytes: 1 << 20,
            },
            ..RunView::default()
        };
        for i in 0..1000 {
            v.push_log(
                &format!("podman:c{}", i % 10),
                LogStream::Stdout,
                format!("l{i}"),
            );
        }
        assert_eq!(v.log_held().0, 100);
        let total: usize = v.logs.values().map(LogRing::len).sum();
        assert_eq!(total, 100, "the budget is shared, not per stream");
        // The oldest lines went; every stream keeps its newest ones and counts the drop.
        let r = v.log("podman:c3").unwrap();
        assert_eq!(r.get(r.end() - 1).unwrap().text, "l993");
        assert_eq!(r.get(r.dropped()).unwrap().text, "l903");
        // A new busy stream pushes out the oldest lines of the others, never its own new
        // ones, and the budget still holds.
        for i in 0..50 {
            v.push_log("undercloud-install", LogStream::Stdout, format!("u{i}"));
        }
        assert_eq!(v.log("undercloud-install").unwrap().len(), 50);
        assert_eq!(v.logs.values().map(LogRing::len).sum::<usize>(), 100);
    }

    #[test]
    fn a_blocked_step_reads_not_run_never_already_done() {
        let mut v = RunView::default();
        v.apply(
            Event::RunStarted {
                stages: vec![StageInfo {
                    id: "undercloud-vm".into(),
                    title: "Undercloud VM".into(),
                    steps: vec![crate::engine::event::StepInfo {
                        id: "seed-iso".into(),
                        title: "cloud-init seed".into(),
                    }],
                }],
            },
            0,
        );
        v.apply(
            Event::StepBlocked {
                stage: "undercloud-vm".into(),
                step: "seed-iso".into(),
                failed: "images/undercloud-image".into(),
            },
            1,
        );
        let st = &v.stages[0];
        assert_eq!(st.steps[0].status, Status::Blocked);
        assert_eq!(st.steps_done(), 0, "a blocked step is not done");
        let log = v.log("undercloud-vm").unwrap();
        let last = &log.get(log.end() - 1).unwrap().text;
        assert_eq!(last, "seed-iso: not run: images/undercloud-image failed");
        v.apply(
            Event::StepUnverified {
                stage: "undercloud-vm".into(),
                step: "seed-iso".into(),
                reason: "nothing runs there".into(),
            },
            2,
        );
        assert_eq!(v.stages[0].steps[0].status, Status::Unverified);
        assert_eq!(
            v.stages[0].steps_done(),
            0,
            "an unverified step is not done"
        );
    }

    #[test]
    fn the_byte_budget_and_a_runaway_line_are_bounded() {
        let mut v = RunView {
            log_budget: LogBudget {
                lines: 1_000_000,
                bytes: 64 << 10,
            },
            ..RunView::default()
        };
        v.push_log("s", LogStream::Stdout, "é".repeat(MAX_LINE_BYTES));
        let first = &v.log("s").unwrap().get(0).unwrap().text;
        assert!(first.len() < MAX_LINE_BYTES + 40, "cut: {}", first.len());
        assert!(first.ends_with("bytes cut)"), "says it was cut");
        for i in 0..10_000 {
            v.push_log("s", LogStream::Stdout, format!("{i:0100}"));
        }
        let (lines, bytes) = v.log_held();
        assert!(bytes <= 64 << 10, "{bytes} bytes held");
        assert_eq!(bytes, v.log("s").unwrap().bytes());
        assert_eq!(lines, v.log("s").unwrap().len());
    }
}
