//! `labwarp export`: render every artefact of a lab into a directory.
//!
//! The workspace SSH key (`keys/id_ed25519`) is created if missing, so the exported
//! user-data authorises the very key that ssh.config and the inventory point at.
//!
//! Files are written atomically (temp file in the same directory, fsync, rename); files with a
//! secret (instackenv.json's IPMI password, a user-data holding a host key) get mode 0600 and
//! their contents are never printed. When the lab sets no VirtualBMC password, one is
//! generated once into the workspace (`secrets/vbmc-password`, 0600, shared with `labwarp run`) and reused on every export.

use crate::lab::{Lab, Secret};
use crate::render::{self, RenderContext};
use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// Where the generated VirtualBMC password of a lab is kept inside its workspace.
pub fn vbmc_password_path(workspace: &Path) -> PathBuf {
    crate::run::session::vbmc_password_path(workspace)
}

/// Writes `data` to `path` atomically with `mode` (making the directory).
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    crate::workspace::write_atomic_mkdir(path, data, mode)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The lab's VirtualBMC password: the lab's own, else the workspace's (the same file
/// `labwarp run` uses), else a new one that is stored in the workspace first.
fn vbmc_password(lab: &Lab, workspace: &Path) -> Result<(Secret, Option<PathBuf>)> {
    if let Some(p) = &lab.overcloud.vbmc.password {
        return Ok((p.clone(), None));
    }
    let (pw, generated) = crate::run::session::vbmc_password(workspace)?;
    Ok((pw, generated.then(|| vbmc_password_path(workspace))))
}

/// Renders `lab` into `out`; returns the files written (relative to `out`).
pub fn export(lab: &Lab, out: &Path) -> Result<Vec<PathBuf>> {
    let workspace = std::path::absolute(&lab.workspace)
        .with_context(|| format!("workspace {}", lab.workspace.display()))?;
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let out_abs = std::path::absolute(out)?;
    let mut ctx = RenderContext::for_lab(lab, &workspace);
    ctx.ssh_config = out_abs.join("ssh.config");
    // The key ssh.config and the inventory name must exist and be the one the undercloud
    // trusts: create it now if the workspace has none yet (as `labwarp ssh` would).
    let had_key = ctx.ssh_private_key.exists();
    let identity = crate::host::keys::ensure_identity(&workspace)?;
    if !had_key {
        eprintln!(
            "labwarp: generated the workspace SSH key {}",
            identity.path.display()
        );
    }
    ctx.ssh_private_key = identity.path.clone();
    ctx.ssh_public_key = Some(identity.public_line());
    let (password, generated) = vbmc_password(lab, &workspace)?;
    if let Some(path) = generated {
        eprintln!(
            "labwarp: generated a VirtualBMC password into {}",
            path.display()
        );
    }
    ctx.vbmc_password = Some(password);
    let artefacts = render::render_all(lab, &ctx)?;
    let mut written = Vec::new();
    for a in artefacts {
        let mode = if a.secret { 0o600 } else { 0o644 };
        write_atomic(&out_abs.join(&a.path), a.contents.as_bytes(), mode)?;
        written.push(a.path);
    }
    Ok(written)
}

/// `labwarp export --out DIR [FILE | --preset NAME]`.
pub fn run(out: &Path, file: Option<PathBuf>, preset: Option<String>) -> std::process::ExitCode {
    let loaded = match preset {
        Some(name) => crate::lab::load_preset(&name),
        None => crate::lab::load_path(&file.unwrap_or_else(|| PathBuf::from("lab.yaml"))),
    };
    let lab = match loaded {
        Ok(lab) => lab,
        Err(e) => {
            // The lab's problems, each with its field path and fix (as `labwarp validate`).
            eprintln!("{e}");
            eprintln!("labwarp export: nothing written (fix the lab, then export again)");
            return std::process::ExitCode::from(super::EXIT_INVALID);
        }
    };
    match export(&lab, out) {
        Ok(files) => {
            for f in files {
                println!("{}", out.join(f).display());
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("labwarp export: {e:#}");
            std::process::ExitCode::from(super::EXIT_INVALID)
        }
    }
}
