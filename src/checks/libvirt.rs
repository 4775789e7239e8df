//! libvirt: the daemon answers at the lab's URI, its version, TCG availability, the default
//! network and pool, and the session-versus-system confusion (quickstart issue #43: "virsh
//! list --all doesn't see any VM" because the VMs live under the other URI).

use super::virtualization::domain_types;
use super::{Area, CheckContext, CmdRun, Finding, Fix, HostView, Severity};

const AREA: Area = Area::Libvirt;

#[derive(Debug, Clone, Default)]
pub struct LibvirtFacts {
    pub uri: String,
    pub uri_cmd: CmdRun,
    pub version: CmdRun,
    pub capabilities: CmdRun,
    pub networks: CmdRun,
    pub pools: CmdRun,
    pub domains: CmdRun,
    /// The other URI (`qemu:///session` for `qemu:///system` and back), if there is one.
    pub other_uri: Option<String>,
    /// `list --all --name` under the other URI (its daemon is never auto-started).
    pub other_domains: CmdRun,
}

/// `qemu:///system` ↔ `qemu:///session` (also for `qemu+ssh://…/system`).
pub fn other_uri(uri: &str) -> Option<String> {
    let (base, query) = match uri.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (uri, None),
    };
    let swapped = if let Some(b) = base.strip_suffix("/system") {
        format!("{b}/session")
    } else if let Some(b) = base.strip_suffix("/session") {
        format!("{b}/system")
    } else {
        return None;
    };
    // A session socket path in the query means nothing to the system daemon; drop it.
    Some(match query {
        Some(q) if !q.contains("socket=") => format!("{swapped}?{q}"),
        _ => swapped,
    })
}

pub async fn gather(view: &HostView<'_>, ctx: &CheckContext) -> LibvirtFacts {
    let uri = ctx.hypervisor.libvirt_uri.clone();
    let virsh = |args: &[&str]| {
        let mut v = vec!["virsh", "-c", uri.as_str()];
        v.extend_from_slice(args);
        v.iter().map(|s| s.to_string()).collect::<Vec<String>>()
    };
    async fn run(view: &HostView<'_>, argv: Vec<String>) -> CmdRun {
        let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
        view.sys_cmd(&refs).await
    }
    let uri_cmd = run(view, virsh(&["uri"])).await;
    let reachable = uri_cmd.ok_stdout().is_some();
    let (version, capabilities, networks, pools, domains) = if reachable {
        (
            run(view, virsh(&["version"])).await,
            run(view, virsh(&["capabilities"])).await,
            run(view, virsh(&["net-list", "--all", "--name"])).await,
            run(view, virsh(&["pool-list", "--all", "--name"])).await,
            run(view, virsh(&["list", "--all", "--name"])).await,
        )
    } else {
        let skipped = || CmdRun::NotProbed(format!("libvirt not reachable at {uri}"));
        (skipped(), skipped(), skipped(), skipped(), skipped())
    };
    let other = if ctx.lab.is_some() {
        other_uri(&uri)
    } else {
        None
    };
    let other_domains = match &other {
        // LIBVIRT_AUTOSTART=0: asking must not start a session daemon as a side effect.
        Some(o) => {
            view.sys_cmd(&[
                "env",
                "LIBVIRT_AUTOSTART=0",
                "virsh",
                "-c",
                o,
                "list",
                "--all",
                "--name",
            ])
            .await
        }
        None => CmdRun::NotProbed("no other URI to compare".into()),
    };
    LibvirtFacts {
        uri,
        uri_cmd,
        version,
        capabilities,
        networks,
        pools,
        domains,
        other_uri: other,
        other_domains,
    }
}

fn names(run: &CmdRun) -> Option<Vec<String>> {
    run.ok_stdout().map(|s| {
        s.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    })
}

