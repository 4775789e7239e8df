//! BENCHMARKS.md from the figures' JSON (benches/compare) and criterion's raw samples
//! (benches/inproc): machine facts, method, and per figure the median, spread, target and
//! verdict.

use crate::common::Stats;
use crate::figures::{Check, Figure, Row};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// What profiling found and what was changed because of it (kept by hand in
/// benches/compare/changes.md: it describes code changes, not measurements).
fn changes() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/compare/changes.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| format!("({}: {e})\n", path.display()))
}

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2");
    let mut s = String::new();
    let _ = writeln!(s, "| | |\n|---|---|");
    let rows = [
        ("CPU", format!("{} × {}", sh("nproc"), cpu.trim())),
        ("Memory", sh("free -m | awk '/Mem:/ {print $2 \" MiB\"}'")),
        ("Kernel", sh("uname -sr")),
        ("OS", sh(". /etc/os-release && echo \"$PRETTY_NAME\"")),
        (
            "Load average at the end",
            sh("cut -d' ' -f1-3 /proc/loadavg"),
        ),
        ("libvirt", sh("virsh --version")),
        ("OpenSSH", sh("ssh -V 2>&1")),
        ("tmux", sh("tmux -V")),
        ("rustc", sh("rustc --version")),
        (
            "KVM",
            "`/dev/kvm` is kvm_pvm (software nested virtualisation): guests run under TCG"
                .to_string(),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    s
}

fn fmt(x: f64, unit: &str) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let digits = if unit == "lines/s" || unit == "frames" || x.abs() >= 100.0 {
        0
    } else if x.abs() >= 10.0 {
        1
    } else if x.abs() >= 1.0 {
        2
    } else {
        3
    };
    let v = format!("{x:.digits$}");
    if unit == "lines/s" {
        // Thousands separators for big counts.
        let mut out = String::new();
        for (i, c) in v.chars().rev().enumerate() {
            if i > 0 && i % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        return out.chars().rev().collect();
    }
    v
}

fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| what | median | p10 – p90 | min – max | samples |\n|---|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let st = &r.stats;
        let u = &r.unit;
        let _ = writeln!(
            s,
            "| {} | **{} {u}** | {} – {} | {} – {} | {} |",
            r.what,
            fmt(st.median, u),
            fmt(st.p10, u),
            fmt(st.p90, u),
            fmt(st.min, u),
            fmt(st.max, u),
            st.n
        );
    }
    s
}

