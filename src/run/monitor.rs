//! Live panes while a session is open: the lab's VMs (libvirt lifecycle events, or polling
//! where the driver has none) and the undercloud's containers (polled), sent as
//! [`Event::Vms`] / [`Event::Containers`] only when what the panes would show has changed.
//! Steps still send snapshots when they act; this keeps the panes true between steps, after
//! a run, and when something outside labwarp changes a VM.

use super::event::{ContainerRow, Event, VmRow};
use crate::plan::Ctx;
use crate::plan::steps::libvirt::domain_row;
use crate::plan::steps::openstack::container_rows;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// The running monitor; dropping it stops it.
pub struct Monitor {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts watching the lab of `ctx`. `every`: the polling period (and, with libvirt events,
/// how often addresses, which have no event, are re-read). Must be called in a runtime.
pub fn spawn(ctx: Arc<Ctx>, every: Duration) -> Monitor {
    let vms = tokio::spawn(watch_vms(ctx.clone(), every));
    let containers = tokio::spawn(poll_containers(ctx, every));
    Monitor {
        tasks: vec![vms, containers],
    }
}

/// The lab's VMs as the pane shows them, in the lab's order; those that do not exist are
/// left out. `None` when libvirt could not be read (the pane keeps what it has).
pub async fn vm_rows(ctx: &Ctx) -> Option<Vec<VmRow>> {
    let vms = crate::render::lab_vms(&ctx.lab).ok()?;
    let mut rows = Vec::new();
    for vm in vms {
        if let Some(row) = domain_row(&ctx.libvirt, &vm.domain).await.ok()? {
            rows.push(row);
        }
    }
    Some(rows)
}

async fn watch_vms(ctx: Arc<Ctx>, every: Duration) {
    let mut last: Option<Vec<VmRow>> = None;
    let mut send_if_changed = async |ctx: &Ctx| {
        if let Some(rows) = vm_rows(ctx).await
            && last.as_ref() != Some(&rows)
        {
            last = Some(rows.clone());
            ctx.emit(Event::Vms { vms: rows });
        }
    };
    match ctx.libvirt.watch(every).await {
        // Any change of any domain is a cue to re-read the lab's rows (cheap: a few
        // lookups), which also catches addresses appearing.
        Ok(mut watch) => {
            send_if_changed(&ctx).await;
            while watch.next().await.is_some() {
                send_if_changed(&ctx).await;
            }
        }
        Err(e) => {
            tracing::warn!("libvirt watch unavailable ({e}); polling the VM list");
            loop {
                send_if_changed(&ctx).await;
                tokio::time::sleep(every).await;
            }
        }
    }
}

async fn poll_containers(ctx: Arc<Ctx>, every: Duration) {
    let mut last: Option<Vec<ContainerRow>> = None;
    loop {
        if let Some(rows) = container_rows(&ctx).await
            && last.as_ref() != Some(&rows)
        {
            last = Some(rows.clone());
            ctx.emit(Event::Containers { containers: rows });
        }
        tokio::time::sleep(every).await;
    }
}
