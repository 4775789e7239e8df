//! A leftover domain where the lab's VM goes: defined by an earlier lab (or an earlier
//! build of this one), not running, and pointing at disks or networks that are gone, so it
//! cannot start ("Cannot access storage file …", "Network not found …"). The step adopts a
//! domain of that name, so it fails until the leftover goes. Removed when
//! `run::ownership` proves it is this lab's (the domain only: disks are files of their
//! own); otherwise the command to remove it by hand is shown and nothing is touched.

use super::{Action, Prepared};
use crate::plan::{Ctx, Resource};
use crate::run::ownership::{self, Proof};
use crate::run::state::State;
use crate::virt::xml;

/// What makes an existing domain unable to start: missing disk files, missing networks.
async fn broken(ctx: &Ctx, name: &str) -> anyhow::Result<Vec<String>> {
    let doc = xml::parse(&ctx.libvirt.domain_xml(name).await?)
        .map_err(|e| anyhow::anyhow!("domain {name}: {e}"))?;
    let mut why = Vec::new();
    for d in xml::domain_disks(&doc) {
        if let Some(p) = d.path
            && !ctx.virthost.exists(std::path::Path::new(&p)).await?
        {
            why.push(format!("its {} {p} does not exist", d.device));
        }
    }
    let nets: Vec<String> = ctx
        .libvirt
        .networks()
        .await?
        .into_iter()
        .map(|n| n.name)
        .collect();
    for nic in xml::network_nics(&doc) {
        if !nets.contains(&nic.network) {
            why.push(format!("its network {} does not exist", nic.network));
        }
    }
    Ok(why)
}

pub async fn prepare(ctx: &Ctx, state: &State, p: &mut Prepared) -> anyhow::Result<()> {
    let mut by_hand = Vec::new();
    for vm in crate::render::lab_vms(&ctx.lab)? {
        let name = vm.domain;
        let r = Resource::Domain { name: name.clone() };
        let proof = ownership::prove(ctx, state, &r).await?;
        if proof == Proof::Absent {
            continue;
        }
        let running = crate::plan::steps::libvirt::domain_row(&ctx.libvirt, &name)
            .await?
            .is_some_and(|d| d.state == "running");
        let why = broken(ctx, &name).await?;
        if running || why.is_empty() {
            continue;
        }
        p.lines.push(format!(
            "domain {name} is left over and cannot start: {}",
            why.join("; ")
        ));
        match proof {
            Proof::Ours(how) => {
                p.lines.push(format!(
                    "  it is this lab's ({how}): the step defines it anew"
                ));
                p.actions.push(Action::RemoveDomain { name });
            }
            Proof::NotOurs(how) => by_hand.push(format!(
                "domain {name} {how}; labwarp leaves it alone. If it is not needed: {}",
                ownership::by_hand(ctx, &r).unwrap_or_default()
            )),
            Proof::Absent => {}
        }
    }
    if !by_hand.is_empty() {
        // Nothing is touched when any leftover is not provably the lab's.
        p.actions.clear();
        p.by_hand = Some(by_hand.join("\n"));
    } else if p.actions.is_empty() {
        p.by_hand = Some(
            "no domain of this lab is left over in a state that cannot start: run again".into(),
        );
    }
    Ok(())
}
