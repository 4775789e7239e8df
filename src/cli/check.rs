//! `labwarp check`: run the preflight checks against the lab's hypervisor (or this machine with
//! `--local`), print the findings grouped by area with their evidence and fixes, and apply the
//! fixes when asked. Exit 0 when nothing fails, 1 otherwise.

use crate::checks::{self, CheckContext, CheckOptions, Fix, HostView, QemuMode, Report, Severity};
use crate::host::{Host, LocalHost, SshHost, SshOptions};
use crate::lab::Lab;
use clap::Args;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Check against a built-in preset (e.g. minimal).
    #[arg(long, conflicts_with_all = ["config", "local"])]
    pub preset: Option<String>,
    /// Check against a lab file (default: ./lab.yaml).
    #[arg(long, conflicts_with = "local")]
    pub config: Option<PathBuf>,
    /// This machine as the hypervisor, no lab file: host-level checks only.
    #[arg(long)]
    pub local: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Apply the available fixes (each confirmed unless --yes).
    #[arg(long)]
    pub fix: bool,
    /// Apply fixes without asking.
    #[arg(long, requires = "fix")]
    pub yes: bool,
    /// Boot a probe guest with type='kvm' for a definite KVM answer (up to 90 s).
    #[arg(long)]
    pub deep: bool,
    /// Directory with the probe guest's vmlinuz and initrd.img (scripts/build-tiny-guest.sh DIR)
    /// [default: $LABWARP_TINY_GUEST_CACHE or /var/cache/labwarp-test/tiny-guest].
    #[arg(long, value_name = "DIR")]
    pub probe_guest: Option<PathBuf>,
    /// Allowed memory overcommit: the lab may use MemAvailable × RATIO.
    #[arg(long, value_name = "RATIO", default_value_t = 1.0)]
    pub overcommit: f64,
    /// What qemu.conf should say: root (qemu as root, no security driver) or distro defaults.
    #[arg(long, value_enum, default_value_t = QemuMode::Root)]
    pub qemu_mode: QemuMode,
    /// The lab wants nested KVM off instead of on.
    #[arg(long)]
    pub no_nested: bool,
    /// Reach the hypervisor over SSH even when its address is `local` (this machine).
    #[arg(long)]
    pub ssh: bool,
    /// Accept and pin the hypervisor's SSH host key if its fingerprint is FINGERPRINT.
    #[arg(long, value_name = "FINGERPRINT", conflicts_with = "trust_first_use")]
    pub trust_host_key: Option<String>,
    /// Accept and pin whatever SSH host key the hypervisor offers on first contact.
    #[arg(long)]
    pub trust_first_use: bool,
    /// Read files from DIR instead of / (fixture trees in tests; system commands are skipped).
    #[arg(long, value_name = "DIR", hide = true)]
    pub root: Option<PathBuf>,
}

fn load_lab(args: &CheckArgs) -> Result<Option<Lab>, String> {
    if args.local {
        return Ok(None);
    }
    match (&args.preset, &args.config) {
        (Some(name), _) => crate::lab::load_preset(name)
            .map(Some)
            .map_err(|e| e.to_string()),
        (None, path) => {
            let path = path.clone().unwrap_or_else(|| PathBuf::from("lab.yaml"));
            if !path.exists() {
                return Err(format!(
                    "{}: not found (give --config FILE, --preset NAME, or --local to check this machine without a lab)",
                    path.display()
                ));
            }
            crate::lab::load_path(&path)
                .map(Some)
                .map_err(|e| e.to_string())
        }
    }
}

pub fn run(args: CheckArgs) -> ExitCode {
    if !(args.overcommit.is_finite() && args.overcommit > 0.0) {
        eprintln!(
            "--overcommit {}: must be a positive number such as 1.2",
            args.overcommit
        );
        return ExitCode::from(super::EXIT_INVALID);
    }
    let lab = match load_lab(&args) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("labwarp check: {e}");
            return ExitCode::from(super::EXIT_INVALID);
        }
    };
    let options = CheckOptions {
        overcommit: args.overcommit,
        qemu_mode: args.qemu_mode,
        want_nested: !args.no_nested,
        deep: args.deep,
        probe_guest: args
            .probe_guest
            .clone()
            .unwrap_or_else(checks::default_probe_guest_dir),
        ..CheckOptions::default()
    };
    let ctx = match lab {
        Some(lab) => CheckContext::for_lab(lab, options),
        None => CheckContext::local(options),
    };
    // The one locality rule (`local` is this machine; any address, 127.0.0.2 included, is
    // reached over SSH), as the plan, the TUI and `labwarp ssh` decide it.
    let remote = args.ssh || !ctx.hypervisor.is_local();
    if remote && args.root.is_some() {
        eprintln!("labwarp check: --root reads a local tree; it cannot be combined with SSH");
        return ExitCode::from(super::EXIT_INVALID);
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("labwarp check: cannot start the async runtime: {e}");
            return ExitCode::from(super::EXIT_INVALID);
        }
    };
    if !remote {
        let host = LocalHost::named(ctx.hypervisor.name.clone());
        return rt.block_on(check_and_fix(&args, &host, &ctx, true));
    }
    let trust =
        crate::host::lab::trust_policy(args.trust_host_key.as_deref(), args.trust_first_use);
    let workspace = ctx
        .lab
        .as_ref()
        .map(|l| l.workspace.clone())
        .unwrap_or_else(|| PathBuf::from("workspace"));
    let opts = match SshOptions::for_workspace(&workspace, trust) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("labwarp check: workspace {}: {e}", workspace.display());
            return ExitCode::from(super::EXIT_INVALID);
        }
    };
    let hv = &ctx.hypervisor;
    let host = SshHost::new(
        crate::host::lab::hypervisor_target(hv, &hv.name, &hv.ssh_user),
        opts,
    );
    rt.block_on(async {
        // Host key and authentication problems first, with their own message.
        if let Err(e) = host.connect().await {
            eprintln!("labwarp check: {e}");
            return ExitCode::from(super::EXIT_INVALID);
        }
        let code = check_and_fix(&args, &host, &ctx, false).await;
        host.disconnect().await;
        code
    })
}

