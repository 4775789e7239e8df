//! The three lab forms (hypervisor with its network table, undercloud, overcloud with its
//! node-group table).
//! Each keystroke writes the field into the lab and re-validates it, so problems show
//! beside the field as the user types; Next is refused while a field is invalid.

use crate::lab::{Lab, NetworkMode};
use crate::tui::action::Action;
use crate::tui::fields;
use crate::tui::form::{Field, Form};
use crate::tui::msg::{Effect, Screen};
use crate::tui::panes;
use crate::tui::shell::{Request, Shell};
use crate::tui::style::Styles;
use crate::tui::validate;
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

/// The form of `screen`, if it is one of the three forms.
pub fn current(screen: Screen, st: &State) -> Option<&Form> {
    match screen {
        Screen::Hypervisor => Some(&st.hypervisor),
        Screen::Undercloud => Some(&st.undercloud),
        Screen::Overcloud => Some(&st.overcloud),
        _ => None,
    }
}

fn current_mut(screen: Screen, st: &mut State) -> Option<&mut Form> {
    match screen {
        Screen::Hypervisor => Some(&mut st.hypervisor),
        Screen::Undercloud => Some(&mut st.undercloud),
        Screen::Overcloud => Some(&mut st.overcloud),
        _ => None,
    }
}

/// Writes every form into the lab, validates it, and hangs each problem on its field.
pub fn revalidate(sh: &mut Shell, f: &mut State) {
    let mut parse = Vec::new();
    for form in [&mut f.hypervisor, &mut f.undercloud, &mut f.overcloud] {
        parse.push(form.apply(&mut sh.lab));
    }
    let issues = validate::issues(&sh.lab);
    let mut parse = parse.into_iter();
    for form in [&mut f.hypervisor, &mut f.undercloud, &mut f.overcloud] {
        form.attach(&issues, parse.next().unwrap_or_default());
    }
}

/// Rebuilds the overcloud form for the selected group (after adding, removing, switching).
fn rebuild_overcloud(sh: &mut Shell, st: &mut State) {
    let groups = sh.lab.overcloud.nodes.len();
    st.group = st.group.min(groups.saturating_sub(1));
    let focus = st.overcloud.focus;
    st.overcloud = Form::new(
        fields::overcloud_screen(st.group, groups),
        &sh.lab,
        &sh.styles,
    );
    let max = st.overcloud.fields.len().saturating_sub(1);
    st.overcloud.focus_on(focus.min(max), &sh.styles);
    revalidate(sh, st);
}

/// Rebuilds the hypervisor form for the selected network (after adding, removing, switching).
fn rebuild_hypervisor(sh: &mut Shell, st: &mut State) {
    let nets = sh.lab.networks.len();
    st.network = st.network.min(nets.saturating_sub(1));
    let focus = st.hypervisor.focus;
    st.hypervisor = Form::new(
        fields::hypervisor_screen(st.network, nets),
        &sh.lab,
        &sh.styles,
    );
    let max = st.hypervisor.fields.len().saturating_sub(1);
    st.hypervisor.focus_on(focus.min(max), &sh.styles);
    revalidate(sh, st);
}

pub fn on_input(sh: &mut Shell, st: &mut State, ev: KeyEvent) -> Vec<Effect> {
    let changed = current_mut(sh.screen, st)
        .and_then(Form::focused_mut)
        .is_some_and(|f| f.input(ev.into()));
    if changed {
        sh.status = None;
        revalidate(sh, st);
    }
    vec![]
}

