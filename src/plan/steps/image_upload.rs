//! `openstack overcloud image upload`: the unpacked images handed to TripleO, and the check
//! of what the upload leaves on the undercloud.

use super::images::parse_md5;
use super::openstack::OpenstackCli;
use super::overcloud_images::{s, with_suffix};
use crate::host::Cmd;
use crate::plan::{Check, HostRole, Level, Resource, Step, StepCtx};
use async_trait::async_trait;
use std::path::{Path, PathBuf};

/// Where tripleoclient 20's upload leaves the images on the undercloud (its default,
/// `--local`: Wallaby's undercloud has no Glance; `FileImageClientAdapter` copies to
/// `/var/lib/ironic/images`, the qcow2 converted to raw, and the IPA to the HTTP boot dir).
pub const UPLOADED: &[&str] = &[
    "var/lib/ironic/images/overcloud-full.raw",
    "var/lib/ironic/images/overcloud-full.vmlinuz",
    "var/lib/ironic/images/overcloud-full.initrd",
    "var/lib/ironic/httpboot/agent.kernel",
    "var/lib/ironic/httpboot/agent.ramdisk",
];

/// `openstack overcloud image upload --image-path ~/images --update-existing` with the
/// undercloud's credentials. Done when what the upload leaves is on the undercloud (see
/// [`UPLOADED`]) and `~/images/.labwarp-uploaded` names the tarballs' sums uploaded.
pub struct ImageUpload {
    pub cli: OpenstackCli,
    pub image_path: PathBuf,
    /// `/` on a real undercloud; the stand-in's state directory where it plays the upload.
    pub ironic_root: PathBuf,
    /// The copied tarballs (`~/images/<file>`), whose recorded sums the upload is of.
    pub tars: Vec<PathBuf>,
}

impl ImageUpload {
    pub fn argv(&self) -> Vec<String> {
        vec![
            "overcloud".into(),
            "image".into(),
            "upload".into(),
            "--image-path".into(),
            s(&self.image_path),
            "--update-existing".into(),
        ]
    }
    fn marker(&self) -> PathBuf {
        self.image_path.join(".labwarp-uploaded")
    }
    async fn sums(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Option<String>> {
        let uc = ctx.host(HostRole::Undercloud);
        let mut out = String::new();
        for t in &self.tars {
            let f = with_suffix(t, ".md5");
            if !uc.exists(&f).await? {
                return Ok(None);
            }
            let Some(sum) = parse_md5(&String::from_utf8_lossy(&uc.read_file(&f).await?)) else {
                return Ok(None);
            };
            out.push_str(&format!("{sum}  {}\n", t.display()));
        }
        Ok(Some(out))
    }
}

#[async_trait]
impl Step for ImageUpload {
    fn id(&self) -> &str {
        "image-upload"
    }
    fn title(&self) -> String {
        format!(
            "openstack overcloud image upload --image-path {}",
            self.image_path.display()
        )
    }
    fn resources(&self) -> Vec<Resource> {
        vec![
            self.cli.job_resource(self.id()),
            Resource::File {
                host: HostRole::Undercloud,
                path: self.marker(),
                level: Level::Nodes,
            },
        ]
    }
    fn openstack_argv(&self) -> Vec<Vec<String>> {
        vec![self.argv()]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let uc = ctx.host(HostRole::Undercloud);
        // On a real undercloud /var/lib/ironic belongs to ironic's containers: ask as root.
        let real = self.ironic_root == Path::new("/");
        let mut missing: Vec<&str> = Vec::new();
        for f in UPLOADED {
            let p = s(&self.ironic_root.join(f));
            let mut test = Cmd::new(["test", "-f", p.as_str()]);
            if real {
                test = test.sudo();
            }
            if !ctx.probe(HostRole::Undercloud, &test).await?.success() {
                missing.push(f);
            }
        }
        if !missing.is_empty() {
            return Ok(Check::todo(format!(
                "not uploaded: {} missing under {}",
                missing.join(", "),
                self.ironic_root.display()
            )));
        }
        let Some(want) = self.sums(ctx).await? else {
            return Ok(Check::todo("the tarballs are not copied yet"));
        };
        let marker = self.marker();
        let have = if uc.exists(&marker).await? {
            String::from_utf8_lossy(&uc.read_file(&marker).await?).into_owned()
        } else {
            String::new()
        };
        Ok(if have == want {
            Check::done(format!(
                "ironic's images and IPA are in place ({} files), uploaded from the copied tarballs",
                UPLOADED.len()
            ))
        } else {
            Check::todo("the images in place were uploaded from other tarballs")
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let want = self.sums(ctx).await?.ok_or_else(|| {
            anyhow::anyhow!(
                "the tarballs are not copied to {} yet",
                self.image_path.display()
            )
        })?;
        let cmd = self.cli.cmd(&self.argv());
        self.cli.run_job(ctx, self.id(), &cmd).await?;
        ctx.host(HostRole::Undercloud)
            .write_file(&self.marker(), want.as_bytes(), 0o644)
            .await?;
        Ok(())
    }
}
