//! In-process figures with criterion (scripts/bench runs them with short sample times and
//! writes BENCHMARKS.md): the dashboard's frame time (figure 3) and labwarp's VM list
//! refresh on libvirt's test driver (figure 2, the in-process half: the light listing and
//! the full snapshots it replaced).

mod common;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, criterion_group, criterion_main};
use labwarp::tui::app::Msg;
use std::time::Duration;

/// One frame as the dashboard draws it while a run logs: one new line arrives, then the
/// whole screen is drawn (widgets into the buffer, diff, escape codes) through the real
/// crossterm backend into a sink.
fn frame_time(c: &mut Criterion) {
    // Without `--bench` (`cargo test --all-targets`) criterion runs each routine once to see
    // that it works: then a thousandth of the lines is enough.
    let scale = if std::env::args().any(|a| a == "--bench") {
        1
    } else {
        1000
    };
    let mut g = c.benchmark_group("frame");
    let sizes = [(1_000, "1k"), (1_000_000, "1M"), (10_000_000, "10M")];
    for (pass, (lines, label)) in sizes.into_iter().enumerate() {
        control(&mut g, pass);
        let lines = lines / scale;
        let mut app = common::dashboard_app(lines, (200, 50));
        let mut next = lines;
        for (w, h) in [(200u16, 50u16), (80, 24)] {
            app.update(Msg::Resize(w, h));
            let mut term = common::sink_terminal(w, h);
            common::draw(&mut term, &app);
            g.bench_function(BenchmarkId::new(format!("{w}x{h}"), label), |b| {
                b.iter(|| {
                    app.update(common::log_msg(next));
                    next += 1;
                    common::draw(&mut term, &app);
                })
            });
        }
    }
    control(&mut g, sizes.len());
    g.finish();
}

/// The same fixed work (sorting a copy of 5,000 pseudo-random integers) timed before, between
/// and after the frame benchmarks: these run one after the other for seconds each, and on a
/// shared machine the same code can run much slower for a while. The report shows how much
/// the control moved in the run.
fn control(g: &mut BenchmarkGroup<'_, WallTime>, pass: usize) {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let input: Vec<u64> = (0..5_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        })
        .collect();
    g.bench_function(BenchmarkId::new("control", pass), |b| {
        b.iter(|| {
            let mut v = input.clone();
            v.sort_unstable();
            std::hint::black_box(v)
        })
    });
}

/// The VM pane's refresh on a test-driver file with 50 domains: the light listing the
/// monitor reads (`Libvirt::list_brief`), and the full snapshots it read before (the
/// connection is open, as it is during a run).
fn refresh(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = common::test_driver_file(dir.path(), 50);
    let uri = format!("test://{}", file.display());
    let lv = rt
        .block_on(labwarp::virt::Libvirt::connect(&uri))
        .expect("test driver");
    let n = rt.block_on(lv.list_brief()).expect("list").len();
    assert_eq!(n, 50, "the test driver file defines 50 domains");
    let mut g = c.benchmark_group("refresh");
    g.bench_function("test-driver-50", |b| {
        b.iter(|| rt.block_on(lv.list_brief()).expect("list"))
    });
    g.bench_function("test-driver-50-full", |b| {
        b.iter(|| rt.block_on(lv.domains()).expect("domains"))
    });
    g.finish();
}

fn config() -> Criterion {
    // Short and many-sampled enough for medians and spreads on a shared 2-core machine;
    // scripts/bench passes nothing else.
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = frame_time, refresh
}
criterion_main!(benches);
