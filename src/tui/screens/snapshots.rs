//! Snapshots of the lab (`p` on the dashboard): the list with sizes and ages; save (named
//! from the clock), restore and delete, each after a confirmation. The work is the back
//! end's (`plan::snapshot`, through the driver); this screen keeps state and draws.

use crate::run::respin::Respin;
use crate::tui::action::Action;
use crate::tui::msg::{Confirm, Effect, Screen};
use crate::tui::panes;
use crate::tui::shell::{Request, Shell};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub use crate::tui::msg::{SnapshotOp as Op, SnapshotReply as Reply, SnapshotRow as Row};

#[derive(Debug, Clone, Default)]
pub struct State {
    pub rows: Vec<Row>,
    pub selected: usize,
    /// Waiting for the back end: what it is doing.
    pub busy: Option<String>,
    /// The last outcome (ok, text).
    pub outcome: Option<(bool, String)>,
}

fn effect(sh: &Shell, op: Op) -> Effect {
    Effect::Snapshot {
        lab: Box::new(sh.lab.clone()),
        op,
    }
}

/// Opens the screen and asks for the list.
pub fn open(sh: &mut Shell, st: &mut State) -> Vec<Effect> {
    st.busy = Some(busy_text(&Op::List));
    let mut fx = sh.go(Screen::Snapshots);
    fx.push(effect(sh, Op::List));
    fx
}

pub fn on_reply(sh: &mut Shell, s: &mut State, r: Reply) -> Vec<Effect> {
    match r {
        Reply::Busy(t) => {
            s.busy = Some(t);
            vec![]
        }
        Reply::Listed(Ok(rows)) => {
            s.busy = None;
            s.selected = s.selected.min(rows.len().saturating_sub(1));
            s.rows = rows;
            vec![]
        }
        Reply::Listed(Err(e)) => {
            s.busy = None;
            s.outcome = Some((false, e));
            vec![]
        }
        Reply::Respun(Ok(t)) => {
            s.busy = None;
            s.outcome = Some((true, t));
            sh.request(Request::FreshRun);
            let mut fx = sh.go(Screen::Dashboard);
            fx.push(Effect::StartRun {
                lab: Box::new(sh.lab.clone()),
                resume: true,
            });
            fx
        }
        Reply::Respun(Err(e)) => {
            s.busy = None;
            s.outcome = Some((false, e));
            vec![effect(sh, Op::List)]
        }
        Reply::Done(r) => {
            s.outcome = Some(match r {
                Ok(t) => (true, t),
                Err(e) => (false, e),
            });
            s.busy = Some("reading the lab's snapshots…".into());
            vec![effect(sh, Op::List)]
        }
    }
}

