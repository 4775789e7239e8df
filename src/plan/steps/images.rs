//! Images: the undercloud's base image (and, for direct kernel boot, its kernel and initrd)
//! in the cache, downloaded with resume and an md5 check; and the NoCloud seed ISO.

use crate::host::Cmd;
use crate::lab::ImageSource;
use crate::plan::{Check, HostRole, Level, Resource, Step, StepCtx};
use async_trait::async_trait;
use std::path::{Path, PathBuf};

/// How many times one `apply` runs curl when a transfer breaks off; each attempt resumes
/// where the previous one stopped (`curl -C -` reads the partial file's size).
const ATTEMPTS: u32 = 4;

/// curl exit codes after which another attempt resumes the transfer: partial file (18),
/// empty reply (52), send/receive errors (55, 56), timeout (28), HTTP/2 stream error (92).
const RESUMABLE: [i32; 6] = [18, 28, 52, 55, 56, 92];

/// Downloads (or copies, for a local path) an image into the cache on the hypervisor, the
/// way quickstart's fetch-images role does: expected md5 first (`md5` or `md5_url`), then
/// `curl -C -` into `<file>.part` (a partial file from a broken or killed run is resumed with
/// an HTTP Range request), `md5sum` on the hypervisor, and only a verified file is renamed
/// into place. The verified sum is kept in `<file>.md5`, so the check needs no network and
/// no hashing. A file whose md5 does not match is set aside as `<file>.bad-md5`, never used.
pub struct Download {
    /// Step id (`undercloud-image`, `overcloud-kernel`, ...).
    pub id: String,
    /// The lab.yaml field the source comes from (`images.undercloud`), for messages.
    pub field: String,
    pub path: PathBuf,
    pub source: ImageSource,
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The first word of `text` when it is an md5 sum (32 hex digits), lower-cased.
pub fn parse_md5(text: &str) -> Option<String> {
    text.split_whitespace()
        .next()
        .filter(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
}

impl Download {
    pub fn part(&self) -> PathBuf {
        with_suffix(&self.path, ".part")
    }
    /// `<file>.md5`: the sum the cached file was verified against.
    pub fn sum_file(&self) -> PathBuf {
        with_suffix(&self.path, ".md5")
    }
    /// `<file>.bad-md5`: a download whose md5 did not match, kept for inspection.
    pub fn bad(&self) -> PathBuf {
        with_suffix(&self.path, ".bad-md5")
    }

    fn is_url(&self) -> bool {
        let s = self.source.source.as_str();
        s.starts_with("http://") || s.starts_with("https://")
    }

    async fn expected_md5(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Option<String>> {
        if let Some(m) = &self.source.md5 {
            return parse_md5(m).map(Some).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}.md5: `{m}` is not an md5 sum (32 hex digits); fix it in lab.yaml",
                    self.field
                )
            });
        }
        let Some(url) = &self.source.md5_url else {
            return Ok(None);
        };
        let out = ctx
            .run(
                HostRole::Virthost,
                &Cmd::new(["curl", "-fsSL", "--connect-timeout", "20", url.as_str()]),
            )
            .await?;
        if !out.success() {
            anyhow::bail!(
                "{}.md5_url: fetching {url} failed (curl exit {}): {}; fix the URL in lab.yaml or set {}.md5",
                self.field,
                out.code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "signal".into()),
                out.stderr_str().trim(),
                self.field
            );
        }
        parse_md5(&out.stdout_str()).map(Some).ok_or_else(|| {
            anyhow::anyhow!(
                "{}.md5_url: {url} holds no md5 sum (want 32 hex digits first); fix the URL or set {}.md5",
                self.field,
                self.field
            )
        })
    }

    async fn md5_of(&self, ctx: &StepCtx<'_>, path: &Path) -> anyhow::Result<String> {
        let out = ctx
            .run_ok(
                HostRole::Virthost,
                &Cmd::new(["md5sum", "-b", "--", path_str(path).as_str()]).sudo(),
            )
            .await?;
        parse_md5(&out.stdout_str())
            .ok_or_else(|| anyhow::anyhow!("md5sum printed no sum for {}", path.display()))
    }

    /// `curl -C -` into the part file, attempt after attempt while the transfer breaks off.
    async fn fetch(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let part = self.part();
        let src = self.source.source.as_str();
        let mut fresh_once = false;
        for attempt in 1..=ATTEMPTS {
            let have = super::files::file_size(ctx, HostRole::Virthost, &part, true).await?;
            if have > 0 {
                ctx.info(format!(
                    "resuming {} at byte {have} (HTTP Range)",
                    part.display()
                ));
            }
            let out = ctx
                .run(
                    HostRole::Virthost,
                    &Cmd::new([
                        "curl",
                        "-fL",
                        "-sS",
                        "--connect-timeout",
                        "20",
                        "-C",
                        "-",
                        "-o",
                        path_str(&part).as_str(),
                        src,
                    ])
                    .sudo(),
                )
                .await?;
            match out.code {
                Some(0) => return Ok(()),
                // 416 to `Range: bytes=N-` with N the part file's size: the part file is
                // already whole (a run killed before the rename); the md5 check decides.
                Some(22) if have > 0 && out.stderr_str().contains("416") => {
                    ctx.info(format!(
                        "{src} answered 416 to a range from byte {have}: {} is already complete",
                        part.display()
                    ));
                    return Ok(());
                }
                // The server ignores Range: start over once, without resuming.
                Some(33) if !fresh_once => {
                    fresh_once = true;
                    ctx.info(format!(
                        "{src} does not support byte ranges: starting the download over"
                    ));
                    self.rm(ctx, &part).await?;
                }
                Some(c) if RESUMABLE.contains(&c) && attempt < ATTEMPTS => {
                    ctx.info(format!(
                        "transfer broke off (curl exit {c}); attempt {} of {ATTEMPTS} resumes it",
                        attempt + 1
                    ));
                }
                code => anyhow::bail!(
                    "{}.source: downloading {src} failed (curl exit {}): {}; the partial file {} is kept and the next run resumes it",
                    self.field,
                    code.map(|c| c.to_string())
                        .unwrap_or_else(|| "signal".into()),
                    out.stderr_str().trim(),
                    part.display()
                ),
            }
        }
        anyhow::bail!(
            "{}.source: downloading {src} failed after {ATTEMPTS} attempts; the partial file {} is kept and the next run resumes it",
            self.field,
            part.display()
        )
    }

    async fn rm(&self, ctx: &StepCtx<'_>, p: &Path) -> anyhow::Result<()> {
        ctx.run_ok(
            HostRole::Virthost,
            &Cmd::new(["rm", "-f", "--", path_str(p).as_str()]).sudo(),
        )
        .await?;
        Ok(())
    }

    async fn mv(&self, ctx: &StepCtx<'_>, from: &Path, to: &Path) -> anyhow::Result<()> {
        ctx.run_ok(
            HostRole::Virthost,
            &Cmd::new([
                "mv",
                "-f",
                "--",
                path_str(from).as_str(),
                path_str(to).as_str(),
            ])
            .sudo(),
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl Step for Download {
    fn id(&self) -> &str {
        &self.id
    }
    fn title(&self) -> String {
        format!(
            "{} {} from {}",
            self.field,
            self.path.display(),
            self.source.source
        )
    }
    fn resources(&self) -> Vec<Resource> {
        // Downloads are expensive: the cache goes only with `all`.
        [self.path.clone(), self.sum_file(), self.part(), self.bad()]
            .into_iter()
            .map(|path| Resource::File {
                host: HostRole::Virthost,
                path,
                level: Level::All,
            })
            .collect()
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let h = ctx.host(HostRole::Virthost);
        if !h.exists(&self.path).await? {
            let part = super::files::file_size(ctx, HostRole::Virthost, &self.part(), true).await?;
            return Ok(Check::todo(if part > 0 {
                format!(
                    "{} not cached; {} holds {part} bytes and will be resumed",
                    self.path.display(),
                    self.part().display()
                )
            } else {
                format!("{} not cached", self.path.display())
            }));
        }
        let verified = if h.exists(&self.sum_file()).await? {
            parse_md5(&String::from_utf8_lossy(
                &h.read_file(&self.sum_file()).await?,
            ))
        } else {
            None
        };
        let literal = self.source.md5.as_deref().and_then(parse_md5);
        Ok(match (literal, verified, self.source.md5_url.is_some()) {
            (Some(want), Some(got), _) if want == got => Check::done(format!(
                "{} cached, md5 {got} verified",
                self.path.display()
            )),
            (Some(want), got, _) => Check::todo(format!(
                "{} cached but verified against {}, not {}.md5 {want}: downloaded again",
                self.path.display(),
                got.unwrap_or_else(|| "nothing".into()),
                self.field
            )),
            (None, Some(got), _) => Check::done(format!(
                "{} cached, md5 {got} verified when fetched",
                self.path.display()
            )),
            (None, None, true) => Check::todo(format!(
                "{} present but never verified against {}.md5_url: downloaded again",
                self.path.display(),
                self.field
            )),
            // Present, but nothing says it is the image wanted: not done, not failed.
            (None, None, false) => Check::unverified(format!(
                "{} cached, but whether it is the image wanted is not verified: {} gives no md5 (set {}.md5 or {}.md5_url)",
                self.path.display(),
                self.field,
                self.field,
                self.field
            )),
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let want = self.expected_md5(ctx).await?;
        // A cached file verified against another sum is stale: fetch it again.
        if ctx.host(HostRole::Virthost).exists(&self.path).await? {
            self.rm(ctx, &self.path).await?;
            self.rm(ctx, &self.sum_file()).await?;
        }
        let part = self.part();
        if self.is_url() {
            self.fetch(ctx).await?;
        } else {
            let src = self.source.source.as_str();
            ctx.run_ok(
                HostRole::Virthost,
                &Cmd::new(["cp", "--", src, path_str(&part).as_str()]).sudo(),
            )
            .await?;
        }
        if let Some(want) = &want {
            let got = self.md5_of(ctx, &part).await?;
            if &got != want {
                // Resuming a corrupt file would fail forever: set it aside, start over next time.
                self.mv(ctx, &part, &self.bad()).await?;
                let from = match &self.source.md5_url {
                    Some(u) if self.source.md5.is_none() => {
                        format!("{}.md5_url ({u})", self.field)
                    }
                    _ => format!("{}.md5", self.field),
                };
                anyhow::bail!(
                    "{from}: {} has md5 {got}, expected {want}. The file was set aside as {} and is not used. Fix: correct {from} in lab.yaml if the image was updated upstream, or check {} (a proxy or a broken mirror); the next run downloads it again",
                    self.source.source,
                    self.bad().display(),
                    self.source.source
                );
            }
            ctx.info(format!("md5 {got} matches {}", self.field));
            ctx.host(HostRole::Virthost)
                .write_file(
                    &self.sum_file(),
                    format!("{got}  {}\n", self.path.display()).as_bytes(),
                    0o644,
                )
                .await?;
        } else {
            ctx.info(format!(
                "{}: neither md5 nor md5_url is set, the download is not verified",
                self.field
            ));
        }
        self.mv(ctx, &part, &self.path).await?;
        Ok(())
    }
}

/// The NoCloud seed ISO (volume id `cidata`) holding user-data and meta-data.
///
/// cloud-init reads the seed once per VM: a changed seed of a VM that exists cannot take
/// effect in place, so it is drift that needs a recreate (`labwarp run --respin
/// undercloud`), never a silent rewrite. Before the VM exists the ISO is simply rebuilt.
pub struct SeedIso {
    pub path: PathBuf,
    pub user_data: String,
    pub meta_data: String,
    /// The domain booted with this seed.
    pub vm: String,
}

/// The command that makes the undercloud, and so its seed, anew.
pub const SEED_RECREATE: &str = "labwarp run --respin undercloud";

impl SeedIso {
    fn src_dir(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".d");
        PathBuf::from(p)
    }
}

#[async_trait]
impl Step for SeedIso {
    fn id(&self) -> &str {
        "seed-iso"
    }
    fn title(&self) -> String {
        format!("cloud-init seed {}", self.path.display())
    }
    fn resources(&self) -> Vec<Resource> {
        vec![
            Resource::Dir {
                host: HostRole::Virthost,
                path: self.src_dir(),
                level: Level::Nodes,
                whole: true,
            },
            Resource::File {
                host: HostRole::Virthost,
                path: self.path.clone(),
                level: Level::Nodes,
            },
        ]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let h = ctx.host(HostRole::Virthost);
        if !h.exists(&self.path).await? {
            return Ok(Check::todo(format!("{} missing", self.path.display())));
        }
        // The ISO is built from these files: when they match, so does the ISO.
        let dir = self.src_dir();
        let mut stale = Vec::new();
        for (name, want) in [
            ("user-data", &self.user_data),
            ("meta-data", &self.meta_data),
        ] {
            let p = dir.join(name);
            let live = if h.exists(&p).await? {
                h.read_file(&p).await?
            } else {
                Vec::new()
            };
            if let Some(d) = crate::plan::drift::file::drift(&live, want.as_bytes()) {
                stale.push((name, p, d));
            }
        }
        if stale.is_empty() {
            return Ok(Check::done(format!("{} up to date", self.path.display())));
        }
        if super::libvirt::domain_row(&ctx.ctx.libvirt, &self.vm)
            .await?
            .is_none()
        {
            let (_, p, _) = &stale[0];
            return Ok(Check::todo(format!("{} out of date", p.display())));
        }
        Ok(Check::drifted(
            stale
                .into_iter()
                .map(|(name, _, d)| {
                    crate::plan::Drift::recreate(
                        name,
                        d.live,
                        d.wanted.replace("; rewritten", ""),
                        format!(
                            "cloud-init reads its seed once per VM: VM {} as it is now (its install and all done on it) is made anew from the base image",
                            self.vm
                        ),
                        SEED_RECREATE,
                    )
                })
                .collect(),
        ))
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let h = ctx.host(HostRole::Virthost);
        let seen = self.check(ctx).await?;
        if let Some(e) = crate::plan::drift::refusal(
            &format!("the cloud-init seed of VM {}", self.vm),
            &seen.drift,
        ) {
            return Err(e);
        }
        let dir = self.src_dir();
        super::files::make_own_dir(ctx, HostRole::Virthost, &dir, None).await?;
        // user-data may carry keys and hashes: readable by root only.
        h.write_file(&dir.join("user-data"), self.user_data.as_bytes(), 0o600)
            .await?;
        h.write_file(&dir.join("meta-data"), self.meta_data.as_bytes(), 0o644)
            .await?;
        let iso = self.path.to_string_lossy().into_owned();
        let ud = dir.join("user-data").to_string_lossy().into_owned();
        let md = dir.join("meta-data").to_string_lossy().into_owned();
        ctx.run_ok(
            HostRole::Virthost,
            &Cmd::new([
                "genisoimage",
                "-quiet",
                "-output",
                iso.as_str(),
                "-volid",
                "cidata",
                "-joliet",
                "-rock",
                ud.as_str(),
                md.as_str(),
            ])
            .sudo(),
        )
        .await?;
        Ok(())
    }
}
