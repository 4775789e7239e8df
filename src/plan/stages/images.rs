//! The images stage: the undercloud's base image, the direct-boot kernel and initrd, and
//! the overcloud image and IPA tarballs, in the hypervisor's cache.

use super::{HYPERVISOR, IMAGES, Inputs};
use crate::plan::steps::files::{CopyFile, MakeDir};
use crate::plan::steps::images::Download;
use crate::plan::steps::libvirt::Disk;
use crate::plan::tripleo_stages;
use crate::plan::{HostRole, Level, Stage};

pub(super) fn stage(i: &Inputs) -> anyhow::Result<Stage> {
    let (lab, facts, rctx) = (i.lab, i.facts, &i.rctx);
    // images: the undercloud's base image in the cache.
    let base_image = &i.base_image;
    let mut images = Stage::new(IMAGES, "Images", &[HYPERVISOR]).then(MakeDir {
        id: "image-cache".into(),
        role: HostRole::Virthost,
        path: facts.image_cache.clone(),
        level: if facts.sandbox {
            Level::Virthost
        } else {
            Level::All
        },
        whole: false,
    });
    if facts.sandbox {
        // Nothing boots on the test driver: an empty image stands in for the download.
        images = images.then(Disk {
            id: "undercloud-image".into(),
            path: base_image.clone(),
            size_gib: 1,
            backing: None,
            vm: None,
        });
    } else {
        images = images.then(Download {
            id: "undercloud-image".into(),
            field: "images.undercloud".into(),
            path: base_image.clone(),
            source: lab.images.undercloud.clone(),
        });
        // Direct kernel boot: quickstart takes the kernel and initrd out of the image with
        // virt-copy-out (libguestfs); labwarp downloads them from their own sources (the
        // overcloud-full tarball ships them as separate files) and copies them next to the
        // disks, where the domain XML points.
        if let (Some(k), Some(i), Some(boot)) = (
            &lab.images.overcloud_kernel,
            &lab.images.overcloud_initrd,
            &rctx.undercloud_kernel,
        ) {
            for (id, field, src, dest) in [
                (
                    "overcloud-kernel",
                    "images.overcloud_kernel",
                    k,
                    &boot.kernel,
                ),
                (
                    "overcloud-initrd",
                    "images.overcloud_initrd",
                    i,
                    &boot.initrd,
                ),
            ] {
                // `<lab>-undercloud.vmlinuz`: the lab prefix keeps labs apart in a shared cache.
                let cached = facts.image_cache.join(
                    dest.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| format!("{}-{id}", lab.name)),
                );
                images = images
                    .with_after(
                        Download {
                            id: id.into(),
                            field: field.into(),
                            path: cached.clone(),
                            source: src.clone(),
                        },
                        &["image-cache"],
                    )
                    .then(CopyFile {
                        id: format!("{id}-in-pool"),
                        role: HostRole::Virthost,
                        from: cached,
                        to: dest.clone(),
                        level: Level::Virthost,
                    });
            }
        }
    }

    // The overcloud image and IPA tarballs, fetched while the undercloud boots.
    tripleo_stages::add_downloads(images, lab, facts)
}
