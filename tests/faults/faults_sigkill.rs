//! Fault: SIGKILL at random points across whole demo runs (`labwarp run --yes --json` on the
//! demo preset: test:///default, a sandbox undercloud, the stand-in `openstack` starting real
//! podman containers). Each kill is followed by a rerun; the last rerun of every chain must
//! reach the end state of an uninterrupted reference run, and state.yaml must load after
//! every kill.
//!
//! Kill points are events of the run's own `--json` stream (a step starting, one of its log
//! lines, a step finishing, a VM or container snapshot...), plus a random delay of 0–40 ms
//! so the signal also lands between events (inside a state write, a podman call...). They
//! are drawn per stage from the reference run's events with a seeded RNG
//! (`LABWARP_FAULT_SEED` to replay one), and grouped into chains: one fresh lab per chain,
//! killed at each of its points in turn (a rerun is killed again at the chain's next point),
//! then run to the end. That keeps ≥ 50 kills inside CI's time while every kill is
//! followed by a rerun.
//!
//! VMs on test:///default live in the process's memory and labwarp writes that world to the
//! workspace (`libvirt-test.xml`) after every change, so a kill can lose at most the change
//! in flight: "converges" means the VMs, networks and pools of the saved world (read by
//! virsh from outside labwarp) equal the reference's, state.yaml records them created, and
//! `labwarp status --json` (a new process, loading the saved world) reports the same step
//! statuses as after the reference run. Containers and sandbox files are compared as is.

use crate::engine_support::{TestLab, text, unique, walk};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// xorshift64*: enough randomness for picking kill points, replayable from the seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// What identifies an event across runs: kind, stage, step and which occurrence of that
/// triple it is within the run (the 3rd log line of a step, ...).
type Sig = (String, String, String, usize);

struct Counter(BTreeMap<(String, String, String), usize>);
impl Counter {
    fn sig(&mut self, e: &serde_json::Value) -> Sig {
        let k = (
            e["event"].as_str().unwrap_or("?").to_string(),
            e["stage"].as_str().unwrap_or("").to_string(),
            e["step"].as_str().unwrap_or("").to_string(),
        );
        let n = self.0.entry(k.clone()).or_insert(0);
        *n += 1;
        (k.0, k.1, k.2, *n)
    }
}

fn events(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON event ({e}): {l}")))
        .collect()
}

/// The last VM snapshot of a run, with the lab name replaced.
/// The lab's VMs with their state in the world the workspace keeps, lab name replaced.
fn world_vms(lab: &TestLab) -> Vec<String> {
    lab.libvirt_objects()
        .into_iter()
        .filter_map(|o| {
            o.strip_prefix("domain ")
                .map(|d| d.replace(&lab.name, "LAB"))
        })
        .collect()
}

