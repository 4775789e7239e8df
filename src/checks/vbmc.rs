//! VirtualBMC answers: once the overcloud-nodes stage registered a node, its BMC must answer
//! IPMI `power status` on its port (the "silent VirtualBMC failure" users hit: the entry is
//! there, vbmcd or the BMC is not, and ironic times out much later). The probe is Debian's
//! `ipmitool` over lanplus, run on the hypervisor; the password reaches it on stdin and then
//! through `-E` (IPMI_PASSWORD), never on a command line.

use super::{Area, CheckContext, CmdRun, Finding, Fix, HostView, Severity};
use crate::engine::facts::Facts as PlanFacts;
use crate::engine::vbmc_layout::VbmcPaths;
use crate::host::Cmd;
use crate::lab::Lab;
use std::path::{Path, PathBuf};
use std::time::Duration;

const AREA: Area = Area::Network;

/// One node's registration and what `ipmitool power status` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeProbe {
    pub node: String,
    pub domain: String,
    pub port: u16,
    /// Its config file, or why none was looked for.
    pub config: PathBuf,
    pub registered: bool,
    pub ipmi: CmdRun,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VbmcFacts {
    /// Why nothing was probed (no lab, fixture root, no password known).
    pub skipped: Option<String>,
    pub log: PathBuf,
    pub nodes: Vec<NodeProbe>,
}

/// The workspace labwarp would use for this lab (relative to the current directory).
fn workspace(lab: &Lab) -> PathBuf {
    if lab.workspace.is_absolute() {
        lab.workspace.clone()
    } else {
        std::env::current_dir()
            .map(|d| d.join(&lab.workspace))
            .unwrap_or_else(|_| lab.workspace.clone())
    }
}

/// Where ipmitool should knock: the listen address, or loopback for a wildcard one.
fn probe_address(addr: &str) -> &str {
    match addr {
        "0.0.0.0" | "::" | "" => "127.0.0.1",
        a => a,
    }
}

/// `ipmitool … power status` with the password on stdin (exported as IPMI_PASSWORD for
/// `-E`): the script is constant, the values are its positional arguments.
pub fn ipmi_status_cmd(address: &str, port: u16, user: &str, password: &str) -> Cmd {
    ipmi_power_cmd(address, port, user, password, Power::Status)
}

/// An IPMI chassis power request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    Status,
    On,
    Off,
}

impl Power {
    pub fn word(self) -> &'static str {
        match self {
            Power::Status => "status",
            Power::On => "on",
            Power::Off => "off",
        }
    }
}

/// `ipmitool … power status|on|off`, the password on stdin as for [`ipmi_status_cmd`].
pub fn ipmi_power_cmd(address: &str, port: u16, user: &str, password: &str, power: Power) -> Cmd {
    Cmd::new([
        "sh".to_string(),
        "-c".into(),
        "IFS= read -r IPMI_PASSWORD; export IPMI_PASSWORD; exec ipmitool -I lanplus -H \"$1\" -p \"$2\" -U \"$3\" -E -R 2 -N 2 power \"$4\"".into(),
        "sh".into(),
        probe_address(address).to_string(),
        port.to_string(),
        user.to_string(),
        power.word().to_string(),
    ])
    .stdin(format!("{password}\n"))
    .timeout(Duration::from_secs(30))
}

