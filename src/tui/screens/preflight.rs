//! Preflight: findings grouped by area with status, evidence and fix; one key applies a fix
//! after a confirmation that shows exactly what will run; checks can be re-run.

use crate::engine::event::FindingRow;
use crate::tui::action::Action;
use crate::tui::msg::{Confirm, Effect, Screen};
use crate::tui::panes;
use crate::tui::shell::{Request, Shell};
use ratatui::Frame;
use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

#[derive(Debug, Clone, Default)]
pub struct State {
    pub selected: usize,
    pub running: bool,
    /// Next was pressed once with failing checks: a second press goes on anyway.
    pub armed: bool,
    /// Why the checks could not run at all.
    pub error: Option<String>,
}

pub use crate::tui::severity::{Level, level};

/// Forgets the findings so far and asks the driver for the checks.
pub fn start_checks(sh: &Shell, st: &mut State, findings: &mut Vec<FindingRow>) -> Vec<Effect> {
    findings.clear();
    *st = State {
        running: true,
        ..State::default()
    };
    vec![Effect::RunChecks(Box::new(sh.lab.clone()))]
}

/// `labwarp check --deep`: the checks with a probe guest booted on the hypervisor.
fn start_deep_checks(
    sh: &mut Shell,
    st: &mut State,
    findings: &mut Vec<FindingRow>,
) -> Vec<Effect> {
    start_checks(sh, st, findings);
    sh.say("Deep check: booting a probe guest with type='kvm' (up to 90 s)…");
    vec![Effect::RunDeepChecks(Box::new(sh.lab.clone()))]
}

/// A finding arrived: replace the one with the same id, else add it.
pub fn add_finding(findings: &mut Vec<FindingRow>, f: FindingRow) {
    match findings.iter_mut().find(|x| x.id == f.id) {
        Some(old) => *old = f,
        None => findings.push(f),
    }
}

/// Findings in display order: grouped by area (areas in first-seen order).
pub fn ordered(findings: &[FindingRow]) -> Vec<&FindingRow> {
    let mut areas: Vec<&str> = Vec::new();
    for f in findings {
        if !areas.contains(&f.area.as_str()) {
            areas.push(&f.area);
        }
    }
    areas
        .iter()
        .flat_map(|a| findings.iter().filter(move |f| f.area == *a))
        .collect()
}

pub fn on_fix(
    sh: &mut Shell,
    st: &mut State,
    findings: &mut Vec<FindingRow>,
    id: String,
    result: Result<String, String>,
) -> Vec<Effect> {
    match result {
        Ok(done) => {
            let fx = start_checks(sh, st, findings);
            sh.say(format!("Fix {id} applied: {done}. Checking again…"));
            fx
        }
        Err(e) => {
            sh.warn(format!("Fix {id} failed: {e}"));
            vec![]
        }
    }
}

pub fn on_action(
    sh: &mut Shell,
    st: &mut State,
    findings: &mut Vec<FindingRow>,
    action: Action,
) -> Vec<Effect> {
    let n = findings.len();
    match action {
        Action::Up => st.selected = st.selected.saturating_sub(1),
        Action::Down => st.selected = (st.selected + 1).min(n.saturating_sub(1)),
        Action::Rerun => return start_checks(sh, st, findings),
        Action::DeepCheck if st.running => sh.warn("Checks are still running"),
        Action::DeepCheck => return start_deep_checks(sh, st, findings),
        Action::ApplyFix => {
            let Some(f) = ordered(findings).get(st.selected).map(|f| (*f).clone()) else {
                return vec![];
            };
            match &f.fix {
                Some(fix) if level(&f) != Level::Ok => {
                    let mut body = vec![format!("{}: {}", f.area, f.title), String::new()];
                    body.push("This will change the host exactly as follows:".into());
                    body.extend(fix.lines().map(|l| format!("  {l}")));
                    sh.confirm = Some(Confirm {
                        title: "Apply fix?".into(),
                        body,
                        on_yes: Effect::ApplyFix { id: f.id.clone() },
                    });
                }
                _ => sh.say("Nothing to fix for this check"),
            }
        }
        Action::NextScreen => {
            let failing = findings.iter().filter(|f| level(f) == Level::Fail).count();
            if st.running {
                sh.warn("Checks are still running");
            } else if failing > 0 && !st.armed {
                st.armed = true;
                sh.warn(format!(
                    "{failing} check(s) fail: fix them (f), or press n again to review anyway"
                ));
            } else {
                sh.request(Request::RequestPlan);
                return sh.go(Screen::Review);
            }
        }
        Action::Back => return sh.go(Screen::Overcloud),
        _ => {}
    }
    vec![]
}

