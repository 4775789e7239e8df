//! `labwarp run --respin overcloud|undercloud`: what happens before the run builds again
//! (`run::respin`).

use super::EXIT_INVALID;
use super::common::confirm;
use crate::run::respin::{self, Respin};
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
    let say = |l: String| {
        if !json {
            println!("respin: {l}");
        }
    };
    match respin {
        Respin::Overcloud => {
            let name = respin::overcloud_snapshot(ctx)
                .await
                .map_err(|e| fail(format!("{e:#}")))?;
            if !yes
                && !confirm(&format!(
                    "Restore lab {} to snapshot {name} and deploy the overcloud again? The overcloud as it is now is lost.",
                    ctx.lab.name
                ))
            {
                return Err(ExitCode::from(EXIT_INVALID));
            }
            respin::restore_for_overcloud(ctx, &s.store, &name, &say)
                .await
                .map_err(|e| fail(format!("{e:#}")))?;
        }
        Respin::Undercloud => {
            let state = s.store.snapshot();
            let list = respin::undercloud_teardown(ctx, &state, &s.plan)
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
            respin::remove_undercloud(ctx, &s.store, &list, &say)
                .await
                .map_err(|e| fail(format!("{e:#}")))?;
        }
    }
    Ok(())
}
