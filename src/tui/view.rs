//! Drawing: `draw(&App, frame)` is pure. The chrome (wizard path, status bar, help overlay,
//! confirmation popup) lives here; each screen draws its body in its own module.

use super::app::{App, Screen};
use super::keymap;
use super::panes::body;
use super::screens::{
    cleanup, connect, dashboard, forms, preflight, review, snapshots, troubleshoot, welcome,
};
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

/// Below this size no screen can show anything useful: a short notice replaces them until
/// the terminal grows again (state is untouched, so the full view comes back as it was).
pub const MIN_SIZE: (u16, u16) = (30, 8);

pub fn draw(app: &App, frame: &mut Frame) {
    let area = frame.area();
    // The base style on every cell (what `Block::new().style(base)` does, without a bounds-
    // checked index per cell: a tenth of a 200×50 frame).
    let buf = frame.buffer_mut();
    if buf.area == area {
        for cell in &mut buf.content {
            cell.set_style(app.styles.base);
        }
    } else {
        buf.set_style(area, app.styles.base);
    }
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        let lines = vec![
            Line::styled("labwarp", app.styles.title),
            Line::raw("too small"),
            Line::raw(format!("{}x{}", area.width, area.height)),
            Line::raw(format!("need {}x{}", MIN_SIZE.0, MIN_SIZE.1)),
        ];
        frame.render_widget(Paragraph::new(lines), area);
        return;
    }
    draw_header(app, frame, Rect { height: 1, ..area });
    let body = body(area);
    let sh = &app.shell;
    match sh.screen {
        Screen::Welcome => welcome::draw(sh, &app.welcome, frame, body),
        Screen::Hypervisor | Screen::Undercloud | Screen::Overcloud => {
            forms::draw(sh, &app.forms, frame, body)
        }
        Screen::Preflight => preflight::draw(sh, &app.preflight, &app.findings, frame, body),
        Screen::Review => review::draw(sh, &app.review, frame, body),
        Screen::Dashboard => dashboard::draw(sh, &app.dash, &app.run, frame, body),
        Screen::Troubleshoot => {
            troubleshoot::draw(sh, &app.trouble, &app.run, &app.findings, frame, body)
        }
        Screen::Cleanup => cleanup::draw(sh, &app.cleanup, frame, body),
        Screen::Snapshots => snapshots::draw(sh, &app.snapshots, frame, body),
        Screen::Connect => connect::draw(sh, &app.connect, frame, body),
    }
    let bar = Rect {
        y: area.bottom().saturating_sub(1),
        height: 1.min(area.height),
        ..area
    };
    draw_status(app, frame, bar);
    if app.help {
        draw_help(app, frame, area);
    }
    if let Some(c) = &app.confirm {
        draw_confirm(app, frame, area, &c.title, &c.body);
    }
}

