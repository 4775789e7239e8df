//! Before `labwarp run` builds on an existing lab: what differs from lab.yaml (the plan's
//! drift, as `labwarp plan` shows it), and whether the run may restart VMs to apply what
//! waits for the next boot. Nothing is restarted without the user's yes (`--restart`, or
//! yes when asked on a terminal).

use super::common::confirm;
use crate::plan::DriftCost;
use crate::run::session::Session;
use crate::run::survey::{PlanView, survey};
use std::io::IsTerminal;

/// Every drifted field of the plan as `(stage/step, drift)`.
pub fn drifted(v: &PlanView) -> Vec<(String, &crate::plan::Drift)> {
    v.stages
        .iter()
        .flat_map(|st| {
            st.steps.iter().flat_map(move |s| {
                s.drift
                    .iter()
                    .map(move |d| (format!("{}/{}", st.id, s.id), d))
            })
        })
        .collect()
}

/// Shows the drift and settles the restart permission. `ask`: a question may be asked
/// (no `--yes`); `restart`: `--restart` was given.
pub async fn review(s: &Session, ask: bool, restart: bool, json: bool) {
    s.ctx.set_restart_allowed(restart);
    // No terminal and no --yes: the run is refused at its own question anyway.
    if !ask || !std::io::stdin().is_terminal() {
        return;
    }
    let v = survey(s).await;
    let all = drifted(&v);
    if all.is_empty() {
        return;
    }
    if !json {
        println!("existing objects that differ from lab.yaml:");
        for (step, d) in &all {
            println!("  {step}: {d}");
        }
    }
    // The VMs a restart concerns, by name.
    let mut vms: Vec<&str> = v
        .stages
        .iter()
        .flat_map(|st| &st.steps)
        .filter(|s| s.drift.iter().any(|d| d.cost == DriftCost::NextBoot))
        .flat_map(|s| &s.resources)
        .filter_map(|r| match r {
            crate::plan::Resource::Domain { name } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    vms.dedup();
    if restart || vms.is_empty() {
        return;
    }
    let question = format!(
        "Restart VM {} to apply what waits for the next boot?",
        vms.join(", ")
    );
    s.ctx.set_restart_allowed(confirm(&question));
}
