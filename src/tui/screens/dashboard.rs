//! The run dashboard: stage list, VM pane, log pane and podman pane, fed only by events.
//! Panes can be focused (Tab or a click), zoomed and resized.

use crate::tui::action::Action;
use crate::tui::logview::{LogRing, LogView};
use crate::tui::msg::{Effect, Screen};
use crate::tui::panes;
use crate::tui::runview::{RunView, Status, fmt_duration};
use crate::tui::shell::{Request, Shell};
use ratatui::Frame;
use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};
use ratatui_textarea::TextArea;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pane {
    Stages,
    Vms,
    #[default]
    Logs,
    Podman,
}

impl Pane {
    fn next(self) -> Pane {
        match self {
            Pane::Stages => Pane::Vms,
            Pane::Vms => Pane::Logs,
            Pane::Logs => Pane::Podman,
            Pane::Podman => Pane::Stages,
        }
    }
}

#[derive(Debug, Clone)]
pub struct State {
    pub focus: Pane,
    pub zoom: bool,
    /// Width of the left column, percent.
    pub left_pct: u16,
    /// Height of the podman pane, rows.
    pub podman_rows: u16,
    /// The stage whose log shows; `None` follows the running stage.
    pub stage: Option<usize>,
    pub vm: usize,
    pub container: usize,
    /// A container's log stream shown instead of a stage's.
    pub container_log: Option<String>,
    pub log: LogView,
    pub search_prompt: Option<TextArea<'static>>,
}

impl Default for State {
    fn default() -> Self {
        State {
            focus: Pane::Logs,
            zoom: false,
            left_pct: 40,
            podman_rows: 6,
            stage: None,
            vm: 0,
            container: 0,
            container_log: None,
            log: LogView::default(),
            search_prompt: None,
        }
    }
}

pub struct Areas {
    pub stages: Rect,
    pub vms: Rect,
    pub logs: Rect,
    pub podman: Rect,
}

/// Pane rectangles for a body area; zoom gives the focused pane everything.
pub fn areas(d: &State, run: &RunView, area: Rect) -> Areas {
    if d.zoom {
        let none = Rect::new(area.x, area.y, 0, 0);
        let mut a = Areas {
            stages: none,
            vms: none,
            logs: none,
            podman: none,
        };
        match d.focus {
            Pane::Stages => a.stages = area,
            Pane::Vms => a.vms = area,
            Pane::Logs => a.logs = area,
            Pane::Podman => a.podman = area,
        }
        return a;
    }
    let [top, podman] =
        Layout::vertical([Constraint::Min(6), Constraint::Length(d.podman_rows)]).areas(area);
    let [left, logs] = Layout::horizontal([
        Constraint::Percentage(d.left_pct),
        Constraint::Percentage(100 - d.left_pct),
    ])
    .areas(top);
    let stage_rows = (run.stages.len() as u16 + 2).clamp(4, left.height * 2 / 3);
    let [stages, vms] =
        Layout::vertical([Constraint::Length(stage_rows), Constraint::Min(3)]).areas(left);
    Areas {
        stages,
        vms,
        logs,
        podman,
    }
}

fn my_areas(sh: &Shell, d: &State, run: &RunView) -> Areas {
    areas(d, run, panes::body(Rect::new(0, 0, sh.size.0, sh.size.1)))
}

/// The stream the log pane shows: a container's, the chosen stage's, or the running one's.
pub fn log_stream(d: &State, run: &RunView) -> Option<String> {
    if let Some(c) = &d.container_log {
        return Some(c.clone());
    }
    let idx = d
        .stage
        .or_else(|| run.running_stage())
        .or_else(|| run.stages.iter().rposition(|s| s.status != Status::Pending))?;
    run.stages.get(idx).map(|s| s.id.clone())
}

fn ring<'a>(d: &State, run: &'a RunView) -> Option<&'a LogRing> {
    log_stream(d, run).and_then(|s| run.log(&s))
}