/// Per-iteration times (ms) of one criterion benchmark, from its raw samples.
fn criterion_ms(id: &str) -> Option<Stats> {
    let path = crate::target_dir()
        .join("criterion")
        .join(id)
        .join("new/sample.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let iters = v["iters"].as_array()?;
    let times = v["times"].as_array()?;
    let per: Vec<f64> = iters
        .iter()
        .zip(times)
        .filter_map(|(i, t)| Some(t.as_f64()? / i.as_f64()? / 1e6))
        .collect();
    Some(Stats::of(&per))
}

/// Figure 3 (and the in-process refresh) from criterion.
fn frame_figure() -> Option<Figure> {
    let mut fig = Figure {
        id: 3,
        title: "Dashboard frame time".into(),
        method: "criterion (benches/inproc.rs, 30 samples, 2 s each): the run dashboard with 50 \
                 VMs, 30 containers and N log lines pushed through `App::update` (the log pane \
                 follows the running stage). One iteration = one new log line folded in + one \
                 whole frame drawn by `view::draw` through ratatui's real crossterm backend \
                 into a sink (widgets, buffer diff, escape codes; only the tty write is \
                 missing). Per-iteration time = each criterion sample's time / its iterations. \
                 The benchmarks run one after the other, seconds each, so a slow spell of the \
                 shared machine lands on whichever runs then: a control (the same fixed work, \
                 sorting a copy of 5,000 integers) is timed before, between and after them to \
                 show how much the machine itself moved. The verdict on growth with the log \
                 size comes from the next figure, which interleaves the sizes."
            .into(),
        ..Figure::default()
    };
    let mut worst_1m: f64 = 0.0;
    let mut growth = vec![];
    for size in ["200x50", "80x24"] {
        let mut medians = vec![];
        for lines in ["1k", "1M", "10M"] {
            let st = criterion_ms(&format!("frame/{size}/{lines}"))?;
            fig.rows.push(Row {
                what: format!("{size}, {lines} log lines"),
                unit: "ms".into(),
                stats: st,
            });
            if lines == "1M" {
                worst_1m = worst_1m.max(st.median);
            }
            medians.push(st.median);
        }
        growth.push(format!("{:.2}× at {size}", medians[2] / medians[0]));
    }
    let when = [
        "before 1k",
        "between 1k and 1M",
        "between 1M and 10M",
        "after 10M",
    ];
    let mut control = vec![];
    for (pass, when) in when.iter().enumerate() {
        let Some(st) = criterion_ms(&format!("frame/control/{pass}")) else {
            continue;
        };
        fig.rows.push(Row {
            what: format!("control (fixed work), {when}"),
            unit: "ms".into(),
            stats: st,
        });
        control.push(st.median);
    }
    fig.checks.push(Check {
        target: "≤ 1 ms per frame with 1M log lines (both sizes)".into(),
        measured: format!("{worst_1m:.3} ms at most"),
        met: worst_1m <= 1.0,
    });
    let moved = match (
        control.iter().copied().reduce(f64::min),
        control.iter().copied().reduce(f64::max),
    ) {
        (Some(lo), Some(hi)) => format!("{:.2}×", hi / lo),
        _ => "(not measured)".into(),
    };
    fig.notes.push(format!(
        "Sequential 10M / 1k ratios here: {} (informative, not the verdict). In the same run \
         the control's median moved by {moved} between its slowest and fastest pass: the same \
         work, slower or faster only because of the machine.",
        growth.join(", ")
    ));
    Some(fig)
}

fn load(name: &str) -> Option<Figure> {
    let text = std::fs::read_to_string(crate::out_dir().join(format!("{name}.json"))).ok()?;
    serde_json::from_str(&text).ok()
}

pub fn write() {
    let mut figs: Vec<Figure> = Vec::new();
    let mut missing = Vec::new();
    for name in ["ssh", "virsh"] {
        match load(name) {
            Some(f) => figs.push(f),
            None => missing.push(name.to_string()),
        }
    }
    match frame_figure() {
        Some(f) => figs.push(f),
        None => missing.push("frame (criterion)".into()),
    }
    for name in [
        "frames", "ingest", "mem", "idle", "startup", "bringup", "respin", "drift",
    ] {
        match load(name) {
            Some(f) => figs.push(f),
            None => missing.push(name.to_string()),
        }
    }
    let refresh = criterion_ms("refresh/test-driver-50");
    let refresh_full = criterion_ms("refresh/test-driver-50-full");

    let mut md = String::new();
    md.push_str(
        "# Benchmarks\n\n\
         Generated by `scripts/bench` (do not edit by hand: rerun it). labwarp against the \
         tools users run today, side by side in the same run on the same machine. The \
         machine is shared and noisy, so each comparison interleaves both sides round by \
         round and the verdicts use the **ratio of medians**; spreads are the 10th–90th \
         percentile and the extremes.\n\n",
    );
    if let Some(t0) = std::env::var("LABWARP_BENCH_STARTED")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let build = std::env::var("LABWARP_BENCH_BUILD_SECS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(String::new(), |b| {
                format!(", of which the build took {:.1} min", b as f64 / 60.0)
            });
        let load = std::env::var("LABWARP_BENCH_LOAD_START").map_or(String::new(), |l| {
            format!(" Load average at the start: {l}; at the end: see below.")
        });
        let _ = writeln!(
            md,
            "This run: {} UTC, `scripts/bench` took {:.1} min{build}.{load}\n",
            sh("date -u '+%Y-%m-%d %H:%M'"),
            now.saturating_sub(t0) as f64 / 60.0
        );
    }
    md.push_str("## Machine\n\n");
    md.push_str(&machine());
    md.push_str(
        "\n## Summary\n\n| # | figure | target | measured | met |\n|---|---|---|---|---|\n",
    );
    for f in &figs {
        for c in &f.checks {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                f.id,
                f.title,
                c.target,
                c.measured,
                if c.met { "yes" } else { "**no**" }
            );
        }
    }
    if !missing.is_empty() {
        let _ = writeln!(md, "\nNot measured in this run: {}.", missing.join(", "));
    }
    md.push_str("\n## Figures\n");
    for f in &figs {
        let _ = write!(
            md,
            "\n### {}. {}\n\n{}\n\n{}",
            f.id,
            f.title,
            f.method,
            table(&f.rows)
        );
        if f.id == 2 {
            for (what, r) in [("light listing", refresh), ("full snapshots", refresh_full)] {
                let Some(r) = r else { continue };
                let _ = writeln!(
                    md,
                    "\ncriterion, the {what} on the test driver alone: median **{} ms** \
                     (p10 – p90 {} – {} ms, {} samples).",
                    fmt(r.median, "ms"),
                    fmt(r.p10, "ms"),
                    fmt(r.p90, "ms"),
                    r.n
                );
            }
        }
        for c in &f.checks {
            let _ = writeln!(
                md,
                "\n- Target: {} — measured {} — {}",
                c.target,
                c.measured,
                if c.met { "**met**" } else { "**missed**" }
            );
        }
        for n in &f.notes {
            let _ = writeln!(md, "\n{n}");
        }
    }
    md.push_str("\n## What profiling found and what changed\n\n");
    md.push_str(&changes());
    md.push_str(
        "\n## Reproduce\n\n```\nscripts/setup-host.sh   # once, as root\nscripts/bench\n```\n\n\
         Figures alone: `scripts/bench ssh virsh frames ingest mem idle startup bringup respin` (any of \
         them; then the report is rewritten with what the output dir holds), or by hand \
         `cargo bench --profile bench-fast --bench compare -- FIGURE…`, \
         `cargo bench --profile bench-fast --bench inproc`, then \
         `cargo bench --profile bench-fast --bench compare -- report`. \
         `LABWARP_BENCH_ROUNDS=N` changes the number of rounds.\n",
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    std::fs::write(&path, md).expect("write BENCHMARKS.md");
    eprintln!("wrote {}", path.display());
}
