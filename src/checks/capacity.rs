//! Capacity: free memory, CPUs and disk at the pool path against the plan's totals (every VM
//! of the lab), with an overcommit ratio for memory (infrared's `free × 1.2` rule made explicit).

use super::virtualization::CpuInfo;
use super::{Area, CheckContext, CmdRun, FileRead, Finding, HostView, Severity};
use crate::lab::Lab;
use std::path::{Path, PathBuf};

const AREA: Area = Area::Capacity;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

#[derive(Debug, Clone, Default)]
pub struct CapacityFacts {
    pub meminfo: FileRead,
    pub cpuinfo: FileRead,
    /// The existing directory `df` was run on (the pool path or its nearest existing parent).
    pub df_path: Option<PathBuf>,
    pub df: CmdRun,
}

/// What the lab needs in total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    pub memory_mib: u64,
    pub vcpus: u32,
    pub largest_vcpus: u32,
    pub disk_gib: u64,
    pub vms: u32,
}

/// Sums every VM of the lab: the undercloud and each overcloud node.
pub fn totals(lab: &Lab) -> Totals {
    let mut t = Totals::default();
    let uc = &lab.undercloud.vm;
    let mut add = |vcpus: u32, mem: u64, disk: u64, n: u32| {
        t.memory_mib += mem * n as u64;
        t.vcpus += vcpus * n;
        t.disk_gib += disk * n as u64;
        t.vms += n;
        if n > 0 {
            t.largest_vcpus = t.largest_vcpus.max(vcpus);
        }
    };
    add(
        uc.vcpus,
        uc.memory_mib,
        uc.disks.iter().map(|d| d.size_gib as u64).sum(),
        1,
    );
    for g in &lab.overcloud.nodes {
        add(
            g.vcpus,
            g.memory_mib,
            g.disks.iter().map(|d| d.size_gib as u64).sum(),
            g.count,
        );
    }
    t
}