fn log_height(sh: &Shell, d: &State, run: &RunView) -> usize {
    my_areas(sh, d, run).logs.height.saturating_sub(2) as usize
}

pub fn on_action(sh: &mut Shell, d: &mut State, run: &RunView, action: Action) -> Vec<Effect> {
    if d.search_prompt.is_some() {
        let text = d
            .search_prompt
            .take()
            .map(|t| t.lines().join(""))
            .unwrap_or_default();
        if action == Action::Confirm && !text.is_empty() {
            d.log.search = Some(text.clone());
            return find(sh, d, run, true);
        }
        return vec![];
    }
    let h = log_height(sh, d, run);
    let empty = LogRing::with_capacity(1);
    match (action, d.focus) {
        (Action::NextPane, _) => d.focus = d.focus.next(),
        (Action::ZoomPane, _) => d.zoom = !d.zoom,
        (Action::GrowPane | Action::ShrinkPane, pane) => {
            let grow = action == Action::GrowPane;
            match pane {
                Pane::Podman => {
                    d.podman_rows = if grow {
                        d.podman_rows + 1
                    } else {
                        d.podman_rows - 1
                    }
                    .clamp(3, 20)
                }
                Pane::Logs => {
                    d.left_pct = if grow { d.left_pct - 4 } else { d.left_pct + 4 }.clamp(20, 70)
                }
                _ => d.left_pct = if grow { d.left_pct + 4 } else { d.left_pct - 4 }.clamp(20, 70),
            }
        }
        (Action::Up | Action::Down, Pane::Stages) => {
            let n = run.stages.len();
            if n > 0 {
                let cur = d.stage.or(run.running_stage()).unwrap_or(0);
                d.stage = Some(if action == Action::Up {
                    cur.saturating_sub(1)
                } else {
                    (cur + 1).min(n - 1)
                });
                d.container_log = None;
                d.log = LogView::default();
            }
        }
        (Action::Up | Action::Down, Pane::Vms) => {
            let n = run.vms.len();
            d.vm = step(d.vm, n, action == Action::Down);
        }
        (Action::Up | Action::Down, Pane::Podman) => {
            let n = run.containers.len();
            d.container = step(d.container, n, action == Action::Down);
        }
        (Action::Up | Action::Down | Action::PageUp | Action::PageDown, Pane::Logs) => {
            let delta = match action {
                Action::Up => -1,
                Action::Down => 1,
                Action::PageUp => -(h as i64),
                _ => h as i64,
            };
            let stream = log_stream(d, run);
            let r = stream
                .as_ref()
                .and_then(|s| run.logs.get(s))
                .unwrap_or(&empty);
            d.log.scroll(r, h, delta);
        }
        (Action::Top, _) => {
            let stream = log_stream(d, run);
            let r = stream
                .as_ref()
                .and_then(|s| run.logs.get(s))
                .unwrap_or(&empty);
            d.log.to_top(r);
        }
        (Action::Bottom, _) => d.log.to_bottom(),
        (Action::ToggleFollow, _) => {
            d.log.follow = !d.log.follow;
            if !d.log.follow {
                let stream = log_stream(d, run);
                let r = stream
                    .as_ref()
                    .and_then(|s| run.logs.get(s))
                    .unwrap_or(&empty);
                d.log.top = d.log.first_visible(r, h);
                d.log.follow = false;
            }
        }
        (Action::ToggleWrap, _) => d.log.wrap = !d.log.wrap,
        (Action::Search, _) => {
            let mut ta = TextArea::default();
            ta.set_placeholder_text("search the log");
            ta.set_style(sh.styles.input_focus);
            ta.set_cursor_line_style(sh.styles.input_focus);
            d.search_prompt = Some(ta);
        }
        (Action::SearchNext, _) => return find(sh, d, run, true),
        (Action::SearchPrev, _) => return find(sh, d, run, false),
        (Action::SaveLog, _) => {
            let Some(stream) = log_stream(d, run) else {
                sh.warn("No log to save yet");
                return vec![];
            };
            let lines = run.log(&stream).map(LogRing::texts).unwrap_or_default();
            let file = format!("{}.log", stream.replace([':', '/'], "-"));
            let path = crate::workspace::logs_dir(&sh.lab.workspace).join(file);
            return vec![Effect::SaveLog { path, lines }];
        }
        (Action::ContainerLogs | Action::ContainerRestart | Action::ContainerShell, _) => {
            let Some(c) = run.containers.get(d.container) else {
                sh.warn("No container selected");
                return vec![];
            };
            let name = c.name.clone();
            return match action {
                Action::ContainerLogs => {
                    d.container_log = Some(format!("podman:{name}"));
                    d.log = LogView::default();
                    vec![Effect::ContainerLogs { name }]
                }
                Action::ContainerRestart => vec![Effect::ContainerRestart { name }],
                _ => vec![Effect::ContainerShell { name }],
            };
        }
        (Action::Troubleshoot, _) => {
            if run.failure.is_some() {
                return sh.go(Screen::Troubleshoot);
            }
            sh.say("Nothing has failed");
        }
        (Action::Cleanup, _) => {
            if run.started && run.finished.is_none() {
                sh.warn("The run is still going: wait for it (or quit to cancel) before cleanup");
                return vec![];
            }
            sh.request(Request::FreshCleanup);
            return sh.go(Screen::Cleanup);
        }
        (Action::Snapshots, _) => sh.request(Request::OpenSnapshots),
        _ => {}
    }
    vec![]
}

