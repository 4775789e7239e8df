//! Steps on the lab's libvirt connection: networks, the storage pool, disks and domains.

use crate::engine::event::{Event, VmRow};
use crate::host::Cmd;
use crate::plan::{Check, Drift, DriftCost, HostRole, Level, Resource, Step, StepCtx};
use crate::virt::UndefineOptions;
use async_trait::async_trait;
use std::path::PathBuf;

/// A libvirt network, defined, started and set to autostart.
pub struct Network {
    pub id: String,
    /// libvirt name (`<lab>-<network>`).
    pub name: String,
    pub xml: String,
}

#[async_trait]
impl Step for Network {
    fn id(&self) -> &str {
        &self.id
    }
    fn title(&self) -> String {
        format!("network {}", self.name)
    }
    fn resources(&self) -> Vec<Resource> {
        vec![Resource::Network {
            name: self.name.clone(),
        }]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        match ctx.ctx.libvirt.network(&self.name).await {
            Ok(n) if n.active => Ok(Check::done(format!(
                "network {} active (bridge {})",
                self.name,
                n.bridge.unwrap_or_default()
            ))),
            Ok(_) => Ok(Check::todo(format!(
                "network {} defined, not active",
                self.name
            ))),
            Err(e) if e.is_not_found() => Ok(Check::todo(format!("no network {}", self.name))),
            Err(e) => Err(e.into()),
        }
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let lv = &ctx.ctx.libvirt;
        if !lv.networks().await?.iter().any(|n| n.name == self.name) {
            lv.define_network(&self.xml).await?;
            ctx.info(format!("defined network {}", self.name));
        }
        lv.start_network(&self.name).await?;
        lv.set_network_autostart(&self.name, true).await?;
        ctx.info(format!("network {} started", self.name));
        Ok(())
    }
}

/// A directory storage pool for the lab's disks.
pub struct Pool {
    pub name: String,
    pub path: PathBuf,
}

#[async_trait]
impl Step for Pool {
    fn id(&self) -> &str {
        "pool"
    }
    fn title(&self) -> String {
        format!("storage pool {} at {}", self.name, self.path.display())
    }
    fn resources(&self) -> Vec<Resource> {
        vec![Resource::Pool {
            name: self.name.clone(),
        }]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        match ctx.ctx.libvirt.pool(&self.name).await {
            Ok(p) if p.state == crate::virt::PoolState::Running => {
                Ok(Check::done(format!("pool {} running", self.name)))
            }
            Ok(p) => Ok(Check::todo(format!("pool {} is {:?}", self.name, p.state))),
            Err(e) if e.is_not_found() => Ok(Check::todo(format!("no pool {}", self.name))),
            Err(e) => Err(e.into()),
        }
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let lv = &ctx.ctx.libvirt;
        let exists = match lv.pool(&self.name).await {
            Ok(_) => true,
            Err(e) if e.is_not_found() => false,
            Err(e) => return Err(e.into()),
        };
        if !exists {
            let xml = crate::virt::storage::dir_pool_xml(&self.name, &self.path.to_string_lossy());
            lv.define_pool(&xml).await?;
            ctx.info(format!("defined pool {}", self.name));
        }
        lv.start_pool(&self.name).await?;
        lv.set_pool_autostart(&self.name, true).await?;
        Ok(())
    }
}

/// A qcow2 disk made with qemu-img on the hypervisor (on top of a backing image when
/// given, then resized), removed with its VM (`nodes`).
pub struct Disk {
    pub id: String,
    pub path: PathBuf,
    pub size_gib: u32,
    pub backing: Option<PathBuf>,
}

#[async_trait]
impl Step for Disk {
    fn id(&self) -> &str {
        &self.id
    }
    fn title(&self) -> String {
        match &self.backing {
            Some(b) => format!(
                "disk {} ({} GiB on {})",
                self.path.display(),
                self.size_gib,
                b.display()
            ),
            None => format!("disk {} ({} GiB)", self.path.display(), self.size_gib),
        }
    }
    fn resources(&self) -> Vec<Resource> {
        vec![Resource::File {
            host: HostRole::Virthost,
            path: self.path.clone(),
            level: Level::Nodes,
        }]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let p = self.path.to_string_lossy().into_owned();
        if !ctx.host(HostRole::Virthost).exists(&self.path).await? {
            return Ok(Check::todo(format!("{p} missing")));
        }
        // A disk half-written by a killed qemu-img does not read as qcow2. `-U`: the disk of a
        // running VM is locked by QEMU, and must still read as done (never re-created).
        let out = ctx
            .probe(
                HostRole::Virthost,
                &Cmd::new(["qemu-img", "info", "-U", "--output=json", &p]).sudo(),
            )
            .await?;
        let want = u64::from(self.size_gib) << 30;
        let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let size = info["virtual-size"].as_u64().unwrap_or(0);
        Ok(
            if out.success() && size >= want && info["format"] == "qcow2" {
                Check::done(format!("{p}: qcow2, {} GiB", size >> 30))
            } else {
                Check::todo(format!(
                    "{p} exists but is not a {} GiB qcow2",
                    self.size_gib
                ))
            },
        )
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let p = self.path.to_string_lossy().into_owned();
        let size = format!("{}G", self.size_gib);
        let mut argv = vec!["qemu-img", "create", "-q", "-f", "qcow2"];
        let backing = self
            .backing
            .as_ref()
            .map(|b| b.to_string_lossy().into_owned());
        if let Some(b) = &backing {
            argv.extend(["-b", b.as_str(), "-F", "qcow2"]);
        }
        argv.extend([p.as_str(), size.as_str()]);
        ctx.run_ok(HostRole::Virthost, &Cmd::new(argv).sudo())
            .await?;
        Ok(())
    }
}

