//! Figure: a clean overcloud back by respin versus by rebuilding the lab, on the lab in a
//! box (tests/lab_box: this machine over SSH inside netns labwarp-ci, the tiny guest as the
//! undercloud under TCG, three node VMs with VirtualBMC, TripleO's stand-in).
//!
//! Each round, on the same built lab: `labwarp run --respin overcloud --yes` (the
//! `undercloud-installed` snapshot restored, the overcloud deployed again), with the
//! restore's own share timed from the moment the run says the lab is back at the snapshot;
//! then `labwarp run --fresh nodes --yes` (every VM, disk, BMC entry and snapshot removed,
//! then the lab built again: undercloud boot and install, the snapshot, the nodes, the
//! deploy). Both end with every stage finished. `LABWARP_BENCH_LOG_DIR=DIR` keeps each
//! run's whole output there, each line after the seconds since the run started.

use crate::common::Stats;
use crate::figures::Figure;
use crate::lab_box::LabBox;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// One `labwarp …` run: its wall time, when a line containing `mark` appeared, and each
/// stage's own time as the run printed it (`[stage] done (1.2 s)`).
fn timed(
    b: &LabBox,
    args: &[&str],
    mark: Option<&str>,
) -> (Duration, Option<Duration>, Vec<String>) {
    let start = Instant::now();
    let mut child = b
        .lab
        .cmd(args, None)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn labwarp");
    let mut at = None;
    let mut tail = Vec::new();
    let mut stages = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        if at.is_none() && mark.is_some_and(|m| line.contains(m)) {
            at = Some(start.elapsed());
        }
        if line.starts_with('[') && line.ends_with(" s)") && !line.contains(": ") {
            stages.push(line.clone());
        }
        tail.push(format!("{:>7.2} {line}", start.elapsed().as_secs_f64()));
    }
    let st = child.wait().expect("wait for labwarp");
    // Each run's whole output, for where the time went step by step.
    if let Some(dir) = std::env::var_os("LABWARP_BENCH_LOG_DIR") {
        let name = format!("{}-{}.log", args.join("_"), start.elapsed().as_millis());
        let _ = std::fs::write(std::path::Path::new(&dir).join(name), tail.join("\n"));
    }
    let last = &tail[tail.len().saturating_sub(40)..];
    assert!(st.success(), "labwarp {args:?} failed: {}", last.join("\n"));
    (start.elapsed(), at, stages)
}

/// The box's VirtualBMC ports (UDP BMCs and vbmcd's control port, in the shared netns) moved
/// off 6230, which every lab in a box uses: other lab boxes may run at the same time.
fn own_vbmc_ports(b: &LabBox) {
    let file = b.file();
    let yaml = std::fs::read_to_string(&file).expect("the box's lab.yaml");
    let port = crate::engine_support::vbmc_base_port(b.octet);
    let moved = yaml.replace("base_port: 6230,", &format!("base_port: {port},"));
    assert_ne!(moved, yaml, "the box's lab.yaml has no `base_port: 6230,`");
    std::fs::write(&file, moved).expect("write the box's lab.yaml");
}

pub fn respin() -> Figure {
    let mut fig = Figure::new(
        8,
        "A clean overcloud back: respin versus rebuilding the lab",
        "The lab in a box (tests/lab_box): this machine as the hypervisor over SSH inside netns \
         labwarp-ci, the tiny guest (256 MiB, 1 vCPU, TCG) as the undercloud, three node VMs \
         with VirtualBMC, TripleO's stand-in `openstack` (STANDIN_DELAY=0: the stand-in's \
         install takes seconds where TripleO's takes 30–60 minutes, so the rebuild here is \
         far cheaper than a real one and the ratio is a floor). Each round: `labwarp run \
         --respin overcloud --yes` (the undercloud-installed snapshot restored, the overcloud \
         deployed again; the restore's share timed to the line saying the lab is back at the \
         snapshot), then `labwarp run --fresh nodes --yes` (every VM, disk, BMC entry and \
         snapshot removed, the lab built again). Both end with every stage finished.",
    );
    if let Err(e) = crate::tiny_guest_support::virsh(&["uri"]) {
        fig.notes
            .push(format!("SKIPPED: libvirtd unreachable: {e}"));
        return fig;
    }
    let b = LabBox::new();
    own_vbmc_ports(&b);
    let fp = b.sshd.host_fingerprint();
    let (first, _, _) = timed(&b, &["run", "--yes", "--trust-host-key", &fp], None);
    fig.notes.push(format!(
        "first build (no snapshot yet, for reference): {:.1} s",
        first.as_secs_f64()
    ));
    let n = crate::figures::rounds(3);
    let (mut respins, mut restores, mut rebuilds) = (vec![], vec![], vec![]);
    let (mut respin_stages, mut rebuild_stages) = (vec![], vec![]);
    for _ in 0..n {
        let (t, back, st) = timed(
            &b,
            &["run", "--yes", "--respin", "overcloud"],
            Some("respin: lab back at snapshot"),
        );
        respins.push(t);
        respin_stages = st;
        restores.push(back.expect("the respin never said the lab was back at the snapshot"));
        let (t, _, st) = timed(&b, &["run", "--yes", "--fresh", "nodes"], None);
        rebuilds.push(t);
        rebuild_stages = st;
    }
    fig.notes.push(format!(
        "where the last respin's time went, after the restore: {}",
        respin_stages.join(", ")
    ));
    fig.notes.push(format!(
        "where the last rebuild's time went, after the teardown: {}",
        rebuild_stages.join(", ")
    ));
    let respin = fig.row(
        "labwarp run --respin overcloud (restore + redeploy)",
        "s",
        Stats::of(&respins.iter().map(|d| d.as_secs_f64()).collect::<Vec<_>>()),
    );
    let restore = fig.row(
        "of which the snapshot restore (VMs stopped, disks and memory back)",
        "s",
        Stats::of(&restores.iter().map(|d| d.as_secs_f64()).collect::<Vec<_>>()),
    );
    let rebuild = fig.row(
        "labwarp run --fresh nodes (rebuild the lab)",
        "s",
        Stats::of(&rebuilds.iter().map(|d| d.as_secs_f64()).collect::<Vec<_>>()),
    );
    let faster = rebuild.median / respin.median;
    fig.check(
        "respin ≥ 10× faster than rebuilding the lab",
        format!("{faster:.1}×"),
        faster >= 10.0,
    );
    let over = respin.median / restore.median;
    fig.check(
        "respin within 2× of the snapshot restore itself",
        format!("{over:.2}×"),
        over <= 2.0,
    );
    fig
}
