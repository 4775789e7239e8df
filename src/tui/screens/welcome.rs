//! Welcome: start from a preset, open a lab file, or pick up a lab found in the workspace.

use crate::tui::action::Action;
use crate::tui::msg::{Effect, Found};
use crate::tui::panes;
use crate::tui::shell::Shell;
use ratatui::Frame;
use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui_textarea::TextArea;
use std::path::PathBuf;

pub use crate::tui::msg::Pending;

#[derive(Debug, Clone, Default)]
pub struct State {
    /// (name, one-line description) of each preset.
    pub presets: Vec<(String, String)>,
    pub found: Option<Found>,
    pub selected: usize,
    /// Path prompt for "open a lab file".
    pub prompt: Option<TextArea<'static>>,
    /// What to do once the found lab is loaded.
    pub pending: Option<Pending>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    Resume,
    Respin,
    Fresh,
    Edit(PathBuf),
    Preset(String),
    OpenFile,
}

/// The menu: a lab found in the workspace first, then the presets, then "open a file".
pub fn choices(st: &State) -> Vec<(Choice, String, String)> {
    let mut out = Vec::new();
    if let Some(f) = &st.found {
        if f.has_state {
            out.push((
                Choice::Resume,
                format!("Resume `{}`", f.name),
                "continue the run where it stopped".to_string(),
            ));
            out.push((
                Choice::Respin,
                format!("Respin `{}`", f.name),
                "back to the snapshot taken after the undercloud install, then deploy the overcloud again (the overcloud as it is now is lost)".to_string(),
            ));
            out.push((
                Choice::Fresh,
                format!("Fresh start: clean up `{}` first", f.name),
                "guided cleanup of what the earlier run made, then a new lab".to_string(),
            ));
        }
        out.push((
            Choice::Edit(f.lab_path.clone()),
            format!("Edit `{}`", f.name),
            format!("open {} in the forms", f.lab_path.display()),
        ));
    }
    for (name, desc) in &st.presets {
        out.push((
            Choice::Preset(name.clone()),
            format!("New lab: {name}"),
            desc.clone(),
        ));
    }
    out.push((
        Choice::OpenFile,
        "Open a lab file…".to_string(),
        "a lab.yaml written by hand or by an earlier labwarp".to_string(),
    ));
    out
}

pub fn on_action(sh: &mut Shell, st: &mut State, action: Action) -> Vec<Effect> {
    if let Some(prompt) = &st.prompt {
        let path = prompt.lines().join("");
        return match action {
            Action::Confirm if !path.trim().is_empty() => {
                st.prompt = None;
                vec![Effect::LoadFile(PathBuf::from(path.trim()))]
            }
            Action::Confirm => {
                sh.warn("Type the path of a lab.yaml first");
                vec![]
            }
            _ => {
                st.prompt = None;
                vec![]
            }
        };
    }
    let items = choices(st);
    match action {
        Action::Up => st.selected = st.selected.saturating_sub(1),
        Action::Down => st.selected = (st.selected + 1).min(items.len().saturating_sub(1)),
        Action::Select => return select(sh, st),
        _ => {}
    }
    vec![]
}

fn select(sh: &mut Shell, st: &mut State) -> Vec<Effect> {
    let Some((choice, _, _)) = choices(st).into_iter().nth(st.selected) else {
        return vec![];
    };
    match choice {
        Choice::Preset(name) => {
            sh.demo = name == "demo";
            vec![Effect::LoadPreset(name)]
        }
        Choice::OpenFile => {
            let mut ta = TextArea::new(vec!["lab.yaml".to_string()]);
            ta.move_cursor(ratatui_textarea::CursorMove::End);
            ta.set_cursor_line_style(sh.styles.input_focus);
            ta.set_style(sh.styles.input_focus);
            st.prompt = Some(ta);
            vec![]
        }
        Choice::Edit(path) => vec![Effect::LoadFile(path)],
        Choice::Resume | Choice::Respin | Choice::Fresh => {
            st.pending = Some(match choice {
                Choice::Resume => Pending::Resume,
                Choice::Respin => Pending::Respin,
                _ => Pending::Fresh,
            });
            match &st.found {
                Some(f) => vec![Effect::LoadFile(f.lab_path.clone())],
                None => vec![],
            }
        }
    }
}

