//! The snapshots screen's journey through the real App: keys and the driver's replies in,
//! effects and the drawn screen out.

use crate::tui::app::{App, Effect, Msg, Screen};
use crate::tui::screens::snapshots::{Op, Reply, Row, busy_text, name_at};
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
