//! Snapshots of the lab (`p` on the dashboard): the list with sizes and ages; save (named
//! from the clock), restore and delete, each after a confirmation. The work is the back
//! end's (`plan::snapshot`, through the driver); this screen keeps state and draws.

use crate::run::respin::Respin;
use crate::tui::action::Action;
use crate::tui::app::{App, Confirm, Effect, Screen};
use crate::tui::view;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// One snapshot as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub name: String,
    pub size: String,
    pub age: String,
    pub vms: usize,
}

/// What the screen asks the back end to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    List,
    Save(String),
    Restore(String),
    Delete(String),
    /// `labwarp run --respin`: the lab put back, then the run builds what is missing.
    Respin(Respin),
}

/// What comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The driver started an operation (what it does, in words).
    Busy(String),
    Listed(Result<Vec<Row>, String>),
    /// An operation ended: what it said, or why it failed.
    Done(Result<String, String>),
    /// A respin's preparation ended; on success the run starts.
    Respun(Result<String, String>),
}

#[derive(Debug, Clone, Default)]
pub struct State {
    pub rows: Vec<Row>,
    pub selected: usize,
    /// Waiting for the back end: what it is doing.
    pub busy: Option<String>,
    /// The last outcome (ok, text).
    pub outcome: Option<(bool, String)>,
}

fn effect(app: &App, op: Op) -> Effect {
    Effect::Snapshot {
        lab: Box::new(app.lab.clone()),
        op,
    }
}

/// Opens the screen and asks for the list.
pub fn open(app: &mut App) -> Vec<Effect> {
    app.snapshots.busy = Some(busy_text(&Op::List));
    let mut fx = app.go(Screen::Snapshots);
    fx.push(effect(app, Op::List));
    fx
}

