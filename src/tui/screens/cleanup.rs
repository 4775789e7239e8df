//! Guided cleanup: choose a level, see exactly what will be removed (the engine's dry run),
//! confirm by typing the lab's name, watch it happen.

use crate::engine::resource::Level;
use crate::tui::action::Action;
use crate::tui::logview::LogView;
use crate::tui::msg::{Effect, Screen};
use crate::tui::panes;
use crate::tui::runview::RunView;
use crate::tui::shell::Shell;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui_textarea::TextArea;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    #[default]
    Choose,
    Loading,
    Preview,
    Running,
}

#[derive(Debug, Clone, Default)]
pub struct State {
    pub level: usize,
    pub phase: Phase,
    /// What the dry run says will be removed.
    pub items: Vec<String>,
    /// What the dry run found but leaves alone, with why (labwarp cannot prove it made it).
    pub kept: Vec<String>,
    pub error: Option<String>,
    /// The lab's name, typed to confirm.
    pub typed: Option<TextArea<'static>>,
    pub view: RunView,
    /// First item shown of the preview list.
    pub scroll: usize,
    /// Items removed, once finished.
    pub removed: Option<usize>,
    /// What could not be removed, and why.
    pub failed: Vec<String>,
}

impl State {
    pub fn is_running(&self) -> bool {
        self.phase == Phase::Running
    }

    pub fn level(&self) -> Level {
        Level::ALL[self.level.min(Level::ALL.len() - 1)]
    }
}

/// The engine's dry run, as the screen shows it: what goes, and what stays and why.
pub use crate::tui::msg::CleanupPreview as Preview;

impl State {
    /// The preview's lines: each removal, then what is left alone.
    fn lines(&self) -> Vec<(bool, String)> {
        let mut out: Vec<(bool, String)> = self
            .items
            .iter()
            .map(|i| (true, format!("  - {i}")))
            .collect();
        if !self.kept.is_empty() {
            out.push((
                false,
                format!("  Left alone ({}), not proven this lab's:", self.kept.len()),
            ));
            out.extend(self.kept.iter().map(|k| (false, format!("  = {k}"))));
        }
        out
    }
}

pub fn on_preview(sh: &Shell, st: &mut State, r: Result<Preview, String>) {
    match r {
        Ok(p) => {
            st.items = p.remove;
            st.kept = p.kept;
            st.phase = Phase::Preview;
            let mut ta = TextArea::default();
            ta.set_placeholder_text(format!("type {} to confirm", sh.lab.name));
            ta.set_style(sh.styles.input_focus);
            ta.set_cursor_line_style(sh.styles.input_focus);
            ta.set_placeholder_style(sh.styles.muted);
            st.typed = Some(ta);
        }
        Err(e) => {
            st.phase = Phase::Choose;
            st.error = Some(e);
        }
    }
}

pub fn on_finished(c: &mut State, r: Result<(usize, Vec<String>), String>) {
    match r {
        Ok((removed, failed)) => {
            c.view.finished = Some((failed.is_empty(), false));
            c.removed = Some(removed);
            c.failed = failed;
        }
        Err(e) => {
            c.view.finished = Some((false, false));
            c.failed = vec![e];
        }
    }
}

/// `run_started`: Back goes to the dashboard (a run was started), else to the welcome.
pub fn on_action(sh: &mut Shell, c: &mut State, run_started: bool, action: Action) -> Vec<Effect> {
    match (c.phase, action) {
        (Phase::Choose, Action::Up) => c.level = c.level.saturating_sub(1),
        (Phase::Choose, Action::Down) => c.level = (c.level + 1).min(Level::ALL.len() - 1),
        (Phase::Choose, Action::Confirm) => {
            c.phase = Phase::Loading;
            c.error = None;
            return vec![Effect::CleanupDryRun {
                lab: Box::new(sh.lab.clone()),
                level: c.level(),
            }];
        }
        (Phase::Preview, Action::Confirm) => {
            let typed = c
                .typed
                .as_ref()
                .map(|t| t.lines().join(""))
                .unwrap_or_default();
            if typed.trim() != sh.lab.name {
                sh.warn(format!(
                    "Type the lab's name `{}` exactly to confirm",
                    sh.lab.name
                ));
                return vec![];
            }
            c.typed = None;
            c.phase = Phase::Running;
            c.view = RunView::default();
            return vec![Effect::StartCleanup {
                lab: Box::new(sh.lab.clone()),
                level: c.level(),
            }];
        }
        (Phase::Preview, Action::Up) => c.scroll = c.scroll.saturating_sub(1),
        (Phase::Preview, Action::Down) => {
            c.scroll = (c.scroll + 1).min((c.items.len() + c.kept.len()).saturating_sub(1))
        }
        (Phase::Preview, Action::Back) => {
            c.phase = Phase::Choose;
            c.typed = None;
        }
        (Phase::Running, Action::Back) if c.view.finished.is_none() => {
            sh.warn("Cleanup is running; it converges when run again if interrupted");
        }
        (_, Action::Back) => {
            // Reached from the welcome screen (fresh start): back to it to pick a new lab.
            let to = if run_started {
                Screen::Dashboard
            } else {
                Screen::Welcome
            };
            return sh.go(to);
        }
        _ => {}
    }
    vec![]
}