pub async fn gather(view: &HostView<'_>, ctx: &CheckContext) -> VbmcFacts {
    let Some(lab) = &ctx.lab else {
        return VbmcFacts {
            skipped: Some("no lab file (--local)".into()),
            ..VbmcFacts::default()
        };
    };
    if !view.is_real() {
        return VbmcFacts {
            skipped: Some(format!(
                "fixture root {} (ipmitool runs only against /)",
                view.root().display()
            )),
            ..VbmcFacts::default()
        };
    }
    let ws = workspace(lab);
    let pfacts = PlanFacts::decide(lab, &ws);
    if pfacts.test_driver {
        return VbmcFacts {
            skipped: Some(format!(
                "{} is libvirt's in-memory test driver: labwarp registers no VirtualBMC",
                ctx.hypervisor.libvirt_uri
            )),
            ..VbmcFacts::default()
        };
    }
    let paths = VbmcPaths::new(lab, &pfacts);
    let password = match &lab.overcloud.vbmc.password {
        Some(p) => Some(p.clone()),
        None => crate::secrets::stored_vbmc_password(&ws).ok().flatten(),
    };
    let mut nodes = Vec::new();
    for n in lab.nodes() {
        let domain = lab.domain_name(&n.name);
        let config = paths.node_config(&domain);
        let registered = view.exists(&config).await;
        let ipmi = match (&password, registered) {
            (_, false) => CmdRun::NotProbed(format!("{} does not exist", config.display())),
            (None, true) => CmdRun::NotProbed(format!(
                "no password: lab.yaml sets none and {} is missing",
                crate::secrets::vbmc_password_path(&ws).display()
            )),
            (Some(pw), true) => {
                let v = &lab.overcloud.vbmc;
                let cmd = ipmi_status_cmd(&v.address, n.vbmc_port, &v.username, pw.expose());
                view.run(&cmd).await
            }
        };
        nodes.push(NodeProbe {
            node: n.name.clone(),
            domain,
            port: n.vbmc_port,
            config,
            registered,
            ipmi,
        });
    }
    VbmcFacts {
        skipped: None,
        log: paths.log_file(),
        nodes,
    }
}

pub fn evaluate(facts: &VbmcFacts, ctx: &CheckContext) -> Vec<Finding> {
    if ctx.lab.is_none() {
        return Vec::new();
    }
    if let Some(why) = &facts.skipped {
        return vec![Finding::new(
            "vbmc.answers",
            AREA,
            Severity::Info,
            "VirtualBMC not probed",
            why.clone(),
        )];
    }
    let registered: Vec<&NodeProbe> = facts.nodes.iter().filter(|n| n.registered).collect();
    if registered.is_empty() {
        return vec![Finding::new(
            "vbmc.answers",
            AREA,
            Severity::Info,
            "No node registered with VirtualBMC yet (the overcloud-nodes stage has not run)",
            facts
                .nodes
                .iter()
                .map(|n| format!("{}: {} missing", n.node, n.config.display()))
                .collect::<Vec<_>>()
                .join("\n"),
        )];
    }
    let mut out = Vec::new();
    for n in registered {
        let id = format!("vbmc.answers.{}", n.node);
        let answered = n
            .ipmi
            .ok_stdout()
            .filter(|s| s.contains("Chassis Power is"));
        out.push(match (answered, &n.ipmi) {
            (Some(s), _) => Finding::new(
                id,
                AREA,
                Severity::Ok,
                format!(
                    "VirtualBMC of {} answers on UDP {}: {}",
                    n.node,
                    n.port,
                    s.trim()
                ),
                n.ipmi.evidence(),
            ),
            (None, CmdRun::NotProbed(why)) => Finding::new(
                id,
                AREA,
                Severity::Warn,
                format!("VirtualBMC of {} registered but not probed", n.node),
                why.clone(),
            ),
            (None, _) => Finding::new(
                id,
                AREA,
                Severity::Fail,
                format!(
                    "VirtualBMC of {} is registered but does not answer IPMI on UDP {} (ironic would time out on it)",
                    n.node, n.port
                ),
                n.ipmi.evidence(),
            )
            .with_fix(Fix::manual(format!(
                "See {} on the hypervisor; `labwarp run` restarts vbmcd and the entry ({} is checked against the plan); check that overcloud.vbmc.address is assigned on the hypervisor and no firewall drops UDP {}",
                facts.log.display(),
                Path::new(&n.config).display(),
                n.port
            ))),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_on_stdin_only() {
        let c = ipmi_status_cmd("0.0.0.0", 6230, "admin", "hunter2");
        assert!(!c.to_shell().contains("hunter2"));
        assert!(c.argv.iter().all(|a| !a.contains("hunter2")));
        assert_eq!(c.stdin.as_deref(), Some(&b"hunter2\n"[..]));
        assert!(c.argv.contains(&"127.0.0.1".to_string()), "{:?}", c.argv);
    }
}
