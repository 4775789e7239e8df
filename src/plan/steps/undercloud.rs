//! The undercloud VM once it runs: its address (DHCP lease, then the guest agent), its SSH
//! host key pinned from its serial console (cloud-init's `BEGIN SSH HOST KEY KEYS` block;
//! never trust on first use), SSH as the cloud-init user through the hypervisor, the seed
//! ISO ejected, and the workspace's ssh.config and inventory written with the address.
//!
//! Waits are bounded and report progress; every step's check reads the live lab, so a rerun
//! changes nothing and a re-created VM (new lease, new host key) is picked up.

use crate::host::console_keys;
use crate::host::known_hosts::{KnownHosts, Verdict};
use crate::host::{Cmd, HostError};
use crate::plan::{Check, HostRole, Step, StepCtx};
use crate::render::{self, RenderContext};
use async_trait::async_trait;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long each wait may take: TCG guests boot slowly, real cloud images more so.
pub const WAIT: Duration = Duration::from_secs(600);
const POLL: Duration = Duration::from_secs(1);

/// The undercloud VM as these steps see it.
#[derive(Debug, Clone)]
pub struct UndercloudRef {
    /// Its name in the lab (`undercloud`): the key of `state.yaml`'s `addresses`.
    pub vm: String,
    /// libvirt domain name.
    pub domain: String,
    /// MAC of its NIC on the NAT network (the address SSH goes to), when it has one.
    pub mac: Option<String>,
    /// libvirt name of that network (for messages).
    pub network: Option<String>,
    /// Serial console log on the hypervisor.
    pub console: PathBuf,
    /// NoCloud seed ISO on the hypervisor.
    pub seed: PathBuf,
}

fn address(ctx: &StepCtx<'_>, vm: &str) -> Option<String> {
    ctx.ctx.store.snapshot().addresses.get(vm).cloned()
}