fn step(cur: usize, n: usize, down: bool) -> usize {
    if n == 0 {
        0
    } else if down {
        (cur + 1).min(n - 1)
    } else {
        cur.saturating_sub(1)
    }
}

fn find(sh: &mut Shell, d: &mut State, run: &RunView, forward: bool) -> Vec<Effect> {
    let h = log_height(sh, d, run);
    let Some(stream) = log_stream(d, run) else {
        return vec![];
    };
    let Some(r) = run.logs.get(&stream) else {
        return vec![];
    };
    if !d.log.find(r, h, forward) {
        let needle = d.log.search.clone().unwrap_or_default();
        sh.warn(format!("`{needle}` not found"));
    }
    vec![]
}

pub fn on_mouse(sh: &mut Shell, d: &mut State, run: &RunView, ev: MouseEvent) -> Vec<Effect> {
    let a = my_areas(sh, d, run);
    let at = |r: Rect| panes::contains(r, ev.column, ev.row);
    let pane = if at(a.stages) {
        Pane::Stages
    } else if at(a.vms) {
        Pane::Vms
    } else if at(a.logs) {
        Pane::Logs
    } else if at(a.podman) {
        Pane::Podman
    } else {
        return vec![];
    };
    match ev.kind {
        MouseEventKind::Down(MouseButton::Left) => {
            d.focus = pane;
            let row = ev.row.saturating_sub(a.stages.y + 1) as usize;
            if pane == Pane::Stages && row < run.stages.len() {
                d.stage = Some(row);
                d.container_log = None;
                d.log = LogView::default();
            }
            vec![]
        }
        MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
            let before = d.focus;
            d.focus = pane;
            let dir = if ev.kind == MouseEventKind::ScrollUp {
                Action::Up
            } else {
                Action::Down
            };
            let mut fx = Vec::new();
            for _ in 0..if pane == Pane::Logs { 3 } else { 1 } {
                fx.extend(on_action(sh, d, run, dir));
            }
            d.focus = before;
            fx
        }
        _ => vec![],
    }
}

