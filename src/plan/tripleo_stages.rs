//! The stages that make a plain guest a TripleO undercloud and give ironic its images:
//! `undercloud-prep` (between the undercloud VM and the install) and `overcloud-images`
//! (after the install and the overcloud nodes, before the deploy's introspection), plus the image downloads the
//! `images` stage starts early. Built purely from the lab and the facts, like `stages.rs`.

use super::steps::container_prepare::ContainerPrepare;
use super::steps::files::PutFile;
use super::steps::image_upload::ImageUpload;
use super::steps::images::Download;
use super::steps::openstack::{OpenstackCli, STANDIN};
use super::steps::overcloud_images::{CopyToUndercloud, SharedDownload, StandinTarball, Unpack};
use super::steps::undercloud_prep::{
    EtcHosts, Hostname, Prep, Repos, StackSudo, TimeSync, Tripleoclient,
};
use super::{Facts, HostRole, Level, Stage};
use crate::lab::Lab;
use crate::lab::tripleo::TripleoImage;
use std::path::PathBuf;

pub const UNDERCLOUD_PREP: &str = "undercloud-prep";
pub const OVERCLOUD_IMAGES: &str = "overcloud-images";

/// Where the prep steps act: `/` on a real undercloud; where the stand-in plays TripleO,
/// the sandbox undercloud's directory, or `~/.standin-root` on a guest whose login is not
/// root (the tiny test guest).
pub fn prep_root(facts: &Facts) -> PathBuf {
    if facts.sandbox {
        facts.sandbox_undercloud_root()
    } else if facts.standin_openstack {
        facts.undercloud_home.join(".standin-root")
    } else {
        PathBuf::from("/")
    }
}

/// Where the upload leaves the images: `/`, or the stand-in's state directory.
pub fn ironic_root(facts: &Facts) -> PathBuf {
    if facts.standin_openstack {
        facts.undercloud_home.join(".standin")
    } else {
        PathBuf::from("/")
    }
}

fn release_images(lab: &Lab) -> anyhow::Result<[TripleoImage; 2]> {
    lab.tripleo.images().ok_or_else(|| {
        anyhow::anyhow!(
            "tripleo.release: labwarp does not deploy `{}` (supported: {})",
            lab.tripleo.release,
            crate::lab::release::supported_names()
        )
    })
}

/// The step id of a tarball (`overcloud-image`, `ipa-image`).
fn key(img: &TripleoImage) -> &'static str {
    if img.file == crate::lab::tripleo::IPA_TAR {
        "ipa-image"
    } else {
        "overcloud-image"
    }
}

/// A tarball's cache entry on the hypervisor: the release's own images are shared by the
/// labs there (`tripleo-<release>-<file>`), a lab's own source is the lab's (`<lab>-<file>`).
pub fn cached_tarball(lab: &Lab, facts: &Facts, img: &TripleoImage) -> PathBuf {
    let owner = if img.lab_source {
        lab.name.clone()
    } else {
        format!("tripleo-{}", lab.tripleo.release)
    };
    facts.image_cache.join(format!("{owner}-{}", img.file))
}

/// The `images` stage's downloads of the overcloud image and IPA tarballs (stand-in
/// tarballs in the sandbox, where nothing is downloaded), after the cache directory.
pub fn add_downloads(mut images: Stage, lab: &Lab, facts: &Facts) -> anyhow::Result<Stage> {
    for img in release_images(lab)? {
        let path = cached_tarball(lab, facts, &img);
        let id = key(&img).to_string();
        images = if facts.sandbox {
            images.with_after(
                StandinTarball {
                    id,
                    path,
                    file: img.file,
                },
                &["image-cache"],
            )
        } else {
            let download = Download {
                id,
                field: img.field.into(),
                path,
                source: img.source,
            };
            if img.lab_source {
                images.with_after(download, &["image-cache"])
            } else {
                images.with_after(SharedDownload(download), &["image-cache"])
            }
        };
    }
    Ok(images)
}

