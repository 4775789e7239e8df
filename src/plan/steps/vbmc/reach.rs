//! Reachability as ironic sees it: from the undercloud, every node's BMC must answer IPMI
//! `power status` on its `pm_addr`/port before the nodes are handed to ironic. A BMC only
//! the hypervisor can reach passes every check on the hypervisor and fails much later, in
//! introspection, as a timeout.

use crate::checks::vbmc::ipmi_status_cmd;
use crate::plan::{Check, HostRole, Step, StepCtx};
use async_trait::async_trait;

pub struct BmcReachable {
    pub address: String,
    pub user: String,
    /// (node, port) in node order.
    pub nodes: Vec<(String, u16)>,
}

impl BmcReachable {
    /// `(node, port, what answered)` for each node whose BMC did not answer.
    async fn silent(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Vec<(String, u16, String)>> {
        let password = ctx
            .lab()
            .overcloud
            .vbmc
            .password
            .as_ref()
            .map(|p| p.expose().to_string())
            .ok_or_else(|| anyhow::anyhow!("no VirtualBMC password known for this lab"))?;
        let mut out = Vec::new();
        for (node, port) in &self.nodes {
            let cmd = ipmi_status_cmd(&self.address, *port, &self.user, &password);
            let said = match ctx.probe(HostRole::Undercloud, &cmd).await {
                Ok(o) if o.success() && o.stdout_str().contains("Chassis Power is") => continue,
                Ok(o) => {
                    let t = format!("{} {}", o.stdout_str().trim(), o.stderr_str().trim());
                    if o.code == Some(127) || t.contains("not found") {
                        format!("ipmitool is not installed on the undercloud ({})", t.trim())
                    } else {
                        t.trim().to_string()
                    }
                }
                Err(e) => format!("{e}"),
            };
            out.push((node.clone(), *port, said));
        }
        Ok(out)
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
            Check::todo(describe(&self.address, &silent))
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
            describe(&self.address, &silent)
        )
    }
}

fn describe(address: &str, silent: &[(String, u16, String)]) -> String {
    silent
        .iter()
        .map(|(n, p, said)| {
            format!("node {n}: BMC {address}:{p} did not answer from the undercloud ({said})")
        })
        .collect::<Vec<_>>()
        .join("; ")
}