/// Waits for `f` to give a value, for at most `limit`, reporting progress each second.
pub(crate) async fn wait<T, F, Fut>(ctx: &StepCtx<'_>, limit: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        let spent = start.elapsed();
        if spent >= limit {
            return None;
        }
        ctx.progress(
            spent.as_secs(),
            Some(limit.as_secs()),
            Some((limit - spent).as_secs()),
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The VM's IPv4 address on its NAT NIC, as libvirt knows it now (leases first, then the
/// guest agent), with where it came from.
async fn live_address(ctx: &StepCtx<'_>, uc: &UndercloudRef) -> anyhow::Result<Option<String>> {
    let d = match ctx.ctx.libvirt.domain(&uc.domain).await {
        Ok(d) => d,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut ips: Vec<_> = d
        .ips
        .iter()
        .filter(|ip| ip.addr.is_ipv4())
        .filter(|ip| match (&uc.mac, &ip.mac) {
            (Some(want), Some(have)) => want.eq_ignore_ascii_case(have),
            _ => true,
        })
        .collect();
    ips.sort_by_key(|ip| ip.source);
    Ok(ips
        .first()
        .map(|ip| format!("{} ({:?})", ip.addr, ip.source).to_lowercase()))
}

fn bare(addr_and_source: &str) -> &str {
    addr_and_source.split(' ').next().unwrap_or(addr_and_source)
}

/// The undercloud's address, from its DHCP lease (or the guest agent), recorded in
/// `state.yaml` for `labwarp ssh`, `status`, the TUI, ssh.config and the later stages.
pub struct Address {
    pub uc: UndercloudRef,
    pub timeout: Duration,
}

#[async_trait]
impl Step for Address {
    fn id(&self) -> &str {
        "address"
    }
    fn title(&self) -> String {
        format!(
            "wait for {}'s address (DHCP lease{})",
            self.uc.domain,
            self.uc
                .network
                .as_ref()
                .map(|n| format!(" on {n}"))
                .unwrap_or_default()
        )
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let recorded = address(ctx, &self.uc.vm);
        let live = live_address(ctx, &self.uc).await?;
        Ok(match (recorded, live) {
            (Some(r), Some(l)) if r == bare(&l) => Check::done(format!("{l}, recorded")),
            (r, Some(l)) => Check::todo(format!(
                "{l} live, state.yaml has {}",
                r.unwrap_or_else(|| "none".into())
            )),
            (_, None) => Check::todo(format!("{} has no address yet", self.uc.domain)),
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        ctx.info(format!(
            "waiting up to {} s for a DHCP lease for {}{} (then the guest agent)",
            self.timeout.as_secs(),
            self.uc.domain,
            self.uc
                .mac
                .as_ref()
                .map(|m| format!(", MAC {m}"))
                .unwrap_or_default()
        ));
        let found = wait(ctx, self.timeout, || async {
            live_address(ctx, &self.uc).await.ok().flatten()
        })
        .await
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} got no address within {} s: see its console log {} on the hypervisor",
                self.uc.domain,
                self.timeout.as_secs(),
                self.uc.console.display()
            )
        })?;
        let ip = bare(&found).to_string();
        ctx.ctx
            .store
            .update(|s| s.addresses.insert(self.uc.vm.clone(), ip.clone()))?;
        ctx.info(format!(
            "{} is at {found}; recorded in state.yaml",
            self.uc.vm
        ));
        Ok(())
    }
    async fn undo(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        ctx.ctx.store.update(|s| s.addresses.remove(&self.uc.vm))?;
        Ok(())
    }
}

/// The undercloud's SSH host keys, read from its serial console log on the hypervisor and
/// pinned in `workspace/known_hosts` for its address.
pub struct HostKey {
    pub uc: UndercloudRef,
    pub timeout: Duration,
}

impl HostKey {
    fn known_hosts(ctx: &StepCtx<'_>) -> KnownHosts {
        KnownHosts::new(crate::workspace::known_hosts(&ctx.ctx.workspace))
    }

    /// The keys of the last complete block on the console (None: not printed yet).
    async fn console_keys(
        &self,
        ctx: &StepCtx<'_>,
    ) -> anyhow::Result<Option<Vec<russh::keys::PublicKey>>> {
        let path = self.uc.console.to_string_lossy().into_owned();
        // libvirt writes the log as root: read it with sudo when the SSH user is not root.
        let out = ctx
            .probe(
                HostRole::Virthost,
                &Cmd::new(["cat", "--", path.as_str()]).sudo(),
            )
            .await?;
        if !out.success() {
            return Ok(None);
        }
        Ok(console_keys::last_block(&out.stdout_str()).filter(|k| !k.is_empty()))
    }
}

#[async_trait]
impl Step for HostKey {
    fn id(&self) -> &str {
        "host-key"
    }
    fn title(&self) -> String {
        format!(
            "pin {}'s SSH host key from its console ({})",
            self.uc.domain,
            self.uc.console.display()
        )
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let Some(addr) = address(ctx, &self.uc.vm) else {
            return Ok(Check::todo("the undercloud has no recorded address yet"));
        };
        let Some(keys) = self.console_keys(ctx).await? else {
            return Ok(Check::todo(format!(
                "no `{}` block on the console yet",
                console_keys::BEGIN
            )));
        };
        let kh = Self::known_hosts(ctx);
        for k in &keys {
            if kh.check(&addr, 22, k)? != Verdict::Trusted {
                return Ok(Check::todo(format!(
                    "{} ({}) not pinned for {addr}",
                    crate::host::keys::fingerprint(k),
                    k.algorithm().as_str()
                )));
            }
        }
        // Only the console's keys may be pinned for the address (no stale ones).
        let pinned = kh.pinned(&addr, 22)?;
        Ok(if pinned.len() == keys.len() {
            Check::done(format!(
                "{} key(s) from the console pinned for {addr}",
                keys.len()
            ))
        } else {
            Check::todo(format!(
                "{addr} has {} pinned key(s), the console shows {}",
                pinned.len(),
                keys.len()
            ))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let addr = address(ctx, &self.uc.vm)
            .ok_or_else(|| anyhow::anyhow!("the undercloud has no recorded address yet"))?;
        ctx.info(format!(
            "waiting up to {} s for the host keys on {}'s console",
            self.timeout.as_secs(),
            self.uc.domain
        ));
        let keys = wait(ctx, self.timeout, || async {
            self.console_keys(ctx).await.ok().flatten()
        })
        .await
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} printed no `{}` block on its console ({}) within {} s: cloud-init prints it once SSH is set up; without it labwarp will not trust the VM's SSH key",
                self.uc.domain,
                console_keys::BEGIN,
                self.uc.console.display(),
                self.timeout.as_secs()
            )
        })?;
        let dropped = Self::known_hosts(ctx).replace(&addr, 22, &keys)?;
        for k in &keys {
            ctx.info(format!(
                "pinned {} {} for {addr} (from the console)",
                k.algorithm().as_str(),
                crate::host::keys::fingerprint(k)
            ));
        }
        if !dropped.is_empty() {
            ctx.info(format!(
                "replaced the earlier pin(s) {} of {addr}: the VM at that address was re-created",
                dropped.join(", ")
            ));
        }
        Ok(())
    }
    async fn undo(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        if let Some(addr) = address(ctx, &self.uc.vm) {
            Self::known_hosts(ctx).replace(&addr, 22, &[])?;
        }
        Ok(())
    }
}

