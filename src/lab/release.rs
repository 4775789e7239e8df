//! The TripleO releases a lab may name (`tripleo.release`, tripleo-quickstart's `-R`): which
//! labwarp deploys, and what each one's deploy needs from labwarp.
//!
//! labwarp implements the deploy flow of Wallaby and later (TripleO's client 16 to 20):
//! nodes provisioned by `openstack overcloud node provision` from a baremetal deployment
//! file, then `overcloud deploy` of those provisioned servers. Earlier releases provisioned
//! through Heat and Nova (`--provision-nodes`, flavors), a flow labwarp does not drive.

/// One release labwarp knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    /// The name as quickstart's `-R` takes it.
    pub name: &'static str,
    /// labwarp implements its deploy flow.
    pub supported: bool,
    /// Namespace of its container images (quickstart's `docker_registry_namespace` on
    /// CentOS Stream 9), for `ContainerImagePrepare`.
    pub namespace: &'static str,
    /// A `CephStorage` role deploys with labwarp's flow: Wallaby still deploys Ceph during
    /// `overcloud deploy` (cephadm, `-e environments/cephadm/cephadm.yaml`); Zed and later
    /// only after `openstack overcloud ceph deploy`, which labwarp does not run.
    pub ceph_in_deploy: bool,
}

/// The tag of every release's container images and the DLRN repos and images labwarp
/// uses: the last promotion that passed TripleO's CI.
pub const PROMOTION: &str = "current-tripleo";

impl Release {
    /// The release's DLRN trunk on CentOS Stream 9 (tripleo-repos' `-b RELEASE
    /// current-tripleo`; quickstart's `dlrn_baseurl`).
    pub fn trunk_url(&self) -> String {
        format!("https://trunk.rdoproject.org/centos9-{}", self.name)
    }

    /// Where the release's overcloud image and IPA tarballs live (quickstart's
    /// `overcloud_image_url`/`ipa_image_url` without the file name).
    pub fn images_url(&self) -> String {
        format!(
            "https://images.rdoproject.org/centos9/{}/rdo_trunk/{PROMOTION}",
            self.name
        )
    }
}

/// The default release of a lab.
pub const DEFAULT_RELEASE: &str = "wallaby";

/// Every release labwarp knows, oldest first.
pub const RELEASES: &[Release] = &[
    old("queens"),
    old("rocky"),
    old("stein"),
    old("train"),
    old("ussuri"),
    old("victoria"),
    Release {
        name: "wallaby",
        supported: true,
        namespace: "quay.io/tripleowallabycentos9",
        ceph_in_deploy: true,
    },
    Release {
        name: "zed",
        supported: true,
        namespace: "quay.io/tripleozedcentos9",
        ceph_in_deploy: false,
    },
    Release {
        name: "master",
        supported: true,
        namespace: "quay.io/tripleomastercentos9",
        ceph_in_deploy: false,
    },
];

const fn old(name: &'static str) -> Release {
    Release {
        name,
        supported: false,
        namespace: "",
        ceph_in_deploy: false,
    }
}

/// Every release's name for a choice (the TUI's field): the supported ones first, the
/// default leading, then the older ones newest first (validation refuses those, naming why).
pub const NAMES: [&str; RELEASES.len()] = names();

const fn names() -> [&'static str; RELEASES.len()] {
    let mut out = [""; RELEASES.len()];
    let (mut n, mut i) = (0, 0);
    while i < RELEASES.len() {
        if RELEASES[i].supported {
            out[n] = RELEASES[i].name;
            n += 1;
        }
        i += 1;
    }
    while i > 0 {
        i -= 1;
        if !RELEASES[i].supported {
            out[n] = RELEASES[i].name;
            n += 1;
        }
    }
    out
}

/// The release named `name`, if labwarp knows it.
pub fn release(name: &str) -> Option<&'static Release> {
    RELEASES.iter().find(|r| r.name == name)
}

/// The names of the releases labwarp deploys, comma-separated.
pub fn supported_names() -> String {
    RELEASES
        .iter()
        .filter(|r| r.supported)
        .map(|r| r.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_list_every_release_once_with_the_default_first() {
        assert_eq!(NAMES[0], DEFAULT_RELEASE);
        let mut names: Vec<&str> = NAMES.to_vec();
        names.sort_unstable();
        let mut all: Vec<&str> = RELEASES.iter().map(|r| r.name).collect();
        all.sort_unstable();
        assert_eq!(names, all);
    }

    #[test]
    fn the_default_is_supported_and_every_supported_release_has_images() {
        assert!(release(DEFAULT_RELEASE).is_some_and(|r| r.supported));
        for r in RELEASES.iter().filter(|r| r.supported) {
            assert!(r.namespace.starts_with("quay.io/tripleo"), "{r:?}");
            assert!(r.namespace.contains(r.name), "{r:?}");
        }
        assert_eq!(supported_names(), "wallaby, zed, master");
        assert!(release("train").is_some_and(|r| !r.supported));
        assert!(release("bogus").is_none());
    }
}
