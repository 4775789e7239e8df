//! The three lab forms (hypervisor with its network table, undercloud, overcloud with its
//! node-group table).
//! Each keystroke writes the field into the lab and re-validates it, so problems show
//! beside the field as the user types; Next is refused while a field is invalid.

use crate::lab::{Lab, NetworkMode};
use crate::tui::action::Action;
use crate::tui::app::{App, Effect, Screen};
use crate::tui::fields;
use crate::tui::form::{Field, Form};
use crate::tui::style::Styles;
use crate::tui::validate;
use crate::tui::view;
use ratatui::Frame;
use ratatui::crossterm::event::{KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};

#[derive(Debug, Clone)]
pub struct State {
    pub hypervisor: Form,
    pub undercloud: Form,
    pub overcloud: Form,
    /// The node group whose fields the overcloud form shows.
    pub group: usize,
    /// The network whose fields the hypervisor form shows.
    pub network: usize,
}

impl State {
    pub fn new(lab: &Lab, styles: &Styles) -> State {
        State {
            hypervisor: Form::new(
                fields::hypervisor_screen(0, lab.networks.len()),
                lab,
                styles,
            ),
            undercloud: Form::new(fields::undercloud_screen(), lab, styles),
            overcloud: Form::new(
                fields::overcloud_screen(0, lab.overcloud.nodes.len()),
                lab,
                styles,
            ),
            group: 0,
            network: 0,
        }
    }
}

pub fn current(app: &App) -> Option<&Form> {
    match app.screen {
        Screen::Hypervisor => Some(&app.forms.hypervisor),
        Screen::Undercloud => Some(&app.forms.undercloud),
        Screen::Overcloud => Some(&app.forms.overcloud),
        _ => None,
    }
}

fn current_mut(app: &mut App) -> Option<&mut Form> {
    match app.screen {
        Screen::Hypervisor => Some(&mut app.forms.hypervisor),
        Screen::Undercloud => Some(&mut app.forms.undercloud),
        Screen::Overcloud => Some(&mut app.forms.overcloud),
        _ => None,
    }
}

/// Writes every form into the lab, validates it, and hangs each problem on its field.
pub fn revalidate(app: &mut App) {
    let f = &mut app.forms;
    let mut parse = Vec::new();
    for form in [&mut f.hypervisor, &mut f.undercloud, &mut f.overcloud] {
        parse.push(form.apply(&mut app.lab));
    }
    let issues = validate::issues(&app.lab);
    let mut parse = parse.into_iter();
    for form in [&mut f.hypervisor, &mut f.undercloud, &mut f.overcloud] {
        form.attach(&issues, parse.next().unwrap_or_default());
    }
}

/// Rebuilds the overcloud form for the selected group (after adding, removing, switching).
fn rebuild_overcloud(app: &mut App) {
    let groups = app.lab.overcloud.nodes.len();
    app.forms.group = app.forms.group.min(groups.saturating_sub(1));
    let focus = app.forms.overcloud.focus;
    app.forms.overcloud = Form::new(
        fields::overcloud_screen(app.forms.group, groups),
        &app.lab,
        &app.styles,
    );
    let max = app.forms.overcloud.fields.len().saturating_sub(1);
    app.forms.overcloud.focus_on(focus.min(max), &app.styles);
    revalidate(app);
}

/// Rebuilds the hypervisor form for the selected network (after adding, removing, switching).
fn rebuild_hypervisor(app: &mut App) {
    let nets = app.lab.networks.len();
    app.forms.network = app.forms.network.min(nets.saturating_sub(1));
    let focus = app.forms.hypervisor.focus;
    app.forms.hypervisor = Form::new(
        fields::hypervisor_screen(app.forms.network, nets),
        &app.lab,
        &app.styles,
    );
    let max = app.forms.hypervisor.fields.len().saturating_sub(1);
    app.forms.hypervisor.focus_on(focus.min(max), &app.styles);
    revalidate(app);
}

pub fn on_input(app: &mut App, ev: KeyEvent) -> Vec<Effect> {
    let changed = current_mut(app)
        .and_then(Form::focused_mut)
        .is_some_and(|f| f.input(ev.into()));
    if changed {
        app.status = None;
        revalidate(app);
    }
    vec![]
}