/// `labwarp status --json`, reduced to what must be equal between two labs.
fn status_view(lab: &TestLab) -> BTreeSet<String> {
    let o = lab.labwarp(&["status", "--json"]);
    assert!(o.status.success(), "status: {}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("status JSON");
    let mut out = BTreeSet::new();
    out.insert(format!("last_run {}", v["last_run_text"]));
    for st in v["plan"]["stages"].as_array().expect("stages") {
        for s in st["steps"].as_array().expect("steps") {
            out.insert(format!("{}/{} {}", st["id"], s["id"], s["status"]));
        }
    }
    out
}

/// state.yaml must load as a labwarp state file after every kill.
fn assert_state_valid(lab: &TestLab, when: &str) {
    let path = lab.ws().join("state.yaml");
    if path.exists()
        && let Err(e) = labwarp::run::state::load(&path)
    {
        panic!("{when}: state.yaml does not load: {e:#}");
    }
}

struct Reference {
    end: BTreeSet<String>,
    vms: Vec<String>,
    status: BTreeSet<String>,
    /// Every event of the uninterrupted run by stage, as candidate kill points.
    points: BTreeMap<String, Vec<Sig>>,
    order: Vec<Sig>,
}

fn reference() -> Reference {
    let lab = TestLab::demo("skr");
    let o = lab.labwarp(&["run", "--yes", "--json"]);
    assert!(o.status.success(), "reference run: {}", text(&o));
    let evs = events(&o.stdout);
    let mut c = Counter(BTreeMap::new());
    let mut points: BTreeMap<String, Vec<Sig>> = BTreeMap::new();
    let mut order = Vec::new();
    let mut stage = String::from("hypervisor");
    for e in &evs {
        let sig = c.sig(e);
        if let Some(s) = e["stage"].as_str() {
            stage = s.to_string();
        }
        order.push(sig.clone());
        if sig.0 != "run_started" {
            points.entry(stage.clone()).or_default().push(sig);
        }
    }
    assert_state_valid(&lab, "reference");
    let vms = world_vms(&lab);
    assert_eq!(
        vms.len(),
        3,
        "the reference run's saved world holds the undercloud and two nodes: {vms:?}"
    );
    Reference {
        end: lab.end_state(),
        vms,
        status: status_view(&lab),
        points,
        order,
    }
}

#[derive(Default)]
struct Tally {
    kills: usize,
    reruns: usize,
    converged: usize,
    by_stage: BTreeMap<String, usize>,
    lines: Vec<String>,
}

/// One chain: a fresh lab killed at each of `targets` in turn, then run to the end.
fn chain(
    idx: usize,
    targets: Vec<(String, Sig)>,
    delays: Vec<u64>,
    r: &Reference,
    tally: &Mutex<Tally>,
) {
    let mut lab = TestLab::demo("sk");
    lab.name = format!("{}c{idx}", unique("sk"));
    let mut left = targets;
    let mut delays = delays.into_iter();
    let mut kills_here = Vec::new();
    let mut runs = 0;
    loop {
        runs += 1;
        assert!(runs <= 40, "chain {idx}: runs never converge");
        let err_file = lab.ws().join(format!("run{runs}.stderr"));
        let mut child = lab
            .cmd(&["run", "--yes", "--json"], None)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&err_file).expect("stderr file"))
            .spawn()
            .expect("spawn labwarp");
        let out = child.stdout.take().expect("stdout");
        let mut c = Counter(BTreeMap::new());
        let mut seen = Vec::new();
        let mut hit = None;
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let e: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|err| panic!("chain {idx}: not a JSON event ({err}): {line}"));
            let sig = c.sig(&e);
            seen.push(e);
            if let Some(pos) = left.iter().position(|(_, s)| *s == sig) {
                hit = Some(left.remove(pos));
                std::thread::sleep(Duration::from_millis(delays.next().unwrap_or(0)));
                child.kill().expect("SIGKILL"); // std's kill() is SIGKILL
                break;
            }
        }
        let st = child.wait().expect("reap");
        let stderr = std::fs::read_to_string(&err_file).unwrap_or_default();
        assert!(
            !stderr.contains("panicked"),
            "chain {idx} run {runs}: panic\n{stderr}"
        );
        std::fs::remove_file(&err_file).ok();
        match hit {
            Some((stage, sig)) if st.code().is_none() => {
                assert_state_valid(&lab, &format!("chain {idx} after kill at {sig:?}"));
                kills_here.push(format!("{}:{}/{}#{}", sig.0, stage, sig.2, sig.3));
                let mut t = tally.lock().unwrap();
                t.kills += 1;
                *t.by_stage.entry(stage).or_default() += 1;
            }
            _ => {
                // Ran to its end: every later target of this chain is behind it (its step
                // was already done, so those events never come).
                assert!(
                    st.success(),
                    "chain {idx}: rerun {runs} after kills {kills_here:?} failed: {st:?}\n{stderr}\n{}",
                    seen.iter()
                        .rev()
                        .take(15)
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                assert_state_valid(&lab, &format!("chain {idx} final"));
                let vms = world_vms(&lab);
                let end = lab.end_state();
                let status = status_view(&lab);
                assert_eq!(
                    end, r.end,
                    "chain {idx}: end state after kills {kills_here:?} differs from the reference"
                );
                assert_eq!(
                    vms, r.vms,
                    "chain {idx}: VMs after kills {kills_here:?} differ from the reference"
                );
                assert_eq!(
                    status, r.status,
                    "chain {idx}: `status --json` after kills {kills_here:?} differs"
                );
                let litter: Vec<_> = walk(lab.ws())
                    .into_iter()
                    .filter(|p| {
                        let n = p.file_name().unwrap_or_default().to_string_lossy();
                        n.ends_with(".labwarp-tmp") || n.starts_with(".state.")
                    })
                    .collect();
                assert!(
                    litter.is_empty(),
                    "chain {idx}: temp files left after kills {kills_here:?}: {litter:?}"
                );
                let mut t = tally.lock().unwrap();
                t.reruns += runs - 1;
                t.converged += 1;
                t.lines.push(format!(
                    "chain {idx}: {} kill(s) {:?}, converged after {runs} run(s)",
                    kills_here.len(),
                    kills_here
                ));
                return;
            }
        }
    }
}

