//! One session against a lab: the workspace, the hosts, the facts, the plan and the state
//! store, wired together for `plan`, `run`, `status` and `clean` (and the TUI).

use super::logs;
use crate::engine::event::{Event, LogStream};
use crate::engine::state::StateStore;
use crate::host::lab as lab_hosts;
use crate::host::lazy::LazyHost;
use crate::host::{Host, LocalHost, SshOptions, SshTarget, TrustPolicy};
use crate::lab::{DomainType, Lab};
use crate::plan::{Ctx, Facts, Plan, stages};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub struct Session {
    pub ctx: Arc<Ctx>,
    pub plan: Plan,
    pub store: Arc<StateStore>,
    /// Writes the stage logs; finishes once every event sender is dropped.
    pub log_task: JoinHandle<()>,
}

/// The workspace as an absolute path (`override` wins over lab.yaml's `workspace`).
pub fn workspace_dir(lab: &Lab, over: Option<&Path>) -> anyhow::Result<PathBuf> {
    let ws = over
        .map(Path::to_path_buf)
        .unwrap_or_else(|| lab.workspace.clone());
    Ok(if ws.is_absolute() {
        ws
    } else {
        std::env::current_dir()?.join(ws)
    })
}

/// Opens the hosts of a lab: the first hypervisor (this machine for `address: local`, else
/// over SSH with the workspace key, its host key pinned or trusted by `trust`), and the
/// undercloud (the sandbox directory, or the VM over SSH through the hypervisor once a step
/// has recorded its address).
async fn hosts(
    lab: &Lab,
    facts: &Facts,
    ws: &Path,
    trust: TrustPolicy,
    store: &Arc<StateStore>,
) -> anyhow::Result<(Arc<dyn Host>, Arc<dyn Host>)> {
    let hv = lab
        .hypervisors
        .first()
        .ok_or_else(|| anyhow::anyhow!("hypervisors: the lab names no hypervisor; add one"))?;
    let (virthost, jump): (Arc<dyn Host>, _) = if hv.is_local() {
        (Arc::new(LocalHost::named(hv.name.clone())), None)
    } else {
        let h = lab_hosts::connect_hypervisor(hv, ws, trust)
            .await
            .map_err(|e| anyhow::anyhow!("hypervisors[0] ({}): {e}", hv.address))?;
        (h.clone(), Some(h))
    };
    if facts.sandbox {
        return Ok((virthost, Arc::new(LocalHost::named("undercloud-sandbox"))));
    }
    Ok((virthost, Arc::new(undercloud_host(lab, ws, jump, store)?)))
}

/// The undercloud VM as its cloud-init user, with the workspace key, only its pinned host
/// key accepted (pinned from the VM's console by the undercloud-vm stage, never on first
/// use), through the hypervisor when that is remote. Its address comes from the state file
/// at each use.
fn undercloud_host(
    lab: &Lab,
    ws: &Path,
    jump: Option<Arc<crate::host::SshHost>>,
    store: &Arc<StateStore>,
) -> anyhow::Result<LazyHost> {
    let opts = SshOptions::for_workspace(ws, TrustPolicy::PinnedOnly)?;
    let name =
        crate::render::ssh_config::undercloud_alias(lab).unwrap_or_else(|_| "undercloud".into());
    let vm = lab.undercloud.vm.name.clone();
    let user = lab.undercloud.cloud_init.user.clone();
    let store = store.clone();
    let shown = name.clone();
    Ok(LazyHost::new(
        name,
        opts,
        jump,
        Box::new(move || {
            let addr = store.snapshot().addresses.get(&vm).cloned().ok_or_else(|| {
                format!(
                    "the undercloud VM has no known address yet: the undercloud-vm stage records it from its DHCP lease (labwarp run --only {})",
                    crate::plan::stages::UNDERCLOUD_VM
                )
            })?;
            Ok(SshTarget {
                name: shown.clone(),
                host: addr,
                port: 22,
                user: user.clone(),
            })
        }),
    ))
}

impl Session {
    /// Must be called inside a tokio runtime (the log writer is a task).
    pub async fn open(
        lab: Lab,
        workspace: Option<&Path>,
        out: mpsc::UnboundedSender<Event>,
    ) -> anyhow::Result<Session> {
        Self::open_with(lab, workspace, out, TrustPolicy::PinnedOnly).await
    }

