//! `labwarp snapshot save|restore|list|delete`: whole-lab snapshots (`plan::snapshot`).
//! Exit 0 on success, 1 on failure or refusal (with why).

use super::EXIT_INVALID;
use super::common::{LabArgs, confirm, lab_and_runtime, open_session};
use crate::plan::snapshot::{self, RestoreOptions, SnapshotInfo, human_age, human_size};
use clap::Subcommand;
use std::process::ExitCode;
use tokio::sync::mpsc;

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Save every VM of the lab at one moment (paused together; memory images and disk
    /// copies on the hypervisor) with the state file, pinned host keys and VirtualBMC entries.
    Save {
        #[arg(value_name = "NAME")]
        snapshot: String,
        #[command(flatten)]
        lab: LabArgs,
    },
    /// Bring the lab back to a snapshot: VMs (memory and disks), state file, host keys, BMC
    /// entries. Refused when the snapshot no longer matches the lab (a VM added or removed).
    Restore {
        #[arg(value_name = "NAME")]
        snapshot: String,
        #[command(flatten)]
        lab: LabArgs,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// The lab's snapshots with their sizes and ages.
    List {
        #[command(flatten)]
        lab: LabArgs,
        #[arg(long)]
        json: bool,
    },
    /// Remove one of the lab's snapshots and its files.
    Delete {
        #[arg(value_name = "NAME")]
        snapshot: String,
        #[command(flatten)]
        lab: LabArgs,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

fn print_list(list: &[SnapshotInfo]) {
    if list.is_empty() {
        println!("no snapshots");
        return;
    }
    println!("{:<32} {:>10} {:>8}  VMs", "NAME", "SIZE", "AGE");
    for s in list {
        println!(
            "{:<32} {:>10} {:>8}  {}",
            s.name,
            human_size(s.size_bytes),
            human_age(s.age_secs),
            s.vms.join(", ")
        );
    }
}

pub fn run(action: Action) -> ExitCode {
    let lab_args = match &action {
        Action::Save { lab, .. }
        | Action::Restore { lab, .. }
        | Action::List { lab, .. }
        | Action::Delete { lab, .. } => lab.clone(),
    };
    let (lab, rt) = match lab_and_runtime(&lab_args) {
        Ok(v) => v,
        Err(code) => return code,
    };
    rt.block_on(async move {
        let (tx, _rx) = mpsc::unbounded_channel();
        let s = match open_session("snapshot", lab, &lab_args, tx).await {
            Ok(s) => s,
            Err(code) => return code,
        };
        let say = |l: String| println!("snapshot: {l}");
        let result = match action {
            Action::List { json, .. } => snapshot::list(&s.ctx).await.map(|l| {
                if json {
                    println!("{}", serde_json::to_string_pretty(&l).unwrap_or_default());
                } else {
                    print_list(&l);
                }
            }),
            Action::Save { snapshot: name, .. } => {
                snapshot::save(&s.ctx, &name, &say).await.map(|i| {
                    println!(
                        "snapshot {} saved: {} VM(s), {} at {}",
                        i.name,
                        i.vms.len(),
                        human_size(i.size_bytes),
                        i.path
                    )
                })
            }
            Action::Restore {
                snapshot: name,
                yes,
                ..
            } => {
                if !yes
                    && !confirm(&format!(
                        "Restore lab {} to snapshot {name}? What happened since is lost.",
                        s.ctx.lab.name
                    ))
                {
                    return ExitCode::from(EXIT_INVALID);
                }
                snapshot::restore(&s.ctx, &s.store, &name, &RestoreOptions::default(), &say)
                    .await
                    .map(|()| println!("lab {} restored to snapshot {name}", s.ctx.lab.name))
            }
            Action::Delete {
                snapshot: name,
                yes,
                ..
            } => {
                if !yes && !confirm(&format!("Delete snapshot {name} and its files?")) {
                    return ExitCode::from(EXIT_INVALID);
                }
                snapshot::delete(&s.ctx, &name)
                    .await
                    .map(|()| println!("snapshot {name} deleted"))
            }
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("labwarp snapshot: {e:#}");
                ExitCode::from(1)
            }
        }
    })
}
