//! Steps on the lab's libvirt connection: networks, the storage pool, disks and domains.

use crate::engine::event::{Event, VmRow};
use crate::host::Cmd;
use crate::plan::drift;
use crate::plan::{Check, Drift, HostRole, Level, Resource, Step, StepCtx};
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
            Ok(n) => {
                let drift = self.drift(ctx).await?;
                if !drift.is_empty() {
                    return Ok(Check::drifted(drift));
                }
                Ok(if n.active {
                    Check::done(format!(
                        "network {} active (bridge {})",
                        self.name,
                        n.bridge.unwrap_or_default()
                    ))
                } else {
                    Check::todo(format!("network {} defined, not active", self.name))
                })
            }
            Err(e) if e.is_not_found() => Ok(Check::todo(format!("no network {}", self.name))),
            Err(e) => Err(e.into()),
        }
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let lv = &ctx.ctx.libvirt;
        if !lv.networks().await?.iter().any(|n| n.name == self.name) {
            lv.define_network(&self.xml).await?;
            ctx.info(format!("defined network {}", self.name));
        } else {
            let drift = self.drift(ctx).await?;
            if let Some(e) = drift::refusal(&format!("network {}", self.name), &drift) {
                return Err(e);
            }
            if drift.iter().any(|d| d.field == "dhcp_range") {
                let (want, live) = (
                    self.dhcp(&self.xml)?,
                    self.dhcp(&lv.network_xml_inactive(&self.name).await?)?,
                );
                if let (Some(w), Some(l)) = (want, live) {
                    lv.update_network_dhcp_range(&self.name, (&l.0, &l.1), (&w.0, &w.1))
                        .await?;
                }
            }
            for d in &drift {
                ctx.info(format!("network {}: {d}", self.name));
            }
        }
        lv.start_network(&self.name).await?;
        lv.set_network_autostart(&self.name, true).await?;
        ctx.info(format!("network {} started", self.name));
        Ok(())
    }
}