pub fn draw(sh: &Shell, d: &State, run: &RunView, frame: &mut Frame, area: Rect) {
    let a = areas(d, run, area);
    if a.stages.area() > 0 {
        draw_stages(sh, d, run, frame, a.stages);
    }
    if a.vms.area() > 0 {
        draw_vms(sh, d, run, frame, a.vms);
    }
    if a.logs.area() > 0 {
        draw_logs(sh, d, run, frame, a.logs);
    }
    if a.podman.area() > 0 {
        draw_podman(sh, d, run, frame, a.podman);
    }
}

fn status_mark(sh: &Shell, st: Status) -> (&'static str, ratatui::style::Style) {
    let s = &sh.styles;
    match st {
        Status::Pending => ("·", s.muted),
        Status::Running => ("▶", s.running),
        Status::Done => ("✓", s.ok),
        Status::Skipped => ("=", s.muted),
        Status::Failed => ("✗", s.error),
        Status::Blocked => ("-", s.muted),
        Status::Unverified => ("?", s.warn),
    }
}

fn draw_stages(sh: &Shell, d: &State, run: &RunView, frame: &mut Frame, area: Rect) {
    let s = &sh.styles;
    let unverified = run
        .stages
        .iter()
        .flat_map(|st| &st.steps)
        .filter(|x| x.status == Status::Unverified)
        .count();
    let title = match run.finished {
        Some((true, _)) if unverified > 0 => {
            format!(" Stages: done, {unverified} step(s) UNVERIFIED ")
        }
        Some((true, _)) => " Stages: done ".to_string(),
        Some((false, true)) => " Stages: cancelled ".to_string(),
        Some((false, false)) => " Stages: failed ".to_string(),
        None if run.started => " Stages: running ".to_string(),
        None => " Stages: starting… ".to_string(),
    };
    let block = panes::pane(sh, title, d.focus == Pane::Stages);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let shown = d.stage.or(run.running_stage());
    let lines: Vec<Line> = run
        .stages
        .iter()
        .enumerate()
        .take(inner.height as usize)
        .map(|(i, st)| {
            let (mark, style) = status_mark(sh, st.status);
            let time = match (run.elapsed(st, sh.now_ms), st.eta_secs) {
                (Some(e), Some(eta)) => {
                    format!("{} ~{}", fmt_duration(e), fmt_duration(eta * 1000))
                }
                (Some(e), None) => fmt_duration(e),
                _ => String::new(),
            };
            let count = format!("{}/{}", st.steps_done(), st.steps.len());
            let w = inner.width as usize;
            let right = format!("{count} {time}");
            let title_w = w.saturating_sub(right.chars().count() + 3);
            let title: String = st.title.chars().take(title_w).collect();
            let line = Line::from(vec![
                Span::styled(format!("{mark} "), style),
                Span::styled(format!("{title:<title_w$}"), s.base),
                Span::styled(format!(" {right}"), s.muted),
            ]);
            if Some(i) == shown {
                line.style(s.selected)
            } else {
                line
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_vms(sh: &Shell, d: &State, run: &RunView, frame: &mut Frame, area: Rect) {
    let s = &sh.styles;
    let focused = d.focus == Pane::Vms;
    // IPs get a column when the pane is wide enough (zoom it to see them on a small screen).
    let with_ips = area.width >= 58;
    // Only the rows that fit (borders and header take three): the table is drawn without
    // scrolling state, so the rest would be built only to be dropped.
    let fit = area.height.saturating_sub(3) as usize;
    let rows = run.vms.iter().take(fit).enumerate().map(|(i, vm)| {
        let state_style = if vm.state == "running" { s.ok } else { s.muted };
        let mut cells = vec![
            Cell::from(vm.name.as_str()),
            Cell::from(Span::styled(vm.state.as_str(), state_style)),
            Cell::from(vm.vcpus.to_string()),
            Cell::from(format!("{}M", vm.memory_mib)),
        ];
        if with_ips {
            cells.push(Cell::from(vm.ips.join(",")));
        }
        Row::new(cells).style(if focused && i == d.vm {
            s.selected
        } else {
            s.base
        })
    });
    let mut widths = vec![
        Constraint::Fill(1),
        Constraint::Length(8),
        Constraint::Length(3),
        Constraint::Length(6),
    ];
    let mut header = vec!["VM", "state", "cpu", "mem"];
    if with_ips {
        widths.push(Constraint::Length(16));
        header.push("IPs");
    }
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(s.title))
        .block(panes::pane(
            sh,
            format!(" VMs ({}) ", run.vms.len()),
            focused,
        ));
    frame.render_widget(table, area);
}

fn draw_logs(sh: &Shell, d: &State, run: &RunView, frame: &mut Frame, area: Rect) {
    let s = &sh.styles;
    let stream = log_stream(d, run).unwrap_or_default();
    let r = ring(d, run);
    let mut flags = Vec::new();
    if d.log.follow {
        flags.push("follow");
    }
    if d.log.wrap {
        flags.push("wrap");
    }
    let dropped = r.map(LogRing::dropped).unwrap_or(0);
    let total = r.map(LogRing::end).unwrap_or(0);
    let mut title = format!(" Log: {stream} · {total} lines");
    if dropped > 0 {
        title.push_str(&format!(" ({dropped} oldest dropped)"));
    }
    if !flags.is_empty() {
        title.push_str(&format!(" · {}", flags.join(" ")));
    }
    if let Some(q) = &d.log.search {
        title.push_str(&format!(" · /{q}"));
    }
    title.push(' ');
    let block = panes::pane(sh, title, d.focus == Pane::Logs);
    let mut inner = block.inner(area);
    frame.render_widget(block, area);
    if let Some(prompt) = &d.search_prompt {
        let [text, p] = Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(inner);
        let [label, input] =
            Layout::horizontal([Constraint::Length(1), Constraint::Min(1)]).areas(p);
        frame.render_widget(Span::styled("/", s.key), label);
        frame.render_widget(prompt, input);
        inner = text;
    }
    let Some(r) = r else {
        frame.render_widget(
            Paragraph::new(Span::styled("waiting for output…", s.muted)),
            inner,
        );
        return;
    };
    let lines = d
        .log
        .visible(r, inner.width as usize, inner.height as usize, s);
    if d.log.wrap {
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
    } else {
        crate::tui::logview::render_unwrapped(&lines, inner, frame.buffer_mut());
    }
}

fn draw_podman(sh: &Shell, d: &State, run: &RunView, frame: &mut Frame, area: Rect) {
    let s = &sh.styles;
    let focused = d.focus == Pane::Podman;
    let fit = area.height.saturating_sub(3) as usize;
    let rows = run.containers.iter().take(fit).enumerate().map(|(i, c)| {
        let health = match c.health.as_str() {
            "healthy" => s.ok,
            "unhealthy" => s.error,
            _ => s.muted,
        };
        Row::new(vec![
            Cell::from(c.name.as_str()),
            Cell::from(c.image.as_str()),
            Cell::from(c.state.as_str()),
            Cell::from(Span::styled(c.health.as_str(), health)),
            Cell::from(c.uptime.as_str()),
        ])
        .style(if focused && i == d.container {
            s.selected
        } else {
            s.base
        })
    });
    let title = if run.containers.is_empty() {
        " Undercloud containers (none yet) ".to_string()
    } else {
        format!(" Undercloud containers ({}) ", run.containers.len())
    };
    let table = Table::new(
        rows,
        [
            Constraint::Percentage(25),
            Constraint::Percentage(40),
            Constraint::Length(9),
            Constraint::Length(10),
            Constraint::Min(6),
        ],
    )
    .header(Row::new(["name", "image", "state", "health", "uptime"]).style(s.title))
    .block(panes::pane(sh, title, focused));
    frame.render_widget(table, area);
}
