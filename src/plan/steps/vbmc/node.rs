//! One overcloud node's IPMI endpoint, and the entries in the lab's directory.

use super::{BmcEntry, VbmcPaths, list, p, wait_until_done};
use crate::host::Cmd;
use crate::lab::Lab;
use crate::plan::{Check, Ctx, HostRole, Resource, Step, StepCtx};
use async_trait::async_trait;

/// One node's IPMI endpoint: its config in the lab's vbmcd directory, started and running.
pub struct Node {
    pub id: String,
    pub paths: VbmcPaths,
    pub entry: BmcEntry,
}

impl Node {
    pub fn new(id: String, paths: VbmcPaths, lab: &Lab, domain: &str, port: u16) -> Self {
        let v = &lab.overcloud.vbmc;
        let entry = BmcEntry {
            domain: domain.to_string(),
            username: v.username.clone(),
            password: v
                .password
                .as_ref()
                .map(|s| s.expose().to_string())
                .unwrap_or_default(),
            address: v.address.clone(),
            port,
            libvirt_uri: paths.libvirt_uri.clone(),
            active: true,
        };
        Node { id, paths, entry }
    }

    async fn status(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let h = ctx.host(HostRole::Virthost);
        let d = &self.entry.domain;
        let path = self.paths.node_config(d);
        if !h.exists(&path).await? {
            return Ok(Check::todo(format!("no VirtualBMC entry for {d}")));
        }
        let have = BmcEntry::parse(&String::from_utf8_lossy(&h.read_file(&path).await?));
        let Some(have) = have else {
            return Ok(Check::todo(format!("{} unreadable", path.display())));
        };
        let diff = have.differences(&self.entry);
        if !diff.is_empty() {
            return Ok(Check::todo(format!(
                "VirtualBMC entry {d} has {}",
                diff.join(", ")
            )));
        }
        let rows = match list(ctx.ctx, &self.paths).await {
            Ok(r) => r,
            Err(e) => return Ok(Check::todo(format!("vbmcd does not answer: {e}"))),
        };
        match rows.iter().find(|r| &r[0] == d) {
            Some(r) if r[1] == "running" => Ok(Check::done(format!(
                "VirtualBMC {d} running on {}:{}",
                r[2], r[3]
            ))),
            Some(r) => Ok(Check::todo(format!("VirtualBMC {d} is {}", r[1]))),
            None => Ok(Check::todo(format!("vbmcd does not list {d}"))),
        }
    }
}

#[async_trait]
impl Step for Node {
    fn id(&self) -> &str {
        &self.id
    }
    fn title(&self) -> String {
        format!(
            "VirtualBMC for {} on {}:{} (UDP)",
            self.entry.domain, self.entry.address, self.entry.port
        )
    }
    fn resources(&self) -> Vec<Resource> {
        vec![Resource::VbmcEntry {
            node: self.entry.domain.clone(),
        }]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        self.status(ctx).await
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let pw = &self.entry.password;
        if pw.is_empty() || pw.contains('%') || pw.trim() != pw || pw.contains('\n') {
            anyhow::bail!(
                "overcloud.vbmc.password: VirtualBMC stores it in an INI file, so it must be non-empty, without `%`, newlines or surrounding spaces; choose another"
            );
        }
        let h = ctx.host(HostRole::Virthost);
        let d = self.entry.domain.clone();
        let path = self.paths.node_config(&d);
        // A running BMC keeps its old port until stopped: stop it first (no-op when none).
        if h.exists(&path).await? {
            let _ = ctx
                .run(HostRole::Virthost, &self.paths.vbmc(&["stop", &d]))
                .await;
        }
        // The password goes only into this 0600 file, never onto a command line.
        let config = self.entry.to_config()?;
        if h.exists(&self.paths.node_dir(&d)).await? {
            h.write_file(&path, config.as_bytes(), 0o600).await?;
        } else {
            // A new entry appears in `nodes/` whole (renamed in with its config) or not at
            // all, whenever this run is killed.
            let staging = self.paths.staging_dir(&d);
            let sh = |args: &[&str]| Cmd::new(args.iter().copied()).sudo();
            ctx.run_ok(HostRole::Virthost, &sh(&["rm", "-rf", "--", &p(&staging)]))
                .await?;
            ctx.run_ok(
                HostRole::Virthost,
                &sh(&["mkdir", "-p", "-m", "0700", "--", &p(&staging)]),
            )
            .await?;
            h.write_file(&staging.join("config"), config.as_bytes(), 0o600)
                .await?;
            ctx.run_ok(
                HostRole::Virthost,
                &sh(&["mv", "-T", "--", &p(&staging), &p(&self.paths.node_dir(&d))]),
            )
            .await?;
        }
        ctx.info(format!(
            "wrote {} (mode 0600): {}:{} user {}",
            path.display(),
            self.entry.address,
            self.entry.port,
            self.entry.username
        ));
        ctx.run_ok(HostRole::Virthost, &self.paths.vbmc(&["start", &d]))
            .await?;
        let Err(last) = wait_until_done(ctx, 40, || self.status(ctx)).await? else {
            return Ok(());
        };
        anyhow::bail!(
            "{last} (see {} on the hypervisor: is {}:{} free and the address assigned there?)",
            self.paths.log_file().display(),
            self.entry.address,
            self.entry.port
        )
    }
}

/// Removes one node's entry: through vbmcd when it answers (which stops the BMC), else the
/// directory alone (no daemon, no BMC process). Already gone is fine.
pub async fn remove_entry(
    ctx: &Ctx,
    paths: &VbmcPaths,
    domain: &str,
    log: &mut (dyn FnMut(String) + Send),
) -> anyhow::Result<()> {
    let h = &ctx.virthost;
    let dir = paths.node_dir(domain);
    if !h.exists(&dir).await? {
        return Ok(());
    }
    if list(ctx, paths).await.is_ok() {
        let _ = h.exec(&paths.vbmc(&["delete", domain])).await;
    }
    if h.exists(&dir).await? {
        h.exec_ok(&Cmd::new(["rm", "-rf", "--", &p(&dir)]).sudo())
            .await?;
    }
    log(format!("removed VirtualBMC entry {domain}"));
    Ok(())
}

/// Entries that exist in the lab's directory now (whatever the plan says).
pub async fn existing_entries(ctx: &Ctx, paths: &VbmcPaths) -> anyhow::Result<Vec<String>> {
    let h = &ctx.virthost;
    if !h.exists(&paths.nodes_dir()).await? {
        return Ok(Vec::new());
    }
    let out = h
        .exec(&Cmd::new(["ls", "-1", "--", &p(&paths.nodes_dir())]).sudo())
        .await?;
    Ok(out
        .stdout_str()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// Entries in the lab's directory without their `config` file. vbmcd's `list` answers
/// "No domain with matching name" for such a directory, whichever domains exist, so one
/// left by an interrupted write would keep vbmcd from ever answering.
pub async fn broken_entries(ctx: &Ctx, paths: &VbmcPaths) -> anyhow::Result<Vec<String>> {
    let mut broken = Vec::new();
    for d in existing_entries(ctx, paths).await? {
        if !ctx.virthost.exists(&paths.node_config(&d)).await? {
            broken.push(d);
        }
    }
    Ok(broken)
}
