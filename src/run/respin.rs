//! Respin: the clean undercloud back without reinstalling it. The run takes a snapshot
//! once the undercloud is installed (lab.yaml `snapshots.after_undercloud_install`, by
//! default `undercloud-installed`); `run --respin overcloud` restores it (overcloud nodes
//! made since are powered off, the deploy makes them anew) and redeploys;
//! `run --respin undercloud` removes the undercloud VM, its disks and seed, its containers
//! and jobs (nothing else of the lab) so the run rebuilds it from the base image.

use crate::plan::stages::{UNDERCLOUD_INSTALL, UNDERCLOUD_VM};
use crate::plan::{Ctx, Level, Plan, Resource};
use crate::run::cleanup::{self, CleanPlan};
use crate::run::state::State;

/// What `--respin` goes back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Respin {
    /// The snapshot taken after the undercloud install; the overcloud is deployed again.
    Overcloud,
    /// The base image: the undercloud VM is made and installed again.
    Undercloud,
}

impl std::str::FromStr for Respin {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "overcloud" => Ok(Respin::Overcloud),
            "undercloud" => Ok(Respin::Undercloud),
            _ => Err(format!(
                "unknown respin level {s:?}: use overcloud (back to the snapshot after the undercloud install) or undercloud (back to the base image)"
            )),
        }
    }
}

pub use crate::plan::snapshot::snapshot_name;

/// The undercloud's part of a `clean --level nodes`: what the undercloud VM and install
/// stages make, and the undercloud's containers and jobs; the nodes, BMCs and networks stay.
pub async fn undercloud_teardown(
    ctx: &Ctx,
    state: &State,
    plan: &Plan,
) -> anyhow::Result<CleanPlan> {
    let mut list = cleanup::inventory(ctx, state, plan, Level::Nodes).await?;
    let undercloud: Vec<Resource> = plan
        .iter()
        .filter(|s| s.id == UNDERCLOUD_VM || s.id == UNDERCLOUD_INSTALL)
        .flat_map(|s| s.steps.iter().flat_map(|p| p.step.resources()))
        .collect();
    list.items.retain(|i| {
        matches!(
            i.resource,
            Resource::Container { .. } | Resource::Job { .. }
        ) || undercloud.contains(&i.resource)
    });
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_and_the_name_comes_from_lab_yaml_or_is_off() {
        assert_eq!("overcloud".parse::<Respin>(), Ok(Respin::Overcloud));
        assert_eq!("undercloud".parse::<Respin>(), Ok(Respin::Undercloud));
        assert!("all".parse::<Respin>().unwrap_err().contains("overcloud"));
        let mut lab = crate::lab::Lab::default();
        assert_eq!(
            snapshot_name(&lab, false).unwrap().as_deref(),
            Some("undercloud-installed")
        );
        assert_eq!(snapshot_name(&lab, true).unwrap(), None);
        lab.snapshots.after_undercloud_install = String::new();
        assert_eq!(snapshot_name(&lab, false).unwrap(), None);
        lab.snapshots.after_undercloud_install = "../x".into();
        let e = snapshot_name(&lab, false).unwrap_err().to_string();
        assert!(e.starts_with("snapshots.after_undercloud_install:"), "{e}");
    }
}
