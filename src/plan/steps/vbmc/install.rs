//! VirtualBMC installed from PyPI into its own venv on the hypervisor.

use super::{PIP_REQUIREMENT, p};
use crate::host::Cmd;
use crate::plan::{Check, Ctx, HostRole, Resource, Step, StepCtx};
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Installs VirtualBMC from PyPI into its own venv on the hypervisor.
pub struct Install {
    pub venv: PathBuf,
}

impl Install {
    fn vbmc(&self) -> String {
        p(&self.venv.join("bin").join("vbmc"))
    }
}

#[async_trait]
impl Step for Install {
    fn id(&self) -> &str {
        "vbmc-install"
    }
    fn title(&self) -> String {
        format!("VirtualBMC in the venv {}", self.venv.display())
    }
    fn resources(&self) -> Vec<Resource> {
        // Shared by every lab on the hypervisor: only `all` removes it, and only when
        // labwarp made it and no other lab uses it (see `remove_venv`).
        vec![Resource::VbmcVenv {
            path: self.venv.clone(),
        }]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let cmd = Cmd::new([self.vbmc(), "--version".into()]).timeout(Duration::from_secs(60));
        match ctx.probe(HostRole::Virthost, &cmd).await {
            Ok(o) if o.success() => {
                let v = format!("{}{}", o.stdout_str(), o.stderr_str());
                Ok(Check::done(format!(
                    "{} --version: {}",
                    self.vbmc(),
                    v.trim()
                )))
            }
            Ok(o) => Ok(Check::todo(format!(
                "{} --version exited with {:?}: {}",
                self.vbmc(),
                o.code,
                o.stderr_str().trim()
            ))),
            Err(e) => Ok(Check::todo(format!("{} does not run: {e}", self.vbmc()))),
        }
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let venv = p(&self.venv);
        let python = self.venv.join("bin").join("python3");
        // A half-made venv from a killed run is completed by `venv` itself (idempotent).
        let h = ctx.host(HostRole::Virthost).clone();
        if !h.exists(&python).await? {
            // Marked first (so a run killed mid-creation still leaves it marked): made by
            // labwarp, `clean --level all` may remove it. A venv made by hand or by
            // scripts/setup-host.sh has no marker and is left alone.
            ctx.run_ok(
                HostRole::Virthost,
                &Cmd::new(["mkdir", "-p", "--", &venv]).sudo(),
            )
            .await?;
            h.write_file(
                &venv_marker(&self.venv),
                b"created by labwarp's vbmc-install step\n",
                0o644,
            )
            .await?;
            ctx.run_ok(
                HostRole::Virthost,
                &Cmd::new(["python3", "-m", "venv", "--", &venv]).sudo(),
            )
            .await
            .map_err(|e| {
                e.context(
                    "creating the VirtualBMC venv (needs python3-venv / python3 on the hypervisor)",
                )
            })?;
        }
        let pip = p(&self.venv.join("bin").join("pip"));
        ctx.run_ok(
            HostRole::Virthost,
            &Cmd::new([
                pip.as_str(),
                "install",
                "--disable-pip-version-check",
                "--progress-bar",
                "off",
                PIP_REQUIREMENT,
            ])
            .sudo()
            .timeout(Duration::from_secs(1800)),
        )
        .await
        .map_err(|e| {
            e.context(
                "pip install virtualbmc (libvirt-python builds against libvirt-dev, pkg-config, gcc and python3-dev)",
            )
        })?;
        Ok(())
    }
}

/// The file marking a venv labwarp created.
pub fn venv_marker(venv: &Path) -> PathBuf {
    venv.join(".labwarp-owned")
}

/// Removes the venv when labwarp made it and no vbmcd (of any lab) runs from it.
pub async fn remove_venv(
    ctx: &Ctx,
    venv: &Path,
    log: &mut (dyn FnMut(String) + Send),
) -> anyhow::Result<()> {
    let h = &ctx.virthost;
    if !h.exists(&venv_marker(venv)).await? {
        if h.exists(venv).await? {
            log(format!(
                "kept {}: labwarp did not create it (no {})",
                venv.display(),
                venv_marker(venv).display()
            ));
        }
        return Ok(());
    }
    let vbmcd = p(&venv.join("bin").join("vbmcd"));
    let out = h.exec(&Cmd::new(["ps", "-e", "-o", "args="])).await?;
    let users = out
        .stdout_str()
        .lines()
        .filter(|l| l.contains(&vbmcd))
        .count();
    if users > 0 {
        log(format!(
            "kept {}: {users} vbmcd process(es) of other labs run from it",
            venv.display()
        ));
        return Ok(());
    }
    h.exec_ok(&Cmd::new(["rm", "-rf", "--", &p(venv)]).sudo())
        .await?;
    log(format!("removed VirtualBMC venv {}", venv.display()));
    Ok(())
}