async fn check_and_fix(
    args: &CheckArgs,
    host: &dyn Host,
    ctx: &CheckContext,
    local: bool,
) -> ExitCode {
    let view = match &args.root {
        Some(r) => HostView::rooted(host, r.clone(), local),
        None => HostView::system(host, local),
    };
    let mut report = checks::run(&view, ctx).await;
    let trust =
        crate::host::lab::trust_policy(args.trust_host_key.as_deref(), args.trust_first_use);
    // A built lab: its BMCs as ironic sees them, from the undercloud.
    let from_undercloud = match ctx.lab.as_ref().filter(|_| args.root.is_none()) {
        Some(lab) => super::check_bmc::findings(lab, trust).await,
        None => Vec::new(),
    };
    report.findings.extend(from_undercloud.iter().cloned());
    let mut applied_log = Vec::new();
    if args.fix {
        if !args.json {
            print_report(&report, ctx, !local);
        }
        let fixes = unique_fixes(&report);
        if fixes.is_empty() && !args.json {
            println!("\nNothing to fix automatically.");
        }
        let stdin_tty = std::io::stdin().is_terminal();
        for (ids, fix) in fixes {
            if !args.json {
                println!("\nFix for {}:", ids.join(", "));
                print_fix(fix, "  ");
            }
            if !args.yes {
                if !stdin_tty {
                    eprintln!(
                        "  skipped: stdin is not a terminal; pass --yes to apply without asking"
                    );
                    continue;
                }
                print!("  Apply? [y/N] ");
                let _ = std::io::stdout().flush();
                let mut answer = String::new();
                let _ = std::io::stdin().lock().read_line(&mut answer);
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    println!("  skipped");
                    continue;
                }
            }
            match checks::apply_fix(&view, fix).await {
                Ok(a) => {
                    for s in &a.steps {
                        if !args.json {
                            println!("  {s}");
                        }
                    }
                    applied_log.push(serde_json::json!({"findings": ids, "steps": a.steps, "changed": a.changed}));
                }
                Err(e) => {
                    eprintln!("  fix failed: {e}");
                    applied_log.push(serde_json::json!({"findings": ids, "error": e.to_string()}));
                }
            }
        }
        // What the host looks like now.
        report = checks::run(&view, ctx).await;
        report.findings.extend(from_undercloud);
        if !args.json {
            println!("\nAfter fixing:");
        }
    }
    if args.json {
        let v = serde_json::json!({
            "host": report.host,
            "libvirt_uri": ctx.hypervisor.libvirt_uri,
            "failed": report.failed(),
            "findings": report.findings,
            "applied": applied_log,
        });
        match serde_json::to_string_pretty(&v) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("labwarp check: cannot encode JSON: {e}"),
        }
    } else {
        print_report(&report, ctx, !local);
        let n = unique_fixes(&report).len();
        if n > 0 && !args.fix {
            println!("\n{n} fix(es) can be applied: labwarp check --fix");
        }
    }
    if report.failed() {
        ExitCode::from(super::EXIT_INVALID)
    } else {
        ExitCode::SUCCESS
    }
}

/// Automatic fixes, each once, with the findings that carry it.
fn unique_fixes(report: &Report) -> Vec<(Vec<String>, &Fix)> {
    let mut out: Vec<(Vec<String>, &Fix)> = Vec::new();
    for f in &report.findings {
        let Some(fix) = f.fix.as_ref().filter(|x| !x.is_manual()) else {
            continue;
        };
        match out.iter_mut().find(|(_, x)| *x == fix) {
            Some((ids, _)) => ids.push(f.id.clone()),
            None => out.push((vec![f.id.clone()], fix)),
        }
    }
    out
}

fn print_fix(fix: &Fix, indent: &str) {
    let (first, rest) = checks::fix_text::lines(fix);
    println!("{indent}{first}");
    for l in rest {
        println!("{indent}  {l}");
    }
}

fn print_report(report: &Report, ctx: &CheckContext, remote: bool) {
    println!(
        "labwarp check — hypervisor {} ({}), libvirt {}{}",
        ctx.hypervisor.name,
        if remote {
            format!(
                "{}@{}:{} over SSH",
                ctx.hypervisor.ssh_user, ctx.hypervisor.address, ctx.hypervisor.ssh_port
            )
        } else {
            "this machine".to_string()
        },
        ctx.hypervisor.libvirt_uri,
        match &ctx.lab {
            Some(l) => format!(", lab {}", l.name),
            None => ", no lab (host checks only)".into(),
        }
    );
    for (area, findings) in report.by_area() {
        println!("\n{}", area.title());
        for f in findings {
            let tag = match f.severity {
                Severity::Ok => "[ ok ]",
                Severity::Info => "[info]",
                Severity::Warn => "[warn]",
                Severity::Fail => "[FAIL]",
            };
            println!("  {tag} {}  ({})", f.title, f.id);
            if f.severity != Severity::Ok {
                for line in f.evidence.lines() {
                    println!("           | {}", checks::finding::clip(line, 160));
                }
                if let Some(fix) = &f.fix {
                    println!("           fix:");
                    print_fix(fix, "             ");
                }
            }
        }
    }
    let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    println!(
        "\n{} ok, {} info, {} warn, {} failed",
        count(Severity::Ok),
        count(Severity::Info),
        count(Severity::Warn),
        count(Severity::Fail)
    );
}
