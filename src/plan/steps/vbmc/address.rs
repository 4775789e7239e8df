//! The BMC address is the hypervisor's own: before any BMC is made to listen on it, the
//! plan checks that the hypervisor really holds it (on the provisioning network's bridge,
//! where ironic on the undercloud reaches it). A BMC bound to an address the hypervisor
//! does not own fails to start; one bound to an address the undercloud cannot reach makes
//! every power action of ironic time out.

use crate::host::Cmd;
use crate::plan::{Check, HostRole, Step, StepCtx};
use async_trait::async_trait;

pub struct BmcAddress {
    pub address: String,
    /// The lab network meant to carry it (its `gateway`), for the message.
    pub network: Option<String>,
}

#[async_trait]
impl Step for BmcAddress {
    fn id(&self) -> &str {
        "vbmc-address"
    }
    fn title(&self) -> String {
        format!("the hypervisor holds the BMC address {}", self.address)
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let out = ctx
            .probe(HostRole::Virthost, &Cmd::new(["ip", "-o", "addr", "show"]))
            .await?;
        if !out.success() {
            anyhow::bail!(
                "`ip -o addr show` failed on the hypervisor: {}",
                out.stderr_str().trim()
            );
        }
        let text = out.stdout_str();
        Ok(match holder(&text, &self.address) {
            Some(dev) => Check::done(format!("{} is on {dev}", self.address)),
            None => Check::todo(format!(
                "no interface of the hypervisor holds {}",
                self.address
            )),
        })
    }
    async fn apply(&self, _ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        // Nothing to do here that the network steps do not do: the address is the
        // provisioning network's own. Say what is wrong and how to fix it.
        anyhow::bail!(
            "overcloud.vbmc.address {} is not an address of the hypervisor, so no BMC can listen on it; {}",
            self.address,
            match &self.network {
                Some(n) => format!(
                    "it belongs on the provisioning network {n}'s bridge: check that the network is active (`virsh net-start`) and that its `gateway` (or, unaddressed, this address) is the hypervisor's"
                ),
                None => "set it to the provisioning network's `gateway` (the hypervisor's address there, e.g. 192.168.24.254), outside the undercloud's local_ip, DHCP and inspection ranges".into(),
            }
        )
    }
}

/// The interface holding `address` in `ip -o addr show` output.
fn holder(ip_o_addr: &str, address: &str) -> Option<String> {
    ip_o_addr.lines().find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        let i = w.iter().position(|x| *x == "inet" || *x == "inet6")?;
        let a = w.get(i + 1)?.split('/').next()?;
        (a == address).then(|| w.get(1).unwrap_or(&"?").trim_end_matches(':').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::holder;

    #[test]
    fn finds_the_interface_holding_an_address_and_nothing_else() {
        let out = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n\
                   5: brovc    inet 192.168.24.254/24 brd 192.168.24.255 scope global brovc\\ x\n";
        assert_eq!(holder(out, "192.168.24.254").as_deref(), Some("brovc"));
        assert_eq!(holder(out, "127.0.0.1").as_deref(), Some("lo"));
        assert_eq!(holder(out, "192.168.24.25"), None);
        assert_eq!(holder(out, "192.168.24.2"), None);
    }
}
