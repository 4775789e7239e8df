//! A domain's memory to a file and back (`virDomainSaveFlags` / `virDomainRestoreFlags`):
//! what a whole-lab snapshot (`plan::snapshot`) is made of, beside copies of the disks. The
//! file is written and read by libvirtd, so its path is on the hypervisor.

use super::domain::lookup;
use super::{Libvirt, Outcome, VirtError, ffi};
use virt::sys;

/// How a domain restored from an image comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeAs {
    Running,
    Paused,
}

impl ResumeAs {
    fn flag(self) -> u32 {
        match self {
            ResumeAs::Running => sys::VIR_DOMAIN_SAVE_RUNNING,
            ResumeAs::Paused => sys::VIR_DOMAIN_SAVE_PAUSED,
        }
    }
}

fn plain_path(c: &super::Conn, what: &str, path: &str) -> Result<(), VirtError> {
    if path.contains('\0') || !path.starts_with('/') {
        return Err(c.xml_err(what, format!("not an absolute path: {path:?}")));
    }
    Ok(())
}

impl Libvirt {
    /// Saves a running or paused domain's memory into `path` (on the hypervisor) and stops
    /// it; restoring the image brings it back as `resume_as`. Not repeated on a lost
    /// connection: the domain may already have stopped.
    pub async fn save_memory(
        &self,
        name: &str,
        path: &str,
        resume_as: ResumeAs,
    ) -> Result<(), VirtError> {
        let (name, path) = (name.to_string(), path.to_string());
        self.call_once(move |c| {
            plain_path(c, "memory image", &path)?;
            let dom = lookup(c, &name)?;
            ffi::save_flags(&dom, &path, resume_as.flag())
                .map_err(|e| c.lv(format!("save the memory of domain '{name}' to {path}"), e))
        })
        .await
    }

    /// Starts a domain from a memory image written by [`Libvirt::save_memory`] (the domain's
    /// definition travels in the image; a persistent domain of that name stays persistent).
    pub async fn restore_memory(&self, path: &str, resume_as: ResumeAs) -> Result<(), VirtError> {
        let path = path.to_string();
        self.call_once(move |c| {
            plain_path(c, "memory image", &path)?;
            ffi::restore_flags(&c.conn, &path, resume_as.flag())
                .map_err(|e| c.lv(format!("restore a domain from {path}"), e))
        })
        .await
    }

    /// Resumes a paused domain (`AlreadyInState` when it is not paused).
    pub async fn resume(&self, name: &str) -> Result<Outcome, VirtError> {
        if self.domain(name).await?.state != super::DomainState::Paused {
            return Ok(Outcome::AlreadyInState);
        }
        let name = name.to_string();
        self.call_once(move |c| {
            let dom = lookup(c, &name)?;
            dom.resume()
                .map_err(|e| c.lv(format!("resume domain '{name}'"), e))?;
            Ok(Outcome::Done)
        })
        .await
    }
}