    /// Like [`open`](Self::open); `trust` says what to do with a hypervisor host key that is
    /// not pinned yet (the CLI's `--trust-host-key` / `--trust-first-use`).
    pub async fn open_with(
        lab: Lab,
        workspace: Option<&Path>,
        out: mpsc::UnboundedSender<Event>,
        trust: TrustPolicy,
    ) -> anyhow::Result<Session> {
        let ws = workspace_dir(&lab, workspace)?;
        // Before anything is written there (the VBMC password below).
        crate::workspace::refuse_links(&ws)?;
        let mut lab = lab;
        if lab.overcloud.vbmc.password.is_none() {
            lab.overcloud.vbmc.password = Some(vbmc_password(&ws)?.0);
        }
        let mut facts = Facts::decide(&lab, &ws);
        std::fs::create_dir_all(&ws)
            .map_err(|e| anyhow::anyhow!("workspace {}: {e}", ws.display()))?;
        facts.lab_id = crate::workspace::lab_id(&ws)?;
        let store = Arc::new(StateStore::open(crate::workspace::state_file(&ws))?);
        let (virthost, undercloud) = hosts(&lab, &facts, &ws, trust, &store).await?;
        if !facts.sandbox {
            // cloud-init installs the workspace key in the undercloud: labwarp logs in with it.
            let id = crate::host::keys::ensure_identity(&ws)?;
            facts.ssh_public_key = Some(id.public_line());
        }
        if !facts.test_driver
            && lab.hypervisors.first().map(|h| h.domain_type) == Some(DomainType::Auto)
        {
            // `auto`: preflight's verdict from evidence (which KVM module, vmx/svm flags,
            // the ioctl, libvirt's capabilities) decides between kvm and TCG.
            use crate::checks::{CheckContext, CheckOptions, HostView, virtualization};
            let view = HostView::system(virthost.as_ref(), true);
            let cctx = CheckContext::for_lab(lab.clone(), CheckOptions::default());
            let vf = virtualization::gather(&view, &cctx).await;
            let (verdict, why) = virtualization::verdict(&vf);
            let chosen = virtualization::chosen_domain_type(&vf, DomainType::Auto);
            facts.domain_type = chosen;
            facts.domain_type_reason =
                format!("preflight: {} ({})", verdict.title(), why.join("; "));
        }
        let plan = stages::build(&lab, &facts, &ws)?;
        let uri = lab
            .hypervisors
            .first()
            .map(|h| h.libvirt_uri.clone())
            .unwrap_or_default();
        // test:///default forgets everything when its last connection closes: its world is
        // kept in the workspace instead, so the next process sees the lab as this one left it.
        let libvirt = if uri == "test:///default" {
            crate::virt::Libvirt::connect_test_world(&test_world_path(&ws)).await
        } else {
            crate::virt::Libvirt::connect(&uri).await
        }
        .map_err(|e| anyhow::anyhow!("hypervisors[0].libvirt_uri: {e}"))?;
        let (events, log_task) = logs::tee(crate::workspace::logs_dir(&ws), out);
        forward_libvirt_notices(&libvirt, &events);
        let ctx = Arc::new(Ctx {
            lab,
            facts,
            workspace: ws,
            virthost,
            undercloud,
            libvirt,
            events,
            store: store.clone(),
            allow_restart: Default::default(),
        });
        Ok(Session {
            ctx,
            plan,
            store,
            log_task,
        })
    }
}

/// The lab a workspace was built from: `labwarp run` records it there (and the TUI saves
/// its lab there), so `status`, `plan`, `clean` and `run` without a lab argument use it.
pub fn lab_file(ws: &Path) -> PathBuf {
    crate::workspace::lab_file(ws)
}

/// Records `lab` as the lab the workspace `ws` is built from (unless it was loaded from that
/// very file): whole, with the absolute workspace, and without a typed VirtualBMC password,
/// which goes to the workspace's 0600 file instead.
pub fn record_lab(lab: &Lab, ws: &Path, source: Option<&Path>) -> anyhow::Result<()> {
    let path = lab_file(ws);
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if source.is_some_and(|src| same(src, &path)) {
        return Ok(());
    }
    let mut lab = lab.clone();
    lab.workspace = ws.to_path_buf();
    crate::secrets::stash_vbmc_password(&mut lab, ws)
        .map_err(|e| anyhow::anyhow!("VirtualBMC password: {e}"))?;
    let text = format!(
        "# The lab this workspace was built from (written by `labwarp run`); `labwarp status`,\n# `plan`, `clean` and `run` use it when given no lab.\n{}",
        crate::lab::to_yaml(&lab)
    );
    crate::workspace::write_atomic(&path, text.as_bytes(), 0o600)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Where a lab on `test:///default` keeps libvirt's world (domains, networks, pools) between
/// processes: the test driver loads it as `test:///<path>`.
pub fn test_world_path(ws: &Path) -> PathBuf {
    crate::workspace::test_world(ws)
}

/// Tells the run's log when libvirtd goes away and when the connection is back (the virt
/// layer reconnects by itself). Holds the events sender weakly: the log task still ends
/// when the session drops its sender.
fn forward_libvirt_notices(libvirt: &crate::virt::Libvirt, events: &mpsc::UnboundedSender<Event>) {
    let mut notices = libvirt.notices();
    let events = events.downgrade();
    tokio::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            let line = match notices.recv().await {
                Ok(line) => line,
                Err(RecvError::Lagged(n)) => format!("({n} libvirt connection notices dropped)"),
                Err(RecvError::Closed) => return,
            };
            let Some(tx) = events.upgrade() else { return };
            let _ = tx.send(Event::Log {
                stage: "libvirt".into(),
                step: None,
                stream: LogStream::Info,
                line,
            });
        }
    });
}

pub use crate::secrets::{stored_vbmc_password, vbmc_password, vbmc_password_path};
