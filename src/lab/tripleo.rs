//! `tripleo:` in lab.yaml: the TripleO release a lab deploys and where the images the
//! undercloud hands to ironic come from (the overcloud image and the IPA kernel/ramdisk).

use super::model::ImageSource;
use super::release::{self, Release};
use serde::{Deserialize, Serialize};

/// The two image tarballs of a release, as tripleo-quickstart's release configs name them
/// (`images: [{name: overcloud-full, type: tar}, {name: ipa_images, type: tar}]`).
pub const OVERCLOUD_TAR: &str = "overcloud-full.tar";
pub const IPA_TAR: &str = "ironic-python-agent.tar";

/// Which TripleO labwarp deploys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tripleo {
    /// The release, as tripleo-quickstart's `-R` names it: `wallaby` (default), `zed` or
    /// `master` (those whose deploy flow labwarp implements: `crate::lab::release`).
    pub release: String,
    /// The overcloud image tarball (`overcloud-full.tar`: overcloud-full.qcow2, .vmlinuz,
    /// .initrd). Default: the release's, from images.rdoproject.org, md5 from `<url>.md5`
    /// (only `md5` or `md5_url` given: the release's URL, checked against that).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overcloud_image: Option<ImageSource>,
    /// The ironic-python-agent tarball (`ironic-python-agent.tar`: .kernel, .initramfs)
    /// introspection and provisioning boot. Default: the release's, as above.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipa_image: Option<ImageSource>,
}

impl Default for Tripleo {
    fn default() -> Self {
        Tripleo {
            release: release::DEFAULT_RELEASE.into(),
            overcloud_image: None,
            ipa_image: None,
        }
    }
}

/// One of the two tarballs with where it comes from and the lab.yaml field that says so.
#[derive(Debug, Clone, PartialEq)]
pub struct TripleoImage {
    /// `overcloud-full.tar` or `ironic-python-agent.tar`.
    pub file: &'static str,
    /// `tripleo.overcloud_image` / `tripleo.ipa_image`.
    pub field: &'static str,
    pub source: ImageSource,
    /// The lab names its own source (not the release's): its cache entry is the lab's.
    pub lab_source: bool,
}

impl Tripleo {
    pub fn is_default(&self) -> bool {
        *self == Tripleo::default()
    }

    /// The release when labwarp deploys it.
    pub fn supported(&self) -> Option<&'static Release> {
        release::release(&self.release).filter(|r| r.supported)
    }

    /// Both tarballs: the lab's sources, else the release's (quickstart's layout, the
    /// expected md5 in `<url>.md5`). A lab entry without a `source` keeps the release's URL
    /// with the lab's `md5`/`md5_url` (a pinned sum). `None` for a release labwarp does not
    /// deploy.
    pub fn images(&self) -> Option<[TripleoImage; 2]> {
        let rel = self.supported()?;
        let pick = |own: &Option<ImageSource>, file: &'static str, field: &'static str| {
            let url = format!("{}/{file}", rel.images_url());
            let default_md5_url = Some(format!("{url}.md5"));
            let (source, lab_source) = match own {
                Some(s) if !s.source.is_empty() => (s.clone(), true),
                Some(s) => (
                    ImageSource {
                        source: url,
                        md5: s.md5.clone(),
                        md5_url: if s.md5.is_some() || s.md5_url.is_some() {
                            s.md5_url.clone()
                        } else {
                            default_md5_url
                        },
                    },
                    false,
                ),
                None => (
                    ImageSource {
                        source: url,
                        md5: None,
                        md5_url: default_md5_url,
                    },
                    false,
                ),
            };
            TripleoImage {
                file,
                field,
                source,
                lab_source,
            }
        };
        Some([
            pick(
                &self.overcloud_image,
                OVERCLOUD_TAR,
                "tripleo.overcloud_image",
            ),
            pick(&self.ipa_image, IPA_TAR, "tripleo.ipa_image"),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_images_follow_quickstarts_layout_and_a_lab_source_wins() {
        let t = Tripleo::default();
        let [oc, ipa] = t.images().unwrap();
        assert_eq!(
            oc.source.source,
            "https://images.rdoproject.org/centos9/wallaby/rdo_trunk/current-tripleo/overcloud-full.tar"
        );
        assert_eq!(
            ipa.source.md5_url.as_deref(),
            Some(
                "https://images.rdoproject.org/centos9/wallaby/rdo_trunk/current-tripleo/ironic-python-agent.tar.md5"
            )
        );
        let own = ImageSource {
            source: "/srv/ipa.tar".into(),
            md5: Some("0".repeat(32)),
            md5_url: None,
        };
        let t = Tripleo {
            release: "zed".into(),
            ipa_image: Some(own.clone()),
            ..Tripleo::default()
        };
        let [oc, ipa] = t.images().unwrap();
        assert!(oc.source.source.contains("/centos9/zed/"), "{oc:?}");
        assert_eq!(ipa.source, own);
        let old = Tripleo {
            release: "train".into(),
            ..Tripleo::default()
        };
        assert!(old.images().is_none());
        // Only a sum: the release's URL, checked against it.
        let pinned = Tripleo {
            overcloud_image: Some(ImageSource {
                md5: Some("f".repeat(32)),
                ..ImageSource::default()
            }),
            ..Tripleo::default()
        };
        let [oc, _] = pinned.images().unwrap();
        assert!(
            oc.source
                .source
                .ends_with("/wallaby/rdo_trunk/current-tripleo/overcloud-full.tar")
        );
        assert_eq!((oc.source.md5_url, oc.lab_source), (None, false));
    }
}
