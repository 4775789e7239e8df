//! Steps that put directories and files on a host.

use crate::host::Cmd;
use crate::plan::{Check, HostRole, Level, Resource, Step, StepCtx};
use crate::workspace::owner::marker_path;
use async_trait::async_trait;
use std::path::{Path, PathBuf};

/// Size in bytes of a file on `role`'s host, 0 when it does not exist (`sudo`: a file only
/// root may read, a download's part file or a VM's console log).
pub async fn file_size(
    ctx: &StepCtx<'_>,
    role: HostRole,
    path: &Path,
    sudo: bool,
) -> anyhow::Result<u64> {
    if !ctx.host(role).exists(path).await? {
        return Ok(0);
    }
    let p = path.to_string_lossy();
    let mut cmd = Cmd::new(["stat", "-c", "%s", "--", p.as_ref()]);
    if sudo {
        cmd = cmd.sudo();
    }
    Ok(ctx
        .probe(role, &cmd)
        .await?
        .stdout_str()
        .trim()
        .parse()
        .unwrap_or(0))
}

/// A directory labwarp owns (removed at `level`; see [`Resource::Dir`] for `whole`).
pub struct MakeDir {
    pub id: String,
    pub role: HostRole,
    pub path: PathBuf,
    pub level: Level,
    pub whole: bool,
}

#[async_trait]
impl Step for MakeDir {
    fn id(&self) -> &str {
        &self.id
    }
    fn title(&self) -> String {
        format!("directory {}", self.path.display())
    }
    fn resources(&self) -> Vec<Resource> {
        vec![Resource::Dir {
            host: self.role,
            path: self.path.clone(),
            level: self.level,
            whole: self.whole,
        }]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let h = ctx.host(self.role);
        Ok(if !h.exists(&self.path).await? {
            Check::todo(format!("{} missing", self.path.display()))
        } else if made_here(ctx, &self.path) && !h.exists(&marker_path(&self.path)).await? {
            // Made by labwarp, killed before its marker was written.
            Check::todo(format!("{} lacks labwarp's marker", self.path.display()))
        } else {
            Check::done(format!("{} exists", self.path.display()))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        make_own_dir(ctx, self.role, &self.path, None).await
    }
}

/// Whether the state file records `path` as a directory labwarp made.
fn made_here(ctx: &StepCtx<'_>, path: &Path) -> bool {
    ctx.ctx
        .store
        .snapshot()
        .resources
        .iter()
        .any(|e| matches!(&e.resource, Resource::Dir { path: p, .. } if p == path))
}

/// Creates `path` (and missing parents) with `mode` when it is missing, and marks it as
/// this lab's (`plan::owner`) so that cleanup can prove it made it. A directory that
/// exists already is used as it is and never marked: labwarp did not make it.
pub async fn make_own_dir(
    ctx: &StepCtx<'_>,
    role: HostRole,
    path: &Path,
    mode: Option<&str>,
) -> anyhow::Result<()> {
    let h = ctx.host(role);
    let owner = ctx.ctx.facts.owner(&ctx.ctx.lab.name);
    if h.exists(path).await? {
        // Made by an earlier run killed before the marker: mark it now.
        if made_here(ctx, path) && !h.exists(&marker_path(path)).await? {
            h.write_root_file(&marker_path(path), owner.marker_text().as_bytes(), 0o644)
                .await?;
        }
        return Ok(());
    }
    let p = path.to_string_lossy().into_owned();
    let mut argv = vec!["mkdir", "-p"];
    if let Some(m) = mode {
        argv.extend(["-m", m]);
    }
    argv.extend(["--", &p]);
    ctx.run_ok(role, &Cmd::new(argv).sudo()).await?;
    // Made with sudo, so marked as root too (an SSH login that is not root cannot write there).
    h.write_root_file(&marker_path(path), owner.marker_text().as_bytes(), 0o644)
        .await?;
    Ok(())
}

/// A file with exact content and mode; done when the host's copy is byte-identical.
pub struct PutFile {
    pub id: String,
    pub title: String,
    pub role: HostRole,
    pub path: PathBuf,
    pub content: Vec<u8>,
    pub mode: u32,
    pub level: Level,
}

#[async_trait]
impl Step for PutFile {
    fn id(&self) -> &str {
        &self.id
    }
    fn title(&self) -> String {
        self.title.clone()
    }
    fn resources(&self) -> Vec<Resource> {
        vec![Resource::File {
            host: self.role,
            path: self.path.clone(),
            level: self.level,
        }]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let h = ctx.host(self.role);
        if !h.exists(&self.path).await? {
            return Ok(Check::todo(format!("{} missing", self.path.display())));
        }
        let got = h.read_file(&self.path).await?;
        Ok(match crate::plan::drift::file::drift(&got, &self.content) {
            None => Check::done(format!("{} up to date", self.path.display())),
            Some(d) => Check::drifted(vec![d]),
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let h = ctx.host(self.role);
        if let Some(dir) = self.path.parent() {
            // As the same user as the write below (no sudo): a directory only root could
            // create would not take the file anyway, and an undercloud's user may have no
            // sudo at all.
            let d = dir.to_string_lossy().into_owned();
            ctx.run_ok(self.role, &Cmd::new(["mkdir", "-p", "--", &d]))
                .await?;
        }
        h.write_file(&self.path, &self.content, self.mode).await?;
        ctx.info(format!(
            "wrote {} ({} bytes) on {}",
            self.path.display(),
            self.content.len(),
            h.name()
        ));
        Ok(())
    }
}

/// A copy of a file already on the host (a cached kernel into the storage pool, where qemu
/// opens it); done when the copy is byte-identical (`cmp`).
pub struct CopyFile {
    pub id: String,
    pub role: HostRole,
    pub from: PathBuf,
    pub to: PathBuf,
    pub level: Level,
}

#[async_trait]
impl Step for CopyFile {
    fn id(&self) -> &str {
        &self.id
    }
    fn title(&self) -> String {
        format!("copy {} to {}", self.from.display(), self.to.display())
    }
    fn resources(&self) -> Vec<Resource> {
        vec![Resource::File {
            host: self.role,
            path: self.to.clone(),
            level: self.level,
        }]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        if !ctx.host(self.role).exists(&self.to).await? {
            return Ok(Check::todo(format!("{} missing", self.to.display())));
        }
        let (a, b) = (
            self.from.to_string_lossy().into_owned(),
            self.to.to_string_lossy().into_owned(),
        );
        let same = ctx
            .probe(self.role, &Cmd::new(["cmp", "-s", "--", &a, &b]).sudo())
            .await?
            .success();
        Ok(if same {
            Check::done(format!(
                "{} matches {}",
                self.to.display(),
                self.from.display()
            ))
        } else {
            Check::todo(format!(
                "{} differs from {}",
                self.to.display(),
                self.from.display()
            ))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let (a, b) = (
            self.from.to_string_lossy().into_owned(),
            self.to.to_string_lossy().into_owned(),
        );
        ctx.run_ok(self.role, &Cmd::new(["cp", "-f", "--", &a, &b]).sudo())
            .await?;
        Ok(())
    }
}