pub fn evaluate(facts: &LibvirtFacts, ctx: &CheckContext) -> Vec<Finding> {
    let mut out = Vec::new();
    let uri = &facts.uri;
    if let CmdRun::NotProbed(why) = &facts.uri_cmd {
        out.push(Finding::new(
            "libvirt.reachable",
            AREA,
            Severity::Info,
            format!("libvirt at {uri} not probed"),
            format!("not probed: {why}"),
        ));
        return out;
    }
    if facts.uri_cmd.ok_stdout().is_none() {
        out.push(
            Finding::new(
                "libvirt.reachable",
                AREA,
                Severity::Fail,
                format!("libvirt does not answer at {uri}"),
                facts.uri_cmd.evidence(),
            )
            .with_fix(Fix::manual(
                "Start the daemon (`systemctl start libvirtd`, or without systemd `/usr/sbin/virtlogd -d && /usr/sbin/libvirtd -d`) and check that this user may use the URI (libvirt group or polkit)",
            )),
        );
        return out;
    }
    out.push(Finding::new(
        "libvirt.reachable",
        AREA,
        Severity::Ok,
        format!("libvirt answers at {uri}"),
        facts.uri_cmd.evidence(),
    ));
    let version = facts.version.ok_stdout().unwrap_or("");
    let hv_line = version
        .lines()
        .find(|l| l.starts_with("Running hypervisor:"));
    out.push(Finding::new(
        "libvirt.version",
        AREA,
        if hv_line.is_some() {
            Severity::Info
        } else {
            Severity::Warn
        },
        match hv_line {
            Some(l) => format!(
                "{} — {}",
                version
                    .lines()
                    .find_map(|l| l.strip_prefix("Using library: "))
                    .unwrap_or("?"),
                l.trim()
            ),
            None => "libvirt reports no running hypervisor (the QEMU driver is not loaded)".into(),
        },
        facts.version.evidence(),
    ));
    // TCG matters only for the QEMU driver (the test driver has its own domain type).
    if let Some(xml) = facts
        .capabilities
        .ok_stdout()
        .filter(|_| uri.starts_with("qemu"))
    {
        let types = domain_types(xml);
        out.push(if types.iter().any(|t| t == "qemu") {
            Finding::new(
                "libvirt.tcg",
                AREA,
                Severity::Ok,
                "TCG (domain type qemu) is available",
                format!("domain types: {}", types.join(", ")),
            )
        } else {
            Finding::new(
                "libvirt.tcg",
                AREA,
                Severity::Fail,
                "libvirt offers no domain type qemu: qemu-system is missing",
                format!("domain types: {}", types.join(", ")),
            )
            .with_fix(Fix::manual(
                "Install the emulator (Debian: apt-get install qemu-system-x86; RHEL: dnf install qemu-kvm) and restart libvirtd",
            ))
        });
    }
    for (id, what, run) in [
        ("libvirt.default-network", "network", &facts.networks),
        ("libvirt.default-pool", "storage pool", &facts.pools),
    ] {
        if let Some(list) = names(run) {
            let present = list.iter().any(|n| n == "default");
            out.push(Finding::new(
                id,
                AREA,
                Severity::Info,
                if present {
                    format!("The default {what} exists")
                } else {
                    format!("No default {what} (labwarp creates its own; tools expecting `default` will not find it)")
                },
                run.evidence(),
            ));
        }
    }
    let Some(lab) = &ctx.lab else {
        return out;
    };
    let prefix = format!("{}-", lab.name);
    let ours = |run: &CmdRun| -> Option<Vec<String>> {
        names(run).map(|l| l.into_iter().filter(|n| n.starts_with(&prefix)).collect())
    };
    if let Some(here) = ours(&facts.domains) {
        out.push(Finding::new(
            "libvirt.lab-domains",
            AREA,
            Severity::Info,
            if here.is_empty() {
                format!("No domain of lab {} exists yet under {uri}", lab.name)
            } else {
                format!(
                    "Domains of lab {} under {uri}: {}",
                    lab.name,
                    here.join(", ")
                )
            },
            facts.domains.evidence(),
        ));
    }
    if let Some(other) = &facts.other_uri {
        match ours(&facts.other_domains) {
            Some(there) if !there.is_empty() => out.push(
                Finding::new(
                    "libvirt.other-uri",
                    AREA,
                    Severity::Warn,
                    format!(
                        "Domains of lab {} live under {other}, not under the lab's {uri}: {}",
                        lab.name,
                        there.join(", ")
                    ),
                    facts.other_domains.evidence(),
                )
                .with_fix(Fix::manual(format!(
                    "Either set hypervisors[0].libvirt_uri: {other} in lab.yaml, or remove them there (`labwarp clean` with that URI) before building under {uri}"
                ))),
            ),
            Some(_) => out.push(Finding::new(
                "libvirt.other-uri",
                AREA,
                Severity::Ok,
                format!("No domain of lab {} under {other}", lab.name),
                facts.other_domains.evidence(),
            )),
            None => out.push(Finding::new(
                "libvirt.other-uri",
                AREA,
                Severity::Info,
                format!("{other} does not answer (no daemon running there), so its domains cannot be listed"),
                facts.other_domains.evidence(),
            )),
        }
    }
    out
}
