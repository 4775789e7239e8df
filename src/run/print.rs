//! Headless output: one line of text per event, or the event as a JSON line.

use crate::engine::event::{Event, LogStream, StageOutcome};

pub fn text(e: &Event) -> String {
    match e {
        Event::RunStarted { stages } => format!(
            "run: {} stage(s): {}",
            stages.len(),
            stages
                .iter()
                .map(|s| s.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Event::StageStarted { stage } => format!("[{stage}] started"),
        Event::StepStarted { stage, step } => format!("[{stage}] {step}: started"),
        Event::StepSkipped {
            stage,
            step,
            reason,
        } => {
            format!("[{stage}] {step}: skipped ({reason})")
        }
        Event::StepBlocked {
            stage,
            step,
            failed,
        } => format!("[{stage}] {step}: not run: {failed} failed"),
        Event::StepFinished {
            stage,
            step,
            elapsed_ms,
        } => format!(
            "[{stage}] {step}: done in {:.1} s",
            *elapsed_ms as f64 / 1000.0
        ),
        Event::StepFailed { stage, step, error } => format!("[{stage}] {step}: FAILED: {error}"),
        Event::StepUnverified {
            stage,
            step,
            reason,
        } => format!("[{stage}] {step}: UNVERIFIED: {reason}"),
        Event::Log {
            stage,
            step,
            stream,
            line,
        } => {
            let who = step.as_deref().unwrap_or("-");
            let s = match stream {
                LogStream::Stdout => "out",
                LogStream::Stderr => "err",
                LogStream::Info => "info",
            };
            format!("[{stage}] {who} {s}| {line}")
        }
        Event::Progress {
            stage,
            step,
            done,
            total,
            eta_secs,
        } => {
            let total = total.map(|t| format!("/{t}")).unwrap_or_default();
            let eta = eta_secs
                .map(|s| format!(", ~{s} s left"))
                .unwrap_or_default();
            format!("[{stage}] {step}: {done}{total}{eta}")
        }
        Event::StageFinished {
            stage,
            outcome,
            elapsed_ms,
        } => {
            let o = match outcome {
                StageOutcome::Done => "done",
                StageOutcome::Failed => "FAILED",
                StageOutcome::Skipped => "skipped",
                StageOutcome::Unverified => "done, with steps UNVERIFIED",
            };
            format!("[{stage}] {o} ({:.1} s)", *elapsed_ms as f64 / 1000.0)
        }
        Event::Vms { vms } => format!(
            "vms: {}",
            vms.iter()
                .map(|v| format!("{} {}", v.name, v.state))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Event::Containers { containers } => format!(
            "containers: {}",
            containers
                .iter()
                .map(|c| format!("{} {}", c.name, c.state))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Event::Finding { finding } => format!(
            "finding {} [{}] {}: {}",
            finding.id, finding.severity, finding.title, finding.evidence
        ),
        Event::RunFinished { ok, cancelled } => match (ok, cancelled) {
            (_, true) => "run: cancelled".into(),
            (true, _) => "run: every stage finished".into(),
            (false, _) => "run: FAILED (see the stages above and workspace/logs/)".into(),
        },
    }
}

/// One JSON line (serde_json of the event).
pub fn json(e: &Event) -> String {
    serde_json::to_string(e)
        .unwrap_or_else(|err| format!("{{\"event\":\"error\",\"error\":\"{err}\"}}"))
}
