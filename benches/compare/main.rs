//! Whole-process and side-by-side figures (issue 7), run by `scripts/bench`:
//!
//! `cargo bench --bench compare -- FIGURE…` with FIGURE one of `ssh`, `virsh`, `ingest`,
//! `mem`, `idle`, `startup`, `bringup`, `respin`, `drift` (or `all`), then `report` writes BENCHMARKS.md from
//! every figure's JSON and criterion's samples. Each comparison interleaves labwarp and the
//! tool users run today in the same rounds, so machine noise hits both alike; what counts
//! is the ratio of medians.
//!
//! Needs root and the services of scripts/setup-host.sh (sshd, libvirtd in netns
//! `labwarp-ci`, the tiny guest, tmux, podman). Nothing here asserts a duration: it
//! measures and reports.

#[path = "../common/mod.rs"]
mod common;
#[path = "../../tests/engine_support/mod.rs"]
mod engine_support;
#[path = "../../tests/lab_box/mod.rs"]
mod lab_box;
#[path = "../../tests/sshd/mod.rs"]
mod sshd;
#[path = "../../tests/tiny_guest_support/mod.rs"]
mod tiny_guest_support;
#[path = "../../tests/tmux_support/mod.rs"]
mod tmux_support;

mod drift;
mod figures;
mod report;
mod respin;

use std::path::PathBuf;

/// Where the figures' JSON goes: `$LABWARP_BENCH_OUT`, else `$CARGO_TARGET_DIR/labwarp-bench`.
pub fn out_dir() -> PathBuf {
    let dir = std::env::var_os("LABWARP_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("labwarp-bench"));
    std::fs::create_dir_all(&dir).expect("create the bench output dir");
    dir
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

fn main() {
    // cargo passes `--bench`; anything starting with `--` is cargo's or criterion's.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args.first().map(String::as_str) == Some("mem-child") {
        let lines = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(0);
        figures::mem_child(lines);
        return;
    }
    // For profiling the frame (perf record / valgrind --tool=callgrind on this binary):
    // `compare profile-frames N` draws N 200×50 dashboard frames, one new log line each.
    if args.first().map(String::as_str) == Some("profile-frames") {
        let n = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1000);
        figures::profile_frames(n);
        return;
    }
    // `cargo test --all-targets` runs bench targets without `--bench`: then only prove the
    // machinery works on something small (the figures take minutes and need root).
    if !std::env::args().any(|a| a == "--bench") {
        let (rate, frames) = figures::ingest_once(5_000);
        eprintln!(
            "compare: smoke run only (the figures run under `cargo bench`, see scripts/bench): \
             5000 lines folded in and drawn in {frames} frames, {rate:.0} lines/s (debug build)"
        );
        return;
    }
    let all = [
        "ssh", "virsh", "frames", "ingest", "mem", "idle", "startup", "bringup", "respin", "drift",
    ];
    let wanted: Vec<&str> = if args.is_empty() || args.iter().any(|a| a == "all") {
        all.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    for name in wanted {
        let started = std::time::Instant::now();
        eprintln!("== {name}");
        let fig = match name {
            "ssh" => rt.block_on(figures::ssh()),
            "virsh" => rt.block_on(figures::virsh()),
            "frames" => figures::frames(),
            "ingest" => figures::ingest(),
            "mem" => figures::mem(),
            "idle" => figures::idle(),
            "startup" => figures::startup(),
            "bringup" => rt.block_on(figures::bringup()),
            "respin" => respin::respin(),
            "drift" => rt.block_on(drift::drift()),
            "report" => {
                report::write();
                continue;
            }
            other => {
                eprintln!("unknown figure `{other}` (known: {} report)", all.join(" "));
                std::process::exit(2);
            }
        };
        let path = out_dir().join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&fig).unwrap()).unwrap();
        eprintln!(
            "== {name} done in {:.0} s -> {}",
            started.elapsed().as_secs_f64(),
            path.display()
        );
    }
}
