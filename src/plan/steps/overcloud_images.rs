//! The images ironic boots: the release's overcloud image and IPA tarballs (quickstart's
//! `overcloud-full.tar` and `ironic-python-agent.tar`) fetched into the hypervisor's cache
//! (`images::Download`: resumable, md5-verified), copied to the undercloud's `~/images`
//! (resumable, verified again there), unpacked, and handed to TripleO with `openstack
//! overcloud image upload --image-path ~/images`.
//!
//! A cache entry of the release's own images is shared by every lab on the hypervisor
//! (`tripleo-<release>-<file>`): it is no lab's resource, so `clean` never removes it, at any
//! level (it says so; remove it by hand). A lab that names its own source gets its own entry
//! (`<lab>-<file>`), removed with the other downloads at `all`.

use super::images::{Download, parse_md5};
use crate::host::Cmd;
use crate::plan::{Check, HostRole, Level, Resource, Step, StepCtx};
use async_trait::async_trait;
use std::path::{Path, PathBuf};

/// What each tarball holds (what `overcloud image upload` reads from `--image-path`).
pub fn members(tar: &str) -> &'static [&'static str] {
    if tar == crate::lab::tripleo::IPA_TAR {
        &[
            "ironic-python-agent.initramfs",
            "ironic-python-agent.kernel",
        ]
    } else {
        &[
            "overcloud-full.qcow2",
            "overcloud-full.vmlinuz",
            "overcloud-full.initrd",
        ]
    }
}

pub(crate) fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

pub(crate) fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// A download into the cache shared between labs: the same step, but none of its files
/// is this lab's (no resources: cleanup leaves them to whoever removes them by hand).
pub struct SharedDownload(pub Download);

#[async_trait]
impl Step for SharedDownload {
    fn id(&self) -> &str {
        self.0.id()
    }
    fn title(&self) -> String {
        format!("{} (shared cache)", self.0.title())
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        self.0.check(ctx).await
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        self.0.apply(ctx).await
    }
    async fn undo(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        ctx.info(format!(
            "{} is in the cache shared by the labs on this hypervisor: left in place",
            self.0.path.display()
        ));
        Ok(())
    }
}

/// Sandbox only (nothing boots, nothing is downloaded): a tarball of the real one's member
/// names holding a line of text each, with its verified sum, where the download would be.
pub struct StandinTarball {
    pub id: String,
    pub path: PathBuf,
    pub file: &'static str,
}

