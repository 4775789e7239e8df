//! Figure 9: the time `labwarp plan` takes to compute the drift of a 50-domain lab, side by
//! side with a `virsh dumpxml` loop over the same domains.

use crate::common::Stats;
use crate::figures::{Check, Figure, Row};
use labwarp::host::{Host, LocalHost};
use labwarp::plan::{Ctx, Facts, Resource, Step};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

const NODES: usize = 50;

fn lab_yaml(name: &str, vcpus: u32) -> String {
    format!(
        "preset: demo\nname: {name}\nhypervisors:\n  - name: virthost\n    address: local\n    ssh_user: root\n    stack_user: {name}s\n    libvirt_uri: qemu:///system\n    distro: debian\n    domain_type: qemu\nnetworks:\n  - name: external\n    bridge: {name}e\n    mode: nat\n    cidr: 192.168.251.0/24\n    gateway: 192.168.251.1\n    dhcp: {{start: 192.168.251.10, end: 192.168.251.50}}\n  - name: overcloud\n    bridge: {name}o\n    mode: isolated\novercloud:\n  vbmc: {{base_port: 26000, address: 127.0.0.1, password: bench-only-password}}\n  nodes:\n    - {{role: controller, count: 1, vcpus: {vcpus}, memory_mib: 256, disks: [{{size_gib: 1}}], networks: [overcloud]}}\n    - {{role: compute, count: {rest}, vcpus: {vcpus}, memory_mib: 256, disks: [{{size_gib: 1}}], networks: [overcloud]}}\nundercloud:\n  conf:\n    subnet: {{dhcp_start: 192.168.24.5, dhcp_end: 192.168.24.90, inspection_start: 192.168.24.100, inspection_end: 192.168.24.190}}\noverrides: [bmc-address, undercloud-memory, node-memory]\n",
        rest = NODES - 1
    )
}

/// The plan's steps that own a node's domain, with their stage (what `labwarp plan` checks
/// for them, in plan order).
fn domain_steps(plan: &labwarp::plan::Plan) -> Vec<(String, &dyn Step)> {
    plan.iter()
        .flat_map(|st| {
            st.steps
                .iter()
                .map(move |p| (st.id.clone(), p.step.as_ref()))
        })
        .filter(|(_, s)| {
            s.resources()
                .iter()
                .any(|r| matches!(r, Resource::Domain { name } if !name.ends_with("-undercloud")))
        })
        .collect()
}

/// Undefines the bench's domains whatever happens (virsh: Drop cannot await).
struct Domains(Vec<String>);
impl Drop for Domains {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = Command::new("virsh")
                .args(["-c", "qemu:///system", "undefine", "--nvram", d])
                .output();
        }
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub async fn drift() -> Figure {
    let mut fig = Figure {
        id: 9,
        title: format!("Drift of a {NODES}-domain lab in `labwarp plan`"),
        method: format!(
            "A lab of {NODES} overcloud nodes (1 controller, {} computes) on the real libvirtd \
             (qemu:///system, in netns labwarp-ci): its domains are defined (inactive) by the \
             plan's own Domain steps with 1 vCPU, then lab.yaml asks for 2. labwarp's side is \
             what `labwarp plan` runs for those steps (src/run/survey.rs): every Domain step's \
             `check`, one after the other on one open connection, each reading the domain's \
             state and its persistent definition and comparing vCPUs, memory and NICs \
             (src/plan/drift/); every check must report exactly the vCPU drift. The \
             alternative is a `virsh dumpxml --inactive NAME` loop over the same {NODES} \
             domains (only fetching the XML, no comparison: generous to virsh). The two \
             alternate, one of each per round. Other helpers' domains present at the time \
             are left alone.",
            NODES - 1
        ),
        ..Figure::default()
    };
    let rounds = std::env::var("LABWARP_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10usize);
    let lv = match labwarp::virt::Libvirt::connect("qemu:///system").await {
        Ok(lv) => lv,
        Err(e) => {
            fig.notes.push(format!(
                "SKIPPED: the real libvirtd is not reachable: {e} (run scripts/setup-host.sh)"
            ));
            return fig;
        }
    };
    let name = format!("lwdb{}", std::process::id() % 100_000);
    let tmp = tempfile::tempdir().expect("temp dir");
    let ws = tmp.path();
    let load =
        |vcpus| labwarp::lab::load_str(&lab_yaml(&name, vcpus), "bench lab").expect("bench lab");
    let (built, wanted) = (load(1), load(2));
    let facts = Facts::decide(&built, ws);
    let host: Arc<dyn Host> = Arc::new(LocalHost::named("virthost"));
    let (events, _rx) = tokio::sync::mpsc::unbounded_channel();
    let ctx = Ctx {
        lab: built.clone(),
        facts: facts.clone(),
        workspace: ws.to_path_buf(),
        virthost: host.clone(),
        undercloud: host,
        libvirt: lv,
        events,
        store: Arc::new(
            labwarp::run::state::StateStore::open(ws.join("state.yaml")).expect("state"),
        ),
        allow_restart: Default::default(),
    };
    let plan_built = labwarp::plan::stages::build(&built, &facts, ws).expect("plan");
    let plan_wanted = labwarp::plan::stages::build(&wanted, &facts, ws).expect("plan");
    let mut guard = Domains(Vec::new());
    for (stage, step) in domain_steps(&plan_built) {
        for r in step.resources() {
            if let Resource::Domain { name } = r {
                guard.0.push(name);
            }
        }
        step.apply(&ctx.step(&stage, step.id()))
            .await
            .expect("define a bench domain");
    }
    let steps = domain_steps(&plan_wanted);
    assert_eq!(steps.len(), NODES, "one Domain step per node");
    let names = guard.0.clone();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        for (stage, step) in &steps {
            let c = step
                .check(&ctx.step(stage, step.id()))
                .await
                .expect("check");
            assert!(
                c.drift.len() == 1 && c.drift[0].field == "vcpus",
                "every domain shows its vCPU drift: {c:?}"
            );
        }
        ours.push(ms(t.elapsed()));
        let t = Instant::now();
        for n in &names {
            let o = Command::new("virsh")
                .args(["-c", "qemu:///system", "dumpxml", "--inactive", n])
                .output()
                .expect("virsh");
            assert!(
                o.status.success() && !o.stdout.is_empty(),
                "virsh dumpxml {n}"
            );
        }
        theirs.push(ms(t.elapsed()));
    }
    drop(guard);
    let mut row = |what: String, s: Stats| {
        fig.rows.push(Row {
            what,
            unit: "ms".into(),
            stats: s,
        });
        s
    };
    let a = row(
        format!("labwarp plan: drift of {NODES} domains (every Domain step's check)"),
        Stats::of(&ours),
    );
    let b = row(
        format!("`virsh dumpxml --inactive` loop over the {NODES} domains"),
        Stats::of(&theirs),
    );
    fig.checks.push(Check {
        target: "≤ 1 s for 50 domains".into(),
        measured: format!("{:.0} ms", a.median),
        met: a.median <= 1000.0,
    });
    fig.checks.push(Check {
        target: "≥ 5× faster than a `virsh dumpxml` loop".into(),
        measured: format!("{:.1}×", b.median / a.median),
        met: b.median / a.median >= 5.0,
    });
    fig
}
