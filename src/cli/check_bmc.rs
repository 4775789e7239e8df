//! `labwarp check` on a built lab: every node's BMC asked `power status` from the undercloud,
//! as ironic asks it, with the same probe as the `bmc-reachable` step
//! (`plan::steps::vbmc::reach::ask_from_undercloud`). A lab is built when its state file
//! records the undercloud's address; before that nothing is asked (the hypervisor-side
//! `vbmc.answers` findings still run).

use crate::checks::vbmc::Power;
use crate::checks::{Area, Finding, Fix, Severity};
use crate::host::TrustPolicy;
use crate::lab::Lab;
use crate::plan::steps::vbmc::reach::{BmcAnswer, ask_from_undercloud, bmc_password};
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
        .map(|a| finding(&a, &v.username))
        .collect()
}

/// One node's finding: ok when its BMC answered, else a failure naming the node, address,
/// port and what answered.
fn finding(a: &BmcAnswer, user: &str) -> Finding {
    let id = format!("vbmc.from-undercloud.{}", a.node);
    let evidence = format!(
        "$ ipmitool -I lanplus -H {} -p {} -U {user} -E power status   (on the undercloud)\n{}",
        a.address, a.port, a.said
    );
    if a.ok {
        return Finding::new(
            id,
            Area::Network,
            Severity::Ok,
            format!(
                "BMC of {} answers from the undercloud at {}:{}: {}",
                a.node, a.address, a.port, a.said
            ),
            evidence,
        );
    }
    Finding::new(
        id,
        Area::Network,
        Severity::Fail,
        format!(
            "BMC of {} at {}:{} does not answer from the undercloud (ironic would time out on it): {}",
            a.node, a.address, a.port, a.said
        ),
        evidence,
    )
    .with_fix(Fix::manual(
        "Check that the undercloud has its local_ip on the provisioning network, that overcloud.vbmc.address is the hypervisor's address there (`labwarp run` checks it in the vbmc-address step), and that no firewall drops the BMC's UDP port",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_bmc_fails_naming_node_address_port_and_what_answered() {
        let mut a = BmcAnswer {
            node: "compute-1".into(),
            address: "192.168.24.254".into(),
            port: 6231,
            ok: false,
            said: "Error: Unable to establish IPMI v2 / RMCP+ session".into(),
        };
        let f = finding(&a, "admin");
        assert_eq!(f.id, "vbmc.from-undercloud.compute-1");
        assert_eq!(f.severity, Severity::Fail);
        for part in ["compute-1", "192.168.24.254:6231", "Unable to establish"] {
            assert!(f.title.contains(part), "{}", f.title);
        }
        assert!(f.evidence.contains("-p 6231 -U admin"), "{}", f.evidence);
        assert!(f.fix.is_some());
        a.ok = true;
        a.said = "Chassis Power is on".into();
        let f = finding(&a, "admin");
        assert_eq!(f.severity, Severity::Ok);
        assert!(f.title.ends_with("Chassis Power is on"), "{}", f.title);
    }
}
