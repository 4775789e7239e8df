//! The TUI without its terminal: the real App fed by the real Driver, for tests that drive
//! a lab through screens (tui_fixes, tui_respin). Each runs in a child process given the
//! lab file and workspace by environment, so the test's own environment never changes.
#![allow(dead_code)]

use labwarp::lab::Lab;
use labwarp::tui::App;
use labwarp::tui::app::{Effect, Msg, Screen};
use labwarp::tui::driver::Driver;
use labwarp::tui::style::Styles;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

/// Runs the ignored test `inner` of the module `module` (its `module_path!()`) of this test
/// binary in a child — `cmd` is the binary itself or a wrapper in front of it (nsenter) —
/// given what [`Driven::from_env`] reads (the lab file in `file_var`, the workspace) and the
/// CLI's environment (sandbox, no stand-in delay): a test never changes its own process's
/// environment.
pub fn run_inner(
    mut cmd: Command,
    module: &str,
    inner: &str,
    file_var: &str,
    file: &Path,
    ws: &Path,
) -> Output {
    cmd.args([
        "--exact",
        &test_name(module, inner),
        "--ignored",
        "--nocapture",
    ])
    .env(file_var, file)
    .env("LABWARP_INNER_WS", ws)
    .env("LABWARP_SANDBOX", "1")
    .env("STANDIN_DELAY", "0")
    .output()
    .expect("run the inner test")
}

/// libtest's name of test `f` in the module `module` (`module_path!()`, which starts with the
/// binary's crate name; libtest's names do not).
pub fn test_name(module: &str, f: &str) -> String {
    match module.split_once("::") {
        Some((_, path)) => format!("{path}::{f}"),
        None => f.to_string(),
    }
}

/// An App with the lab loaded, on the dashboard, and the driver that serves it.
pub struct Driven {
    pub app: App,
    pub driver: Driver,
    pub rx: UnboundedReceiver<Msg>,
    pub lab: Lab,
    pub file: PathBuf,
}

impl Driven {
    /// The lab file named by the environment variable `file_var` and the workspace by
    /// `LABWARP_INNER_WS` (set by the outer test).
    pub fn from_env(file_var: &str) -> Driven {
        let Ok(file) = std::env::var(file_var) else {
            panic!("run by its outer test, which sets {file_var}");
        };
        let file = PathBuf::from(file);
        let ws = PathBuf::from(std::env::var("LABWARP_INNER_WS").expect("LABWARP_INNER_WS"));
        let mut lab = labwarp::lab::load_path(&file).unwrap();
        lab.workspace = ws.clone();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let driver = Driver::new(tx, ws);
        let mut app = App::new(Styles::default(), (120, 40));
        app.update(Msg::LabLoaded {
            lab: Box::new(lab.clone()),
            path: file.clone(),
            warnings: vec![],
        });
        app.screen = Screen::Dashboard;
        Driven {
            app,
            driver,
            rx,
            lab,
            file,
        }
    }

    /// A key press; its effects go to the driver.
    pub fn press(&mut self, code: KeyCode) {
        for fx in key(&mut self.app, code) {
            self.driver.execute(fx);
        }
    }

    pub fn execute(&mut self, fx: Effect) {
        self.driver.execute(fx);
    }

    /// Feeds the driver's messages to the app (and the app's effects to the driver) until
    /// `done` holds; fails after 300 s saying what it waited for.
    pub async fn pump(&mut self, what: &str, done: impl Fn(&App) -> bool) {
        let t0 = Instant::now();
        while !done(&self.app) {
            let left = Duration::from_secs(300).saturating_sub(t0.elapsed());
            assert!(
                !left.is_zero(),
                "waited for {what}; status {:?}",
                self.app.status
            );
            let Ok(Some(msg)) = tokio::time::timeout(left, self.rx.recv()).await else {
                panic!(
                    "no message while waiting for {what}; status {:?}",
                    self.app.status
                );
            };
            for fx in self.app.update(msg) {
                self.driver.execute(fx);
            }
        }
    }
}

pub fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

/// The multi-threaded runtime the TUI runs on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
