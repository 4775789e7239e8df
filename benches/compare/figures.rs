//! The figures: each measures labwarp and, where there is one, what users run today, in the
//! same rounds, and returns a [`Figure`] (medians, spreads, the target and whether it was met).

use crate::common::{self, Stats};
use crate::sshd::{self, Sshd};
use crate::tiny_guest_support;
use crate::tmux_support::Tmux;
use labwarp::host::{Cmd, Host, SshHost, SshOptions, SshTarget, TrustPolicy};
use labwarp::tui::app::Msg;
use labwarp::virt::{Libvirt, UndefineOptions};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub what: String,
    pub unit: String,
    pub stats: Stats,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    pub target: String,
    pub measured: String,
    pub met: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Figure {
    pub id: u32,
    pub title: String,
    pub method: String,
    pub rows: Vec<Row>,
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
}

impl Figure {
    pub(crate) fn new(id: u32, title: &str, method: &str) -> Figure {
        Figure {
            id,
            title: title.into(),
            method: method.into(),
            ..Figure::default()
        }
    }

    pub(crate) fn row(&mut self, what: &str, unit: &str, stats: Stats) -> Stats {
        self.rows.push(Row {
            what: what.into(),
            unit: unit.into(),
            stats,
        });
        stats
    }

    pub(crate) fn check(&mut self, target: &str, measured: String, met: bool) {
        self.checks.push(Check {
            target: target.into(),
            measured,
            met,
        });
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(crate) fn rounds(default: usize) -> usize {
    std::env::var("LABWARP_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(default)
}

fn must(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

// ---------------------------------------------------------------------------------------
// 1. Remote commands

const COMMANDS: usize = 200;
/// Commands each sequential way runs before the next way takes its turn.
const BLOCK: usize = 25;

pub async fn ssh() -> Figure {
    let mut fig = Figure::new(
        1,
        "Remote commands: 200 × `true` on one host",
        "A real OpenSSH sshd on 127.0.0.1 (tests/sshd fixture: its own host key, an empty HOME so \
         no shell start-up files run). Each round runs 200 commands four ways: labwarp's \
         `SshHost` (one russh connection, opened before the round) 200 at once (capped at sshd's \
         MaxSessions = 10 channels), then one at a time, taking turns in blocks of 25 commands \
         with `ssh` through an OpenSSH ControlMaster, the local floor and `ssh` opening a new \
         connection per command (so the machine's slow spells of seconds spread over every \
         way). Per-command time of the sequential ways is each command's own latency; of the \
         parallel way, the round's wall time / 200. Every command's exit status is checked.",
    );
    if let Some(why) = sshd::unavailable() {
        fig.notes.push(format!("SKIPPED: {why}"));
        return fig;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let ws = tmp.path().join("workspace");
    let opts = SshOptions::for_workspace(&ws, TrustPolicy::FirstUse).expect("workspace key");
    let mut d = Sshd::new(
        &tmp.path().join("sshd"),
        "127.0.0.1",
        sshd::free_port(),
        None,
        "",
    );
    d.authorize(&opts.identity.public_line());
    d.start();
    let port = d.port.to_string();
    let known = tmp.path().join("known_hosts");
    let host_key = std::fs::read_to_string(d.host_key_pub()).unwrap();
    std::fs::write(&known, format!("[127.0.0.1]:{port} {host_key}")).unwrap();
    let key = ws.join("keys/id_ed25519");
    let ssh_base = |extra: &[&str]| {
        let mut c = Command::new("ssh");
        c.args(["-F", "/dev/null", "-i"])
            .arg(&key)
            .args(["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"])
            .args(["-o", "StrictHostKeyChecking=yes", "-o"])
            .arg(format!("UserKnownHostsFile={}", known.display()))
            .args(["-o", "LogLevel=ERROR", "-p", &port])
            .args(extra)
            .stdin(Stdio::null());
        c
    };
    let host = SshHost::new(
        SshTarget {
            name: "bench".into(),
            host: "127.0.0.1".into(),
            port: d.port,
            user: "root".into(),
        },
        opts,
    );
    host.connect().await.expect("russh connects");
    let cmd = Cmd::new(["true"]);
    host.exec_ok(&cmd).await.expect("first command");
    let ctl = tmp.path().join("ctl");
    let ctl_opt = format!("ControlPath={}", ctl.display());
    must(&mut ssh_base(&[
        "-o",
        "ControlMaster=yes",
        "-o",
        &ctl_opt,
        "-o",
        "ControlPersist=yes",
        "-f",
        "-N",
        "root@127.0.0.1",
    ]));

    let (mut seq, mut par, mut fresh, mut mux) = (vec![], vec![], vec![], vec![]);
    // The floor every way pays: sshd starts the user's shell for each command.
    let mut floor = vec![];
    // One round of 200 commands each way, taken in 8 turns (BLOCK): the new connections
    // alone take ~1 min a round, and a second round pushed scripts/bench from an empty
    // target directory to 14.8 min, too close to its 15-minute budget.
    let n_rounds = rounds(1);
    for round in 0..n_rounds {
        eprintln!("   round {}/{n_rounds}", round + 1);
        let t = Instant::now();
        let all = futures::future::join_all((0..COMMANDS).map(|_| host.exec_ok(&cmd))).await;
        let wall = t.elapsed();
        assert!(all.iter().all(Result::is_ok), "parallel russh commands");
        par.push(ms(wall) / COMMANDS as f64);
        // The sequential ways take turns in blocks of BLOCK commands: often enough that the
        // machine's slow spells (seconds long) spread over all of them, yet each way runs
        // back to back as it would in use. Turns of one command each were tried: every
        // command then also paid for the previous way's teardown (sshd's session child, the
        // exiting `ssh`), which slowed even the local floor by 25-40 %.
        for _ in 0..COMMANDS / BLOCK {
            for _ in 0..BLOCK {
                let t = Instant::now();
                host.exec_ok(&cmd).await.expect("russh command");
                seq.push(ms(t.elapsed()));
            }
            for _ in 0..BLOCK {
                let t = Instant::now();
                must(&mut ssh_base(&[
                    "-o",
                    "ControlMaster=no",
                    "-o",
                    &ctl_opt,
                    "root@127.0.0.1",
                    "true",
                ]));
                mux.push(ms(t.elapsed()));
            }
            for _ in 0..BLOCK {
                let t = Instant::now();
                must(Command::new("bash").args(["-c", "true"]));
                floor.push(ms(t.elapsed()));
            }
            for _ in 0..BLOCK {
                let t = Instant::now();
                must(&mut ssh_base(&["root@127.0.0.1", "true"]));
                fresh.push(ms(t.elapsed()));
            }
        }
    }
    let _ = ssh_base(&["-o", &ctl_opt, "-O", "exit", "root@127.0.0.1"]).output();
    host.disconnect().await;

    let s = fig.row(
        "labwarp SshHost, sequential (per command)",
        "ms",
        Stats::of(&seq),
    );
    let p = fig.row(
        "labwarp SshHost, 10 channels at once (per command)",
        "ms",
        Stats::of(&par),
    );
    let m = fig.row("ssh via ControlMaster (per command)", "ms", Stats::of(&mux));
    let f = fig.row(
        "ssh, new connection each (per command)",
        "ms",
        Stats::of(&fresh),
    );
    fig.row(
        "floor: `bash -c true` started locally (no SSH at all)",
        "ms",
        Stats::of(&floor),
    );
    fig.check(
        "≥ 50× faster than a new connection (sequential)",
        format!("{:.1}×", f.median / s.median),
        f.median / s.median >= 50.0,
    );
    fig.check(
        "≥ 2.5× faster than ControlMaster (sequential)",
        format!("{:.1}×", m.median / s.median),
        m.median / s.median >= 2.5,
    );
    fig.check(
        "≥ 50× faster than a new connection (parallel channels)",
        format!("{:.1}×", f.median / p.median),
        f.median / p.median >= 50.0,
    );
    fig.check(
        "≥ 2.5× faster than ControlMaster (parallel channels)",
        format!("{:.1}×", m.median / p.median),
        m.median / p.median >= 2.5,
    );
    fig
}

// ---------------------------------------------------------------------------------------
// 2. VM list refresh

/// Removes the bench's domains from the real libvirtd however the figure ends.
struct Domains(Vec<String>);

impl Drop for Domains {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = Command::new("virsh")
                .args(["-c", "qemu:///system", "destroy", d])
                .output();
            let _ = Command::new("virsh")
                .args(["-c", "qemu:///system", "undefine", d])
                .output();
        }
    }
}

/// One refresh of each kind per sample, alternating: labwarp's light listing (what the VM
/// pane's monitor reads), `virsh list --all`, and the full snapshot of every domain (what
/// the pane read before, for the before/after).
struct Refresh {
    light: Vec<f64>,
    virsh: Vec<f64>,
    full: Vec<f64>,
    seen: usize,
}

async fn refresh_vs_virsh(lv: &Libvirt, uri: &str, n: usize) -> Refresh {
    let mut r = Refresh {
        light: vec![],
        virsh: vec![],
        full: vec![],
        seen: 0,
    };
    for _ in 0..n {
        let t = Instant::now();
        let doms = lv.list_brief().await.expect("light refresh");
        r.light.push(ms(t.elapsed()));
        r.seen = doms.len();
        let t = Instant::now();
        let out = must(Command::new("virsh").args(["-c", uri, "list", "--all"]));
        r.virsh.push(ms(t.elapsed()));
        assert!(!out.stdout.is_empty());
        let t = Instant::now();
        let full = lv.domains().await.expect("full refresh");
        r.full.push(ms(t.elapsed()));
        assert_eq!(full.len(), doms.len(), "both listings see the same domains");
    }
    r
}

fn refresh_rows(fig: &mut Figure, what: &str, r: &Refresh) {
    let a = fig.row(
        &format!(
            "{what}: labwarp refresh, light listing ({} domains)",
            r.seen
        ),
        "ms",
        Stats::of(&r.light),
    );
    let b = fig.row(
        &format!("{what}: `virsh list --all`"),
        "ms",
        Stats::of(&r.virsh),
    );
    let f = fig.row(
        &format!("{what}: full snapshots (`Libvirt::domains()`, the pane's refresh before)"),
        "ms",
        Stats::of(&r.full),
    );
    fig.check(
        &format!("≥ 20× faster than virsh ({what})"),
        format!(
            "{:.1}× (full snapshots before: {:.1}×)",
            b.median / a.median,
            b.median / f.median
        ),
        b.median / a.median >= 20.0,
    );
}

pub async fn virsh() -> Figure {
    let mut fig = Figure::new(
        2,
        "VM list refresh: 50 domains",
        "labwarp's refresh is what the VM pane's monitor (src/run/monitor.rs) re-reads on an \
         open connection: `Libvirt::list_brief()` (src/virt/listing.rs), every domain's name, \
         state, vCPUs and memory in one `virConnectGetAllDomainStats` round trip (addresses \
         are re-read separately, only for running VMs, less often). The alternative is running \
         `virsh list --all` per refresh (the lab guide's shortcut). The full snapshot of every \
         domain (`Libvirt::domains()`: state, info, autostart, snapshots, XML, addresses, \
         ~10 round trips per domain), which the pane used to re-read, is timed alongside. The \
         three alternate, one of each per sample. Test driver: a `test:///FILE` with 50 \
         domains, which all open. Real libvirtd (qemu:///system, in netns labwarp-ci): 50 \
         small inactive domains with unique names are defined for the figure and removed \
         after; other helpers' domains present at the time are listed too, by all three.",
    );
    let n = rounds(3) * 10;
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = common::test_driver_file(tmp.path(), 50);
    let uri = format!("test://{}", file.display());
    let lv = Libvirt::connect(&uri).await.expect("test driver");
    let r = refresh_vs_virsh(&lv, &uri, n).await;
    refresh_rows(&mut fig, "test driver", &r);

    let sys = "qemu:///system";
    let lv = match Libvirt::connect(sys).await {
        Ok(lv) => lv,
        Err(e) => {
            fig.notes.push(format!(
                "SKIPPED the real libvirtd: {e} (run scripts/setup-host.sh)"
            ));
            return fig;
        }
    };
    let tag = format!("lwbench-{}", std::process::id());
    let mut guard = Domains(vec![]);
    for i in 0..50 {
        let name = format!("{tag}-{i:02}");
        let xml = format!(
            "<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory>\
             <vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os><devices/></domain>"
        );
        lv.define_domain(&xml).await.expect("define a bench domain");
        guard.0.push(name);
    }
    let r = refresh_vs_virsh(&lv, sys, n).await;
    for name in guard.0.drain(..) {
        lv.undefine(&name, UndefineOptions::default())
            .await
            .expect("undefine a bench domain");
    }
    refresh_rows(&mut fig, "real libvirtd", &r);
    fig
}

// ---------------------------------------------------------------------------------------
// 4. Log ingestion and memory

/// Messages taken off the channel at a time: the TUI loop's batch (src/tui/terminal.rs).
const BATCH: usize = 2048;

pub fn ingest() -> Figure {
    let mut fig = Figure::new(
        4,
        "Log ingestion into the log pane",
        "The TUI loop of src/tui/terminal.rs, reproduced without the tty: a producer thread \
         sends 1,000,000 engine `Log` events (built before the clock starts) down a tokio \
         unbounded channel as fast as it can; the loop takes up to 2048 messages at a time, \
         folds each into the `App` with `update`, and draws the 200×50 dashboard when it is \
         dirty and the frame pacer allows (src/tui/pacer.rs: at most one frame per 16 ms, the \
         normal frame rate), through ratatui's crossterm backend into a sink. Lines/s = \
         1,000,000 / time until the last line is folded in and drawn.",
    );
    let lines = 1_000_000;
    let mut rates = vec![];
    let mut frames = vec![];
    for _ in 0..rounds(3) + 2 {
        let (rate, n_frames) = ingest_once(lines);
        rates.push(rate);
        frames.push(n_frames as f64);
    }
    let r = fig.row("lines per second", "lines/s", Stats::of(&rates));
    fig.row("frames drawn per 1M lines", "frames", Stats::of(&frames));
    fig.check(
        "≥ 500,000 lines/s while drawing",
        format!("{:.0} lines/s", r.median),
        r.median >= 500_000.0,
    );
    fig
}

pub fn ingest_once(lines: usize) -> (f64, usize) {
    use labwarp::tui::pacer::Pacer;
    let mut app = common::dashboard_app(0, (200, 50));
    let mut term = common::sink_terminal(200, 50);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Msg>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let producer = std::thread::spawn(move || {
        let msgs: Vec<Msg> = (0..lines).map(common::log_msg).collect();
        ready_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        for m in msgs {
            tx.send(m).unwrap();
        }
    });
    ready_rx.recv().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (elapsed, n_frames) = rt.block_on(async {
        let start = Instant::now();
        go_tx.send(()).unwrap();
        let mut seen = 0;
        let mut n_frames = 0;
        let mut pacer = Pacer::default();
        loop {
            let now = Instant::now();
            // The last line is always drawn (that ends the measurement); before it, frames
            // come at the pacer's rate as in the TUI loop.
            if app.dirty && (pacer.due(now) || seen == lines) {
                common::draw(&mut term, &app);
                app.dirty = false;
                pacer.drawn(now);
                n_frames += 1;
            }
            if seen == lines {
                break;
            }
            let first = tokio::select! {
                _ = tokio::time::sleep_until(pacer.next().into()), if app.dirty => None,
                m = rx.recv() => match m {
                    Some(m) => Some(m),
                    None => break,
                },
            };
            let mut batch: Vec<Msg> = first.into_iter().collect();
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            seen += batch.len();
            for m in batch {
                app.update(m);
            }
        }
        (start.elapsed(), n_frames)
    });
    producer.join().unwrap();
    (lines as f64 / elapsed.as_secs_f64(), n_frames)
}

/// Log streams the memory figure spreads its lines over: the six stages' and ten containers'
/// (`podman:NAME`), as a long run with container logs open has.
const MEM_STREAMS: usize = 16;

fn mem_stream(i: usize) -> String {
    match i % MEM_STREAMS {
        k if k < 6 => format!("stage-{k}"),
        k => format!("podman:container_{k:02}"),
    }
}

/// Runs in a fresh process (`compare mem-child N`): N lines through the dashboard, spread
/// over 16 log streams, drawn every batch; prints
/// `{"lines":N,"rss_kb":…,"hwm_kb":…,"held":…,"streams":…}`.
pub fn mem_child(lines: usize) {
    use labwarp::run::event::{Event, LogStream};
    let mut app = common::dashboard_app(0, (200, 50));
    let mut term = common::sink_terminal(200, 50);
    let streams: Vec<String> = (0..MEM_STREAMS).map(mem_stream).collect();
    for i in 0..lines {
        // The followed stage gets every other line; the rest go round the other streams.
        let stage = if i % 2 == 0 {
            common::STAGE.to_string()
        } else {
            streams[(i / 2) % MEM_STREAMS].clone()
        };
        let Msg::Engine(Event::Log { line, .. }) = common::log_msg(i) else {
            unreachable!("log_msg builds a Log event")
        };
        app.update(Msg::Engine(Event::Log {
            stage,
            step: None,
            stream: LogStream::Stdout,
            line,
        }));
        if i % BATCH == 0 {
            common::draw(&mut term, &app);
        }
    }
    common::draw(&mut term, &app);
    let held: usize = app.run.logs.values().map(|r| r.len()).sum();
    let (rss, hwm) = common::rss_kb();
    println!(
        "{}",
        serde_json::json!({"lines": lines, "rss_kb": rss, "hwm_kb": hwm, "held": held,
                           "streams": app.run.logs.len()})
    );
}

pub fn mem() -> Figure {
    let mut fig = Figure::new(
        4,
        "Peak memory of the dashboard by log size",
        "A fresh process per size (this bench binary re-run as `mem-child N`) builds the run \
         dashboard (50 VMs, 30 containers) and pushes N log lines through `App::update`: half \
         into the followed stage's log, the rest round-robin into 16 more streams (six stages', \
         ten containers' `podman:NAME` logs), drawing every 2048 lines; then it reports its \
         peak resident set (VmHWM of /proc/self/status): the whole process, all streams \
         together. Three processes per size; `held` is how many lines all log panes keep \
         together (the dashboard's shared budget, src/tui/runview.rs `LogBudget`).",
    );
    let exe = std::env::current_exe().expect("current exe");
    let mut worst: f64 = 0.0;
    for lines in [0usize, 1_000_000, 10_000_000] {
        let mut hwm = vec![];
        let mut held = 0;
        let mut streams = 0;
        for _ in 0..3 {
            let out = must(Command::new(&exe).args(["mem-child", &lines.to_string()]));
            let v: serde_json::Value =
                serde_json::from_slice(&out.stdout).expect("mem-child prints JSON");
            hwm.push(v["hwm_kb"].as_f64().unwrap_or(f64::NAN) / 1024.0);
            held = v["held"].as_u64().unwrap_or(0);
            streams = v["streams"].as_u64().unwrap_or(0);
        }
        let s = fig.row(
            &format!("peak RSS after {lines} lines ({streams} streams hold {held} lines together)"),
            "MiB",
            Stats::of(&hwm),
        );
        worst = worst.max(s.max);
    }
    fig.check(
        "≤ 150 MB however many lines arrive (whole process, all streams)",
        format!("{worst:.0} MiB at most"),
        worst * 1.048_576 <= 150.0,
    );
    fig
}

// ---------------------------------------------------------------------------------------
// 5. Idle cost, 6. start-up

/// utime + stime of a process (all its threads), in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(") ")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn clock_ticks() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64
}

fn labwarp_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_labwarp"))
}

pub fn idle() -> Figure {
    let mut fig = Figure::new(
        5,
        "Idle cost of the run dashboard",
        "`labwarp --demo` in a 200×50 tmux window walks the demo journey (forms, preflight, \
         review, a run on libvirt's test driver with the stand-in undercloud's podman \
         containers) to the run dashboard with its stage, VM, log and podman panes, and is \
         left there with nothing changing. CPU = utime + stime of the labwarp process (all \
         threads, /proc/PID/stat) over 30 s, read in six 5 s windows.",
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    let bin = labwarp_bin();
    let mut t = Tmux::start_sized(
        &format!("lwbench-{}-{}", std::process::id(), sshd::unique()),
        tmp.path(),
        &format!("exec {} --demo", bin.display()),
        200,
        50,
    );
    t.limit = Duration::from_secs(180);
    t.wait_for("test:///default");
    t.walk_demo_forms();
    t.preflight_to_review();
    t.keys(&["s"]);
    t.wait_for("Stages: done");
    // Let the last events and container snapshots land.
    std::thread::sleep(Duration::from_secs(3));
    let pid = t.pane_pid();
    let hz = clock_ticks();
    let window = 5.0;
    let mut pct = vec![];
    let mut before = cpu_ticks(pid).expect("labwarp runs");
    let mut total = 0;
    for _ in 0..6 {
        std::thread::sleep(Duration::from_secs_f64(window));
        let now = cpu_ticks(pid).expect("labwarp still runs");
        pct.push((now - before) as f64 / hz / window * 100.0);
        total += now - before;
        before = now;
    }
    assert!(
        t.screen().contains("Stages: done"),
        "still on the dashboard"
    );
    fig.row("CPU of one core, per 5 s window", "%", Stats::of(&pct));
    let whole = total as f64 / hz / 30.0 * 100.0;
    fig.notes.push(format!(
        "over the whole 30 s: {total} ticks of {hz:.0} Hz = {whole:.3} % of one core"
    ));
    fig.check(
        "≤ 1 % of one core over 30 s",
        format!("{whole:.2} %"),
        whole <= 1.0,
    );
    fig
}

/// Spawns labwarp on a new pty of `w`×`h` and returns the time until `marker` has come out
/// of it (the first frame), then stops it with SIGTERM.
fn first_frame(dir: &Path, w: u16, h: u16, marker: &str) -> Duration {
    use nix::pty::{Winsize, openpty};
    use std::io::Read;
    use std::os::fd::{AsRawFd, OwnedFd};
    let ws = Winsize {
        ws_row: h,
        ws_col: w,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = openpty(Some(&ws), None::<&nix::sys::termios::Termios>).expect("openpty");
    let slave: OwnedFd = pty.slave;
    let stdio = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup pty"));
    let mut cmd = Command::new(labwarp_bin());
    cmd.current_dir(dir)
        .env("TERM", "xterm-256color")
        .stdin(stdio(&slave))
        .stdout(stdio(&slave))
        .stderr(stdio(&slave));
    // The child gets the pty as its controlling terminal (crossterm reads the size from it).
    let slave_fd = slave.as_raw_fd();
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            if nix::libc::ioctl(slave_fd, nix::libc::TIOCSCTTY as _, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn labwarp");
    // Every copy of the slave end must be closed here, else the master never reads EOF/EIO
    // when the child exits (the Command holds its stdio copies until dropped).
    drop(cmd);
    drop(slave);
    let mut master = std::fs::File::from(pty.master);
    let mut seen = Vec::new();
    let mut buf = [0u8; 65536];
    let elapsed = loop {
        let n = master.read(&mut buf).unwrap_or(0);
        assert!(n > 0, "labwarp's pty closed before the first frame");
        seen.extend_from_slice(&buf[..n]);
        if String::from_utf8_lossy(&seen).contains(marker) {
            break start.elapsed();
        }
    };
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    // Keep draining so the child never blocks on a full pty while it restores the terminal.
    let drain =
        std::thread::spawn(move || while matches!(master.read(&mut buf), Ok(n) if n > 0) {});
    let _ = child.wait();
    let _ = drain.join();
    elapsed
}

pub fn startup() -> Figure {
    let mut fig = Figure::new(
        6,
        "Start-up to the first frame; `labwarp check --local`",
        "First frame: labwarp (the wizard, no arguments, an empty workspace) is spawned on a \
         fresh 200×50 pty as its controlling terminal; the time runs from spawn() until the \
         pty has delivered the status bar's last hint (`quit`), the bottom row ratatui writes \
         last in the first frame's single flush. 20 launches. `labwarp check --local`: wall \
         time of the whole process (this machine's preflight: KVM, AppArmor, qemu.conf, \
         libvirtd, capacity, network), 10 runs, exit status 0 or 1 (1 = findings failed) \
         both count.",
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut firsts = vec![];
    for _ in 0..20 {
        firsts.push(ms(first_frame(tmp.path(), 200, 50, "quit")));
    }
    let f = fig.row("launch to first frame", "ms", Stats::of(&firsts));
    let mut checks = vec![];
    for _ in 0..10 {
        let t = Instant::now();
        let out = Command::new(labwarp_bin())
            .args(["check", "--local"])
            .current_dir(tmp.path())
            .output()
            .expect("labwarp check");
        checks.push(ms(t.elapsed()));
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "labwarp check --local: {out:?}"
        );
    }
    let c = fig.row("`labwarp check --local`", "ms", Stats::of(&checks));
    fig.check(
        "first frame < 100 ms",
        format!("{:.1} ms", f.median),
        f.median < 100.0,
    );
    fig.check(
        "`labwarp check` < 1 s",
        format!("{:.0} ms", c.median),
        c.median < 1000.0,
    );
    fig
}

// ---------------------------------------------------------------------------------------
// 7. Lab bring-up

/// The bring-up's network and domains, removed however the figure ends.
struct Lab {
    network: String,
    domains: Vec<String>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for d in &self.domains {
            let _ = tiny_guest_support::virsh(&["destroy", d]);
            let _ = tiny_guest_support::virsh(&["undefine", d]);
        }
        let _ = tiny_guest_support::virsh(&["net-destroy", &self.network]);
        let _ = tiny_guest_support::virsh(&["net-undefine", &self.network]);
    }
}

struct Vm {
    name: String,
    xml: String,
    console: PathBuf,
}

/// Defines and starts one VM with labwarp's virt layer and waits until its console says it
/// is up (DHCP lease taken, SSH host key made). Returns (time, qemu CPU seconds); the VM
/// keeps running.
async fn boot(lv: &Libvirt, vm: &Vm) -> (Duration, f64) {
    let _ = std::fs::remove_file(&vm.console);
    let t = Instant::now();
    lv.define_domain(&vm.xml).await.expect("define");
    lv.start(&vm.name).await.expect("start");
    let limit = Duration::from_secs(300);
    loop {
        let text = std::fs::read_to_string(&vm.console).unwrap_or_default();
        if text.contains("LABWARP-HOSTKEY") {
            break;
        }
        assert!(t.elapsed() < limit, "{} never booted:\n{text}", vm.name);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = t.elapsed();
    let cpu = std::fs::read_to_string(format!("/run/libvirt/qemu/{}.pid", vm.name))
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .and_then(cpu_ticks)
        .map_or(f64::NAN, |t| t as f64 / clock_ticks());
    (took, cpu)
}

async fn remove(lv: &Libvirt, vm: &Vm) {
    lv.undefine(&vm.name, UndefineOptions::default())
        .await
        .expect("undefine");
}

pub async fn bringup() -> Figure {
    let mut fig = Figure::new(
        7,
        "Lab bring-up on the real libvirtd: 1 undercloud + 3 nodes",
        "Four tiny guests (scripts/build-tiny-guest.sh: Debian cloud kernel + busybox init, \
         NoCloud seed ISO, 256 MiB, 1 vCPU, TCG: KVM here is kvm_pvm, which cannot run \
         guests) on one NAT network with DHCP, defined and started with labwarp's virt layer \
         (`Libvirt::define_domain` + `start`). A VM is up when its serial console prints \
         `LABWARP-HOSTKEY` (after its DHCP lease and SSH host key). Each round boots the four \
         one at a time (each timed alone), then two at once (one per core), then all four \
         at once; the target compares the \
         parallel wall time with the slowest single boot of the same round. The network \
         exists only in netns labwarp-ci (libvirtd's); nothing here talks to a guest.",
    );
    if let Err(e) = tiny_guest_support::virsh(&["uri"]) {
        fig.notes
            .push(format!("SKIPPED: libvirtd unreachable: {e}"));
        return fig;
    }
    let guest = tiny_guest_support::ensure_built();
    let lv = Libvirt::connect(tiny_guest_support::URI)
        .await
        .expect("qemu:///system");
    let tag = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
    let dir = tempfile::Builder::new()
        .prefix("labwarp-bench-")
        .tempdir()
        .expect("temp dir");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut lab = Lab {
        network: format!("lwbench-{tag}"),
        domains: vec![],
    };
    // A free 192.168.x/24 inside libvirtd's namespace (other tests create networks too).
    let mut started = false;
    for octet in (150..250u8).step_by(3) {
        let bridge = format!("lwb{tag}");
        let xml = format!(
            "<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>\
             <name>{}</name><forward mode='nat'/><bridge name='{bridge}' stp='off' delay='0'/>\
             <ip address='192.168.{octet}.1' netmask='255.255.255.0'><dhcp>\
             <range start='192.168.{octet}.10' end='192.168.{octet}.100'/></dhcp></ip>\
             <dnsmasq:options><dnsmasq:option value='no-ping'/></dnsmasq:options></network>",
            lab.network
        );
        let _ = lv.undefine_network(&lab.network).await;
        if lv.define_network(&xml).await.is_ok() && lv.start_network(&lab.network).await.is_ok() {
            started = true;
            break;
        }
    }
    assert!(started, "no free 192.168.x/24 for the bench network");
    let names = ["undercloud", "node-0", "node-1", "node-2"];
    let mut vms = vec![];
    for (i, role) in names.iter().enumerate() {
        let name = format!("lwbench-{tag}-{role}");
        let seed_dir = dir.path().join(role);
        std::fs::create_dir_all(&seed_dir).unwrap();
        std::fs::write(seed_dir.join("user-data"), "#cloud-config\n").unwrap();
        std::fs::write(
            seed_dir.join("meta-data"),
            format!("instance-id: {name}\nlocal-hostname: {role}\n"),
        )
        .unwrap();
        let seed = dir.path().join(format!("{role}.iso"));
        must(
            Command::new("genisoimage")
                .args(["-quiet", "-volid", "cidata", "-joliet", "-rock", "-output"])
                .arg(&seed)
                .arg(seed_dir.join("user-data"))
                .arg(seed_dir.join("meta-data")),
        );
        let console = dir.path().join(format!("{role}.console"));
        let xml = format!(
            "<domain type='qemu'><name>{name}</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>\
             <os><type arch='x86_64'>hvm</type><kernel>{k}</kernel><initrd>{i}</initrd>\
             <cmdline>console=ttyS0</cmdline></os><features><acpi/></features><devices>\
             <controller type='scsi' model='virtio-scsi'/>\
             <disk type='file' device='cdrom'><driver name='qemu' type='raw'/>\
             <source file='{s}'/><target dev='sda' bus='scsi'/><readonly/></disk>\
             <interface type='network'><source network='{net}'/>\
             <mac address='52:54:00:{a:02x}:{b:02x}:{c:02x}'/><model type='virtio'/></interface>\
             <serial type='file'><source path='{con}'/><target port='0'/></serial>\
             <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>\
             </devices></domain>",
            k = guest.kernel.display(),
            i = guest.initrd.display(),
            s = seed.display(),
            net = lab.network,
            a = (u32::from_str_radix(&tag, 16).unwrap() >> 8) & 0xff,
            b = u32::from_str_radix(&tag, 16).unwrap() & 0xff,
            c = i,
            con = console.display(),
        );
        lab.domains.push(name.clone());
        vms.push(Vm { name, xml, console });
    }

    let (mut singles, mut slowest, mut walls, mut ratios) = (vec![], vec![], vec![], vec![]);
    let (mut pair_walls, mut pair_ratios) = (vec![], vec![]);
    let (mut cpu_single, mut cpu_par) = (vec![], vec![]);
    let n_rounds = rounds(2);
    for round in 0..n_rounds {
        eprintln!("   round {}/{n_rounds}", round + 1);
        let mut alone = vec![];
        for vm in &vms {
            let (d, cpu) = boot(&lv, vm).await;
            remove(&lv, vm).await;
            singles.push(d.as_secs_f64());
            cpu_single.push(cpu);
            alone.push(d.as_secs_f64());
        }
        let worst = alone.iter().copied().fold(0.0, f64::max);
        // Two at once: one guest per core of this machine. If labwarp serialised anything,
        // this would show it as clearly as four at once; if it does not, two take about as
        // long as the slower of the two alone.
        let t = Instant::now();
        futures::future::join_all(vms[..2].iter().map(|vm| boot(&lv, vm))).await;
        let pair_wall = t.elapsed().as_secs_f64();
        for vm in &vms[..2] {
            remove(&lv, vm).await;
        }
        pair_walls.push(pair_wall);
        pair_ratios.push(pair_wall / alone[0].max(alone[1]));
        let t = Instant::now();
        let all = futures::future::join_all(vms.iter().map(|vm| boot(&lv, vm))).await;
        let wall = t.elapsed().as_secs_f64();
        // The VMs keep running until all are up, as a lab's do.
        for vm in &vms {
            remove(&lv, vm).await;
        }
        cpu_par.extend(all.iter().map(|(_, c)| *c));
        slowest.push(worst);
        walls.push(wall);
        ratios.push(wall / worst);
    }
    fig.row("one VM alone, define to up", "s", Stats::of(&singles));
    fig.row("slowest single VM of a round", "s", Stats::of(&slowest));
    fig.row(
        "two at once (one per core), wall time",
        "s",
        Stats::of(&pair_walls),
    );
    let r2 = fig.row(
        "two at once: wall / slower of the two alone",
        "×",
        Stats::of(&pair_ratios),
    );
    fig.row("all four at once, wall time", "s", Stats::of(&walls));
    let r = fig.row("parallel wall / slowest single", "×", Stats::of(&ratios));
    let cs = Stats::of(&cpu_single);
    let cp = Stats::of(&cpu_par);
    fig.row("qemu CPU per VM to up, alone", "CPU s", cs);
    fig.row("qemu CPU per VM to up, four at once", "CPU s", cp);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pair_verdict = if r2.median <= 1.3 {
        "within the target: what four at once measures here is the machine's cores, not \
         labwarp's parallelism"
    } else {
        "over the target too: with a core per guest the boots still slowed each other, so \
         the cores alone do not explain the gap (look at the load average, other guests, \
         or contention in labwarp)"
    };
    fig.notes.push(format!(
        "A TCG boot is CPU-bound: each VM burns ~{:.1} CPU s to come up; four need ~{:.1} CPU s \
         on a machine with {cores} cores shared with other work, so four at once cannot finish \
         in the time of one ({:.1} s of CPU per core at best). With one guest per core (two at \
         once) the parallel bring-up took {:.2}× the slower single boot, {pair_verdict}.",
        cs.median,
        4.0 * cp.median,
        4.0 * cp.median / cores as f64,
        r2.median
    ));
    fig.check(
        "parallel wall ≤ 1.3× the slowest single VM",
        format!("{:.2}×", r.median),
        r.median <= 1.3,
    );
    fig
}

// ---------------------------------------------------------------------------------------
// 3. Frame time, interleaved, in CPU time

/// CPU time of the calling thread: what a frame costs, whatever else the machine runs.
fn thread_cpu() -> Duration {
    let mut ts = nix::libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    let rc = unsafe { nix::libc::clock_gettime(nix::libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// `compare profile-frames N`: N frames of the 200×50 dashboard, for a profiler.
pub fn profile_frames(n: usize) {
    let mut app = common::dashboard_app(1_000, (200, 50));
    let mut term = common::sink_terminal(200, 50);
    let c0 = thread_cpu();
    for i in 0..n {
        app.update(common::log_msg(1_000 + i));
        common::draw(&mut term, &app);
    }
    eprintln!(
        "{n} frames, {:.3} ms CPU each",
        ms(thread_cpu() - c0) / n as f64
    );
}

pub fn frames() -> Figure {
    let mut fig = Figure::new(
        3,
        "Dashboard frame time by log size (interleaved, CPU time)",
        "The same frames as criterion's (one new log line folded in, then the whole dashboard \
         with 50 VMs and 30 containers drawn through the crossterm backend into a sink), but \
         the three log sizes take turns: each round draws 20 frames of each, so a burst of \
         load from elsewhere hits all three alike. Time per frame is the drawing thread's CPU \
         time (CLOCK_THREAD_CPUTIME_ID), which other processes on this shared 2-core machine \
         do not inflate; wall time alongside. 40 rounds per terminal size. This figure gives \
         the verdict on growth with the log size (10M-line median within 1.25× of the \
         1k-line median), in CPU time and in wall time.",
    );
    let sizes = [(1_000usize, "1k"), (1_000_000, "1M"), (10_000_000, "10M")];
    let mut apps: Vec<_> = sizes
        .iter()
        .map(|(n, _)| (common::dashboard_app(*n, (200, 50)), *n))
        .collect();
    for (w, h) in [(200u16, 50u16), (80, 24)] {
        let mut cpu = vec![vec![]; sizes.len()];
        let mut wall = vec![vec![]; sizes.len()];
        let mut terms: Vec<_> = apps
            .iter_mut()
            .map(|(app, _)| {
                app.update(Msg::Resize(w, h));
                let mut t = common::sink_terminal(w, h);
                common::draw(&mut t, app);
                t
            })
            .collect();
        for _ in 0..40 {
            for (k, ((app, next), term)) in apps.iter_mut().zip(terms.iter_mut()).enumerate() {
                for _ in 0..20 {
                    let (c0, t0) = (thread_cpu(), Instant::now());
                    app.update(common::log_msg(*next));
                    *next += 1;
                    common::draw(term, app);
                    cpu[k].push(ms(thread_cpu() - c0));
                    wall[k].push(ms(t0.elapsed()));
                }
            }
        }
        let (mut med, mut med_wall) = (vec![], vec![]);
        for (k, (_, label)) in sizes.iter().enumerate() {
            let s = fig.row(
                &format!("{w}x{h}, {label} log lines: CPU per frame"),
                "ms",
                Stats::of(&cpu[k]),
            );
            let sw = fig.row(
                &format!("{w}x{h}, {label} log lines: wall per frame"),
                "ms",
                Stats::of(&wall[k]),
            );
            med.push(s.median);
            med_wall.push(sw.median);
        }
        fig.check(
            &format!("≤ 1 ms per frame with 1M log lines ({w}x{h}, CPU)"),
            format!("{:.3} ms", med[1]),
            med[1] <= 1.0,
        );
        let growth = med[2] / med[0];
        fig.check(
            &format!("no growth with the log size ({w}x{h}: 10M vs 1k, CPU; ≤ 1.25×)"),
            format!("{growth:.2}×"),
            growth <= 1.25,
        );
        let growth_wall = med_wall[2] / med_wall[0];
        fig.check(
            &format!("no growth with the log size ({w}x{h}: 10M vs 1k, wall; ≤ 1.25×)"),
            format!("{growth_wall:.2}×"),
            growth_wall <= 1.25,
        );
    }
    fig
}
