//! `labwarp status`: what exists (from the state file) and what is left (live checks).

use super::common::{LabArgs, with_read_only_session};
use crate::engine::state::{ResourceStatus, State};
use crate::run::survey::survey;
use std::process::ExitCode;

fn pid_alive(pid: u32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
}

fn last_run_text(st: &State) -> String {
    match &st.last_run {
        None => "never run".into(),
        Some(r) => match (r.finished, r.ok, r.cancelled) {
            (None, _, _) if pid_alive(r.pid) => format!("running now (pid {})", r.pid),
            (None, _, _) => format!(
                "interrupted (pid {} stopped without finishing); `labwarp run` resumes",
                r.pid
            ),
            (Some(_), _, true) => "cancelled; `labwarp run` resumes".into(),
            (Some(_), Some(true), _) => "finished: every stage done".into(),
            _ => "finished with failures (see workspace/logs/)".into(),
        },
    }
}

pub fn run(args: LabArgs, json: bool) -> ExitCode {
    with_read_only_session("status", &args, async |s| {
        let st = s.store.snapshot();
        let view = survey(&s).await;
        if json {
            let v = serde_json::json!({
                "lab": s.ctx.lab.name,
                "last_run": st.last_run,
                "last_run_text": last_run_text(&st),
                "resources": st.resources,
                "addresses": st.addresses,
                "plan": view,
            });
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            return ExitCode::SUCCESS;
        }
        println!("lab {}: {}", s.ctx.lab.name, last_run_text(&st));
        if !st.addresses.is_empty() {
            println!("addresses:");
            for (vm, addr) in &st.addresses {
                println!("  {vm:<20} {addr}");
            }
        }
        println!("resources recorded in {}:", s.store.path().display());
        if st.resources.is_empty() {
            println!("  (none)");
        }
        for r in &st.resources {
            let status = match r.status {
                ResourceStatus::Creating => "creating (interrupted?)",
                ResourceStatus::Created => "created",
            };
            println!("  {:<60} {status}  by {}", r.resource.to_string(), r.step);
        }
        println!("stages:");
        for stage in &view.stages {
            let done = stage.steps.iter().filter(|s| s.status == "done").count();
            let left: Vec<&str> = stage
                .steps
                .iter()
                .filter(|s| s.status != "done")
                .map(|s| s.id.as_str())
                .collect();
            if left.is_empty() {
                println!("  {:<20} done ({done}/{})", stage.id, stage.steps.len());
            } else {
                println!(
                    "  {:<20} {done}/{} done; left: {}",
                    stage.id,
                    stage.steps.len(),
                    left.join(", ")
                );
            }
        }
        ExitCode::SUCCESS
    })
}