#[async_trait]
impl Step for StandinTarball {
    fn id(&self) -> &str {
        &self.id
    }
    fn title(&self) -> String {
        format!(
            "stand-in {} {} (sandbox: nothing is downloaded)",
            self.file,
            self.path.display()
        )
    }
    fn resources(&self) -> Vec<Resource> {
        [self.path.clone(), with_suffix(&self.path, ".md5")]
            .into_iter()
            .map(|path| Resource::File {
                host: HostRole::Virthost,
                path,
                level: Level::Virthost,
            })
            .collect()
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let h = ctx.host(HostRole::Virthost);
        let staging = with_suffix(&self.path, ".d");
        Ok(if h.exists(&staging).await? {
            // An apply killed after the rename and before the cleanup: made again, whole.
            Check::todo(format!("{} left by an interrupted run", staging.display()))
        } else if h.exists(&self.path).await? && h.exists(&with_suffix(&self.path, ".md5")).await? {
            Check::done(format!("{} and its md5 present", self.path.display()))
        } else {
            Check::todo(format!("{} missing", self.path.display()))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let h = ctx.host(HostRole::Virthost);
        let dir = with_suffix(&self.path, ".d");
        // A fresh staging directory: what an interrupted apply left is not trusted.
        ctx.run_ok(
            HostRole::Virthost,
            &Cmd::new(["rm", "-rf", "--", s(&dir).as_str()]),
        )
        .await?;
        ctx.run_ok(
            HostRole::Virthost,
            &Cmd::new(["mkdir", "-p", "--", s(&dir).as_str()]),
        )
        .await?;
        for m in members(self.file) {
            h.write_file(
                &dir.join(m),
                format!("labwarp stand-in {m}: not a bootable image\n").as_bytes(),
                0o644,
            )
            .await?;
        }
        let part = with_suffix(&self.path, ".part");
        let mut argv = vec![
            "tar".to_string(),
            "-cf".into(),
            s(&part),
            "-C".into(),
            s(&dir),
        ];
        argv.extend(members(self.file).iter().map(|m| m.to_string()));
        ctx.run_ok(HostRole::Virthost, &Cmd::new(argv)).await?;
        let sum = md5_on(ctx, HostRole::Virthost, &part, false).await?;
        h.write_file(
            &with_suffix(&self.path, ".md5"),
            format!("{sum}  {}\n", self.path.display()).as_bytes(),
            0o644,
        )
        .await?;
        ctx.run_ok(
            HostRole::Virthost,
            &Cmd::new(["mv", "-f", "--", s(&part).as_str(), s(&self.path).as_str()]),
        )
        .await?;
        ctx.run_ok(
            HostRole::Virthost,
            &Cmd::new(["rm", "-rf", "--", s(&dir).as_str()]),
        )
        .await?;
        Ok(())
    }
}

async fn md5_on(ctx: &StepCtx<'_>, role: HostRole, p: &Path, sudo: bool) -> anyhow::Result<String> {
    let mut cmd = Cmd::new(["md5sum", "--", s(p).as_str()]);
    if sudo {
        cmd = cmd.sudo();
    }
    let out = ctx.run_ok(role, &cmd).await?;
    parse_md5(&out.stdout_str())
        .ok_or_else(|| anyhow::anyhow!("md5sum printed no sum for {}", p.display()))
}

/// Bytes per round of the copy: read on the hypervisor, base64 through labwarp, written at
/// its offset on the undercloud (no key of the undercloud on the hypervisor is needed, and
/// a broken copy resumes at the last whole chunk).
const CHUNK_MIB: u64 = 4;
const MIB: u64 = 1024 * 1024;

/// A cached tarball copied to the undercloud (`~/images/<file>`), verified there against the
/// sum the cache verified (`<file>.md5`); `<file>.md5` beside the copy records it.
pub struct CopyToUndercloud {
    pub id: String,
    pub from: PathBuf,
    pub to: PathBuf,
}

impl CopyToUndercloud {
    fn part(&self) -> PathBuf {
        with_suffix(&self.to, ".part")
    }

    /// The sum the cache verified (the download's `<file>.md5`), else one computed now.
    async fn cached_sum(&self, ctx: &StepCtx<'_>) -> anyhow::Result<String> {
        let h = ctx.host(HostRole::Virthost);
        let sum_file = with_suffix(&self.from, ".md5");
        if h.exists(&sum_file).await?
            && let Some(sum) = parse_md5(&String::from_utf8_lossy(&h.read_file(&sum_file).await?))
        {
            return Ok(sum);
        }
        md5_on(ctx, HostRole::Virthost, &self.from, true).await
    }
}

#[async_trait]
impl Step for CopyToUndercloud {
    fn id(&self) -> &str {
        &self.id
    }
    fn title(&self) -> String {
        format!(
            "copy {} to the undercloud's {}",
            self.from.display(),
            self.to.display()
        )
    }
    fn resources(&self) -> Vec<Resource> {
        [self.to.clone(), with_suffix(&self.to, ".md5"), self.part()]
            .into_iter()
            .map(|path| Resource::File {
                host: HostRole::Undercloud,
                path,
                level: Level::Nodes,
            })
            .collect()
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let uc = ctx.host(HostRole::Undercloud);
        if !ctx.host(HostRole::Virthost).exists(&self.from).await? {
            return Ok(Check::todo(format!(
                "{} not in the cache yet",
                self.from.display()
            )));
        }
        let recorded = with_suffix(&self.to, ".md5");
        if !uc.exists(&self.to).await? || !uc.exists(&recorded).await? {
            let part =
                super::files::file_size(ctx, HostRole::Undercloud, &self.part(), false).await?;
            return Ok(Check::todo(if part > 0 {
                format!(
                    "{} not copied; {part} bytes of it are there and will be resumed",
                    self.to.display()
                )
            } else {
                format!("{} not copied", self.to.display())
            }));
        }
        let want = self.cached_sum(ctx).await?;
        let got = parse_md5(&String::from_utf8_lossy(&uc.read_file(&recorded).await?));
        Ok(match got {
            Some(g) if g == want => Check::done(format!("{} copied, md5 {g}", self.to.display())),
            g => Check::todo(format!(
                "{} holds md5 {}, the cache {want}: copied again",
                self.to.display(),
                g.unwrap_or_else(|| "unknown".into())
            )),
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let want = self.cached_sum(ctx).await?;
        let total = super::files::file_size(ctx, HostRole::Virthost, &self.from, true).await?;
        let part = self.part();
        if let Some(dir) = self.to.parent() {
            ctx.run_ok(
                HostRole::Undercloud,
                &Cmd::new(["mkdir", "-p", "--", s(dir).as_str()]),
            )
            .await?;
        }
        let have = super::files::file_size(ctx, HostRole::Undercloud, &part, false).await?;
        let chunk = CHUNK_MIB * MIB;
        // A partial chunk at the end is written again whole.
        let mut index = have.min(total) / chunk;
        if index > 0 {
            ctx.info(format!(
                "resuming the copy of {} at byte {}",
                self.from.display(),
                index * chunk
            ));
        }
        while index * chunk < total {
            let read = Cmd::new([
                "sh".to_string(),
                "-c".into(),
                "dd if=\"$1\" bs=1048576 skip=\"$2\" count=\"$3\" 2>/dev/null | base64".into(),
                "sh".into(),
                s(&self.from),
                (index * CHUNK_MIB).to_string(),
                CHUNK_MIB.to_string(),
            ])
            .sudo();
            let out = ctx.probe(HostRole::Virthost, &read).await?;
            if !out.success() {
                anyhow::bail!(
                    "reading {} on the hypervisor failed: {}; the copy resumes on the next run",
                    self.from.display(),
                    out.stderr_str().trim()
                );
            }
            let write = Cmd::new([
                "sh".to_string(),
                "-c".into(),
                "base64 -d | dd of=\"$1\" bs=1048576 seek=\"$2\" conv=notrunc 2>/dev/null".into(),
                "sh".into(),
                s(&part),
                (index * CHUNK_MIB).to_string(),
            ])
            .stdin(out.stdout);
            let w = ctx.probe(HostRole::Undercloud, &write).await?;
            if !w.success() {
                anyhow::bail!(
                    "writing {} on the undercloud failed: {}; the copy resumes on the next run",
                    part.display(),
                    w.stderr_str().trim()
                );
            }
            index += 1;
            let done = (index * chunk).min(total);
            ctx.progress(done, Some(total), None);
            crate::engine::fault::point(
                &ctx.ctx.workspace,
                &format!("{}/{}", ctx.stage, self.id),
                "copy-chunk",
            )
            .await?;
        }
        if total == 0 {
            ctx.run_ok(
                HostRole::Undercloud,
                &Cmd::new(["touch", "--", s(&part).as_str()]),
            )
            .await?;
        }
        let got = md5_on(ctx, HostRole::Undercloud, &part, false).await?;
        if got != want {
            ctx.run_ok(
                HostRole::Undercloud,
                &Cmd::new(["rm", "-f", "--", s(&part).as_str()]),
            )
            .await?;
            anyhow::bail!(
                "the copy of {} on the undercloud has md5 {got}, the cache {want}: removed; the next run copies it again",
                self.from.display()
            );
        }
        ctx.run_ok(
            HostRole::Undercloud,
            &Cmd::new(["mv", "-f", "--", s(&part).as_str(), s(&self.to).as_str()]),
        )
        .await?;
        ctx.host(HostRole::Undercloud)
            .write_file(
                &with_suffix(&self.to, ".md5"),
                format!("{got}  {}\n", self.to.display()).as_bytes(),
                0o644,
            )
            .await?;
        ctx.info(format!(
            "copied {} ({total} bytes, md5 {got})",
            self.to.display()
        ));
        Ok(())
    }
}

/// A copied tarball unpacked beside it; `.<file>.unpacked` records the sum unpacked.
pub struct Unpack {
    pub id: String,
    pub tar: PathBuf,
    pub file: &'static str,
}

impl Unpack {
    fn dir(&self) -> PathBuf {
        self.tar.parent().map(Path::to_path_buf).unwrap_or_default()
    }
    fn marker(&self) -> PathBuf {
        self.dir().join(format!(".{}.unpacked", self.file))
    }
    async fn copied_sum(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Option<String>> {
        let uc = ctx.host(HostRole::Undercloud);
        let f = with_suffix(&self.tar, ".md5");
        if !uc.exists(&f).await? {
            return Ok(None);
        }
        Ok(parse_md5(&String::from_utf8_lossy(
            &uc.read_file(&f).await?,
        )))
    }
}

#[async_trait]
impl Step for Unpack {
    fn id(&self) -> &str {
        &self.id
    }
    fn title(&self) -> String {
        format!(
            "unpack {} ({})",
            self.tar.display(),
            members(self.file).join(", ")
        )
    }
    fn resources(&self) -> Vec<Resource> {
        let mut r: Vec<PathBuf> = members(self.file)
            .iter()
            .map(|m| self.dir().join(m))
            .collect();
        r.push(self.marker());
        r.into_iter()
            .map(|path| Resource::File {
                host: HostRole::Undercloud,
                path,
                level: Level::Nodes,
            })
            .collect()
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let uc = ctx.host(HostRole::Undercloud);
        let Some(sum) = self.copied_sum(ctx).await? else {
            return Ok(Check::todo(format!(
                "{} not copied yet",
                self.tar.display()
            )));
        };
        for m in members(self.file) {
            if !uc.exists(&self.dir().join(m)).await? {
                return Ok(Check::todo(format!("{m} not unpacked")));
            }
        }
        let marker = self.marker();
        let unpacked = if uc.exists(&marker).await? {
            parse_md5(&String::from_utf8_lossy(&uc.read_file(&marker).await?))
        } else {
            None
        };
        Ok(if unpacked.as_deref() == Some(sum.as_str()) {
            Check::done(format!("{} unpacked (md5 {sum})", self.file))
        } else {
            Check::todo(format!("{} unpacked from another tarball", self.file))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let sum = self
            .copied_sum(ctx)
            .await?
            .ok_or_else(|| anyhow::anyhow!("{} is not copied yet", self.tar.display()))?;
        let mut argv = vec![
            "tar".to_string(),
            "-xf".into(),
            s(&self.tar),
            "-C".into(),
            s(&self.dir()),
        ];
        argv.extend(members(self.file).iter().map(|m| m.to_string()));
        ctx.run_ok(HostRole::Undercloud, &Cmd::new(argv))
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "{e}; {} must hold {} (quickstart's layout): check its source in lab.yaml",
                    self.file,
                    members(self.file).join(", ")
                )
            })?;
        ctx.host(HostRole::Undercloud)
            .write_file(&self.marker(), format!("{sum}\n").as_bytes(), 0o644)
            .await?;
        Ok(())
    }
}