pub fn draw(sh: &Shell, c: &State, frame: &mut Frame, area: Rect) {
    let s = &sh.styles;
    let [levels, detail] =
        Layout::vertical([Constraint::Length(5), Constraint::Min(4)]).areas(area);
    let lines: Vec<Line> = Level::ALL
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let sel = i == c.level;
            Line::from(vec![
                Span::styled(
                    format!("{} {:<9}", if sel { "▸" } else { " " }, l.name()),
                    if sel { s.selected } else { s.base },
                ),
                Span::styled(format!(" {}", l.describe()), s.muted),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(panes::pane(sh, " Cleanup level ", c.phase == Phase::Choose)),
        levels,
    );

    let block = panes::pane(sh, detail_title(c), c.phase != Phase::Choose);
    let inner = block.inner(detail);
    frame.render_widget(block, detail);
    match c.phase {
        Phase::Choose => {
            let mut lines = vec![Line::from(Span::styled(
                "Enter shows exactly what this level removes; nothing is removed yet.",
                s.muted,
            ))];
            if let Some(e) = &c.error {
                lines.push(Line::from(Span::styled(
                    format!("dry run failed: {e}"),
                    s.error,
                )));
            }
            frame.render_widget(Paragraph::new(lines), inner);
        }
        Phase::Loading => frame.render_widget(
            Paragraph::new(Span::styled("asking the engine for a dry run…", s.muted)),
            inner,
        ),
        Phase::Preview => {
            let [list, prompt] =
                Layout::vertical([Constraint::Min(1), Constraint::Length(2)]).areas(inner);
            let h = list.height as usize;
            let room = h.saturating_sub(1).max(1);
            let all = c.lines();
            let first = c.scroll.min(all.len().saturating_sub(room));
            let mut lines: Vec<Line> = all
                .iter()
                .skip(first)
                .take(room)
                .map(|(goes, l)| {
                    Line::from(Span::styled(
                        l.clone(),
                        if *goes { s.warn } else { s.muted },
                    ))
                })
                .collect();
            let below = all.len().saturating_sub(first + room);
            if below > 0 {
                lines.push(Line::from(Span::styled(
                    format!("  … and {below} more (↑/↓ to scroll)"),
                    s.muted,
                )));
            }
            if c.items.is_empty() {
                lines.push(Line::from(Span::styled("  nothing to remove", s.ok)));
            }
            frame.render_widget(Paragraph::new(lines), list);
            let [label, input] =
                Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(prompt);
            frame.render_widget(
                Span::styled(
                    format!(
                        "Type the lab's name ({}) and press Enter to remove it all:",
                        sh.lab.name
                    ),
                    s.key,
                ),
                label,
            );
            if let Some(t) = &c.typed {
                frame.render_widget(t, input);
            }
        }
        Phase::Running => {
            // Every stream the cleanup wrote to, merged; then the outcome.
            let mut all = crate::tui::logview::LogRing::with_capacity(10_000);
            let mut keys: Vec<&String> = c.view.logs.keys().collect();
            keys.sort();
            for k in keys {
                if let Some(r) = c.view.log(k) {
                    for l in r.tail(inner.height as usize) {
                        all.push(l.stream, l.text.clone());
                    }
                }
            }
            if let Some(n) = c.removed {
                all.push(
                    crate::engine::event::LogStream::Info,
                    format!("removed {n} item(s), {} failed", c.failed.len()),
                );
            }
            for f in &c.failed {
                all.push(
                    crate::engine::event::LogStream::Stderr,
                    format!("FAILED {f}"),
                );
            }
            let lines =
                LogView::default().visible(&all, inner.width as usize, inner.height as usize, s);
            frame.render_widget(Paragraph::new(lines), inner);
        }
    }
}

fn detail_title(c: &State) -> String {
    match c.phase {
        Phase::Choose | Phase::Loading => " What will be removed ".into(),
        Phase::Preview => format!(
            " {} will be removed ({} items) ",
            c.level().name(),
            c.items.len()
        ),
        Phase::Running => match c.view.finished {
            Some((true, _)) => " Cleanup finished ".into(),
            Some((false, _)) => " Cleanup failed: run it again, it converges ".into(),
            None => " Cleaning up… ".into(),
        },
    }
}
