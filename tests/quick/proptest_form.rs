//! Property tests of the TUI forms driven like a user: any keystroke sequence (printable and
//! control characters, hostile pastes, editing and movement keys, Tab, Ctrl chords) on the
//! hypervisor, undercloud and overcloud forms of every preset. After every key the app must
//! not panic and be in a valid or clearly-invalid state: each field problem names its field
//! (or the object holding it) and says something, and no error of the lab hides (every error
//! about a form field shows on that field, every error about an object on its form). The
//! masked VBMC password never appears on screen.

use labwarp::tui::app::{Msg, Screen};
use labwarp::tui::form::{Form, names_field};
use labwarp::tui::style::Styles;
use labwarp::tui::{App, validate, view};
use proptest::prelude::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Keys sent and form states checked, and how many of those showed a field error (so the
/// report shows the property met invalid states, not only valid ones).
static KEYS: AtomicUsize = AtomicUsize::new(0);
static STATES: AtomicUsize = AtomicUsize::new(0);
static INVALID: AtomicUsize = AtomicUsize::new(0);

fn app_on(preset: &str, screen: usize) -> App {
    let mut app = App::new(Styles::default(), (100, 30));
    let lab = labwarp::lab::load_preset(preset).expect("preset");
    app.update(Msg::LabLoaded {
        path: lab.workspace.join("lab.yaml"),
        lab: Box::new(lab),
        warnings: vec![],
    });
    let next = |app: &mut App| {
        app.update(Msg::Key(KeyEvent::new(
            KeyCode::Char('n'),
            KeyModifiers::CONTROL,
        )))
    };
    for _ in 0..screen {
        next(&mut app);
        // A remote hypervisor's connection screen: the driver says it is connected.
        if app.screen == Screen::Connect {
            app.update(Msg::Reach(labwarp::host::lab::Reach::Connected {
                user: "stack".into(),
                addr: "[127.0.0.2]:22".into(),
            }));
            next(&mut app);
        }
    }
    app
}

fn forms(app: &App) -> [&Form; 3] {
    [
        &app.forms.hypervisor,
        &app.forms.undercloud,
        &app.forms.overcloud,
    ]
}

fn screen_text(app: &mut App) -> String {
    let mut t = Terminal::new(TestBackend::new(100, 30)).expect("terminal");
    t.draw(|f| view::draw(app, f)).expect("draw");
    t.backend()
        .buffer()
        .content
        .iter()
        .map(|c| c.symbol())
        .collect()
}

/// Valid or clearly invalid: every problem shown on a field names it and has a message, and
/// every error of the lab about a form field is shown on that field.
fn check_state(app: &App) -> Result<(), TestCaseError> {
    let lab_errors: Vec<_> = validate::issues(&app.lab)
        .into_iter()
        .filter(|i| i.error)
        .collect();
    for form in forms(app) {
        for f in &form.fields {
            let path = f.key.path();
            for i in &f.issues {
                // Its own problem, one of a part of it, or one of the object that holds it
                // (a whole-object problem goes to the object's first field shown).
                prop_assert!(
                    names_field(&i.path, &path) || names_field(&path, &i.path),
                    "{path} shows a problem of {}",
                    i.path
                );
                prop_assert!(
                    !i.message.trim().is_empty(),
                    "{path}: a problem without text"
                );
            }
            // An error about a form field, or about an object the form shows a field of, is
            // shown somewhere on that form.
            for e in lab_errors.iter().filter(|e| names_field(&path, &e.path)) {
                prop_assert!(
                    form.fields
                        .iter()
                        .any(|g| g.issues.iter().any(|i| i.path == e.path)),
                    "the lab is invalid at {} ({}) and the form shows it nowhere",
                    e.path,
                    e.message
                );
            }
            for e in lab_errors.iter().filter(|e| names_field(&e.path, &path)) {
                prop_assert!(
                    f.has_error(),
                    "the lab is invalid at {} ({}) but field {path} shows no error",
                    e.path,
                    e.message
                );
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Op {
    Char(char),
    Key(KeyCode),
    Ctrl(char),
    Paste(String),
}

fn op() -> impl Strategy<Value = Op> {
    let keys = prop::sample::select(vec![
        KeyCode::Backspace,
        KeyCode::Delete,
        KeyCode::Left,
        KeyCode::Right,
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::Home,
        KeyCode::End,
        KeyCode::Enter,
        KeyCode::Tab,
        KeyCode::BackTab,
    ]);
    let pastes = prop::sample::select(vec![
        "$(touch /tmp/x)",
        "`id`",
        "a;b|c&d",
        "'\"\\",
        "999999999999999999999",
        "-1",
        "192.168.300.1",
        "10.0.0.0/33",
        "\u{1b}[2J",
        "ünï\u{202e}",
        "",
    ]);
    prop_oneof![
        4 => any::<char>().prop_map(Op::Char),
        2 => prop::sample::select(vec!['a', '0', '9', '.', '-', '/', ' ', ':']).prop_map(Op::Char),
        3 => keys.prop_map(Op::Key),
        1 => prop::sample::select(vec!['a', 'e', 'u', 'w', 'k', 'h', 'd', 'z'])
            .prop_map(Op::Ctrl),
        1 => pastes.prop_map(|s| Op::Paste(s.to_string())),
    ]
}

fn send(app: &mut App, op: &Op) {
    let key = |c| Msg::Key(KeyEvent::new(c, KeyModifiers::NONE));
    match op {
        Op::Char(c) => {
            app.update(key(KeyCode::Char(*c)));
        }
        Op::Key(k) => {
            app.update(key(*k));
        }
        Op::Ctrl(c) => {
            app.update(Msg::Key(KeyEvent::new(
                KeyCode::Char(*c),
                KeyModifiers::CONTROL,
            )));
        }
        Op::Paste(s) => {
            for c in s.chars() {
                app.update(key(KeyCode::Char(c)));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    // Not a #[test] itself: the test below runs it, then reports.
    fn keystroke_sequences(
        preset in prop::sample::select(labwarp::lab::preset_names().collect::<Vec<_>>()),
        screen in 0usize..3,
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let mut app = app_on(preset, screen);
        for op in &ops {
            send(&mut app, op);
            KEYS.fetch_add(1, Ordering::Relaxed);
            if matches!(app.screen, Screen::Hypervisor | Screen::Undercloud | Screen::Overcloud) {
                check_state(&app)?;
                STATES.fetch_add(1, Ordering::Relaxed);
                if forms(&app).iter().any(|f| f.first_invalid().is_some()) {
                    INVALID.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        // Drawing whatever state the keys left must not panic either.
        let _ = screen_text(&mut app);
    }
}

#[test]
fn any_keystrokes_leave_the_forms_valid_or_clearly_invalid() {
    keystroke_sequences();
    let (keys, states, invalid) = (
        KEYS.load(Ordering::Relaxed),
        STATES.load(Ordering::Relaxed),
        INVALID.load(Ordering::Relaxed),
    );
    assert!(
        invalid > 0,
        "no sequence ever made a field invalid: the property tests nothing"
    );
    println!(
        "forms (property): {keys} keystrokes, {states} form states checked, {invalid} of them invalid with every problem on its field; 0 panics"
    );
}

/// Focuses the field with this label on the current form.
fn focus(app: &mut App, label: &str) {
    for _ in 0..60 {
        let form = app.current_form().expect("a form");
        if form.focused().is_some_and(|f| f.key.label() == label) {
            return;
        }
        app.update(Msg::Key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE)));
    }
    panic!("no field {label}");
}

#[test]
fn a_typed_vbmc_password_is_masked_on_screen() {
    let mut app = app_on("minimal", 2);
    assert_eq!(app.screen, Screen::Overcloud);
    focus(&mut app, "IPMI password");
    let secret = "Zq7vWx3Kp9";
    for c in secret.chars() {
        app.update(Msg::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )));
    }
    let field = app
        .current_form()
        .and_then(Form::focused)
        .expect("focused field");
    let typed = match field.value() {
        labwarp::tui::fields::Value::Text(t) => t,
        v => panic!("{v:?}"),
    };
    assert!(
        typed.ends_with(secret),
        "the keys did not reach the field: {typed:?}"
    );
    let shown = screen_text(&mut app);
    assert!(
        !shown.contains(secret) && !shown.contains(&secret[..4]),
        "the password is readable on screen"
    );
    assert!(shown.contains("••••"), "no mask shown");
    println!(
        "secrets (screen): a typed VBMC password shows as {} mask characters, never in clear",
        secret.len()
    );
}