pub fn on_action(sh: &mut Shell, st: &mut State, action: Action) -> Vec<Effect> {
    let styles = sh.styles.clone();
    match action {
        Action::NextField => {
            if let Some(f) = current_mut(sh.screen, st) {
                f.move_focus(1, &styles)
            }
        }
        Action::PrevField => {
            if let Some(f) = current_mut(sh.screen, st) {
                f.move_focus(-1, &styles)
            }
        }
        Action::Increment | Action::Decrement => {
            let changed = current_mut(sh.screen, st)
                .and_then(Form::focused_mut)
                .is_some_and(|f| f.step(action == Action::Increment));
            if changed {
                revalidate(sh, st);
            }
        }
        Action::NextScreen => return next_screen(sh, st),
        Action::Back => {
            let to = sh.screen.prev();
            return sh.go(to);
        }
        Action::AddGroup => {
            let group = fields::new_group(&sh.lab);
            sh.lab.overcloud.nodes.push(group);
            st.group = sh.lab.overcloud.nodes.len() - 1;
            rebuild_overcloud(sh, st);
            sh.say("Node group added");
        }
        Action::RemoveGroup => {
            if sh.lab.overcloud.nodes.len() > 1 {
                sh.lab.overcloud.nodes.remove(st.group);
                rebuild_overcloud(sh, st);
                sh.say("Node group removed");
            } else {
                sh.warn("The overcloud needs at least one node group");
            }
        }
        Action::NextGroup | Action::PrevGroup => {
            let n = sh.lab.overcloud.nodes.len();
            if n > 0 {
                st.group = if action == Action::NextGroup {
                    (st.group + 1) % n
                } else {
                    (st.group + n - 1) % n
                };
                rebuild_overcloud(sh, st);
            }
        }
        Action::AddNetwork => {
            let net = fields::new_network(&sh.lab);
            sh.lab.networks.push(net);
            st.network = sh.lab.networks.len() - 1;
            rebuild_hypervisor(sh, st);
            sh.say("Network added");
        }
        Action::RemoveNetwork => {
            if sh.lab.networks.len() > 1 {
                sh.lab.networks.remove(st.network);
                rebuild_hypervisor(sh, st);
                sh.say("Network removed");
            } else {
                sh.warn("The lab needs at least one network");
            }
        }
        Action::NextNetwork | Action::PrevNetwork => {
            let n = sh.lab.networks.len();
            if n > 0 {
                st.network = if action == Action::NextNetwork {
                    (st.network + 1) % n
                } else {
                    (st.network + n - 1) % n
                };
                rebuild_hypervisor(sh, st);
            }
        }
        _ => {}
    }
    vec![]
}

/// The table row (network or node group) an error path belongs to, when it is not the row
/// the form shows: `networks[2].cidr` on the hypervisor screen showing network 0 → 2.
fn other_row_with_error(sh: &Shell, st: &State) -> Option<usize> {
    let (prefix, shown) = match sh.screen {
        Screen::Hypervisor => ("networks[", st.network),
        Screen::Overcloud => ("overcloud.nodes[", st.group),
        _ => return None,
    };
    validate::issues(&sh.lab)
        .iter()
        .filter(|i| i.error)
        .filter_map(|i| i.path.strip_prefix(prefix)?.split(']').next()?.parse().ok())
        .find(|row| *row != shown)
}

/// Error paths this screen owns that no field of its form shows (a lab file's value the
/// forms have no field for): Next is refused for them too, naming the path and the fix.
fn unshown_error(sh: &Shell, form: &Form) -> Option<validate::Issue> {
    let owned: &[&str] = match sh.screen {
        Screen::Hypervisor => &["name", "workspace", "hypervisors", "networks"],
        Screen::Undercloud => &["undercloud", "images.undercloud"],
        Screen::Overcloud => &["overcloud"],
        _ => return None,
    };
    validate::issues(&sh.lab).into_iter().find(|i| {
        i.error
            && owned
                .iter()
                .any(|o| crate::tui::form::names_field(&i.path, o))
            && !form.fields.iter().any(|f| f.issues.contains(i))
    })
}