pub fn on_action(app: &mut App, action: Action) -> Vec<Effect> {
    let styles = app.styles.clone();
    match action {
        Action::NextField => {
            if let Some(f) = current_mut(app) {
                f.move_focus(1, &styles)
            }
        }
        Action::PrevField => {
            if let Some(f) = current_mut(app) {
                f.move_focus(-1, &styles)
            }
        }
        Action::Increment | Action::Decrement => {
            let changed = current_mut(app)
                .and_then(Form::focused_mut)
                .is_some_and(|f| f.step(action == Action::Increment));
            if changed {
                revalidate(app);
            }
        }
        Action::NextScreen => return next_screen(app),
        Action::Back => {
            let to = app.screen.prev();
            return app.go(to);
        }
        Action::AddGroup => {
            let group = fields::new_group(&app.lab);
            app.lab.overcloud.nodes.push(group);
            app.forms.group = app.lab.overcloud.nodes.len() - 1;
            rebuild_overcloud(app);
            app.say("Node group added");
        }
        Action::RemoveGroup => {
            if app.lab.overcloud.nodes.len() > 1 {
                app.lab.overcloud.nodes.remove(app.forms.group);
                rebuild_overcloud(app);
                app.say("Node group removed");
            } else {
                app.warn("The overcloud needs at least one node group");
            }
        }
        Action::NextGroup | Action::PrevGroup => {
            let n = app.lab.overcloud.nodes.len();
            if n > 0 {
                app.forms.group = if action == Action::NextGroup {
                    (app.forms.group + 1) % n
                } else {
                    (app.forms.group + n - 1) % n
                };
                rebuild_overcloud(app);
            }
        }
        Action::AddNetwork => {
            let net = fields::new_network(&app.lab);
            app.lab.networks.push(net);
            app.forms.network = app.lab.networks.len() - 1;
            rebuild_hypervisor(app);
            app.say("Network added");
        }
        Action::RemoveNetwork => {
            if app.lab.networks.len() > 1 {
                app.lab.networks.remove(app.forms.network);
                rebuild_hypervisor(app);
                app.say("Network removed");
            } else {
                app.warn("The lab needs at least one network");
            }
        }
        Action::NextNetwork | Action::PrevNetwork => {
            let n = app.lab.networks.len();
            if n > 0 {
                app.forms.network = if action == Action::NextNetwork {
                    (app.forms.network + 1) % n
                } else {
                    (app.forms.network + n - 1) % n
                };
                rebuild_hypervisor(app);
            }
        }
        _ => {}
    }
    vec![]
}

/// The table row (network or node group) an error path belongs to, when it is not the row
/// the form shows: `networks[2].cidr` on the hypervisor screen showing network 0 → 2.
fn other_row_with_error(app: &App) -> Option<usize> {
    let (prefix, shown) = match app.screen {
        Screen::Hypervisor => ("networks[", app.forms.network),
        Screen::Overcloud => ("overcloud.nodes[", app.forms.group),
        _ => return None,
    };
    validate::issues(&app.lab)
        .iter()
        .filter(|i| i.error)
        .filter_map(|i| i.path.strip_prefix(prefix)?.split(']').next()?.parse().ok())
        .find(|row| *row != shown)
}

/// Error paths this screen owns that no field of its form shows (a lab file's value the
/// forms have no field for): Next is refused for them too, naming the path and the fix.
fn unshown_error(app: &App, form: &Form) -> Option<validate::Issue> {
    let owned: &[&str] = match app.screen {
        Screen::Hypervisor => &["name", "workspace", "hypervisors", "networks"],
        Screen::Undercloud => &["undercloud", "images.undercloud"],
        Screen::Overcloud => &["overcloud"],
        _ => return None,
    };
    validate::issues(&app.lab).into_iter().find(|i| {
        i.error
            && owned
                .iter()
                .any(|o| crate::tui::form::names_field(&i.path, o))
            && !form.fields.iter().any(|f| f.issues.contains(i))
    })
}

fn next_screen(app: &mut App) -> Vec<Effect> {
    revalidate(app);
    let styles = app.styles.clone();
    if current(app).is_some_and(|f| f.first_invalid().is_none())
        && let Some(row) = other_row_with_error(app)
    {
        // Show the row with the problem, then fall through to focus its field.
        if app.screen == Screen::Hypervisor {
            app.forms.network = row;
            rebuild_hypervisor(app);
        } else {
            app.forms.group = row;
            rebuild_overcloud(app);
        }
    }
    if let Some(form) = current(app)
        && form.first_invalid().is_none()
        && let Some(issue) = unshown_error(app, form)
    {
        let fix = issue.fix.map(|f| format!(" ({f})")).unwrap_or_default();
        app.warn(format!(
            "Fix {} in the lab file first: {}{fix}",
            issue.path, issue.message
        ));
        return vec![];
    }
    let Some(form) = current_mut(app) else {
        return vec![];
    };
    if let Some(i) = form.first_invalid() {
        form.focus_on(i, &styles);
        let f = &form.fields[i];
        let msg = f
            .issues
            .iter()
            .find(|x| x.error)
            .map(|x| x.message.clone())
            .unwrap_or_default();
        let text = format!("Fix {} first: {msg}", f.key.label());
        app.warn(text);
        return vec![];
    }
    if app.screen == Screen::Hypervisor && super::connect::is_remote(app) {
        // A remote hypervisor: its host key and the workspace key before anything else.
        return super::connect::enter(app);
    }
    let to = app.screen.next();
    let mut fx = app.go(to);
    if to == Screen::Preflight {
        fx.extend(super::preflight::start_checks(app));
    }
    fx
}