pub fn on_reply(app: &mut App, r: Reply) -> Vec<Effect> {
    let s = &mut app.snapshots;
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
            app.run = Default::default();
            app.dash = Default::default();
            let mut fx = app.go(Screen::Dashboard);
            fx.push(Effect::StartRun {
                lab: Box::new(app.lab.clone()),
                resume: true,
            });
            fx
        }
        Reply::Respun(Err(e)) => {
            s.busy = None;
            s.outcome = Some((false, e));
            vec![effect(app, Op::List)]
        }
        Reply::Done(r) => {
            s.outcome = Some(match r {
                Ok(t) => (true, t),
                Err(e) => (false, e),
            });
            s.busy = Some("reading the lab's snapshots…".into());
            vec![effect(app, Op::List)]
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

fn ask(app: &mut App, title: String, body: Vec<String>, op: Op) {
    app.confirm = Some(Confirm {
        title,
        body,
        on_yes: effect(app, op),
    });
}

pub fn on_action(app: &mut App, action: Action) -> Vec<Effect> {
    if app.snapshots.busy.is_some() && action != Action::Back {
        app.warn("The back end is still at work on the snapshots");
        return vec![];
    }
    let selected = app.snapshots.rows.get(app.snapshots.selected).cloned();
    let s = &mut app.snapshots;
    match action {
        Action::Up => s.selected = s.selected.saturating_sub(1),
        Action::Down => s.selected = (s.selected + 1).min(s.rows.len().saturating_sub(1)),
        Action::SnapshotSave => {
            let name = name_at(crate::run::state::now());
            ask(
                app,
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
                app,
                format!("Restore the lab to snapshot {}?", r.name),
                vec![
                    format!("Taken {} ago, {} VM(s).", r.age, r.vms),
                    "Everything the VMs did since is lost; refused if a VM was added or removed since.".into(),
                ],
                Op::Restore(r.name),
            ),
            None => app.warn("No snapshot to restore: save one first (s)"),
        },
        Action::SnapshotDelete => match selected {
            Some(r) => ask(
                app,
                format!("Delete snapshot {}?", r.name),
                vec![format!("Its files ({}) are removed from the hypervisor.", r.size)],
                Op::Delete(r.name),
            ),
            None => app.warn("No snapshot to delete"),
        },
        Action::RespinOvercloud => ask(
            app,
            "Respin the overcloud?".into(),
            vec![
                "The lab goes back to the snapshot taken after the undercloud install (lab.yaml snapshots.after_undercloud_install), then the run deploys the overcloud again.".into(),
                "The overcloud as it is now is lost; nodes made since are powered off and made anew.".into(),
            ],
            Op::Respin(Respin::Overcloud),
        ),
        Action::RespinUndercloud => ask(
            app,
            "Respin the undercloud?".into(),
            vec![
                "The undercloud VM, its disks, seed, containers and jobs are removed (and the installed-undercloud snapshot, which holds it); nodes, BMCs and networks stay.".into(),
                "Then the run builds the undercloud again from the base image and installs it.".into(),
            ],
            Op::Respin(Respin::Undercloud),
        ),
        Action::Back => return app.go(Screen::Dashboard),
        _ => {}
    }
    vec![]
}

/// The welcome screen's respin of a found lab: straight to the back end (the menu said
/// what it does), the outcome on this screen.
pub fn respin_now(app: &mut App, r: Respin) -> Vec<Effect> {
    let op = Op::Respin(r);
    app.snapshots.busy = Some(busy_text(&op));
    let mut fx = app.go(Screen::Snapshots);
    fx.push(effect(app, op));
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

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let st = &app.styles;
    let s = &app.snapshots;
    let [list, foot] = Layout::vertical([Constraint::Min(3), Constraint::Length(3)]).areas(area);
    let block = view::pane(app, format!(" Snapshots of {} ", app.lab.name), true);
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
            .block(view::pane(app, " Status ", false)),
        foot,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::app::Msg;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    fn key(app: &mut App, c: char) -> Vec<Effect> {
        let code = if c == '\x1b' {
            KeyCode::Esc
        } else {
            KeyCode::Char(c)
        };
        app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    fn screen_text(app: &App) -> String {
        let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 24)).unwrap();
        t.draw(|f| crate::tui::view::draw(app, f)).unwrap();
        let buf = t.backend().buffer().clone();
        buf.content
            .chunks(100)
            .map(|r| r.iter().map(|c| c.symbol()).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn row(name: &str) -> Row {
        Row {
            name: name.into(),
            size: "212.4 MiB".into(),
            age: "5 min".into(),
            vms: 4,
        }
    }

    /// The journey on the screen: opened from the dashboard (the list asked of the back
    /// end), rows with sizes and ages, save/restore/delete only after a yes, each carried
    /// out by the driver as an effect, the list asked again after.
    #[test]
    fn list_save_restore_delete_each_confirmed_and_done_by_the_back_end() {
        let mut app = App::new(crate::tui::style::Styles::default(), (100, 24));
        app.screen = Screen::Dashboard;
        let fx = key(&mut app, 'p');
        assert_eq!(app.screen, Screen::Snapshots);
        assert!(
            matches!(fx.as_slice(), [Effect::Snapshot { op: Op::List, .. }]),
            "{fx:?}"
        );
        assert!(screen_text(&app).contains("reading the lab's snapshots"));
        assert!(key(&mut app, 's').is_empty(), "nothing while busy");
        app.update(Msg::Snapshots(Reply::Listed(Ok(vec![
            row("undercloud-installed"),
            row("before-upgrade"),
        ]))));
        let text = screen_text(&app);
        assert!(
            text.contains("undercloud-installed") && text.contains("before-upgrade"),
            "{text}"
        );
        assert!(
            text.contains("212.4 MiB") && text.contains("5 min"),
            "{text}"
        );

        // Restore the second: asked first, the effect only on yes.
        key(&mut app, 'j');
        assert!(key(&mut app, 'r').is_empty());
        let c = app.confirm.as_ref().expect("a confirmation");
        assert!(c.title.contains("before-upgrade"), "{}", c.title);
        assert!(screen_text(&app).contains("Restore the lab to snapshot before-upgrade"));
        let fx = app.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
        assert!(
            matches!(fx.as_slice(), [Effect::Snapshot { op: Op::Restore(n), .. }] if n == "before-upgrade"),
            "{fx:?}"
        );
        app.update(Msg::Snapshots(Reply::Busy(busy_text(&Op::Restore(
            "before-upgrade".into(),
        )))));
        assert!(screen_text(&app).contains("restoring snapshot before-upgrade"));
        let fx = app.update(Msg::Snapshots(Reply::Done(Err(
            "snapshot before-upgrade no longer matches lab demo: VM(s) added since the snapshot: demo-compute-2".into(),
        ))));
        assert!(matches!(
            fx.as_slice(),
            [Effect::Snapshot { op: Op::List, .. }]
        ));
        app.update(Msg::Snapshots(Reply::Listed(Ok(vec![row(
            "undercloud-installed",
        )]))));
        assert!(
            screen_text(&app).contains("added since the snapshot"),
            "the refusal is shown"
        );

        // Delete: a no cancels, nothing happens.
        key(&mut app, 'd');
        assert!(app.confirm.is_some());
        let fx = app.update(Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
        assert!(fx.is_empty() && app.confirm.is_none(), "{fx:?}");

        // Save: a name from the clock, a valid snapshot name.
        key(&mut app, 's');
        let fx = app.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
        match fx.as_slice() {
            [
                Effect::Snapshot {
                    op: Op::Save(n), ..
                },
            ] => {
                crate::plan::snapshot::check_name(n).unwrap();
                assert!(n.starts_with("snap-"), "{n}");
            }
            other => panic!("save gave {other:?}"),
        }
        key(&mut app, '\x1b');
        assert_eq!(app.screen, Screen::Dashboard);
    }

    #[test]
    fn names_from_the_clock_are_valid_snapshot_names() {
        assert_eq!(name_at(0), "snap-19700101-000000");
        assert_eq!(name_at(1_796_561_100), "snap-20261206-124500");
        crate::plan::snapshot::check_name(&name_at(4_102_444_799)).unwrap();
    }
}
