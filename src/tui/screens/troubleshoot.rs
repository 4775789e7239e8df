//! Troubleshooting: the failed step with its last log lines, known failure signatures that
//! match it (with explanation and fix), related findings, and a retry.

use crate::run::signatures::{self, TAIL};
use crate::tui::action::Action;
use crate::tui::app::{App, Effect, Screen};
use crate::tui::screens::preflight::{Level, level};
use crate::tui::view;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

#[derive(Debug, Clone, Default)]
pub struct State {
    pub scroll: u16,
}

pub fn on_action(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Up => app.trouble.scroll = app.trouble.scroll.saturating_sub(1),
        Action::Down => app.trouble.scroll = app.trouble.scroll.saturating_add(1),
        Action::Retry => {
            let Some(f) = app.run.failure.take() else {
                app.say("Nothing to retry");
                return vec![];
            };
            app.run.finished = None;
            let mut fx = app.go(Screen::Dashboard);
            app.say(format!("Retrying {} / {}", f.stage, f.step));
            fx.push(Effect::RetryStep {
                stage: f.stage,
                step: f.step,
            });
            return fx;
        }
        Action::Cleanup => {
            app.cleanup = Default::default();
            return app.go(Screen::Cleanup);
        }
        Action::Back => return app.go(Screen::Dashboard),
        _ => {}
    }
    vec![]
}

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let s = &app.styles;
    let Some(f) = &app.run.failure else {
        frame.render_widget(
            Paragraph::new(Span::styled("Nothing has failed.", s.ok)).block(view::pane(
                app,
                " Troubleshoot ",
                true,
            )),
            area,
        );
        return;
    };
    let tail: Vec<String> = app
        .run
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
        Paragraph::new(lines).block(view::pane(
            app,
            format!(" Failed: {} / {} ", f.stage, f.step),
            false,
        )),
        top,
    );

    let mut lines = Vec::new();
    let hits = signatures::diagnose(&f.error, tail.iter().map(String::as_str));
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
    }
    let related: Vec<_> = app
        .findings
        .iter()
        .filter(|x| level(x) != Level::Ok)
        .collect();
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
            .scroll((app.trouble.scroll, 0))
            .block(view::pane(app, " What it means and how to fix it ", true)),
        bottom,
    );
}
