//! The event loop and the terminal's life: raw mode + alternate screen + mouse on start,
//! always restored (normal exit, error, panic, Ctrl-C, SIGTERM/SIGHUP). Input comes from
//! crossterm's async EventStream (never a blocking poll inside async code); the screen is
//! redrawn only after something changed, and at most at the frame rate ([`super::pacer`]).

use super::Options;
use super::app::{App, Msg};
use super::driver::{Control, Driver};
use super::pacer::Pacer;
use super::style::Styles;
use super::view;
use anyhow::Context;
use futures::StreamExt;
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self as ct, DisableMouseCapture, EnableMouseCapture};
use ratatui::crossterm::execute;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

/// Messages taken off the channel at a time (the pacer decides when to draw).
const BATCH: usize = 2048;

pub fn run(opts: Options) -> anyhow::Result<()> {
    let workspace = opts
        .workspace
        .clone()
        .unwrap_or_else(|| PathBuf::from("workspace"));
    init_logging(&workspace)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(run_async(opts, workspace))
}

/// labwarp's own log goes to a file in the workspace, never to the screen.
fn init_logging(workspace: &std::path::Path) -> anyhow::Result<()> {
    let dir = crate::workspace::logs_dir(workspace);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("labwarp-tui.log"))?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("LABWARP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
    Ok(())
}

/// Restores the terminal when dropped: covers `?` returns and normal exit alike.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = execute!(std::io::stdout(), DisableMouseCapture);
        ratatui::restore();
    }
}

fn enter() -> anyhow::Result<(DefaultTerminal, Restore)> {
    let terminal = ratatui::try_init()?; // also installs a panic hook that restores
    let ratatui_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(std::io::stdout(), DisableMouseCapture);
        ratatui_hook(info);
    }));
    execute!(std::io::stdout(), EnableMouseCapture)?;
    Ok((terminal, Restore))
}

fn to_msg(ev: ct::Event) -> Option<Msg> {
    match ev {
        ct::Event::Key(k) => Some(Msg::Key(k)),
        ct::Event::Mouse(m) => Some(Msg::Mouse(m)),
        ct::Event::Resize(w, h) => Some(Msg::Resize(w, h)),
        _ => None,
    }
}

async fn run_async(opts: Options, workspace: PathBuf) -> anyhow::Result<()> {
    let (mut terminal, _restore) = enter()?;
    let size = terminal.size()?;
    let (styles, theme_warnings) =
        Styles::load(opts.theme.as_deref(), crate::theme::no_color_requested());
    let mut app = App::new(styles, (size.width, size.height));
    app.styles_fixed = opts.theme.is_some() || crate::theme::no_color_requested();
    if let Some(w) = theme_warnings.first() {
        app.warn(format!("theme: {w}"));
    }
    // The first frame before anything else (presets, the workspace's lab): start-up is
    // measured to it (BENCHMARKS.md, figure 6); what follows redraws when it arrives.
    terminal.draw(|f| view::draw(&app, f))?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut driver = Driver::new(tx, workspace);
    driver.start();
    if opts.demo {
        for fx in app.start_demo() {
            driver.execute(fx);
        }
    }
    let mut events = ct::EventStream::new();
    let mut term_sig = signal(SignalKind::terminate())?;
    let mut hup_sig = signal(SignalKind::hangup())?;
    let mut int_sig = signal(SignalKind::interrupt())?;
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tracing::info!("tui started");
    let mut pacer = Pacer::default();

    loop {
        // A dirty screen is drawn once the frame budget allows; until then events keep
        // being folded in (a burst of log lines costs one frame per ~16 ms, not per batch).
        let now = Instant::now();
        if app.dirty && pacer.due(now) {
            terminal.draw(|f| view::draw(&app, f))?;
            app.dirty = false;
            pacer.drawn(now);
        }
        let first = tokio::select! {
            _ = tokio::time::sleep_until(pacer.next().into()), if app.dirty => None,
            ev = events.next() => match ev {
                Some(Ok(ev)) => to_msg(ev),
                Some(Err(e)) => return Err(e).context("reading terminal input"),
                None => break,
            },
            Some(m) = rx.recv() => Some(m),
            _ = tick.tick() => Some(Msg::Tick(started.elapsed().as_millis() as u64)),
            _ = term_sig.recv() => { tracing::info!("SIGTERM"); Some(quit_msg()) },
            _ = hup_sig.recv() => { tracing::info!("SIGHUP"); Some(quit_msg()) },
            _ = int_sig.recv() => { tracing::info!("SIGINT"); Some(quit_msg()) },
        };
        let mut batch: Vec<Msg> = first.into_iter().collect();
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        for msg in batch {
            for fx in app.update(msg) {
                match driver.execute(fx) {
                    Control::Continue => {}
                    Control::Quit => app.quit = true,
                    Control::Suspend(argv) => {
                        // The event reader must not compete with the child for stdin.
                        drop(events);
                        let _ = execute!(std::io::stdout(), DisableMouseCapture);
                        ratatui::restore();
                        let status = tokio::process::Command::new(&argv[0])
                            .args(&argv[1..])
                            .status()
                            .await;
                        // Take the terminal back with the same Terminal: building a new
                        // one would ask the terminal for the cursor position.
                        ratatui::crossterm::terminal::enable_raw_mode()?;
                        execute!(
                            std::io::stdout(),
                            ratatui::crossterm::terminal::EnterAlternateScreen,
                            EnableMouseCapture
                        )?;
                        // resize() clears and forces a full redraw without the cursor
                        // query clear() makes (the reply could be read by the input reader).
                        let size = terminal.size()?;
                        terminal.resize(ratatui::layout::Rect::new(
                            0,
                            0,
                            size.width,
                            size.height,
                        ))?;
                        events = ct::EventStream::new();
                        let note = match status {
                            Ok(s) => format!("Shell ended ({s})"),
                            Err(e) => format!("Could not start {}: {e}", argv[0]),
                        };
                        app.update(Msg::Notice(note));
                    }
                }
            }
        }
        if app.quit {
            break;
        }
    }
    tracing::info!("tui stopped");
    Ok(())
}

/// A signal quits exactly as Ctrl-C does (cancelling a run first).
fn quit_msg() -> Msg {
    Msg::Key(ct::KeyEvent::new(
        ct::KeyCode::Char('c'),
        ct::KeyModifiers::CONTROL,
    ))
}
