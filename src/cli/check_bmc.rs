//! `labwarp check` on a built lab: every node's BMC asked `power status` from the undercloud,
//! as ironic asks it, with the same probe as the `bmc-reachable` step
//! (`plan::steps::vbmc::reach::ask_from_undercloud`). A lab is built when its state file
//! records the undercloud's address; before that nothing is asked (the hypervisor-side
//! `vbmc.answers` findings still run).

use crate::checks::vbmc::Power;
use crate::checks::{Area, Finding, Fix, Severity};
use crate::host::TrustPolicy;
use crate::lab::Lab;
use crate::plan::steps::vbmc::reach::{ask_from_undercloud, bmc_password};
use crate::run::session::{Session, workspace_dir};

/// The findings `vbmc.from-undercloud.<node>`, or one `vbmc.from-undercloud` that says why
/// nothing was asked; empty when the lab is not built (no undercloud address recorded).
pub async fn findings(lab: &Lab, trust: TrustPolicy) -> Vec<Finding> {
    let Ok(ws) = workspace_dir(lab, None) else {
        return Vec::new();
    };
    let state = ws.join("state.yaml");
    let built = state.is_file()
        && crate::run::state::load(&state)
            .is_ok_and(|s| s.addresses.contains_key(&lab.undercloud.vm.name));
    let hv_is_test = lab
        .hypervisors
        .first()
        .is_some_and(|h| h.libvirt_uri.starts_with("test:"));
    if !built || hv_is_test || lab.nodes().is_empty() {
        return Vec::new();
    }
    let not_asked = |why: String| {
        vec![Finding::new(
            "vbmc.from-undercloud",
            Area::Network,
            Severity::Warn,
            "The nodes' BMCs were not asked from the undercloud",
            why,
        )]
    };
    let password = match bmc_password(lab, &ws) {
        Ok(p) => p,
        Err(e) => return not_asked(format!("{e}")),
    };
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let session = match Session::open_with(lab.clone(), None, tx, trust).await {
        Ok(s) => s,
        Err(e) => return not_asked(format!("cannot open the lab's session: {e:#}")),
    };
    let v = &lab.overcloud.vbmc;
    let nodes: Vec<(String, u16)> = lab
        .nodes()
        .into_iter()
        .map(|n| (n.name, n.vbmc_port))
        .collect();
    let answers = ask_from_undercloud(
        session.ctx.undercloud.as_ref(),
        &v.address,
        &v.username,
        &password,
        &nodes,
        Power::Status,
    )
    .await;
    answers
        .into_iter()
        .map(|a| {
            let id = format!("vbmc.from-undercloud.{}", a.node);
            let evidence = format!(
                "$ ipmitool -I lanplus -H {} -p {} -U {} -E power status   (on the undercloud)\n{}",
                a.address, a.port, v.username, a.said
            );
            if a.ok {
                Finding::new(
                    id,
                    Area::Network,
                    Severity::Ok,
                    format!(
                        "BMC of {} answers from the undercloud at {}:{}: {}",
                        a.node, a.address, a.port, a.said
                    ),
                    evidence,
                )
            } else {
                Finding::new(
                    id,
                    Area::Network,
                    Severity::Fail,
                    format!(
                        "BMC of {} at {}:{} does not answer from the undercloud (ironic would time out on it)",
                        a.node, a.address, a.port
                    ),
                    evidence,
                )
                .with_fix(Fix::manual(
                    "Check that the undercloud has its local_ip on the provisioning network, that overcloud.vbmc.address is the hypervisor's address there (`labwarp run` checks it in the vbmc-address step), and that no firewall drops the BMC's UDP port",
                ))
            }
        })
        .collect()
}
