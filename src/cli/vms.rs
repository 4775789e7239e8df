//! `labwarp vms`: the lab's VMs as the dashboard's VM pane shows them (state, vCPUs,
//! memory, addresses), read from libvirt through the lab's session (the hypervisor over SSH
//! when it is remote). Exit 1 when libvirt cannot be read.

use super::EXIT_INVALID;
use super::common::{LabArgs, with_read_only_session};
use crate::engine::event::VmRow;
use std::process::ExitCode;

pub fn print_text(vms: &[VmRow]) {
    if vms.is_empty() {
        println!("no VM of this lab exists");
        return;
    }
    println!(
        "{:<28} {:<10} {:>4} {:>8}  addresses",
        "VM", "state", "cpu", "MiB"
    );
    for v in vms {
        println!(
            "{:<28} {:<10} {:>4} {:>8}  {}",
            v.name,
            v.state,
            v.vcpus,
            v.memory_mib,
            v.ips.join(", ")
        );
    }
}

pub fn run(args: LabArgs, json: bool) -> ExitCode {
    with_read_only_session("vms", &args, async |s| {
        let Some(vms) = crate::run::monitor::vm_rows(&s.ctx).await else {
            let uri = s
                .ctx
                .lab
                .hypervisors
                .first()
                .map(|h| h.libvirt_uri.clone())
                .unwrap_or_default();
            eprintln!("labwarp vms: cannot list the domains at {uri}");
            return ExitCode::from(EXIT_INVALID);
        };
        if json {
            match serde_json::to_string_pretty(&serde_json::json!({
                "lab": s.ctx.lab.name,
                "vms": vms,
            })) {
                Ok(t) => println!("{t}"),
                Err(e) => {
                    eprintln!("labwarp vms: {e}");
                    return ExitCode::from(EXIT_INVALID);
                }
            }
        } else {
            print_text(&vms);
        }
        ExitCode::SUCCESS
    })
}