/// Width of the label column.
const LABEL: u16 = 18;

/// Where each visible field is drawn: (field index, row rectangle).
pub fn field_rows(form: &Form, area: Rect) -> Vec<(usize, Rect)> {
    let heights: Vec<u16> = form.fields.iter().map(Field::height).collect();
    // Scroll just enough to keep the focused field on screen.
    let mut first = 0;
    loop {
        let used: u16 = heights[first..=form.focus.min(heights.len().saturating_sub(1))]
            .iter()
            .sum();
        if used <= area.height || first >= form.focus {
            break;
        }
        first += 1;
    }
    let mut out = Vec::new();
    let mut y = area.y;
    for (i, h) in heights.iter().enumerate().skip(first) {
        if y + h > area.bottom() {
            break;
        }
        out.push((i, Rect::new(area.x, y, area.width, *h)));
        y += h;
    }
    out
}

/// The screen's parts: row table (networks or node groups), fields, help box.
fn layout(app: &App, area: Rect) -> (Option<Rect>, Rect, Rect) {
    let table_h = match app.screen {
        Screen::Overcloud => (app.lab.overcloud.nodes.len() as u16 + 3).min(7),
        Screen::Hypervisor => (app.lab.networks.len() as u16 + 3).min(7),
        _ => 0,
    };
    let [table, fields, help] = Layout::vertical([
        Constraint::Length(table_h),
        Constraint::Min(3),
        Constraint::Length(4),
    ])
    .areas(area);
    let table = (table_h > 0).then_some(table);
    // One row for the screen's title above the fields.
    let fields = Rect {
        y: fields.y + 1,
        height: fields.height.saturating_sub(1),
        ..fields
    };
    (
        table,
        fields.inner(ratatui::layout::Margin::new(1, 0)),
        help,
    )
}

pub fn on_mouse(app: &mut App, ev: MouseEvent) -> Vec<Effect> {
    let area = view::body(Rect::new(0, 0, app.size.0, app.size.1));
    let (_, rows_area, _) = layout(app, area);
    let styles = app.styles.clone();
    match ev.kind {
        MouseEventKind::Down(MouseButton::Left) => {
            let Some(form) = current_mut(app) else {
                return vec![];
            };
            let hit = field_rows(form, rows_area)
                .into_iter()
                .find(|(_, r)| view::contains(*r, ev.column, ev.row))
                .map(|(i, _)| i);
            if let Some(i) = hit {
                form.focus_on(i, &styles);
            }
        }
        MouseEventKind::ScrollDown => return on_action(app, Action::NextField),
        MouseEventKind::ScrollUp => return on_action(app, Action::PrevField),
        _ => {}
    }
    vec![]
}

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let Some(form) = current(app) else { return };
    let s = &app.styles;
    let (table, rows_area, help) = layout(app, area);
    if let Some(table) = table {
        if app.screen == Screen::Hypervisor {
            draw_networks(app, frame, table);
        } else {
            draw_groups(app, frame, table);
        }
    }
    let title_row = Rect::new(
        area.x + 1,
        rows_area.y.saturating_sub(1),
        area.width.saturating_sub(2),
        1,
    );
    let invalid = form.fields.iter().filter(|f| f.has_error()).count();
    let mut title = vec![Span::styled(screen_title(app), s.title)];
    if invalid > 0 {
        title.push(Span::styled(
            format!("  {invalid} field(s) to fix"),
            s.error,
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(title)), title_row);
    // Input and the problem beside it share what the label leaves.
    let input_w = (rows_area.width.saturating_sub(LABEL + 2) * 11 / 20).min(48);
    for (i, row) in field_rows(form, rows_area) {
        let f = &form.fields[i];
        let focused = i == form.focus;
        let [label, input, note] = Layout::horizontal([
            Constraint::Length(LABEL),
            Constraint::Length(input_w),
            Constraint::Min(0),
        ])
        .spacing(1)
        .areas(row);
        let label_style = if focused { s.title } else { s.base };
        let marker = if focused { "▸" } else { " " };
        frame.render_widget(
            Paragraph::new(Span::styled(
                format!("{marker}{}", f.key.label()),
                label_style,
            )),
            label,
        );
        match &f.editor {
            crate::tui::form::Editor::Text(ta) => frame.render_widget(ta.as_ref(), input),
            _ => frame.render_widget(
                Paragraph::new(Span::styled(
                    f.display(),
                    if focused { s.input_focus } else { s.input },
                )),
                input,
            ),
        }
        let note_line = match f.issues.first() {
            Some(issue) if issue.error => {
                Line::from(Span::styled(format!("✗ {}", issue.message), s.error))
            }
            Some(issue) => Line::from(Span::styled(format!("! {}", issue.message), s.warn)),
            None => Line::from(Span::styled("✓", s.ok)),
        };
        frame.render_widget(Paragraph::new(note_line), note);
    }
    draw_help(app, form, frame, help);
}

