//! One session against a lab: the workspace, the hosts, the facts, the plan and the state
//! store, wired together for `plan`, `run`, `status` and `clean` (and the TUI).

use super::event::Event;
use super::logs;
use super::state::StateStore;
use crate::host::{Host, HostError, LocalHost};
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

/// Opens the hosts of a lab. Only `address: local` hypervisors are reachable without SSH.
fn hosts(lab: &Lab, facts: &Facts) -> anyhow::Result<(Arc<dyn Host>, Arc<dyn Host>)> {
    let hv = lab
        .hypervisors
        .first()
        .ok_or_else(|| anyhow::anyhow!("hypervisors: the lab names no hypervisor; add one"))?;
    if hv.address != "local" {
        anyhow::bail!(
            "hypervisors[0].address: `{}` needs SSH, which this engine does not drive yet; use `address: local` on the hypervisor itself",
            hv.address
        );
    }
    let virthost: Arc<dyn Host> = Arc::new(LocalHost::named(hv.name.clone()));
    let undercloud: Arc<dyn Host> = if facts.sandbox {
        Arc::new(LocalHost::named("undercloud-sandbox"))
    } else {
        Arc::new(NotConnected {
            name: "undercloud".into(),
        })
    };
    Ok((virthost, undercloud))
}

/// The undercloud VM of a real lab is reached over SSH through the hypervisor; this engine
/// does not open that connection yet, so every operation on it fails saying so (stages
/// that need it fail; the hypervisor, images, VM and node stages still run).
struct NotConnected {
    name: String,
}

#[async_trait::async_trait]
impl Host for NotConnected {
    fn name(&self) -> &str {
        &self.name
    }
    async fn exec(&self, _: &crate::host::Cmd) -> Result<crate::host::Output, HostError> {
        Err(self.err())
    }
    async fn exec_streaming(
        &self,
        _: &crate::host::Cmd,
        _: mpsc::Sender<crate::host::OutputLine>,
    ) -> Result<crate::host::Output, HostError> {
        Err(self.err())
    }
    async fn read_file(&self, _: &Path) -> Result<Vec<u8>, HostError> {
        Err(self.err())
    }
    async fn write_file(&self, _: &Path, _: &[u8], _: u32) -> Result<(), HostError> {
        Err(self.err())
    }
    async fn exists(&self, _: &Path) -> Result<bool, HostError> {
        Err(self.err())
    }
}

impl NotConnected {
    fn err(&self) -> HostError {
        HostError::Connect {
            host: self.name.clone(),
            reason: "SSH to the undercloud VM through the hypervisor is not wired into the engine yet (the demo preset's sandbox undercloud works)".into(),
        }
    }
}

impl Session {
    /// Must be called inside a tokio runtime (the log writer is a task).
    pub async fn open(
        lab: Lab,
        workspace: Option<&Path>,
        out: mpsc::UnboundedSender<Event>,
    ) -> anyhow::Result<Session> {
        let ws = workspace_dir(&lab, workspace)?;
        let mut lab = lab;
        if lab.overcloud.vbmc.password.is_none() {
            lab.overcloud.vbmc.password = Some(vbmc_password(&ws)?);
        }
        let mut facts = Facts::decide(&lab, &ws);
        let (virthost, undercloud) = hosts(&lab, &facts)?;
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
            facts.domain_type = if chosen == DomainType::Kvm {
                "kvm"
            } else {
                "qemu"
            }
            .into();
            facts.domain_type_reason =
                format!("preflight: {} ({})", verdict.title(), why.join("; "));
        }
        let plan = stages::build(&lab, &facts, &ws)?;
        std::fs::create_dir_all(&ws)
            .map_err(|e| anyhow::anyhow!("workspace {}: {e}", ws.display()))?;
        let store = Arc::new(StateStore::open(ws.join("state.yaml"))?);
        let uri = lab
            .hypervisors
            .first()
            .map(|h| h.libvirt_uri.clone())
            .unwrap_or_default();
        // One connection per session: test:///default forgets everything when it closes.
        let libvirt = crate::virt::Libvirt::connect(&uri)
            .await
            .map_err(|e| anyhow::anyhow!("hypervisors[0].libvirt_uri: {e}"))?;
        let (events, log_task) = logs::tee(ws.join("logs"), out);
        let ctx = Arc::new(Ctx {
            lab,
            facts,
            workspace: ws,
            virthost,
            undercloud,
            libvirt,
            events,
        });
        Ok(Session {
            ctx,
            plan,
            store,
            log_task,
        })
    }
}

/// The lab's VirtualBMC password: generated once into `workspace/secrets/vbmc-password`
/// (mode 0600) and reused, so instackenv.json stays stable across runs.
fn vbmc_password(ws: &Path) -> anyhow::Result<crate::lab::Secret> {
    use rand::Rng;
    use std::os::unix::fs::PermissionsExt;
    let path = ws.join("secrets").join("vbmc-password");
    match std::fs::read_to_string(&path) {
        Ok(p) if !p.trim().is_empty() => return Ok(crate::lab::Secret(p.trim().to_string())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => anyhow::bail!("{}: {e}", path.display()),
    }
    let pw: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    let dir = ws.join("secrets");
    std::fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    // Create with 0600 from the start: the secret is never readable by others, not even
    // between the write and a chmod.
    let mut tmp = tempfile::Builder::new().tempfile_in(&dir)?;
    std::io::Write::write_all(&mut tmp, pw.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(&path).map_err(|e| e.error)?;
    Ok(crate::lab::Secret(pw))
}
