//! Reachability as ironic sees it: from the undercloud, every node's BMC must answer IPMI
//! `power status` on its `pm_addr`/port before the nodes are handed to ironic. A BMC only
//! the hypervisor can reach passes every check on the hypervisor and fails much later, in
//! introspection, as a timeout.

use crate::checks::vbmc::{Power, ipmi_power_cmd};
use crate::host::Host;
use crate::plan::{Check, HostRole, Step, StepCtx};
use async_trait::async_trait;

/// What one node's BMC said to an IPMI request from the undercloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BmcAnswer {
    pub node: String,
    pub address: String,
    pub port: u16,
    /// The BMC answered as asked (`Chassis Power is on`, `Chassis Power Control: Up/On`).
    pub ok: bool,
    /// What answered: ipmitool's output, the shell's error, or the SSH failure.
    pub said: String,
}

impl BmcAnswer {
    pub fn describe(&self) -> String {
        format!(
            "node {}: BMC {}:{} {} from the undercloud ({})",
            self.node,
            self.address,
            self.port,
            if self.ok {
                "answered"
            } else {
                "did not answer"
            },
            self.said
        )
    }
}

/// Asks every node's BMC (`(node, port)`) at `address` for `power` with `ipmitool -I lanplus`
/// on `undercloud`, as ironic does: the one probe behind the `bmc-reachable` step, the
/// nodes' power-on of `node-addresses` and `labwarp check` on a built lab.
pub async fn ask_from_undercloud(
    undercloud: &dyn Host,
    address: &str,
    user: &str,
    password: &str,
    nodes: &[(String, u16)],
    power: Power,
) -> Vec<BmcAnswer> {
    let mut out = Vec::new();
    for (node, port) in nodes {
        let cmd = ipmi_power_cmd(address, *port, user, password, power);
        let (ok, said) = match undercloud.exec(&cmd).await {
            Ok(o) => {
                let stdout = o.stdout_str();
                let t = format!("{} {}", stdout.trim(), o.stderr_str().trim());
                let answered = match power {
                    Power::Status => stdout.contains("Chassis Power is"),
                    Power::On | Power::Off => stdout.contains("Chassis Power Control"),
                };
                if o.success() && answered {
                    (true, stdout.trim().to_string())
                } else if o.code == Some(127) || t.contains("not found") {
                    (
                        false,
                        format!("ipmitool is not installed on the undercloud ({})", t.trim()),
                    )
                } else {
                    (false, t.trim().to_string())
                }
            }
            Err(e) => (false, format!("{e}")),
        };
        out.push(BmcAnswer {
            node: node.clone(),
            address: address.to_string(),
            port: *port,
            ok,
            said,
        });
    }
    out
}

/// The lab's VirtualBMC password: lab.yaml's, else the one the run stored in the workspace.
pub fn bmc_password(lab: &crate::lab::Lab, workspace: &std::path::Path) -> anyhow::Result<String> {
    match &lab.overcloud.vbmc.password {
        Some(p) => Ok(p.expose().to_string()),
        None => crate::secrets::stored_vbmc_password(workspace)
            .ok()
            .flatten()
            .map(|p| p.expose().to_string())
            .ok_or_else(|| anyhow::anyhow!("no VirtualBMC password known for this lab")),
    }
}

pub struct BmcReachable {
    pub address: String,
    pub user: String,
    /// (node, port) in node order.
    pub nodes: Vec<(String, u16)>,
}

impl BmcReachable {
    /// Each node whose BMC did not answer `power status` from the undercloud.
    async fn silent(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Vec<BmcAnswer>> {
        let password = bmc_password(ctx.lab(), &ctx.ctx.workspace)?;
        let answers = ask_from_undercloud(
            ctx.host(HostRole::Undercloud).as_ref(),
            &self.address,
            &self.user,
            &password,
            &self.nodes,
            Power::Status,
        )
        .await;
        Ok(answers.into_iter().filter(|a| !a.ok).collect())
    }
}

#[async_trait]
impl Step for BmcReachable {
    fn id(&self) -> &str {
        "bmc-reachable"
    }
    fn title(&self) -> String {
        format!(
            "the undercloud reaches every node's BMC at {} (ipmitool power status)",
            self.address
        )
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let silent = self.silent(ctx).await?;
        Ok(if silent.is_empty() {
            Check::done(format!(
                "{} BMC(s) at {} answer from the undercloud",
                self.nodes.len(),
                self.address
            ))
        } else {
            Check::todo(describe(&silent))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        // Nothing labwarp can change from here: vbmcd, the entries and the firewall were
        // the steps before. Say exactly who did not answer and what it said.
        let silent = self.silent(ctx).await?;
        if silent.is_empty() {
            return Ok(());
        }
        anyhow::bail!(
            "{}; ironic on the undercloud would time out on these nodes. Check that the undercloud has an address on the provisioning network (its local_ip), that overcloud.vbmc.address is the hypervisor's address there, and the hypervisor's firewall for these UDP ports",
            describe(&silent)
        )
    }
}

fn describe(silent: &[BmcAnswer]) -> String {
    silent
        .iter()
        .map(BmcAnswer::describe)
        .collect::<Vec<_>>()
        .join("; ")
}