/// `undercloud-prep`: repos, tripleoclient, sudo, hostname, /etc/hosts, time sync, then the
/// container images' parameters; one after the other (dnf holds a lock, and the tiny test
/// guest's dropbear loses parallel channels under load).
pub fn prep_stage(
    lab: &Lab,
    facts: &Facts,
    cli: &OpenstackCli,
    after: &str,
) -> anyhow::Result<Stage> {
    let release = lab.tripleo.supported().ok_or_else(|| {
        anyhow::anyhow!(
            "tripleo.release: `{}` is not deployed by labwarp",
            lab.tripleo.release
        )
    })?;
    let prep = Prep {
        root: prep_root(facts),
        standin: facts.standin_openstack,
    };
    let fqdn = lab
        .undercloud
        .conf
        .undercloud_hostname
        .trim_end_matches('.')
        .to_string();
    let mut stage = Stage::new(UNDERCLOUD_PREP, "Prepare the undercloud", &[after]).then(Repos {
        prep: prep.clone(),
        release,
    });
    stage = if facts.standin_openstack {
        // Played: `dnf install python3-tripleoclient` is the stand-in `openstack` uploaded.
        stage.then(PutFile {
            id: "tripleoclient".into(),
            title: "python3-tripleoclient (played: labwarp's stand-in `openstack` uploaded)".into(),
            role: HostRole::Undercloud,
            path: cli.standin_path(),
            content: STANDIN.as_bytes().to_vec(),
            mode: 0o755,
            level: Level::Nodes,
        })
    } else {
        stage.then(Tripleoclient)
    };
    Ok(stage
        .then(StackSudo {
            prep: prep.clone(),
            user: lab.undercloud.cloud_init.user.clone(),
        })
        .then(Hostname {
            prep: prep.clone(),
            fqdn: fqdn.clone(),
        })
        .then(EtcHosts {
            prep: prep.clone(),
            fqdn,
        })
        .then(TimeSync { prep })
        .then(ContainerPrepare {
            cli: cli.clone(),
            release,
            path: facts
                .undercloud_home
                .join(super::steps::overcloud::CONTAINERS_PREPARE),
            content: crate::render::containers_prepare::render(lab)?,
        }))
}

/// `overcloud-images`: each tarball copied to `~/images` and unpacked, then uploaded. It
/// follows the overcloud-nodes stage (`after`) rather than running beside it: both talk to
/// the undercloud over one SSH connection, and a small undercloud's sshd (the tiny guest's
/// dropbear) loses channels opened in parallel under load.
pub fn images_stage(
    lab: &Lab,
    facts: &Facts,
    cli: &OpenstackCli,
    after: &str,
) -> anyhow::Result<Stage> {
    let dir = facts.undercloud_home.join("images");
    let mut stage = Stage::new(
        OVERCLOUD_IMAGES,
        "Overcloud images to the undercloud",
        &[after],
    );
    let mut unpacked = Vec::new();
    let mut tars = Vec::new();
    for img in release_images(lab)? {
        let k = key(&img);
        let tar = dir.join(img.file);
        stage = stage
            .with_after(
                CopyToUndercloud {
                    id: format!("{k}-copy"),
                    from: cached_tarball(lab, facts, &img),
                    to: tar.clone(),
                },
                // One copy at a time over the undercloud's SSH connection.
                &unpacked.iter().map(String::as_str).collect::<Vec<_>>(),
            )
            .then(Unpack {
                id: format!("{k}-unpack"),
                tar: tar.clone(),
                file: img.file,
            });
        unpacked.push(format!("{k}-unpack"));
        tars.push(tar);
    }
    Ok(stage.then(ImageUpload {
        cli: cli.clone(),
        image_path: dir,
        ironic_root: ironic_root(facts),
        tars,
    }))
}