/// `snap-YYYYMMDD-HHMMSS` (UTC) for a save from the screen.
pub fn name_at(unix: u64) -> String {
    let (days, secs) = ((unix / 86_400) as i64, unix % 86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "snap-{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

fn ask(sh: &mut Shell, title: String, body: Vec<String>, op: Op) {
    sh.confirm = Some(Confirm {
        title,
        body,
        on_yes: effect(sh, op),
    });
}

pub fn on_action(sh: &mut Shell, st: &mut State, action: Action) -> Vec<Effect> {
    if st.busy.is_some() && action != Action::Back {
        sh.warn("The back end is still at work on the snapshots");
        return vec![];
    }
    let selected = st.rows.get(st.selected).cloned();
    let s = st;
    match action {
        Action::Up => s.selected = s.selected.saturating_sub(1),
        Action::Down => s.selected = (s.selected + 1).min(s.rows.len().saturating_sub(1)),
        Action::SnapshotSave => {
            let name = name_at(crate::run::state::now());
            ask(
                sh,
                format!("Save snapshot {name}?"),
                vec![
                    "Every VM of the lab is paused together, its memory and disks saved on the hypervisor, then it runs on.".into(),
                    "The state file, pinned host keys and VirtualBMC entries are saved with it.".into(),
                ],
                Op::Save(name),
            );
        }
        Action::SnapshotRestore => match selected {
            Some(r) => ask(
                sh,
                format!("Restore the lab to snapshot {}?", r.name),
                vec![
                    format!("Taken {} ago, {} VM(s).", r.age, r.vms),
                    "Everything the VMs did since is lost; refused if a VM was added or removed since.".into(),
                ],
                Op::Restore(r.name),
            ),
            None => sh.warn("No snapshot to restore: save one first (s)"),
        },
        Action::SnapshotDelete => match selected {
            Some(r) => ask(
                sh,
                format!("Delete snapshot {}?", r.name),
                vec![format!("Its files ({}) are removed from the hypervisor.", r.size)],
                Op::Delete(r.name),
            ),
            None => sh.warn("No snapshot to delete"),
        },
        Action::RespinOvercloud => ask(
            sh,
            "Respin the overcloud?".into(),
            vec![
                "The lab goes back to the snapshot taken after the undercloud install (lab.yaml snapshots.after_undercloud_install), then the run deploys the overcloud again.".into(),
                "The overcloud as it is now is lost; nodes made since are powered off and made anew.".into(),
            ],
            Op::Respin(Respin::Overcloud),
        ),
        Action::RespinUndercloud => ask(
            sh,
            "Respin the undercloud?".into(),
            vec![
                "The undercloud VM, its disks, seed, containers and jobs are removed (and the installed-undercloud snapshot, which holds it); nodes, BMCs and networks stay.".into(),
                "Then the run builds the undercloud again from the base image and installs it.".into(),
            ],
            Op::Respin(Respin::Undercloud),
        ),
        Action::Back => return sh.go(Screen::Dashboard),
        _ => {}
    }
    vec![]
}

/// The welcome screen's respin of a found lab: straight to the back end (the menu said
/// what it does), the outcome on this screen.
pub fn respin_now(sh: &mut Shell, st: &mut State, r: Respin) -> Vec<Effect> {
    let op = Op::Respin(r);
    st.busy = Some(busy_text(&op));
    let mut fx = sh.go(Screen::Snapshots);
    fx.push(effect(sh, op));
    fx
}

/// What the screen says while `op` runs.
pub fn busy_text(op: &Op) -> String {
    match op {
        Op::List => "reading the lab's snapshots…".into(),
        Op::Save(n) => format!("saving snapshot {n}… (every VM pauses for a moment)"),
        Op::Restore(n) => format!("restoring snapshot {n}…"),
        Op::Delete(n) => format!("deleting snapshot {n}…"),
        Op::Respin(Respin::Overcloud) => {
            "respin: restoring the installed-undercloud snapshot…".into()
        }
        Op::Respin(Respin::Undercloud) => "respin: removing the undercloud…".into(),
    }
}

pub fn draw(sh: &Shell, s: &State, frame: &mut Frame, area: Rect) {
    let st = &sh.styles;
    let [list, foot] = Layout::vertical([Constraint::Min(3), Constraint::Length(3)]).areas(area);
    let block = panes::pane(sh, format!(" Snapshots of {} ", sh.lab.name), true);
    let inner = block.inner(list);
    frame.render_widget(block, list);
    let mut lines = vec![Line::from(Span::styled(
        format!("  {:<32} {:>10} {:>8}  VMs", "NAME", "SIZE", "AGE"),
        st.muted,
    ))];
    if s.rows.is_empty() && s.busy.is_none() {
        lines.push(Line::from(Span::styled(
            "  no snapshots yet: s saves one",
            st.muted,
        )));
    }
    let room = (inner.height as usize).saturating_sub(1).max(1);
    let first = s.selected.saturating_sub(room.saturating_sub(1));
    for (i, r) in s.rows.iter().enumerate().skip(first).take(room) {
        let sel = i == s.selected;
        lines.push(Line::from(Span::styled(
            format!(
                "{} {:<32} {:>10} {:>8}  {}",
                if sel { "▸" } else { " " },
                r.name,
                r.size,
                r.age,
                r.vms
            ),
            if sel { st.selected } else { st.base },
        )));
    }
    frame.render_widget(Paragraph::new(lines), inner);
    let status = match (&s.busy, &s.outcome) {
        (Some(b), _) => Line::from(Span::styled(b.clone(), st.muted)),
        (None, Some((true, t))) => Line::from(Span::styled(t.clone(), st.ok)),
        (None, Some((false, e))) => Line::from(Span::styled(e.clone(), st.error)),
        (None, None) => Line::from(Span::styled(
            "s save · r restore · d delete · o respin overcloud · u respin undercloud · Esc back",
            st.muted,
        )),
    };
    frame.render_widget(
        Paragraph::new(status)
            .wrap(ratatui::widgets::Wrap { trim: true })
            .block(panes::pane(sh, " Status ", false)),
        foot,
    );
}
