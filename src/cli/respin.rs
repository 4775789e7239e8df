//! `labwarp run --respin overcloud|undercloud`: what happens before the run builds again
//! (`run::respin`).

use super::EXIT_INVALID;
use super::common::confirm;
use crate::plan::snapshot::{self, RestoreOptions};
use crate::run::respin::{Respin, snapshot_name, undercloud_teardown};
use crate::run::session::Session;
use std::process::ExitCode;

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("labwarp run --respin: {e}");
    ExitCode::from(EXIT_INVALID)
}

/// Puts the lab back (the installed undercloud, or nothing of the undercloud) so that the
/// run that follows deploys anew; asks first unless `yes`.
pub(super) async fn prepare(
    s: &Session,
    respin: Respin,
    json: bool,
    yes: bool,
) -> Result<(), ExitCode> {
    let ctx = &s.ctx;
    let name = snapshot_name(&ctx.lab, false).map_err(fail)?;
    let say = |l: String| {
        if !json {
            println!("respin: {l}");
        }
    };
    match respin {
        Respin::Overcloud => {
            let Some(name) = name else {
                return Err(fail(
                    "snapshots.after_undercloud_install is empty in lab.yaml: the run takes no snapshot to respin from (name one, e.g. undercloud-installed, and run once)",
                ));
            };
            let known = snapshot::list(ctx)
                .await
                .map_err(|e| fail(format!("{e:#}")))?;
            if !known.iter().any(|x| x.name == name) {
                return Err(fail(format!(
                    "the lab has no snapshot {name}: `labwarp run` takes it once the undercloud is installed (or `labwarp snapshot save {name}`)"
                )));
            }
            if !yes
                && !confirm(&format!(
                    "Restore lab {} to snapshot {name} and deploy the overcloud again? The overcloud as it is now is lost.",
                    ctx.lab.name
                ))
            {
                return Err(ExitCode::from(EXIT_INVALID));
            }
            let opts = RestoreOptions {
                allow_new_nodes: true,
            };
            snapshot::restore(ctx, &s.store, &name, &opts, &say)
                .await
                .map_err(|e| fail(format!("{e:#}")))?;
            say(format!(
                "lab back at snapshot {name}; deploying the overcloud again"
            ));
        }
        Respin::Undercloud => {
            let state = s.store.snapshot();
            let list = undercloud_teardown(ctx, &state, &s.plan)
                .await
                .map_err(|e| fail(format!("cannot list the undercloud's parts: {e:#}")))?;
            if !json {
                super::clean::print_list(&list);
            }
            if !yes
                && !confirm(&format!(
                    "Remove the undercloud ({} item(s)) and build it again from the base image?",
                    list.items.len()
                ))
            {
                return Err(ExitCode::from(EXIT_INVALID));
            }
            // The installed-undercloud snapshot is of the undercloud that goes now.
            if let Some(name) = &name
                && snapshot::list(ctx)
                    .await
                    .map_err(|e| fail(format!("{e:#}")))?
                    .iter()
                    .any(|x| &x.name == name)
            {
                snapshot::delete(ctx, name)
                    .await
                    .map_err(|e| fail(format!("{e:#}")))?;
                say(format!(
                    "snapshot {name} deleted (it held the undercloud being rebuilt)"
                ));
            }
            let report = crate::run::cleanup::execute(ctx, &s.store, &list).await;
            if !report.ok() {
                for (what, err) in &report.failed {
                    eprintln!("labwarp run --respin undercloud: could not remove {what}: {err}");
                }
                return Err(fail(
                    "the undercloud was not removed whole; nothing was built (run again: it converges)",
                ));
            }
            say(format!(
                "removed {} item(s); rebuilding the undercloud from the base image",
                report.removed.len()
            ));
        }
    }
    Ok(())
}
