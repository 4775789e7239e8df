//! The hypervisor's firewall opened for the nodes' IPMI ports (UDP), and closed again.

use crate::host::Cmd;
use crate::plan::{Check, Ctx, HostRole, Resource, Step, StepCtx};
use async_trait::async_trait;

/// Which firewall guards the hypervisor's INPUT, with the evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Firewall {
    Firewalld,
    Iptables,
    None(String),
}

/// firewalld when `firewall-cmd --state` says running; iptables when the INPUT chain drops
/// or rejects anything (policy or rule); else none, with what was seen.
pub async fn detect_firewall(ctx: &Ctx) -> anyhow::Result<(Firewall, String)> {
    let h = &ctx.virthost;
    let fw = h.exec(&Cmd::new(["firewall-cmd", "--state"]).sudo()).await;
    let fw_seen = match &fw {
        Ok(o) if o.success() && o.stdout_str().trim() == "running" => {
            return Ok((Firewall::Firewalld, "firewall-cmd --state: running".into()));
        }
        Ok(o) => format!(
            "firewall-cmd --state: {}",
            format!("{}{}", o.stdout_str(), o.stderr_str()).trim()
        ),
        Err(_) => "firewall-cmd: not installed".into(),
    };
    let ipt = h.exec(&Cmd::new(["iptables", "-S", "INPUT"]).sudo()).await;
    match ipt {
        Ok(o) if o.success() => {
            let rules = o.stdout_str();
            let guards = rules.lines().any(|l| {
                l.starts_with("-P INPUT DROP")
                    || l.starts_with("-P INPUT REJECT")
                    || (l.starts_with("-A INPUT")
                        && (l.contains("-j DROP") || l.contains("-j REJECT")))
            });
            let seen = format!(
                "{fw_seen}; iptables -S INPUT: {}",
                rules.trim().replace('\n', "; ")
            );
            if guards {
                Ok((Firewall::Iptables, seen))
            } else {
                Ok((Firewall::None(seen.clone()), seen))
            }
        }
        Ok(o) => {
            let seen = format!(
                "{fw_seen}; iptables -S INPUT failed: {}",
                o.stderr_str().trim()
            );
            Ok((Firewall::None(seen.clone()), seen))
        }
        Err(_) => {
            let seen = format!("{fw_seen}; iptables: not installed");
            Ok((Firewall::None(seen.clone()), seen))
        }
    }
}

/// The iptables rule labwarp adds for one port (its comment names the lab).
pub fn iptables_rule(lab: &str, port: u16) -> Vec<String> {
    [
        "INPUT",
        "-p",
        "udp",
        "--dport",
        &port.to_string(),
        "-m",
        "comment",
        "--comment",
        &format!("labwarp {lab} vbmc"),
        "-j",
        "ACCEPT",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Whether the port is open for the lab in the active firewall (true when none runs).
pub async fn port_open(ctx: &Ctx, fw: &Firewall, port: u16) -> anyhow::Result<bool> {
    let h = &ctx.virthost;
    Ok(match fw {
        Firewall::Firewalld => h
            .exec(
                &Cmd::new([
                    "firewall-cmd".to_string(),
                    format!("--query-port={port}/udp"),
                ])
                .sudo(),
            )
            .await?
            .success(),
        Firewall::Iptables => {
            let mut argv = vec!["iptables".to_string(), "-C".into()];
            argv.extend(iptables_rule(&ctx.lab.name, port));
            h.exec(&Cmd::new(argv).sudo()).await?.success()
        }
        Firewall::None(_) => true,
    })
}

/// Closes what labwarp opened for a port (both firewalls, whichever runs). Already closed is fine.
pub async fn close_port(ctx: &Ctx, port: u16) -> anyhow::Result<bool> {
    let h = &ctx.virthost;
    let (fw, _) = detect_firewall(ctx).await?;
    let mut closed = false;
    match fw {
        Firewall::Firewalld => {
            for perm in [false, true] {
                let mut argv = vec!["firewall-cmd".to_string()];
                if perm {
                    argv.push("--permanent".into());
                }
                argv.push(format!("--remove-port={port}/udp"));
                closed |= h.exec(&Cmd::new(argv).sudo()).await?.success();
            }
        }
        _ => {
            // Delete every copy of the rule (a rule added twice by hand is still ours).
            for _ in 0..16 {
                let mut argv = vec!["iptables".to_string(), "-D".into()];
                argv.extend(iptables_rule(&ctx.lab.name, port));
                match h.exec(&Cmd::new(argv).sudo()).await {
                    Ok(o) if o.success() => closed = true,
                    _ => break,
                }
            }
        }
    }
    Ok(closed)
}

/// Opens the nodes' UDP ports in the hypervisor's firewall; a no-op (with the evidence)
/// when no firewall guards INPUT.
pub struct OpenPorts {
    pub ports: Vec<u16>,
}

#[async_trait]
impl Step for OpenPorts {
    fn id(&self) -> &str {
        "vbmc-firewall"
    }
    fn title(&self) -> String {
        format!(
            "firewall: UDP {} open for VirtualBMC",
            self.ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
    fn resources(&self) -> Vec<Resource> {
        self.ports
            .iter()
            .map(|p| Resource::FirewallPort { port: *p })
            .collect()
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let (fw, seen) = detect_firewall(ctx.ctx).await?;
        if let Firewall::None(_) = fw {
            return Ok(Check::done(format!("no firewall guards INPUT ({seen})")));
        }
        let mut closed = Vec::new();
        for p in &self.ports {
            if !port_open(ctx.ctx, &fw, *p).await? {
                closed.push(p.to_string());
            }
        }
        Ok(if closed.is_empty() {
            Check::done(format!("{fw:?}: UDP ports open"))
        } else {
            Check::todo(format!("{fw:?}: UDP {} not open", closed.join(", ")))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let (fw, seen) = detect_firewall(ctx.ctx).await?;
        for port in &self.ports {
            if port_open(ctx.ctx, &fw, *port).await? {
                continue;
            }
            match fw {
                Firewall::Firewalld => {
                    for perm in [false, true] {
                        let mut argv = vec!["firewall-cmd".to_string()];
                        if perm {
                            argv.push("--permanent".into());
                        }
                        argv.push(format!("--add-port={port}/udp"));
                        ctx.run_ok(HostRole::Virthost, &Cmd::new(argv).sudo())
                            .await?;
                    }
                }
                Firewall::Iptables => {
                    let mut argv = vec!["iptables".to_string(), "-I".into()];
                    argv.extend(iptables_rule(&ctx.lab().name, *port));
                    ctx.run_ok(HostRole::Virthost, &Cmd::new(argv).sudo())
                        .await?;
                }
                Firewall::None(_) => {
                    ctx.info(format!("no firewall to open: {seen}"));
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iptables_rule_is_tagged_with_the_lab() {
        let r = iptables_rule("lab1", 6230).join(" ");
        assert_eq!(
            r,
            "INPUT -p udp --dport 6230 -m comment --comment labwarp lab1 vbmc -j ACCEPT"
        );
    }
}
