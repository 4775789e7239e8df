//! Troubleshooting: the failed step with its last log lines, known failure signatures that
//! match it (with explanation and fix), related findings, and a retry.

use crate::engine::event::FindingRow;
use crate::run::signatures::{self, TAIL};
use crate::tui::action::Action;
use crate::tui::msg::{Confirm, Effect, Screen};
use crate::tui::panes;
use crate::tui::runview::RunView;
use crate::tui::severity::{Level, level};
use crate::tui::shell::{Request, Shell};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

#[derive(Debug, Clone, Default)]
pub struct State {
    pub scroll: u16,
}

/// What the failure shown matches, for the lab's distribution family.
fn hits(sh: &Shell, run: &RunView) -> Vec<signatures::Diagnosis> {
    let Some(f) = &run.failure else {
        return Vec::new();
    };
    let tail: Vec<String> = run
        .log(&f.stage)
        .map(|r| r.tail(TAIL).map(|l| l.text.clone()).collect())
        .unwrap_or_default();
    let distro = sh
        .lab
        .hypervisors
        .first()
        .map(|h| h.distro)
        .unwrap_or_default();
    signatures::diagnose_for(&f.error, tail.iter().map(String::as_str), distro)
}

/// The confirmation of a remedy: what, where, exactly, and the retry after it.
fn ask(
    sh: &mut Shell,
    title: String,
    stage: String,
    step: String,
    remedy: signatures::Remedy,
    lines: Vec<String>,
) {
    let host = match remedy.host {
        crate::plan::HostRole::Virthost => "the hypervisor",
        crate::plan::HostRole::Undercloud => "the undercloud",
    };
    // A fix that read the live state says where each change goes in its own lines.
    let head = match remedy.probe {
        Some(_) => format!("{}, exactly:", remedy.description),
        None => format!("{} on {host}, exactly:", remedy.description),
    };
    let mut body = vec![title, String::new(), head];
    body.extend(lines.into_iter().map(|l| format!("  {l}")));
    body.push(String::new());
    body.push(format!("then {stage} / {step} runs again."));
    sh.confirm = Some(Confirm {
        title: "Apply the fix?".into(),
        body,
        on_yes: Effect::ApplyRemedy {
            stage,
            step,
            remedy,
        },
    });
}

/// The preflight fixes of a remedy were read: confirm exactly them, or say there is none.
pub fn on_prepared(
    sh: &mut Shell,
    run: &RunView,
    stage: String,
    step: String,
    remedy: signatures::Remedy,
    lines: Result<Vec<String>, String>,
) {
    match lines {
        Ok(l) if l.is_empty() && remedy.commands.is_empty() => sh.warn(format!(
            "Nothing to change: preflight finds {} as wanted",
            remedy.findings.join(", ").replace('.', "")
        )),
        Ok(l) => {
            sh.status = None;
            let title = hits(sh, run)
                .into_iter()
                .find(|d| d.remedy.as_ref() == Some(&remedy))
                .map(|d| d.title)
                .unwrap_or_else(|| remedy.description.clone());
            ask(sh, title, stage, step, remedy, l);
        }
        Err(e) => sh.warn(e),
    }
}

/// The fix ran: run the failed step again (its stage from that step on); or say why not.
pub fn on_remedy(
    sh: &mut Shell,
    run: &mut RunView,
    stage: String,
    step: String,
    result: Result<crate::run::remedies::Applied, String>,
) -> Vec<Effect> {
    match result {
        Ok(applied) => {
            run.failure = None;
            run.finished = None;
            let mut fx = sh.go(Screen::Dashboard);
            sh.say(format!(
                "Fix applied ({}); retrying {stage} / {step}",
                applied.done
            ));
            match applied.lab {
                // lab.yaml changed: the run resumes (at the failed step) with the new lab.
                Some(lab) => {
                    sh.lab = *lab;
                    fx.push(Effect::StartRun {
                        lab: Box::new(sh.lab.clone()),
                        resume: true,
                    });
                }
                None => fx.push(Effect::RetryStep { stage, step }),
            }
            fx
        }
        Err(e) => {
            sh.warn(format!("The fix failed: {e}"));
            vec![]
        }
    }
}

