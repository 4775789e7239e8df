//! Images: the undercloud's base image in the cache (download with resume and md5 check),
//! and the NoCloud seed ISO.

use crate::host::Cmd;
use crate::lab::ImageSource;
use crate::plan::{Check, HostRole, Level, Resource, Step, StepCtx};
use async_trait::async_trait;
use std::path::PathBuf;

/// Downloads (or copies, for a local path) an image into the cache on the hypervisor.
/// `curl -C -` resumes a partial `.part` file; the md5 is checked before the rename, so a
/// cached image is always complete.
pub struct Download {
    pub path: PathBuf,
    pub source: ImageSource,
}

impl Download {
    fn part(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".part");
        PathBuf::from(p)
    }

    async fn expected_md5(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Option<String>> {
        if let Some(m) = &self.source.md5 {
            return Ok(Some(m.to_ascii_lowercase()));
        }
        let Some(url) = &self.source.md5_url else {
            return Ok(None);
        };
        let out = ctx
            .run_ok(
                HostRole::Virthost,
                &Cmd::new(["curl", "-fsSL", url.as_str()]),
            )
            .await?;
        let text = out.stdout_str();
        let sum = text
            .split_whitespace()
            .next()
            .filter(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| anyhow::anyhow!("images.undercloud.md5_url: {url} holds no md5 sum"))?;
        Ok(Some(sum.to_ascii_lowercase()))
    }

    async fn md5_of(&self, ctx: &StepCtx<'_>, path: &str) -> anyhow::Result<String> {
        let out = ctx
            .run_ok(HostRole::Virthost, &Cmd::new(["md5sum", "--", path]).sudo())
            .await?;
        Ok(out
            .stdout_str()
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string())
    }
}

#[async_trait]
impl Step for Download {
    fn id(&self) -> &str {
        "undercloud-image"
    }
    fn title(&self) -> String {
        format!(
            "undercloud image {} from {}",
            self.path.display(),
            self.source.source
        )
    }
    fn resources(&self) -> Vec<Resource> {
        vec![Resource::File {
            host: HostRole::Virthost,
            path: self.path.clone(),
            // Downloads are expensive: the cache goes only with `all`.
            level: Level::All,
        }]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        Ok(if ctx.host(HostRole::Virthost).exists(&self.path).await? {
            Check::done(format!(
                "{} cached (md5 checked when it was fetched)",
                self.path.display()
            ))
        } else {
            Check::todo(format!("{} not cached", self.path.display()))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let part = self.part().to_string_lossy().into_owned();
        let dest = self.path.to_string_lossy().into_owned();
        let src = self.source.source.as_str();
        if src.starts_with("http://") || src.starts_with("https://") {
            ctx.run_ok(
                HostRole::Virthost,
                &Cmd::new([
                    "curl",
                    "-fL",
                    "--retry",
                    "3",
                    "-C",
                    "-",
                    "-o",
                    part.as_str(),
                    src,
                ])
                .sudo(),
            )
            .await?;
        } else {
            ctx.run_ok(
                HostRole::Virthost,
                &Cmd::new(["cp", "--", src, part.as_str()]).sudo(),
            )
            .await?;
        }
        if let Some(want) = self.expected_md5(ctx).await? {
            let got = self.md5_of(ctx, &part).await?;
            if got != want {
                // A corrupt partial file would be resumed forever: start over next time.
                ctx.run_ok(
                    HostRole::Virthost,
                    &Cmd::new(["rm", "-f", "--", part.as_str()]).sudo(),
                )
                .await?;
                anyhow::bail!("{src}: md5 {got}, expected {want}; the download was discarded");
            }
            ctx.info(format!("md5 {got} matches"));
        }
        ctx.run_ok(
            HostRole::Virthost,
            &Cmd::new(["mv", "-f", "--", part.as_str(), dest.as_str()]).sudo(),
        )
        .await?;
        Ok(())
    }
}

/// The NoCloud seed ISO (volume id `cidata`) holding user-data and meta-data.
pub struct SeedIso {
    pub path: PathBuf,
    pub user_data: String,
    pub meta_data: String,
}

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
        for (name, want) in [
            ("user-data", &self.user_data),
            ("meta-data", &self.meta_data),
        ] {
            let p = dir.join(name);
            let same = h.exists(&p).await? && h.read_file(&p).await? == want.as_bytes();
            if !same {
                return Ok(Check::todo(format!("{} out of date", p.display())));
            }
        }
        Ok(Check::done(format!("{} up to date", self.path.display())))
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let h = ctx.host(HostRole::Virthost);
        let dir = self.src_dir();
        let d = dir.to_string_lossy().into_owned();
        ctx.run_ok(
            HostRole::Virthost,
            &Cmd::new(["mkdir", "-p", "--", d.as_str()]).sudo(),
        )
        .await?;
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