fn split(area: Rect) -> [Rect; 2] {
    Layout::vertical([Constraint::Min(3), Constraint::Length(7)]).areas(area)
}

pub fn on_mouse(
    sh: &mut Shell,
    st: &mut State,
    findings: &mut Vec<FindingRow>,
    ev: MouseEvent,
) -> Vec<Effect> {
    let [list, _] = split(panes::body(Rect::new(0, 0, sh.size.0, sh.size.1)));
    match ev.kind {
        MouseEventKind::Down(MouseButton::Left) if panes::contains(list, ev.column, ev.row) => {
            // Map the clicked row back to a finding (area headers take a row each).
            let target = (ev.row.saturating_sub(list.y + 1)) as usize;
            let mut row = 0;
            let mut last_area = None;
            for (i, f) in ordered(findings).iter().enumerate() {
                if last_area != Some(f.area.clone()) {
                    row += 1;
                    last_area = Some(f.area.clone());
                }
                if row == target {
                    st.selected = i;
                    break;
                }
                row += 1;
            }
        }
        MouseEventKind::ScrollDown => return on_action(sh, st, findings, Action::Down),
        MouseEventKind::ScrollUp => return on_action(sh, st, findings, Action::Up),
        _ => {}
    }
    vec![]
}

pub fn draw(sh: &Shell, st: &State, findings: &[FindingRow], frame: &mut Frame, area: Rect) {
    let s = &sh.styles;
    let [list, detail] = split(area);
    let fails = findings.iter().filter(|f| level(f) == Level::Fail).count();
    let warns = findings.iter().filter(|f| level(f) == Level::Warn).count();
    let title = if st.running {
        format!(" Preflight: checking… {} so far ", findings.len())
    } else {
        format!(
            " Preflight: {} checks, {fails} failing, {warns} warnings ",
            findings.len()
        )
    };
    let block = panes::pane(sh, title, true);
    let inner = block.inner(list);
    frame.render_widget(block, list);
    let mut lines = Vec::new();
    let mut sel_row = 0;
    let mut last_area: Option<&str> = None;
    for (i, f) in ordered(findings).into_iter().enumerate() {
        if last_area != Some(f.area.as_str()) {
            lines.push(Line::from(Span::styled(f.area.clone(), s.title)));
            last_area = Some(&f.area);
        }
        let (mark, style) = mark(sh, f);
        if i == st.selected {
            sel_row = lines.len();
        }
        let row_style = if i == st.selected {
            s.selected
        } else {
            Style::new()
        };
        lines.push(
            Line::from(vec![
                Span::styled(format!("  {mark} "), style),
                Span::styled(f.title.clone(), s.base),
                Span::styled(
                    if f.fix.is_some() && level(f) != Level::Ok {
                        "  [fix]"
                    } else {
                        ""
                    },
                    s.key,
                ),
            ])
            .style(row_style),
        );
    }
    if let Some(e) = &st.error {
        lines.insert(
            0,
            Line::from(Span::styled(format!("checks could not run: {e}"), s.error)),
        );
    }
    if lines.is_empty() {
        lines.push(Line::from(Span::styled(
            if st.running {
                "  running checks…"
            } else {
                "  no findings yet: press r to run the checks"
            },
            s.muted,
        )));
    }
    // Only the visible slice, scrolled to keep the selection in view.
    let h = inner.height as usize;
    let first = sel_row.saturating_sub(h.saturating_sub(1));
    let visible: Vec<Line> = lines.into_iter().skip(first).take(h).collect();
    frame.render_widget(Paragraph::new(visible), inner);

    let block = panes::pane(sh, " Evidence and fix ", false);
    let inner = block.inner(detail);
    frame.render_widget(block, detail);
    if let Some(f) = ordered(findings).get(st.selected) {
        let mut text: Vec<Line> = f
            .evidence
            .lines()
            .enumerate()
            .map(|(i, l)| {
                Line::from(vec![
                    Span::styled(if i == 0 { "evidence: " } else { "          " }, s.muted),
                    Span::styled(l.to_string(), s.base),
                ])
            })
            .collect();
        if let Some(fix) = &f.fix {
            for (i, l) in fix.lines().enumerate() {
                text.push(Line::from(vec![
                    Span::styled(if i == 0 { "fix: " } else { "     " }, s.muted),
                    Span::styled(l.to_string(), s.ok),
                ]));
            }
        }
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), inner);
    }
}

fn mark(sh: &Shell, f: &FindingRow) -> (&'static str, Style) {
    let s = &sh.styles;
    match level(f) {
        Level::Ok => ("✓", s.ok),
        Level::Warn => ("!", s.warn),
        Level::Fail => ("✗", s.error),
    }
}
