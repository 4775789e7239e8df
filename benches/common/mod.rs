//! Shared by the benchmarks (benches/inproc.rs, benches/compare.rs): the dashboard state
//! the issue describes (log lines, 50 VMs, 30 containers), a terminal that runs ratatui's
//! real crossterm backend into a sink, and small statistics.
#![allow(dead_code)] // each bench binary uses its own part

use labwarp::run::event::{ContainerRow, Event, LogStream, StageInfo, StepInfo, VmRow};
use labwarp::tui::app::{Msg, Screen};
use labwarp::tui::style::Styles;
use labwarp::tui::{App, view};
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use std::time::Duration;

/// The stage whose log the dashboard follows.
pub const STAGE: &str = "undercloud-install";

/// A terminal drawing through ratatui's real crossterm backend, escape codes and all, into
/// a sink: the same work as on a tty minus the kernel write. A fixed viewport keeps it from
/// asking a terminal for its size.
pub type SinkTerminal = Terminal<CrosstermBackend<std::io::Sink>>;

pub fn sink_terminal(w: u16, h: u16) -> SinkTerminal {
    Terminal::with_options(
        CrosstermBackend::new(std::io::sink()),
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, w, h)),
        },
    )
    .expect("sink terminal")
}

pub fn draw(term: &mut SinkTerminal, app: &App) {
    term.draw(|f| view::draw(app, f)).expect("draw");
}

/// One log line as the engine sends it (undercloud install output is ~90 columns).
pub fn log_msg(i: usize) -> Msg {
    Msg::Engine(Event::Log {
        stage: STAGE.into(),
        step: Some("install".into()),
        stream: if i.is_multiple_of(97) {
            LogStream::Stderr
        } else {
            LogStream::Stdout
        },
        line: format!(
            "2026-11-26 12:00:{:02} | TASK [tripleo_container_manage : Manage container {i}] ok: [undercloud]",
            i % 60
        ),
    })
}

/// The run dashboard mid-run: six stages (one running, its log followed), 50 VMs and 30
/// containers, `lines` log lines pushed through `App::update` as the engine's events are.
pub fn dashboard_app(lines: usize, size: (u16, u16)) -> App {
    let mut app = App::new(Styles::default(), size);
    let lab = labwarp::lab::load_preset("demo").expect("demo preset");
    app.update(Msg::LabLoaded {
        path: lab.workspace.join("lab.yaml"),
        lab: Box::new(lab),
        warnings: vec![],
    });
    app.screen = Screen::Dashboard;
    app.update(Msg::Tick(1_000));
    let stage = |id: &str, steps: &[&str]| StageInfo {
        id: id.into(),
        title: id.replace('-', " "),
        steps: steps
            .iter()
            .map(|s| StepInfo {
                id: s.to_string(),
                title: s.to_string(),
            })
            .collect(),
    };
    let stages = vec![
        stage("hypervisor", &["packages", "stack-user", "qemu-conf"]),
        stage("networks", &["external", "overcloud"]),
        stage("images", &["undercloud-image"]),
        stage("undercloud-vm", &["domain", "boot"]),
        stage(STAGE, &["install"]),
        stage("overcloud-vms", &["domains", "vbmc"]),
    ];
    app.update(Msg::Engine(Event::RunStarted { stages }));
    app.update(Msg::Engine(Event::StageStarted {
        stage: STAGE.into(),
    }));
    app.update(Msg::Engine(Event::StepStarted {
        stage: STAGE.into(),
        step: "install".into(),
    }));
    let vms = (0..50)
        .map(|i| VmRow {
            name: format!("demo-overcloud-node-{i:02}"),
            state: if i % 5 == 0 { "shut off" } else { "running" }.into(),
            vcpus: 2,
            memory_mib: 8192,
            ips: vec![format!("192.168.24.{}", 10 + i)],
        })
        .collect();
    app.update(Msg::Engine(Event::Vms { vms }));
    let containers = (0..30)
        .map(|i| ContainerRow {
            name: format!("ironic_conductor_{i:02}"),
            image: "quay.io/tripleomastercentos9/openstack-ironic-conductor:current-tripleo".into(),
            state: "running".into(),
            health: if i % 7 == 0 { "starting" } else { "healthy" }.into(),
            uptime: format!("{} minutes", i + 1),
        })
        .collect();
    app.update(Msg::Engine(Event::Containers { containers }));
    for i in 0..lines {
        app.update(log_msg(i));
    }
    app.update(Msg::Tick(2_000));
    app
}

/// Current and peak resident memory of this process (kB), from /proc/self/status.
pub fn rss_kb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Median, 10th and 90th percentile, min and max of some samples.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    pub n: usize,
    pub median: f64,
    pub p10: f64,
    pub p90: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(samples: &[f64]) -> Stats {
        let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return Stats {
                n: 0,
                median: f64::NAN,
                p10: f64::NAN,
                p90: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        let q = |p: f64| {
            // Linear interpolation between the closest ranks.
            let x = p * (v.len() - 1) as f64;
            let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
            v[lo] + (v[hi] - v[lo]) * (x - lo as f64)
        };
        Stats {
            n: v.len(),
            median: q(0.5),
            p10: q(0.1),
            p90: q(0.9),
            min: v[0],
            max: v[v.len() - 1],
        }
    }

    pub fn of_durations(samples: &[Duration]) -> Stats {
        Stats::of(
            &samples
                .iter()
                .map(Duration::as_secs_f64)
                .collect::<Vec<_>>(),
        )
    }
}

/// A libvirt test-driver file with `n` domains (`test:///PATH`): every process that opens
/// the URI sees the same domains, so labwarp and `virsh` list the same thing.
pub fn test_driver_file(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let mut xml = String::from("<node>\n");
    for i in 0..n {
        xml.push_str(&format!(
            "  <domain type='test'>\n    <name>bench-vm-{i:02}</name>\n    \
             <memory unit='MiB'>{mem}</memory>\n    <vcpu>2</vcpu>\n    \
             <os><type>hvm</type></os>\n  </domain>\n",
            mem = 1024 + 64 * i
        ));
    }
    xml.push_str("</node>\n");
    let path = dir.join("bench-node.xml");
    std::fs::write(&path, xml).expect("write test driver file");
    path
}
