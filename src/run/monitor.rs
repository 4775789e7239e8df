//! Live panes while a session is open: the lab's VMs (libvirt lifecycle events, or polling
//! where the driver has none) and the undercloud's containers (polled), sent as
//! [`Event::Vms`] / [`Event::Containers`] only when what the panes would show has changed.
//! Steps still send snapshots when they act; this keeps the panes true between steps, after
//! a run, and when something outside labwarp changes a VM.

use crate::engine::event::{ContainerRow, Event, VmRow};
use crate::plan::Ctx;
use crate::plan::steps::openstack::container_rows;
use crate::virt::{DomainBrief, DomainState};
use std::collections::HashMap;
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
    VmLister::default().rows(ctx, true).await
}

/// Refreshes after which the addresses of a running VM that has some are re-read (they
/// have no event); a running VM without any is re-read on every refresh until its lease
/// shows up.
const IPS_EVERY: u32 = 5;

/// The VM pane's rows from the light listing ([`crate::virt::Libvirt::list_brief`]: one
/// daemon round trip for every domain's state, vCPUs and memory) plus addresses, which
/// need a full snapshot per domain and are re-read only for running VMs, less often.
#[derive(Default)]
struct VmLister {
    /// Per domain: the state its addresses were read in, the addresses, refreshes since.
    ips: HashMap<String, (DomainState, Vec<String>, u32)>,
}

impl VmLister {
    /// `all_ips`: re-read every running VM's addresses now.
    async fn rows(&mut self, ctx: &Ctx, all_ips: bool) -> Option<Vec<VmRow>> {
        let vms = crate::render::lab_vms(&ctx.lab).ok()?;
        let listing = ctx.libvirt.list_brief().await.ok()?;
        let by_name: HashMap<&str, &DomainBrief> =
            listing.iter().map(|d| (d.name.as_str(), d)).collect();
        // What the run learnt elsewhere (a node's lease on the undercloud: libvirt serves no
        // DHCP on the provisioning network and has no lease for it).
        let recorded = ctx.store.snapshot().addresses;
        let mut rows = Vec::new();
        for vm in vms {
            let Some(d) = by_name.get(vm.domain.as_str()) else {
                continue;
            };
            let mut ips = self.ips_of(ctx, d, all_ips).await;
            if ips.is_empty()
                && d.state == DomainState::Running
                && let Some(a) = recorded.get(&vm.name)
            {
                ips.push(a.clone());
            }
            rows.push(VmRow {
                name: d.name.clone(),
                state: d.state.to_string(),
                vcpus: d.vcpus,
                memory_mib: d.max_memory_mib,
                ips,
            });
        }
        self.ips
            .retain(|name, _| by_name.contains_key(name.as_str()));
        Some(rows)
    }

    async fn ips_of(&mut self, ctx: &Ctx, d: &DomainBrief, all: bool) -> Vec<String> {
        if d.state != DomainState::Running {
            self.ips.remove(&d.name);
            return Vec::new();
        }
        let cached = self.ips.get_mut(&d.name);
        if let Some((state, ips, age)) = cached
            && *state == d.state
            && !ips.is_empty()
            && *age + 1 < IPS_EVERY
            && !all
        {
            *age += 1;
            return ips.clone();
        }
        let ips: Vec<String> = match ctx.libvirt.domain(&d.name).await {
            Ok(full) => full.ips.iter().map(|ip| ip.addr.to_string()).collect(),
            // Gone since the listing, or unreadable now: the next refresh tries again.
            Err(_) => Vec::new(),
        };
        self.ips.insert(d.name.clone(), (d.state, ips.clone(), 0));
        ips
    }
}

async fn watch_vms(ctx: Arc<Ctx>, every: Duration) {
    let mut last: Option<Vec<VmRow>> = None;
    let mut lister = VmLister::default();
    let mut send_if_changed = async |ctx: &Ctx, lister: &mut VmLister| {
        if let Some(rows) = lister.rows(ctx, false).await
            && last.as_ref() != Some(&rows)
        {
            last = Some(rows.clone());
            ctx.emit(Event::Vms { vms: rows });
        }
    };
    // Lifecycle events are cues to re-read at once; the periodic refresh catches addresses
    // (which have no event) and drivers without events. One connection throughout.
    let mut cues = ctx.libvirt.lifecycle_cues().await;
    if cues.is_none() {
        tracing::info!("libvirt lifecycle events unavailable; polling the VM list");
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate: the first read below covers it
    loop {
        send_if_changed(&ctx, &mut lister).await;
        match cues.as_mut() {
            Some(c) => tokio::select! {
                cue = c.next() => {
                    if cue.is_none() {
                        cues = None;
                    } else {
                        c.drain();
                    }
                }
                _ = tick.tick() => c.renew().await,
            },
            None => {
                tick.tick().await;
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
