//! Review: the engine's plan as stages and steps with what each changes on the live host,
//! totals of what the lab asks for against the host's capacity, and the files written.

use crate::tui::action::Action;
use crate::tui::fields;
use crate::tui::msg::{Effect, ReviewTable, Screen};
use crate::tui::panes;
use crate::tui::plan_lines;
use crate::tui::shell::{Request, Shell};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

#[derive(Debug, Clone, Default)]
pub struct State {
    pub plan: Option<ReviewTable>,
    pub error: Option<String>,
    pub loading: bool,
    pub scroll: usize,
}

pub fn request_plan(sh: &Shell, st: &mut State) -> Vec<Effect> {
    *st = State {
        loading: true,
        ..State::default()
    };
    vec![Effect::MakePlan(Box::new(sh.lab.clone()))]
}

pub fn on_plan(st: &mut State, r: Result<ReviewTable, String>) {
    st.loading = false;
    match r {
        Ok(p) => st.plan = Some(p),
        Err(e) => st.error = Some(e),
    }
}

pub fn on_action(sh: &mut Shell, st: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Up => st.scroll = st.scroll.saturating_sub(1),
        Action::Down => st.scroll += 1,
        Action::StartRun => {
            if st.plan.is_none() {
                sh.warn("No plan yet: wait for it, or go back and fix what stops it");
                return vec![];
            }
            sh.request(Request::FreshRun);
            let mut fx = sh.go(Screen::Dashboard);
            fx.push(Effect::StartRun {
                lab: Box::new(sh.lab.clone()),
                resume: false,
            });
            return fx;
        }
        Action::Back => return sh.go(Screen::Preflight),
        _ => {}
    }
    vec![]
}

pub fn draw(sh: &Shell, st: &State, frame: &mut Frame, area: Rect) {
    let s = &sh.styles;
    let [totals, table, files] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(4),
        Constraint::Length(4),
    ])
    .areas(area);

    let (cpus, mem, disk) = fields::totals(&sh.lab);
    let mut spans = vec![Span::styled(
        format!(
            " asks {cpus} vCPUs · {} GiB RAM · {disk} GiB disk",
            mem / 1024
        ),
        s.base,
    )];
    if let Some((hc, hm, hd)) = st.plan.as_ref().and_then(|p| p.capacity) {
        let over = cpus > hc * 4 || mem > hm || disk > hd;
        spans.push(Span::styled(
            format!(
                "   host has {hc} CPUs · {} GiB RAM · {hd} GiB free",
                hm / 1024
            ),
            if over { s.error } else { s.ok },
        ));
    }
    frame.render_widget(
        Paragraph::new(Line::from(spans)).block(panes::pane(sh, " Totals ", false)),
        totals,
    );

    let block = panes::pane(sh, " Plan: what each step changes on the host ", true);
    let inner = block.inner(table);
    frame.render_widget(block, table);
    let mut lines = Vec::new();
    match (&st.plan, &st.error) {
        (_, Some(e)) => lines.push(Line::from(Span::styled(
            format!("cannot plan: {e}"),
            s.error,
        ))),
        (None, None) => lines.push(Line::from(Span::styled("planning…", s.muted))),
        (Some(plan), None) => {
            for stage in &plan.stages {
                lines.push(Line::from(Span::styled(stage.title.clone(), s.title)));
                for step in &stage.steps {
                    // A step whose object exists but differs: the back end's drift lines
                    // (`~ field: live → wanted (cost)`), each on its own line.
                    let drifted = step.change.starts_with("~ ");
                    let (mark, style) = if step.done {
                        ("=", s.muted)
                    } else if drifted {
                        ("~", s.warn)
                    } else {
                        ("+", s.ok)
                    };
                    let change = if step.done {
                        "already done"
                    } else {
                        step.change.as_str()
                    };
                    let width = usize::from(inner.width);
                    let one = 4 + step.title.chars().count() + 2 + change.chars().count();
                    if one <= width && !drifted {
                        lines.push(Line::from(vec![
                            Span::styled(format!("  {mark} "), style),
                            Span::styled(step.title.clone(), s.base),
                            Span::styled(format!("  {change}"), s.muted),
                        ]));
                        continue;
                    }
                    // Too long for one line: the title, then what changes, each wrapped.
                    for (i, part) in plan_lines::wrap(&step.title, width.saturating_sub(6))
                        .into_iter()
                        .enumerate()
                    {
                        let lead = if i == 0 {
                            Span::styled(format!("  {mark} "), style)
                        } else {
                            Span::raw("      ")
                        };
                        lines.push(Line::from(vec![lead, Span::styled(part, s.base)]));
                    }
                    for part in change
                        .lines()
                        .flat_map(|l| plan_lines::wrap(l, width.saturating_sub(6)))
                    {
                        lines.push(Line::from(vec![
                            Span::raw("      "),
                            Span::styled(part, if drifted { s.warn } else { s.muted }),
                        ]));
                    }
                }
            }
        }
    }
    let h = inner.height as usize;
    let first = st.scroll.min(lines.len().saturating_sub(h));
    let visible: Vec<Line> = lines.into_iter().skip(first).take(h).collect();
    frame.render_widget(Paragraph::new(visible), inner);

    let written = st
        .plan
        .as_ref()
        .map(|p| p.files.join("  "))
        .unwrap_or_default();
    frame.render_widget(
        Paragraph::new(Span::styled(written, s.base))
            .wrap(ratatui::widgets::Wrap { trim: true })
            .block(panes::pane(sh, " Files written ", false)),
        files,
    );
}