fn draw_header(app: &App, frame: &mut Frame, area: Rect) {
    let s = &app.styles;
    let mut spans = vec![
        Span::styled(" labwarp ", s.title),
        Span::styled(format!("{} ", app.lab.name), s.muted),
    ];
    let current = match app.screen {
        Screen::Troubleshoot | Screen::Cleanup | Screen::Snapshots => Screen::Dashboard,
        other => other,
    };
    // The full path when it fits; otherwise numbers, with only the current step named.
    let full: usize = Screen::STEPS.iter().map(|st| st.title().len() + 3).sum();
    let room = (area.width as usize).saturating_sub(12 + app.lab.name.len());
    let sub = matches!(
        app.screen,
        Screen::Troubleshoot | Screen::Cleanup | Screen::Snapshots | Screen::Connect
    );
    let extra = if sub { app.screen.title().len() + 5 } else { 0 };
    let compact = full + extra > room;
    for (i, step) in Screen::STEPS.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled("›", s.muted));
        }
        // Connect sits between the hypervisor form and the undercloud's.
        if app.screen == Screen::Connect && i == 2 {
            spans.push(Span::styled(
                format!(" {} ", Screen::Connect.title()),
                s.selected,
            ));
            spans.push(Span::styled("›", s.muted));
        }
        let here = *step == current;
        let label = if compact && !here {
            format!(" {} ", i + 1)
        } else if compact {
            format!(" {} {} ", i + 1, step.title())
        } else {
            format!(" {} ", step.title())
        };
        spans.push(Span::styled(label, if here { s.selected } else { s.muted }));
    }
    if matches!(
        app.screen,
        Screen::Troubleshoot | Screen::Cleanup | Screen::Snapshots
    ) {
        spans.push(Span::styled(
            format!("› {} ", app.screen.title()),
            s.selected,
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The status bar: a message when there is one, else the keys that apply now.
fn draw_status(app: &App, frame: &mut Frame, area: Rect) {
    let s = &app.styles;
    let line = match &app.status {
        Some(st) => Line::from(Span::styled(
            format!(" {}", st.text),
            if st.error { s.error } else { s.ok },
        )),
        None => {
            // On a narrow terminal the hints that do not fit are left out, but `? help`
            // (which lists them all) always stays.
            let hint = |bd: &keymap::Binding| {
                let key = format!(" {}", keymap::keys_label(bd));
                let desc = format!(" {} ", bd.desc);
                let width = (key.chars().count() + desc.chars().count()) as u16;
                (
                    width,
                    [Span::styled(key, s.key), Span::styled(desc, s.muted)],
                )
            };
            let is_help = |b: &&keymap::Binding| b.action == super::action::Action::Help;
            let all: Vec<_> = keymap::bindings(&app.scopes()).filter(|b| b.bar).collect();
            // `?` where it is a command; in a text field (where `?` is typed) F1.
            let help = all
                .iter()
                .copied()
                .find(is_help)
                .or_else(|| keymap::bindings(&app.scopes()).find(is_help));
            let mut room = area.width.saturating_sub(help.map_or(0, |h| hint(h).0));
            let mut spans = Vec::new();
            for bd in all.iter().filter(|b| !is_help(b)) {
                let (w, parts) = hint(bd);
                if w > room {
                    break;
                }
                room -= w;
                spans.extend(parts);
            }
            if let Some(h) = help {
                spans.extend(hint(h).1);
            }
            Line::from(spans)
        }
    };
    frame.render_widget(Paragraph::new(line).style(s.bar), area);
}

/// A rectangle of at most `w`×`h`, centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(h.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [r] = Layout::horizontal([Constraint::Length(w.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    r
}

fn draw_help(app: &App, frame: &mut Frame, area: Rect) {
    let s = &app.styles;
    let mut lines = Vec::new();
    let mut last_scope = None;
    for bd in keymap::bindings(&app.scopes()) {
        let title = bd.scope.title();
        if last_scope != Some(title) {
            lines.push(Line::from(Span::styled(title, s.title)));
            last_scope = Some(title);
        }
        lines.push(Line::from(vec![
            Span::styled(format!("  {:<16}", keymap::keys_label(bd)), s.key),
            Span::styled(bd.desc, s.base),
        ]));
    }
    lines.push(Line::from(Span::styled(
        "any key closes this help",
        s.muted,
    )));
    let rect = centered(area, 60, lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::new()
                .borders(Borders::ALL)
                .border_style(s.border_focus)
                .title(" Keys ")
                .style(s.base),
        ),
        rect,
    );
}

fn draw_confirm(app: &App, frame: &mut Frame, area: Rect, title: &str, body: &[String]) {
    let s = &app.styles;
    let mut lines: Vec<Line> = body
        .iter()
        .map(|l| Line::from(Span::styled(l.as_str(), s.base)))
        .collect();
    lines.push(Line::default());
    lines.push(Line::from(vec![
        Span::styled(" y/Enter ", s.key),
        Span::styled("confirm  ", s.muted),
        Span::styled(" n/Esc ", s.key),
        Span::styled("cancel", s.muted),
    ]));
    let width = 70.min(area.width);
    let height = (lines.len() as u16 + 4).min(area.height);
    let rect = centered(area, width, height);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::new()
                .borders(Borders::ALL)
                .border_style(s.warn)
                .title(Span::styled(format!(" {title} "), s.warn))
                .style(s.base),
        ),
        rect,
    );
}