fn next_screen(sh: &mut Shell, st: &mut State) -> Vec<Effect> {
    revalidate(sh, st);
    let styles = sh.styles.clone();
    if current(sh.screen, st).is_some_and(|f| f.first_invalid().is_none())
        && let Some(row) = other_row_with_error(sh, st)
    {
        // Show the row with the problem, then fall through to focus its field.
        if sh.screen == Screen::Hypervisor {
            st.network = row;
            rebuild_hypervisor(sh, st);
        } else {
            st.group = row;
            rebuild_overcloud(sh, st);
        }
    }
    if let Some(form) = current(sh.screen, st)
        && form.first_invalid().is_none()
        && let Some(issue) = unshown_error(sh, form)
    {
        let fix = issue.fix.map(|f| format!(" ({f})")).unwrap_or_default();
        sh.warn(format!(
            "Fix {} in the lab file first: {}{fix}",
            issue.path, issue.message
        ));
        return vec![];
    }
    let Some(form) = current_mut(sh.screen, st) else {
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
        sh.warn(text);
        return vec![];
    }
    if sh.screen == Screen::Hypervisor && sh.is_remote() {
        // A remote hypervisor: its host key and the workspace key before anything else.
        sh.request(Request::EnterConnect);
        return vec![];
    }
    let to = sh.screen.next();
    let fx = sh.go(to);
    if to == Screen::Preflight {
        sh.request(Request::StartChecks);
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
fn layout(sh: &Shell, area: Rect) -> (Option<Rect>, Rect, Rect) {
    let table_h = match sh.screen {
        Screen::Overcloud => (sh.lab.overcloud.nodes.len() as u16 + 3).min(7),
        Screen::Hypervisor => (sh.lab.networks.len() as u16 + 3).min(7),
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

pub fn on_mouse(sh: &mut Shell, st: &mut State, ev: MouseEvent) -> Vec<Effect> {
    let area = panes::body(Rect::new(0, 0, sh.size.0, sh.size.1));
    let (_, rows_area, _) = layout(sh, area);
    let styles = sh.styles.clone();
    match ev.kind {
        MouseEventKind::Down(MouseButton::Left) => {
            let Some(form) = current_mut(sh.screen, st) else {
                return vec![];
            };
            let hit = field_rows(form, rows_area)
                .into_iter()
                .find(|(_, r)| panes::contains(*r, ev.column, ev.row))
                .map(|(i, _)| i);
            if let Some(i) = hit {
                form.focus_on(i, &styles);
            }
        }
        MouseEventKind::ScrollDown => return on_action(sh, st, Action::NextField),
        MouseEventKind::ScrollUp => return on_action(sh, st, Action::PrevField),
        _ => {}
    }
    vec![]
}

pub fn draw(sh: &Shell, st: &State, frame: &mut Frame, area: Rect) {
    let Some(form) = current(sh.screen, st) else {
        return;
    };
    let s = &sh.styles;
    let (table, rows_area, help) = layout(sh, area);
    if let Some(table) = table {
        if sh.screen == Screen::Hypervisor {
            draw_networks(sh, st, frame, table);
        } else {
            draw_groups(sh, st, frame, table);
        }
    }
    let title_row = Rect::new(
        area.x + 1,
        rows_area.y.saturating_sub(1),
        area.width.saturating_sub(2),
        1,
    );
    let invalid = form.fields.iter().filter(|f| f.has_error()).count();
    let mut title = vec![Span::styled(screen_title(sh, st), s.title)];
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
    draw_help(sh, form, frame, help);
}

fn draw_help(sh: &Shell, form: &Form, frame: &mut Frame, area: Rect) {
    let s = &sh.styles;
    let block = panes::pane(sh, "", false).borders(ratatui::widgets::Borders::TOP);
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

fn draw_groups(sh: &Shell, st: &State, frame: &mut Frame, area: Rect) {
    let s = &sh.styles;
    let header = Row::new([
        "", "role", "name", "count", "vCPUs", "memory", "disk", "networks",
    ])
    .style(s.title);
    let rows = sh.lab.overcloud.nodes.iter().enumerate().map(|(i, g)| {
        let selected = i == st.group;
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
    let (cpus, mem, disk) = fields::totals(&sh.lab);
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
    .block(panes::pane(sh, title, false));
    frame.render_widget(table, area);
}

fn draw_networks(sh: &Shell, st: &State, frame: &mut Frame, area: Rect) {
    let s = &sh.styles;
    let header = Row::new(["", "name", "bridge", "mode", "cidr", "dhcp"]).style(s.title);
    let rows = sh.lab.networks.iter().enumerate().map(|(i, n)| {
        let selected = i == st.network;
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
    .block(panes::pane(sh, title, false));
    frame.render_widget(table, area);
}

fn screen_title(sh: &Shell, st: &State) -> String {
    match sh.screen {
        Screen::Hypervisor => format!(
            "Hypervisor: the machine the lab runs on, network {} of {}",
            st.network + 1,
            sh.lab.networks.len()
        ),
        Screen::Undercloud => "Undercloud: the director VM and its undercloud.conf".into(),
        _ => format!(
            "Overcloud: node group {} of {}, VirtualBMC, deploy, live migration",
            st.group + 1,
            sh.lab.overcloud.nodes.len()
        ),
    }
}
