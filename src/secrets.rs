//! Secrets at rest and in memory: secret files are 0600 in a 0700 directory (created so, and
//! tightened when found looser), a VirtualBMC password typed by the user is kept in the
//! workspace's secret file rather than in lab.yaml, and no core dumps of a process that holds
//! secrets. The per-lab VBMC password itself (generated once, shared by run and export) is
//! [`vbmc_password`] (`workspace/secrets/vbmc-password`).
//!
//! lab.yaml never holds a secret written by labwarp: `Vbmc::password` is not serialised, and a
//! password typed into the TUI is moved into the workspace before the lab is saved
//! ([`stash_vbmc_password`]). A password the user wrote into lab.yaml by hand is used as is.

use crate::lab::Lab;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Creates `dir` (and its parents) and makes it 0700, tightening a looser mode.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

/// Writes a secret file atomically with mode 0600 from its creation (never readable by others,
/// not even between the write and a chmod), in a 0700 directory.
pub fn write_secret(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    private_dir(dir)?;
    crate::workspace::write_atomic(path, data, 0o600)
}

/// Makes an existing secret file 0600 and its directory 0700 (a copy, an unpack or a
/// hand-written file may have left them readable by others). Missing files are fine.
pub fn tighten(path: &Path) -> io::Result<()> {
    if !path.exists() {
        return Ok(());
    }
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    if let Some(dir) = path.parent() {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Moves a user-set VirtualBMC password from the lab into the workspace's secret file (the
/// lab keeps no copy), so the lab can be saved without it and runs still use it.
pub fn stash_vbmc_password(lab: &mut Lab, workspace: &Path) -> io::Result<()> {
    if let Some(p) = lab.overcloud.vbmc.password.take() {
        let path = vbmc_password_path(workspace);
        write_secret(&path, p.expose().as_bytes())?;
    }
    Ok(())
}

/// Where a lab's generated VirtualBMC password lives in its workspace (mode 0600, in a
/// 0700 directory). `labwarp run` and `labwarp export` share it, so the entries vbmcd
/// serves and every instackenv.json agree.
pub fn vbmc_password_path(ws: &Path) -> PathBuf {
    crate::workspace::vbmc_password_file(ws)
}

/// The stored generated password, if there is one (read-only: for checks).
pub fn stored_vbmc_password(ws: &Path) -> anyhow::Result<Option<crate::lab::Secret>> {
    let path = vbmc_password_path(ws);
    // A file left readable by others (copied, unpacked, written by hand) is tightened first.
    tighten(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    match std::fs::read_to_string(&path) {
        Ok(p) if !p.trim().is_empty() => Ok(Some(crate::lab::Secret(p.trim().to_string()))),
        Ok(_) => anyhow::bail!(
            "{} is empty: write the VirtualBMC password into it, or delete it to generate one",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => anyhow::bail!("{}: {e}", path.display()),
    }
}

/// The lab's VirtualBMC password: generated once into [`vbmc_password_path`] and reused, so
/// instackenv.json stays stable across runs. Returns whether it was generated now.
pub fn vbmc_password(ws: &Path) -> anyhow::Result<(crate::lab::Secret, bool)> {
    use rand::Rng;
    crate::workspace::refuse_link(&crate::workspace::secrets_dir(ws))?;
    crate::workspace::refuse_link(&vbmc_password_path(ws))?;
    if let Some(pw) = stored_vbmc_password(ws)? {
        return Ok((pw, false));
    }
    let path = vbmc_password_path(ws);
    // IPMI 2.0 caps passwords at 20 bytes (lab::validate::overcloud::IPMI_PASSWORD_MAX).
    let pw: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    write_secret(&path, pw.as_bytes()).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok((crate::lab::Secret(pw), true))
}

/// Makes this process non-dumpable: no core file (which would hold the SSH key, the VBMC
/// password or a typed root password) and no ptrace by unprivileged users. labwarp holds its
/// workspace key in every command that talks to a host, so it is done once at start.
pub fn forbid_core_dumps() -> io::Result<()> {
    nix::sys::prctl::set_dumpable(false).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::Secret;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_generated_password_is_stored_0600_in_0700_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (pw, created) = vbmc_password(dir.path()).unwrap();
        assert_eq!(pw.expose().len(), 20, "IPMI 2.0 allows 20 bytes");
        assert!(created);
        let path = vbmc_password_path(dir.path());
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let (again, created) = vbmc_password(dir.path()).unwrap();
        assert_eq!(again, pw, "one password per lab, reused");
        assert!(!created);
        // Another lab (another workspace) gets its own.
        let other = tempfile::tempdir().unwrap();
        assert_ne!(vbmc_password(other.path()).unwrap().0, pw);
    }

    #[test]
    fn loose_modes_are_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let path = vbmc_password_path(dir.path());
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::set_permissions(path.parent().unwrap(), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(&path, "hunter2\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let (pw, _) = vbmc_password(dir.path()).unwrap();
        assert_eq!(pw.expose(), "hunter2");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
    }

    #[test]
    fn a_user_set_password_moves_out_of_the_lab_and_is_never_serialised() {
        let dir = tempfile::tempdir().unwrap();
        let mut lab = crate::lab::load_preset("demo").unwrap();
        lab.overcloud.vbmc.password = Some(Secret("Sekr3t-vbmc".into()));
        assert!(
            !crate::lab::to_yaml(&lab).contains("Sekr3t-vbmc"),
            "to_yaml wrote the VBMC password"
        );
        stash_vbmc_password(&mut lab, dir.path()).unwrap();
        assert!(lab.overcloud.vbmc.password.is_none());
        assert_eq!(mode(&vbmc_password_path(dir.path())), 0o600);
        let (pw, created) = vbmc_password(dir.path()).unwrap();
        assert_eq!(pw.expose(), "Sekr3t-vbmc", "the user's password is used");
        assert!(!created);
    }

    #[test]
    fn the_process_is_not_dumpable() {
        forbid_core_dumps().unwrap();
        assert!(!nix::sys::prctl::get_dumpable().unwrap());
    }
}