/// SSH to the undercloud as its cloud-init user with the workspace key, through the
/// hypervisor (ProxyJump) when that is remote.
pub struct SshReady {
    pub uc: UndercloudRef,
    pub user: String,
    pub timeout: Duration,
}

async fn try_ssh(ctx: &StepCtx<'_>) -> Result<String, HostError> {
    let out = ctx
        .host(HostRole::Undercloud)
        .exec(&Cmd::new(["id", "-un"]).timeout(Duration::from_secs(20)))
        .await?;
    if out.success() {
        Ok(out.stdout_str().trim().to_string())
    } else {
        Err(HostError::Other {
            host: ctx.host(HostRole::Undercloud).name().to_string(),
            msg: format!("`id -un` exited with {:?}", out.code),
        })
    }
}

#[async_trait]
impl Step for SshReady {
    fn id(&self) -> &str {
        "ssh"
    }
    fn title(&self) -> String {
        format!("wait for SSH to {} as {}", self.uc.vm, self.user)
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        if address(ctx, &self.uc.vm).is_none() {
            return Ok(Check::todo("the undercloud has no recorded address yet"));
        }
        Ok(match try_ssh(ctx).await {
            Ok(who) => Check::done(format!(
                "logged in as {who} on {}",
                ctx.host(HostRole::Undercloud).name()
            )),
            Err(e) => Check::todo(format!("SSH: {e}")),
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        ctx.info(format!(
            "waiting up to {} s for SSH to {}@{} (via the hypervisor when remote)",
            self.timeout.as_secs(),
            self.user,
            address(ctx, &self.uc.vm).unwrap_or_default()
        ));
        let start = Instant::now();
        loop {
            match try_ssh(ctx).await {
                Ok(who) => {
                    ctx.info(format!("SSH works: logged in as {who}"));
                    return Ok(());
                }
                // A key that differs from the console's is an attack or a mix-up: never
                // retried, never overridden.
                Err(e @ HostError::HostKeyMismatch { .. }) => anyhow::bail!("{e}"),
                Err(e) => {
                    let spent = start.elapsed();
                    if spent >= self.timeout {
                        anyhow::bail!(
                            "no SSH to the undercloud within {} s; last error: {e}",
                            self.timeout.as_secs()
                        );
                    }
                    ctx.progress(
                        spent.as_secs(),
                        Some(self.timeout.as_secs()),
                        Some((self.timeout - spent).as_secs()),
                    );
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }
}

/// The cloud-init seed ISO ejected once the VM is up (cloud-init has read it; the next
/// boot must not re-run it from a stale seed).
pub struct EjectSeed {
    pub uc: UndercloudRef,
}

#[async_trait]
impl Step for EjectSeed {
    fn id(&self) -> &str {
        "eject-seed"
    }
    fn title(&self) -> String {
        format!("eject {} from {}", self.uc.seed.display(), self.uc.domain)
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let seed = self.uc.seed.to_string_lossy();
        let drives = match ctx.ctx.libvirt.cdroms(&self.uc.domain).await {
            Ok(d) => d,
            Err(e) if e.is_not_found() => {
                return Ok(Check::todo(format!("no domain {}", self.uc.domain)));
            }
            Err(e) => return Err(e.into()),
        };
        let holding: Vec<&str> = drives
            .iter()
            .filter(|d| {
                d.live.as_deref() == Some(seed.as_ref()) || d.config.as_deref() == Some(&*seed)
            })
            .map(|d| d.target.as_str())
            .collect();
        Ok(if holding.is_empty() {
            Check::done(format!("no drive of {} holds the seed", self.uc.domain))
        } else {
            Check::todo(format!("the seed is in drive {}", holding.join(", ")))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let seed = self.uc.seed.to_string_lossy();
        for d in ctx.ctx.libvirt.cdroms(&self.uc.domain).await? {
            if d.live.as_deref() == Some(seed.as_ref()) || d.config.as_deref() == Some(&*seed) {
                ctx.ctx.libvirt.eject(&self.uc.domain, &d.target).await?;
                ctx.info(format!(
                    "ejected {} from drive {} of {}",
                    seed, d.target, self.uc.domain
                ));
            }
        }
        Ok(())
    }
}

/// `workspace/ssh.config` and `workspace/inventory.yaml` with the addresses labwarp
/// learnt (ssh -F workspace/ssh.config undercloud; ansible -i workspace/inventory.yaml).
pub struct SshFiles;

impl SshFiles {
    pub(crate) fn render(ctx: &StepCtx<'_>) -> anyhow::Result<Vec<(PathBuf, String)>> {
        let lab = ctx.lab();
        let ws = &ctx.ctx.workspace;
        let mut r = RenderContext::for_lab(lab, ws);
        apply_addresses(&mut r, lab, &ctx.ctx.store.snapshot().addresses);
        Ok(vec![
            (
                crate::workspace::ssh_config(ws),
                render::ssh_config::render(lab, &r)?,
            ),
            (
                crate::workspace::inventory(ws),
                render::inventory::render(lab, &r)?,
            ),
        ])
    }
}

/// Puts the addresses recorded in `state.yaml` into a render context: the undercloud's
/// (when it parses) and the overcloud nodes' that are known.
pub fn apply_addresses(
    r: &mut RenderContext,
    lab: &crate::lab::Lab,
    addresses: &std::collections::BTreeMap<String, String>,
) {
    if let Some(ip) = addresses
        .get(&lab.undercloud.vm.name)
        .and_then(|a| a.parse().ok())
    {
        r.undercloud_ip = Some(ip);
    }
    for node in lab.nodes() {
        if let Some(a) = addresses.get(&node.name) {
            r.node_addresses.insert(node.name.clone(), a.clone());
        }
    }
}

#[async_trait]
impl Step for SshFiles {
    fn id(&self) -> &str {
        "ssh-config"
    }
    fn title(&self) -> String {
        "write workspace/ssh.config and workspace/inventory.yaml".into()
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        for (path, want) in Self::render(ctx)? {
            if std::fs::read_to_string(&path).ok().as_deref() != Some(want.as_str()) {
                return Ok(Check::todo(format!(
                    "{} missing or out of date",
                    path.display()
                )));
            }
        }
        Ok(Check::done("ssh.config and inventory.yaml up to date"))
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        for (path, text) in Self::render(ctx)? {
            crate::workspace::write_atomic_mkdir(&path, text.as_bytes(), 0o600)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            ctx.info(format!("wrote {}", path.display()));
        }
        Ok(())
    }
}
