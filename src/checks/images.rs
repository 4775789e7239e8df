//! Images: each image the lab uses is present (a local file, or already in the cache for a
//! URL), its md5 matches when one is given, and direct kernel boot has both kernel and initrd.

use super::{Area, CheckContext, Finding, Fix, HostView, Severity};
use crate::lab::{ImageSource, Lab};
use std::path::{Path, PathBuf};

const AREA: Area = Area::Images;

/// Where one image is expected on the hypervisor, and what was found there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFact {
    /// `undercloud`, `overcloud_kernel`, `overcloud_initrd`.
    pub name: String,
    pub source: String,
    pub is_url: bool,
    pub path: PathBuf,
    pub present: bool,
    pub expected_md5: Option<String>,
    pub md5_url: Option<String>,
    /// The computed md5 (hex) or why it could not be computed.
    pub actual_md5: Option<Result<String, String>>,
}

#[derive(Debug, Clone, Default)]
pub struct ImageFacts {
    pub images: Vec<ImageFact>,
    /// Direct boot requested: exactly one of kernel/initrd set is an error.
    pub kernel_set: bool,
    pub initrd_set: bool,
}

/// The path an image source ends up at: itself for a local file, the cache for a URL.
pub fn image_path(lab: &Lab, src: &ImageSource) -> (bool, PathBuf) {
    if src.source.contains("://") {
        let base = src
            .source
            .rsplit('/')
            .next()
            .filter(|b| !b.is_empty())
            .unwrap_or("image");
        let base = base.split(['?', '#']).next().unwrap_or(base);
        (true, lab.images.cache_dir.join(base))
    } else {
        (false, PathBuf::from(&src.source))
    }
}

fn md5_of_local(path: &Path) -> Result<String, String> {
    use md5::{Digest, Md5};
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

pub async fn gather(view: &HostView<'_>, ctx: &CheckContext) -> ImageFacts {
    let Some(lab) = &ctx.lab else {
        return ImageFacts::default();
    };
    let mut sources = vec![("undercloud", &lab.images.undercloud)];
    if let Some(k) = &lab.images.overcloud_kernel {
        sources.push(("overcloud_kernel", k));
    }
    if let Some(i) = &lab.images.overcloud_initrd {
        sources.push(("overcloud_initrd", i));
    }
    let mut images = Vec::new();
    for (name, src) in sources {
        let (is_url, path) = image_path(lab, src);
        let present = view.exists(&path).await;
        let expected_md5 = src.md5.as_ref().map(|m| m.trim().to_ascii_lowercase());
        let actual_md5 = if present && expected_md5.is_some() {
            let rooted = view.path(&path);
            Some(if view.is_local() {
                tokio::task::spawn_blocking(move || md5_of_local(&rooted))
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()))
            } else {
                let run = view
                    .fs_cmd(&[
                        "md5sum".into(),
                        "-b".into(),
                        rooted.to_string_lossy().into_owned(),
                    ])
                    .await;
                match run.ok_stdout().and_then(|o| o.split_whitespace().next()) {
                    Some(sum) => Ok(sum.to_string()),
                    None => Err(run.evidence()),
                }
            })
        } else {
            None
        };
        images.push(ImageFact {
            name: name.into(),
            source: src.source.clone(),
            is_url,
            path,
            present,
            expected_md5,
            md5_url: src.md5_url.clone(),
            actual_md5,
        });
    }
    ImageFacts {
        images,
        kernel_set: lab.images.overcloud_kernel.is_some(),
        initrd_set: lab.images.overcloud_initrd.is_some(),
    }
}

pub fn evaluate(facts: &ImageFacts, _ctx: &CheckContext) -> Vec<Finding> {
    let mut out = Vec::new();
    for img in &facts.images {
        let id = format!("images.{}", img.name);
        let field = format!("images.{}.source", img.name);
        let mut ev = format!(
            "source: {}\npath on the hypervisor: {} ({})",
            img.source,
            img.path.display(),
            if img.present { "present" } else { "not found" }
        );
        if let Some(m) = &img.expected_md5 {
            ev.push_str(&format!("\nexpected md5: {m}"));
        }
        if let Some(Ok(m)) = &img.actual_md5 {
            ev.push_str(&format!("\nactual md5:   {m}"));
        }
        if let Some(Err(e)) = &img.actual_md5 {
            ev.push_str(&format!("\nmd5 not computed: {e}"));
        }
        let f = match (img.present, img.is_url, &img.expected_md5, &img.actual_md5) {
            (false, true, _, _) => Finding::new(
                id,
                AREA,
                Severity::Info,
                format!("{} is not cached yet: it will be downloaded", img.name),
                ev,
            ),
            (false, false, _, _) => Finding::new(
                id,
                AREA,
                Severity::Fail,
                format!("{} image {} does not exist", img.name, img.path.display()),
                ev,
            )
            .with_fix(Fix::manual(format!(
                "Put the image at {} or point {field} in lab.yaml at an existing file or a URL",
                img.path.display()
            ))),
            (true, _, Some(want), Some(Ok(have))) if want == have => Finding::new(
                id,
                AREA,
                Severity::Ok,
                format!("{} present, md5 matches", img.name),
                ev,
            ),
            (true, _, Some(_), Some(Ok(_))) => Finding::new(
                id,
                AREA,
                Severity::Fail,
                format!("{} image checksum does not match", img.name),
                ev,
            )
            .with_fix(Fix::manual(if img.is_url {
                format!(
                    "Delete {} so that it is downloaded again, or correct images.{}.md5",
                    img.path.display(),
                    img.name
                )
            } else {
                format!(
                    "Replace {} or correct images.{}.md5",
                    img.path.display(),
                    img.name
                )
            })),
            (true, _, Some(_), _) => Finding::new(
                id,
                AREA,
                Severity::Warn,
                format!("{} present, md5 could not be computed", img.name),
                ev,
            ),
            (true, _, None, _) => Finding::new(
                id,
                AREA,
                Severity::Info,
                format!(
                    "{} present; no md5 given to verify it{}",
                    img.name,
                    if img.md5_url.is_some() {
                        " (md5_url is checked when downloading)"
                    } else {
                        ""
                    }
                ),
                ev,
            ),
        };
        out.push(f);
    }
    if facts.kernel_set != facts.initrd_set {
        let (have, missing) = if facts.kernel_set {
            ("overcloud_kernel", "overcloud_initrd")
        } else {
            ("overcloud_initrd", "overcloud_kernel")
        };
        out.push(
            Finding::new(
                "images.direct-boot",
                AREA,
                Severity::Fail,
                format!("Direct kernel boot needs both kernel and initrd: {missing} is not set"),
                format!("images.{have} is set, images.{missing} is not"),
            )
            .with_fix(Fix::manual(format!(
                "Set images.{missing} in lab.yaml, or remove images.{have} to boot from the disk"
            ))),
        );
    }
    out
}