fn draw_help(app: &App, form: &Form, frame: &mut Frame, area: Rect) {
    let s = &app.styles;
    let block = view::pane(app, "", false).borders(ratatui::widgets::Borders::TOP);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(f) = form.focused() else { return };
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{}: ", f.key.path()), s.muted),
        Span::styled(f.key.help(), s.base),
    ])];
    for issue in f.issues.iter().take(2) {
        let style = if issue.error { s.error } else { s.warn };
        let mut spans = vec![Span::styled(issue.message.clone(), style)];
        if let Some(fix) = &issue.fix {
            spans.push(Span::styled(format!(" → {fix}"), s.base));
        }
        lines.push(Line::from(spans));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
}

fn draw_groups(app: &App, frame: &mut Frame, area: Rect) {
    let s = &app.styles;
    let header = Row::new([
        "", "role", "name", "count", "vCPUs", "memory", "disk", "networks",
    ])
    .style(s.title);
    let rows = app.lab.overcloud.nodes.iter().enumerate().map(|(i, g)| {
        let selected = i == app.forms.group;
        let disk = g.disks.first().map(|d| d.size_gib).unwrap_or(0);
        Row::new(vec![
            Cell::from(if selected { "▸" } else { " " }),
            Cell::from(g.role.as_str()),
            Cell::from(g.prefix().to_string()),
            Cell::from(g.count.to_string()),
            Cell::from(g.vcpus.to_string()),
            Cell::from(format!("{} MiB", g.memory_mib)),
            Cell::from(format!("{disk} GiB")),
            Cell::from(g.networks.join(",")),
        ])
        .style(if selected { s.selected } else { s.base })
    });
    let (cpus, mem, disk) = fields::totals(&app.lab);
    let title = format!(
        " Node groups (PgUp/PgDn) · lab total {cpus} vCPUs, {:.1} GiB RAM, {disk} GiB disk ",
        mem as f64 / 1024.0
    );
    let table = Table::new(
        rows,
        [
            Constraint::Length(1),
            Constraint::Length(10),
            Constraint::Length(12),
            Constraint::Length(5),
            Constraint::Length(5),
            Constraint::Length(10),
            Constraint::Length(8),
            Constraint::Min(8),
        ],
    )
    .header(header)
    .block(view::pane(app, title, false));
    frame.render_widget(table, area);
}

fn draw_networks(app: &App, frame: &mut Frame, area: Rect) {
    let s = &app.styles;
    let header = Row::new(["", "name", "bridge", "mode", "cidr", "dhcp"]).style(s.title);
    let rows = app.lab.networks.iter().enumerate().map(|(i, n)| {
        let selected = i == app.forms.network;
        let mode = match n.mode {
            NetworkMode::Nat => "nat",
            NetworkMode::Isolated => "isolated",
            NetworkMode::Bridged => "bridged",
        };
        let dhcp = n
            .dhcp
            .as_ref()
            .map(|d| format!("{}–{}", d.start, d.end))
            .unwrap_or_else(|| "-".into());
        Row::new(vec![
            Cell::from(if selected { "▸" } else { " " }),
            Cell::from(n.name.clone()),
            Cell::from(n.bridge.clone()),
            Cell::from(mode),
            Cell::from(if n.cidr.is_empty() {
                "-".to_string()
            } else {
                n.cidr.clone()
            }),
            Cell::from(dhcp),
        ])
        .style(if selected { s.selected } else { s.base })
    });
    let title = " Networks (PgUp/PgDn) · C-a add · C-x remove ";
    let table = Table::new(
        rows,
        [
            Constraint::Length(1),
            Constraint::Length(10),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(18),
            Constraint::Min(10),
        ],
    )
    .header(header)
    .block(view::pane(app, title, false));
    frame.render_widget(table, area);
}

fn screen_title(app: &App) -> String {
    match app.screen {
        Screen::Hypervisor => format!(
            "Hypervisor: the machine the lab runs on, network {} of {}",
            app.forms.network + 1,
            app.lab.networks.len()
        ),
        Screen::Undercloud => "Undercloud: the director VM and its undercloud.conf".into(),
        _ => format!(
            "Overcloud: node group {} of {}, VirtualBMC, deploy, live migration",
            app.forms.group + 1,
            app.lab.overcloud.nodes.len()
        ),
    }
}
