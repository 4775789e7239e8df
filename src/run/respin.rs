//! Respin: the clean undercloud back without reinstalling it. The run takes a snapshot
//! once the undercloud is installed (lab.yaml `snapshots.after_undercloud_install`, by
//! default `undercloud-installed`); `run --respin overcloud` restores it (overcloud nodes
//! made since are powered off, the deploy makes them anew) and redeploys;
//! `run --respin undercloud` removes the undercloud VM, its disks and seed, its containers
//! and jobs (nothing else of the lab) so the run rebuilds it from the base image.

use crate::engine::state::{State, StateStore};
use crate::plan::snapshot::{self, RestoreOptions};
use crate::plan::stages::{UNDERCLOUD_INSTALL, UNDERCLOUD_VM};
use crate::plan::{Ctx, Level, Plan, Resource};
use crate::run::cleanup::{self, CleanPlan};

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

/// The snapshot a respin of the overcloud goes back to: named in lab.yaml and present.
pub async fn overcloud_snapshot(ctx: &Ctx) -> anyhow::Result<String> {
    let Some(name) = snapshot_name(&ctx.lab, false)? else {
        anyhow::bail!(
            "snapshots.after_undercloud_install is empty in lab.yaml: the run takes no snapshot to respin from (name one, e.g. undercloud-installed, and run once)"
        );
    };
    if snapshot::manifest(ctx, &name).await?.is_none() {
        anyhow::bail!(
            "the lab has no snapshot {name}: `labwarp run` takes it once the undercloud is installed (or `labwarp snapshot save {name}`)"
        );
    }
    Ok(name)
}

/// Restores the snapshot `name` for a respin of the overcloud: nodes made since are
/// allowed (powered off; the deploy makes them anew).
pub async fn restore_for_overcloud(
    ctx: &Ctx,
    store: &StateStore,
    name: &str,
    say: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<()> {
    let opts = RestoreOptions {
        allow_new_nodes: true,
    };
    snapshot::restore(ctx, store, name, &opts, say).await?;
    say(format!(
        "lab back at snapshot {name}; deploying the overcloud again"
    ));
    Ok(())
}

/// Removes the undercloud listed in `list` (from [`undercloud_teardown`]) and the
/// installed-undercloud snapshot, which held the undercloud that goes.
pub async fn remove_undercloud(
    ctx: &Ctx,
    store: &StateStore,
    list: &CleanPlan,
    say: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<()> {
    if let Some(name) = snapshot_name(&ctx.lab, false)?
        && snapshot::manifest(ctx, &name).await?.is_some()
    {
        snapshot::delete(ctx, &name).await?;
        say(format!(
            "snapshot {name} deleted (it held the undercloud being rebuilt)"
        ));
    }
    let report = cleanup::execute(ctx, store, list).await;
    if !report.ok() {
        let failed: Vec<String> = report
            .failed
            .iter()
            .map(|(what, err)| format!("{what}: {err}"))
            .collect();
        anyhow::bail!(
            "the undercloud was not removed whole; nothing was built (run again: it converges). Could not remove: {}",
            failed.join("; ")
        );
    }
    say(format!(
        "removed {} item(s); rebuilding the undercloud from the base image",
        report.removed.len()
    ));
    Ok(())
}

/// Both respins without questions (the caller asked): the lab put back so that the run
/// that follows builds what is missing. The TUI's respin; the CLI asks in between.
pub async fn prepare(
    ctx: &Ctx,
    store: &StateStore,
    plan: &Plan,
    respin: Respin,
    say: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<()> {
    match respin {
        Respin::Overcloud => {
            let name = overcloud_snapshot(ctx).await?;
            restore_for_overcloud(ctx, store, &name, say).await
        }
        Respin::Undercloud => {
            let list = undercloud_teardown(ctx, &store.snapshot(), plan).await?;
            remove_undercloud(ctx, store, &list, say).await
        }
    }
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