/// Rows of the menu on screen (two lines per choice), for drawing and clicks.
fn menu_area(area: Rect) -> Rect {
    let [_, menu, _] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Min(3),
        Constraint::Length(3),
    ])
    .areas(area);
    menu
}

pub fn on_mouse(sh: &mut Shell, st: &mut State, ev: MouseEvent) -> Vec<Effect> {
    let menu = menu_area(panes::body(ratatui::layout::Rect::new(
        0, 0, sh.size.0, sh.size.1,
    )));
    let inner = menu.inner(ratatui::layout::Margin::new(1, 1));
    match ev.kind {
        MouseEventKind::Down(MouseButton::Left) if panes::contains(inner, ev.column, ev.row) => {
            let idx = (ev.row - inner.y) as usize / 2 + first_visible(st, inner.height);
            if idx < choices(st).len() {
                if st.selected == idx {
                    return select(sh, st);
                }
                st.selected = idx;
            }
        }
        MouseEventKind::ScrollDown => return on_action(sh, st, Action::Down),
        MouseEventKind::ScrollUp => return on_action(sh, st, Action::Up),
        _ => {}
    }
    vec![]
}

fn first_visible(st: &State, height: u16) -> usize {
    let per_page = (height as usize / 2).max(1);
    st.selected.saturating_sub(per_page - 1)
}

pub fn draw(sh: &Shell, st: &State, frame: &mut Frame, area: Rect) {
    let s = &sh.styles;
    let [intro, _, footer] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Min(3),
        Constraint::Length(3),
    ])
    .areas(area);
    let menu = menu_area(area);
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(Span::styled(
                "Build an OpenStack lab on one KVM host",
                s.title,
            )),
            Line::from(Span::styled(
                "An undercloud VM, overcloud node VMs and VirtualBMC, checked before anything \
                 changes. Start from a preset; every value can be edited on the next screens.",
                s.base,
            )),
        ])
        .wrap(Wrap { trim: true })
        .block(Block::new().borders(Borders::NONE)),
        intro.inner(ratatui::layout::Margin::new(1, 0)),
    );
    let block = panes::pane(sh, " Start ", true);
    let inner = block.inner(menu);
    frame.render_widget(block, menu);
    let items = choices(st);
    let first = first_visible(st, inner.height);
    let mut lines = Vec::new();
    if items.len() == 1 && st.presets.is_empty() {
        lines.push(Line::from(Span::styled("  loading presets…", s.muted)));
    }
    for (i, (_, title, desc)) in items.iter().enumerate().skip(first) {
        let selected = i == st.selected;
        let marker = if selected { "▸ " } else { "  " };
        let style = if selected { s.selected } else { s.base };
        lines.push(Line::from(Span::styled(
            format!(
                "{marker}{title:<width$}",
                width = inner.width.saturating_sub(2) as usize
            ),
            style,
        )));
        lines.push(Line::from(Span::styled(format!("    {desc}"), s.muted)));
    }
    frame.render_widget(Paragraph::new(lines), inner);
    let footer_text = match &st.prompt {
        Some(_) => Line::from(Span::styled(
            " Path of the lab file (Enter opens it):",
            s.key,
        )),
        None => Line::from(Span::styled(
            " Your lab is saved as lab.yaml in its workspace whenever you leave a screen.",
            s.muted,
        )),
    };
    let [label, input] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(footer);
    frame.render_widget(Paragraph::new(footer_text), label);
    if let Some(prompt) = &st.prompt {
        frame.render_widget(prompt, input.inner(ratatui::layout::Margin::new(1, 0)));
    }
}