/// A domain, defined (and started when `start`).
pub struct Domain {
    pub id: String,
    pub name: String,
    pub xml: String,
    pub start: bool,
    /// Files libvirt writes for the domain (its serial console log), removed with it.
    pub files: Vec<PathBuf>,
}

impl Domain {
    /// (vcpus, memory MiB) the rendered definition asks for.
    fn wanted_sizes(&self) -> Option<(u32, u64)> {
        crate::virt::xml::parse(&self.xml)
            .ok()
            .and_then(|t| crate::virt::xml::sizes(&t))
    }

    /// vCPUs and memory of the persistent definition against the wanted ones.
    async fn drift(&self, ctx: &StepCtx<'_>, running: bool) -> anyhow::Result<Vec<Drift>> {
        let Some((want_cpus, want_mem)) = self.wanted_sizes() else {
            return Ok(Vec::new());
        };
        let live = ctx.ctx.libvirt.domain_xml_inactive(&self.name).await?;
        let Some((cpus, mem)) = crate::virt::xml::parse(&live)
            .ok()
            .and_then(|t| crate::virt::xml::sizes(&t))
        else {
            return Ok(Vec::new());
        };
        let cost = if running {
            DriftCost::NextBoot
        } else {
            DriftCost::Live
        };
        let mut out = Vec::new();
        if cpus != want_cpus {
            out.push(Drift {
                field: "vcpus".into(),
                live: cpus.to_string(),
                wanted: want_cpus.to_string(),
                cost,
            });
        }
        if mem != want_mem {
            out.push(Drift {
                field: "memory_mib".into(),
                live: mem.to_string(),
                wanted: want_mem.to_string(),
                cost,
            });
        }
        Ok(out)
    }
}

#[async_trait]
impl Step for Domain {
    fn id(&self) -> &str {
        &self.id
    }
    fn title(&self) -> String {
        if self.start {
            format!("define and start VM {}", self.name)
        } else {
            format!(
                "define VM {} (left off: network boot via VirtualBMC)",
                self.name
            )
        }
    }
    fn resources(&self) -> Vec<Resource> {
        let mut v = vec![Resource::Domain {
            name: self.name.clone(),
        }];
        v.extend(self.files.iter().map(|p| Resource::File {
            host: HostRole::Virthost,
            path: p.clone(),
            level: Level::Nodes,
        }));
        v
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let Some(d) = domain_row(&ctx.ctx.libvirt, &self.name).await? else {
            return Ok(Check::todo(format!("no domain {}", self.name)));
        };
        let drift = self.drift(ctx, d.state == "running").await?;
        if !drift.is_empty() {
            return Ok(Check::drifted(drift));
        }
        Ok(if !self.start || d.state == "running" {
            Check::done(format!("domain {} {}", self.name, d.state))
        } else {
            Check::todo(format!("domain {} is {}", self.name, d.state))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let lv = &ctx.ctx.libvirt;
        if !lv.domain_exists(&self.name).await? {
            lv.define_domain(&self.xml).await?;
            ctx.info(format!("defined domain {}", self.name));
        } else if let Some((vcpus, mem)) = self.wanted_sizes() {
            let running = domain_row(lv, &self.name)
                .await?
                .is_some_and(|d| d.state == "running");
            let drift = self.drift(ctx, running).await?;
            if !drift.is_empty() {
                lv.resize_persistent(&self.name, vcpus, mem).await?;
                for d in &drift {
                    ctx.info(format!("domain {}: {d}", self.name));
                }
                if running {
                    // Never restarted behind the user's back: they choose when.
                    ctx.info(format!(
                        "domain {} runs with its old size until it restarts: shut it down when convenient (`virsh shutdown {}`), then `labwarp run` starts it with the new one",
                        self.name, self.name
                    ));
                }
            }
        }
        if self.start {
            lv.start(&self.name).await?;
            ctx.info(format!("started domain {}", self.name));
        }
        emit_vms(ctx).await;
        Ok(())
    }
}

/// One domain as the VM pane shows it (`None` when it does not exist).
pub async fn domain_row(lv: &crate::virt::Libvirt, name: &str) -> anyhow::Result<Option<VmRow>> {
    match lv.domain(name).await {
        Ok(d) => Ok(Some(VmRow {
            state: d.state.to_string(),
            vcpus: d.vcpus,
            memory_mib: d.max_memory_mib,
            ips: d.ips.iter().map(|ip| ip.addr.to_string()).collect(),
            name: d.name,
        })),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Sends a snapshot of the lab's VMs to the front end (best effort).
pub async fn emit_vms(ctx: &StepCtx<'_>) {
    let Ok(vms) = crate::render::lab_vms(ctx.lab()) else {
        return;
    };
    let mut rows = Vec::new();
    for vm in vms {
        if let Ok(Some(r)) = domain_row(&ctx.ctx.libvirt, &vm.domain).await {
            rows.push(r);
        }
    }
    ctx.ctx.emit(Event::Vms { vms: rows });
}

/// Removes a domain in any state (running, paused, managed save, snapshots, nvram). Its
/// disks are not deleted with it: each disk labwarp made is a file of its own in the state
/// file, removed as such, and a disk someone attached to the VM is not labwarp's to delete.
pub async fn remove_domain(
    lv: &crate::virt::Libvirt,
    name: &str,
) -> anyhow::Result<crate::virt::Undefined> {
    Ok(lv
        .undefine(
            name,
            UndefineOptions {
                remove_storage: false,
            },
        )
        .await?)
}
