//! Respin from the TUI, through the real App and the real driver (the TUI without its
//! terminal) on the demo lab (libvirt's test driver, the sandbox undercloud, TripleO's
//! stand-in): `p` on the dashboard, `u` and a yes remove the undercloud and the run builds
//! and installs it again (a file of the old one gone, the new one's journal with its
//! install, the plan whole after); `o` on a lab with
//! no installed-undercloud snapshot is refused on the screen, naming what is missing.

mod engine_support;

use engine_support::{TestLab, text};
use labwarp::tui::App;
use labwarp::tui::app::{Effect, Msg, Screen};
use labwarp::tui::driver::Driver;
use labwarp::tui::style::Styles;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::process::Command;
use std::time::{Duration, Instant};

const INNER: &str = "LABWARP_TUI_RESPIN_INNER";

fn installs(ws: &std::path::Path) -> usize {
    std::fs::read_to_string(ws.join("sandbox/undercloud/home/stack/.standin/invocations"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("undercloud install"))
        .count()
}

#[test]
fn respin_undercloud_from_the_snapshots_screen_rebuilds_and_reinstalls_it() {
    let lab = TestLab::demo_file("tr", "", "ws");
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(installs(lab.ws()), 1);
    // A file the first undercloud has and a rebuilt one cannot.
    let marker = lab.ws().join("sandbox/undercloud/home/stack/before-respin");
    std::fs::write(&marker, "x").unwrap();
    // The TUI half in a child: it needs the CLI's environment (sandbox, no stand-in delay)
    // and a test never changes its own process's environment.
    let o = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "inner_tui_respin", "--ignored", "--nocapture"])
        .env(INNER, lab.file.as_ref().unwrap())
        .env("LABWARP_INNER_WS", lab.ws())
        .env("LABWARP_SANDBOX", "1")
        .env("STANDIN_DELAY", "0")
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success() && out.contains("1 passed"), "{out}");
    assert!(!marker.exists(), "the undercloud was removed and made anew");
    assert_eq!(
        installs(lab.ws()),
        1,
        "the new undercloud was installed (its own journal)"
    );
    let o = lab.labwarp(&["plan", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let todo: Vec<String> = plan["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|st| st["steps"].as_array().unwrap().clone())
        .filter(|s| s["status"] != "done")
        .map(|s| format!("{} ({})", s["id"], s["saw"]))
        .collect();
    assert_eq!(todo, Vec::<String>::new(), "the respun lab is whole");
}

fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

async fn pump(
    app: &mut App,
    driver: &mut Driver,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Msg>,
    what: &str,
    done: impl Fn(&App) -> bool,
) {
    let t0 = Instant::now();
    while !done(app) {
        let left = Duration::from_secs(300).saturating_sub(t0.elapsed());
        assert!(
            !left.is_zero(),
            "waited for {what}; status {:?}",
            app.status
        );
        let Ok(Some(msg)) = tokio::time::timeout(left, rx.recv()).await else {
            panic!(
                "no message while waiting for {what}; status {:?}",
                app.status
            );
        };
        for fx in app.update(msg) {
            driver.execute(fx);
        }
    }
}

async fn press(app: &mut App, driver: &mut Driver, code: KeyCode) {
    for fx in key(app, code) {
        driver.execute(fx);
    }
}

#[test]
#[ignore = "run by respin_undercloud_from_the_snapshots_screen_rebuilds_and_reinstalls_it in a child with the CLI's environment"]
fn inner_tui_respin() {
    let Ok(file) = std::env::var(INNER) else {
        panic!("run by the test above");
    };
    let file = std::path::PathBuf::from(file);
    let ws = std::path::PathBuf::from(std::env::var("LABWARP_INNER_WS").unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut lab = labwarp::lab::load_path(&file).unwrap();
        lab.workspace = ws.clone();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut driver = Driver::new(tx, ws.clone());
        let mut app = App::new(Styles::default(), (120, 40));
        app.update(Msg::LabLoaded {
            lab: Box::new(lab.clone()),
            path: file.clone(),
            warnings: vec![],
        });
        app.screen = Screen::Dashboard;

        press(&mut app, &mut driver, KeyCode::Char('p')).await;
        assert_eq!(app.screen, Screen::Snapshots);
        pump(&mut app, &mut driver, &mut rx, "the snapshot list", |a| {
            a.snapshots.busy.is_none()
        })
        .await;

        // The sandbox lab takes no installed-undercloud snapshot: a respin of the
        // overcloud is refused on the screen, saying why; nothing else happens.
        press(&mut app, &mut driver, KeyCode::Char('o')).await;
        assert!(app.confirm.is_some(), "asked first");
        press(&mut app, &mut driver, KeyCode::Enter).await;
        pump(&mut app, &mut driver, &mut rx, "the refusal", |a| {
            a.snapshots.busy.is_none() && a.snapshots.outcome.is_some()
        })
        .await;
        let (ok, said) = app.snapshots.outcome.clone().unwrap();
        assert!(
            !ok && said.contains("has no snapshot undercloud-installed"),
            "{said}"
        );
        assert_eq!(app.screen, Screen::Snapshots);

        // Respin the undercloud: asked, then removed and the run builds it again.
        press(&mut app, &mut driver, KeyCode::Char('u')).await;
        let c = app.confirm.as_ref().expect("asked first");
        assert!(c.title.contains("Respin the undercloud"), "{}", c.title);
        press(&mut app, &mut driver, KeyCode::Enter).await;
        pump(
            &mut app,
            &mut driver,
            &mut rx,
            "the run after the respin",
            |a| a.screen == Screen::Dashboard && a.run.finished.is_some(),
        )
        .await;
        assert!(
            app.run.failure.is_none(),
            "the run failed: {:?}",
            app.run.failure
        );
        let (ok, said) = app.snapshots.outcome.clone().unwrap();
        assert!(ok && said.contains("undercloud removed"), "{said}");
    });
}