impl Network {
    /// The persistent definition against the rendered one, field by field.
    async fn drift(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Vec<Drift>> {
        let live = ctx.ctx.libvirt.network_xml_inactive(&self.name).await?;
        drift::network::drift(&self.xml, &live, RECREATE_VIRTHOST)
            .map_err(|e| anyhow::anyhow!("network {}: cannot read its XML: {e}", self.name))
    }

    fn dhcp(&self, xml: &str) -> anyhow::Result<Option<(String, String)>> {
        let el = crate::virt::xml::parse(xml)
            .map_err(|e| anyhow::anyhow!("network {}: cannot read its XML: {e}", self.name))?;
        Ok(drift::network::fields(&el).dhcp)
    }
}

/// What makes a network anew: everything at the virthost level goes, then is built again.
const RECREATE_VIRTHOST: &str = "labwarp run --fresh virthost";
/// What makes a disk anew: the VMs and their disks go, then are built again.
const RECREATE_DISK: &str = "labwarp run --fresh nodes";

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
            Ok(p) if self.drift(&p).is_some() => {
                Ok(Check::drifted(self.drift(&p).into_iter().collect()))
            }
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
            Ok(p) => {
                if let Some(e) = self
                    .drift(&p)
                    .and_then(|d| drift::refusal(&format!("pool {}", self.name), &[d]))
                {
                    return Err(e);
                }
                true
            }
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

impl Pool {
    /// A pool whose directory moved in lab.yaml: a recreate (its disks stay where they are).
    fn drift(&self, live: &crate::virt::PoolInfo) -> Option<Drift> {
        let want = self.path.to_string_lossy();
        let have = live.target_path.as_deref()?;
        (have.trim_end_matches('/') != want.trim_end_matches('/')).then(|| {
            Drift::recreate(
                "path",
                have,
                want,
                "the disks in the old directory stay there, and every VM on them goes with the pool",
                RECREATE_VIRTHOST,
            )
        })
    }
}

/// A qcow2 disk made with qemu-img on the hypervisor (on top of a backing image when
/// given, then resized), removed with its VM (`nodes`).
pub struct Disk {
    pub id: String,
    pub path: PathBuf,
    pub size_gib: u32,
    pub backing: Option<PathBuf>,
    /// The domain the disk belongs to (a disk it runs is grown through libvirt, as QEMU
    /// holds it open); `None` for an image no VM runs from.
    pub vm: Option<String>,
}

impl Disk {
    /// The disk's qcow2 virtual size, `None` when it is no (whole) qcow2.
    async fn live_size(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Option<u64>> {
        let p = self.path.to_string_lossy().into_owned();
        // A disk half-written by a killed qemu-img does not read as qcow2. `-U`: the disk of a
        // running VM is locked by QEMU, and must still read (never re-created).
        let out = ctx
            .probe(
                HostRole::Virthost,
                &Cmd::new(["qemu-img", "info", "-U", "--output=json", &p]).sudo(),
            )
            .await?;
        let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        Ok(info["virtual-size"]
            .as_u64()
            .filter(|_| out.success() && info["format"] == "qcow2"))
    }

    fn drift(&self, size: u64) -> Option<Drift> {
        drift::disk::drift(
            &self.path.to_string_lossy(),
            size,
            u64::from(self.size_gib) << 30,
            RECREATE_DISK,
        )
    }

    /// Grows the disk: through libvirt while its VM runs (or is paused: QEMU holds the
    /// image either way), with qemu-img otherwise.
    async fn grow(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let lv = &ctx.ctx.libvirt;
        let bytes = u64::from(self.size_gib) << 30;
        let p = self.path.to_string_lossy().into_owned();
        if let Some(vm) = &self.vm
            && domain_row(lv, vm)
                .await?
                .is_some_and(|d| d.state == "running" || d.state == "paused")
        {
            let live = crate::virt::xml::parse(&lv.domain_xml(vm).await?)
                .map_err(|e| anyhow::anyhow!("domain {vm}: cannot read its XML: {e}"))?;
            let target = crate::virt::xml::domain_disks(&live)
                .into_iter()
                .find(|d| d.path.as_deref() == Some(p.as_str()))
                .and_then(|d| d.target)
                .ok_or_else(|| anyhow::anyhow!("domain {vm} runs but has no disk {p}"))?;
            match lv.block_resize(vm, &target, bytes).await {
                // A driver with no QEMU behind it (the test driver) holds no image open:
                // qemu-img below does it.
                Err(e) if e.code() == Some(virt::error::ErrorNumber::NoSupport) => {}
                r => {
                    r?;
                    ctx.info(format!(
                        "grew {p} to {} GiB in running VM {vm} ({target})",
                        self.size_gib
                    ));
                    return Ok(());
                }
            }
        }
        let size = format!("{}G", self.size_gib);
        ctx.run_ok(
            HostRole::Virthost,
            &Cmd::new(["qemu-img", "resize", "-q", "-f", "qcow2", &p, &size]).sudo(),
        )
        .await?;
        Ok(())
    }
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
        Ok(match self.live_size(ctx).await? {
            Some(size) => match self.drift(size) {
                Some(d) => Check::drifted(vec![d]),
                None => Check::done(format!("{p}: qcow2, {} GiB", size >> 30)),
            },
            None => Check::todo(format!(
                "{p} exists but is not a {} GiB qcow2",
                self.size_gib
            )),
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        if ctx.host(HostRole::Virthost).exists(&self.path).await?
            && let Some(size) = self.live_size(ctx).await?
        {
            // An existing disk is never made anew: grown, or refused.
            let Some(d) = self.drift(size) else {
                return Ok(());
            };
            if let Some(e) = drift::refusal(
                &format!("disk {}", self.path.display()),
                std::slice::from_ref(&d),
            ) {
                return Err(e);
            }
            ctx.info(format!("disk {}: {d}", self.path.display()));
            return self.grow(ctx).await;
        }
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
    pub(super) fn wanted_sizes(&self) -> Option<(u32, u64)> {
        crate::virt::xml::parse(&self.xml)
            .ok()
            .and_then(|t| crate::virt::xml::sizes(&t))
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
        let (drift, restart_only) = self.drift(ctx, d.state == "running").await?;
        if restart_only && !drift.is_empty() && !ctx.ctx.restart_allowed() {
            // Its definition is as wanted; the running VM waits for a restart the user has
            // not allowed: done for this run, the drift still shown.
            let mut c = Check::done(format!(
                "domain {} running; its new size waits for a restart",
                self.name
            ));
            c.drift = drift;
            return Ok(c);
        }
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
        } else {
            self.apply_drift(ctx).await?;
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