pub fn on_action(sh: &mut Shell, st: &mut State, run: &mut RunView, action: Action) -> Vec<Effect> {
    match action {
        Action::ApplyFix => {
            let Some(f) = run.failure.clone() else {
                sh.say("Nothing has failed");
                return vec![];
            };
            let Some((d, remedy)) = hits(sh, run)
                .into_iter()
                .find_map(|d| d.remedy.clone().map(|r| (d, r)))
            else {
                sh.say("No fix labwarp can apply for this failure: see what it means below");
                return vec![];
            };
            if !remedy.findings.is_empty() || remedy.probe.is_some() {
                // Its preflight fixes and the live state are read first: the exact change.
                sh.say(format!("Reading what to change: {}…", remedy.description));
                return vec![Effect::PrepareRemedy {
                    stage: f.stage,
                    step: f.step,
                    remedy,
                    lab_file: sh.lab_path.clone(),
                }];
            }
            let lines = remedy.lines();
            ask(sh, d.title, f.stage, f.step, remedy, lines);
        }
        Action::Up => st.scroll = st.scroll.saturating_sub(1),
        Action::Down => st.scroll = st.scroll.saturating_add(1),
        Action::Retry => {
            let Some(f) = run.failure.take() else {
                sh.say("Nothing to retry");
                return vec![];
            };
            run.finished = None;
            let mut fx = sh.go(Screen::Dashboard);
            sh.say(format!("Retrying {} / {}", f.stage, f.step));
            fx.push(Effect::RetryStep {
                stage: f.stage,
                step: f.step,
            });
            return fx;
        }
        Action::Cleanup => {
            sh.request(Request::FreshCleanup);
            return sh.go(Screen::Cleanup);
        }
        Action::Back => return sh.go(Screen::Dashboard),
        _ => {}
    }
    vec![]
}

pub fn draw(
    sh: &Shell,
    st: &State,
    run: &RunView,
    findings: &[FindingRow],
    frame: &mut Frame,
    area: Rect,
) {
    let s = &sh.styles;
    let Some(f) = &run.failure else {
        frame.render_widget(
            Paragraph::new(Span::styled("Nothing has failed.", s.ok)).block(panes::pane(
                sh,
                " Troubleshoot ",
                true,
            )),
            area,
        );
        return;
    };
    let tail: Vec<String> = run
        .log(&f.stage)
        .map(|r| r.tail(TAIL).map(|l| l.text.clone()).collect())
        .unwrap_or_default();
    let [top, bottom] =
        Layout::vertical([Constraint::Length(TAIL as u16 + 4), Constraint::Min(4)]).areas(area);

    let mut lines = vec![Line::from(vec![
        Span::styled("error: ", s.error),
        Span::styled(f.error.clone(), s.base),
    ])];
    lines.push(Line::from(Span::styled("last log lines:", s.muted)));
    lines.extend(
        tail.iter()
            .map(|l| Line::from(Span::styled(format!("  {l}"), s.base))),
    );
    frame.render_widget(
        Paragraph::new(lines).block(panes::pane(
            sh,
            format!(" Failed: {} / {} ", f.stage, f.step),
            false,
        )),
        top,
    );

    let mut lines = Vec::new();
    let hits = hits(sh, run);
    if hits.is_empty() {
        lines.push(Line::from(Span::styled(
            "No known signature matches; the log above and the findings below are the evidence.",
            s.muted,
        )));
    }
    for sig in hits {
        lines.push(Line::from(Span::styled(sig.title, s.title)));
        lines.push(Line::from(Span::styled(sig.explanation, s.base)));
        lines.push(Line::from(vec![
            Span::styled("fix: ", s.muted),
            Span::styled(sig.fix, s.ok),
        ]));
        if let Some(r) = &sig.remedy {
            lines.push(Line::from(vec![
                Span::styled("press f: ", s.key),
                Span::styled(
                    if r.commands.is_empty() {
                        format!("{} (the exact change is shown first)", r.description)
                    } else {
                        format!("{} — {}", r.description, r.lines().join("; "))
                    },
                    s.ok,
                ),
            ]));
        }
    }
    let related: Vec<_> = findings.iter().filter(|x| level(x) != Level::Ok).collect();
    if !related.is_empty() {
        lines.push(Line::from(Span::styled("Preflight findings", s.title)));
        for x in related {
            lines.push(Line::from(vec![
                Span::styled(format!("  {}: ", x.area), s.muted),
                Span::styled(x.title.clone(), s.warn),
            ]));
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .scroll((st.scroll, 0))
            .block(panes::pane(sh, " What it means and how to fix it ", true)),
        bottom,
    );
}