#[test]
fn sigkill_at_random_points_then_rerun_converges() {
    let _turn = crate::common::turn(module_path!());
    let started = Instant::now();
    let seed: u64 = std::env::var("LABWARP_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
        | 1;
    eprintln!("SIGKILL: seed {seed} (LABWARP_FAULT_SEED={seed} replays it)");
    let r = reference();
    let mut rng = Rng(seed);
    let stages: Vec<&String> = r.points.keys().collect();
    // Per chain: two points in every stage and four more anywhere, in the reference's order
    // (a chain's fixed cost, a fresh lab and its undercloud install, is the expensive part).
    let plan_chain = |rng: &mut Rng| {
        let mut t: Vec<(String, Sig)> = Vec::new();
        for s in stages.iter().chain(stages.iter()) {
            let p = &r.points[*s];
            t.push(((*s).clone(), p[rng.below(p.len())].clone()));
        }
        for _ in 0..4 {
            let s = stages[rng.below(stages.len())];
            let p = &r.points[s];
            t.push((s.clone(), p[rng.below(p.len())].clone()));
        }
        t.sort_by_key(|(_, sig)| r.order.iter().position(|o| o == sig));
        t.dedup();
        let delays: Vec<u64> = (0..t.len()).map(|_| rng.below(41) as u64).collect();
        (t, delays)
    };
    let tally = Mutex::new(Tally::default());
    let mut next = 0;
    while tally.lock().unwrap().kills < 50 {
        assert!(next < 30, "fewer than 50 kills landed in 30 chains");
        // Two chains at a time: each spends most of its time waiting on podman.
        let batch: Vec<_> = (0..2).map(|_| plan_chain(&mut rng)).collect();
        std::thread::scope(|sc| {
            for (i, (t, d)) in batch.into_iter().enumerate() {
                let (r, tally) = (&r, &tally);
                sc.spawn(move || chain(next + i, t, d, r, tally));
            }
        });
        next += 2;
    }
    let t = tally.into_inner().unwrap();
    for l in &t.lines {
        eprintln!("  {l}");
    }
    for s in &stages {
        assert!(
            t.by_stage.get(*s).copied().unwrap_or(0) > 0,
            "no kill landed in stage {s}: {:?}",
            t.by_stage
        );
    }
    eprintln!(
        "SIGKILL: {} points in {} chains (by stage {:?}), {} reruns, {} of {} chains converged to the reference end state, state.yaml valid after every kill; {:.0?}",
        t.kills,
        next,
        t.by_stage,
        t.reruns,
        t.converged,
        next,
        started.elapsed()
    );
}