/// A value in kB from /proc/meminfo.
pub fn meminfo_kb(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Available bytes from `df -P -B1 PATH` output.
pub fn df_available(out: &str) -> Option<u64> {
    let line = out.lines().nth(1)?;
    line.split_whitespace().nth(3)?.parse().ok()
}

pub async fn gather(view: &HostView<'_>, ctx: &CheckContext) -> CapacityFacts {
    let mut df_path = None;
    let pool: &Path = &ctx.hypervisor.pool_path;
    for p in pool.ancestors() {
        if view.exists(p).await {
            df_path = Some(p.to_path_buf());
            break;
        }
    }
    let df = match &df_path {
        Some(p) => {
            let rooted = view.path(p).to_string_lossy().into_owned();
            view.fs_cmd(&["df".into(), "-P".into(), "-B1".into(), rooted])
                .await
        }
        None => CmdRun::NotProbed("no existing directory on the pool path".into()),
    };
    CapacityFacts {
        meminfo: view.read("/proc/meminfo").await,
        cpuinfo: view.read("/proc/cpuinfo").await,
        df_path,
        df,
    }
}

/// What the host has, as the review shows it: (CPUs, MiB available, GiB free at the pool),
/// from the same facts the capacity findings judge; `None` while any is unknown.
pub fn available(facts: &CapacityFacts) -> Option<(u64, u64, u64)> {
    let cpus = CpuInfo::parse(facts.cpuinfo.content()?).processors as u64;
    let avail_kb = meminfo_kb(facts.meminfo.content()?, "MemAvailable")?;
    let free = df_available(facts.df.ok_stdout()?)?;
    Some((cpus, avail_kb / 1024, free / (1 << 30)))
}

/// [`gather`] then [`available`]: the hypervisor's capacity through its `HostView`.
pub async fn host_capacity(view: &HostView<'_>, ctx: &CheckContext) -> Option<(u64, u64, u64)> {
    available(&gather(view, ctx).await)
}

fn gib(bytes: f64) -> String {
    format!("{:.1} GiB", bytes / GIB)
}

pub fn evaluate(facts: &CapacityFacts, ctx: &CheckContext) -> Vec<Finding> {
    let mut out = Vec::new();
    let need = ctx.lab.as_ref().map(totals);
    let ratio = ctx.options.overcommit;

    // Memory.
    let mem = facts.meminfo.content();
    let avail_kb = mem.and_then(|m| meminfo_kb(m, "MemAvailable"));
    let total_kb = mem.and_then(|m| meminfo_kb(m, "MemTotal"));
    let mem_ev = mem
        .map(|m| {
            m.lines()
                .filter(|l| l.starts_with("MemTotal:") || l.starts_with("MemAvailable:"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .map(|l| format!("/proc/meminfo:\n{l}"))
        .unwrap_or_else(|| "/proc/meminfo: unreadable".into());
    out.push(match (avail_kb, need) {
        (None, _) => Finding::new(
            "capacity.memory",
            AREA,
            Severity::Warn,
            "Cannot read MemAvailable",
            mem_ev,
        ),
        (Some(avail), None) => Finding::new(
            "capacity.memory",
            AREA,
            if total_kb.unwrap_or(0) < 16 * 1024 * 1024 { Severity::Warn } else { Severity::Info },
            format!(
                "{} available of {} (quickstart wants at least 16 GiB for a minimal lab)",
                gib(avail as f64 * 1024.0),
                gib(total_kb.unwrap_or(0) as f64 * 1024.0)
            ),
            mem_ev,
        ),
        (Some(avail), Some(t)) => {
            let allowed = avail as f64 * 1024.0 * ratio;
            let needed = t.memory_mib as f64 * 1024.0 * 1024.0;
            let detail = format!(
                "the lab's {} VMs need {} RAM; {} available × overcommit {ratio} = {}",
                t.vms,
                gib(needed),
                gib(avail as f64 * 1024.0),
                gib(allowed)
            );
            if needed > allowed {
                Finding::new(
                    "capacity.memory",
                    AREA,
                    Severity::Fail,
                    format!("Not enough memory: {detail}"),
                    mem_ev,
                )
                .with_fix(super::Fix::manual(
                    "Shrink the VMs (memory_mib) or the node counts in lab.yaml, free memory on the host, or allow overcommit with --overcommit RATIO",
                ))
            } else {
                Finding::new(
                    "capacity.memory",
                    AREA,
                    if needed > allowed * 0.9 { Severity::Warn } else { Severity::Ok },
                    format!("Memory fits: {detail}"),
                    mem_ev,
                )
            }
        }
    });

    // CPUs.
    let cpus = facts
        .cpuinfo
        .content()
        .map(|c| CpuInfo::parse(c).processors)
        .unwrap_or(0);
    let cpu_ev = format!("/proc/cpuinfo: {cpus} processor entries");
    out.push(match need {
        _ if cpus == 0 => Finding::new(
            "capacity.cpus",
            AREA,
            Severity::Warn,
            "Cannot count CPUs",
            cpu_ev,
        ),
        None => Finding::new(
            "capacity.cpus",
            AREA,
            Severity::Info,
            format!("{cpus} CPUs"),
            cpu_ev,
        ),
        Some(t) if t.largest_vcpus as usize > cpus => Finding::new(
            "capacity.cpus",
            AREA,
            Severity::Warn,
            format!(
                "A VM has {} vCPUs but the host has {cpus} CPUs: it will run slowly",
                t.largest_vcpus
            ),
            cpu_ev,
        ),
        Some(t) => Finding::new(
            "capacity.cpus",
            AREA,
            Severity::Ok,
            format!(
                "{} vCPUs in total on {cpus} CPUs ({:.1}× overcommit)",
                t.vcpus,
                t.vcpus as f64 / cpus as f64
            ),
            cpu_ev,
        ),
    });

    // Disk at the pool path.
    let pool = ctx.hypervisor.pool_path.display().to_string();
    let free = facts.df.ok_stdout().and_then(df_available);
    let df_ev = format!(
        "{}{}",
        match &facts.df_path {
            Some(p) if p != &ctx.hypervisor.pool_path =>
                format!("{pool} does not exist yet; measured at {}\n", p.display()),
            _ => String::new(),
        },
        facts.df.evidence()
    );
    out.push(match (free, need) {
        (None, _) => Finding::new(
            "capacity.disk",
            AREA,
            Severity::Warn,
            format!("Cannot measure free disk at {pool}"),
            df_ev,
        ),
        (Some(f), None) => Finding::new(
            "capacity.disk",
            AREA,
            Severity::Info,
            format!("{} free at {pool}", gib(f as f64)),
            df_ev,
        ),
        (Some(f), Some(t)) => {
            let needed = t.disk_gib as f64 * GIB;
            let detail = format!(
                "the lab's disks can grow to {} (qcow2, allocated as written); {} free at {pool}",
                gib(needed),
                gib(f as f64)
            );
            Finding::new(
                "capacity.disk",
                AREA,
                if needed > f as f64 {
                    Severity::Warn
                } else {
                    Severity::Ok
                },
                detail,
                df_ev,
            )
        }
    });
    out
}
