//! Drift: what differs between a live object and the one lab.yaml wants, field by field,
//! with what applying each difference costs. Pure comparisons here (XML and bytes in,
//! [`Drift`]s out); the steps in `plan::steps` read the live side and apply.

pub mod disk;
pub mod file;
pub mod network;
pub mod nics;

use super::{Drift, DriftCost};

/// The error a step's apply returns when some field cannot be changed in place: every such
/// field with what recreating loses and the command that does it. Nothing was touched.
pub fn refusal(what: &str, drift: &[Drift]) -> Option<anyhow::Error> {
    let refused: Vec<String> = drift
        .iter()
        .filter(|d| d.cost == DriftCost::Recreate)
        .map(ToString::to_string)
        .collect();
    (!refused.is_empty()).then(|| {
        anyhow::anyhow!(
            "{what} cannot be changed in place, so nothing was changed: {}",
            refused.join("; ")
        )
    })
}

/// Whether any field waits for a restart to take effect.
pub fn needs_restart(drift: &[Drift]) -> bool {
    drift.iter().any(|d| d.cost == DriftCost::NextBoot)
}
