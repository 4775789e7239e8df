//! The system files the undercloud-prep stage writes: the release's dnf repos (what
//! `tripleo-repos -b RELEASE current-tripleo ceph` enables on CentOS Stream 9, quickstart's
//! `repos:` of its release config) and the stack user's sudoers entry.

use crate::lab::release::{PROMOTION, Release};

/// Where the repos go on the undercloud.
pub const REPO_FILE: &str = "/etc/yum.repos.d/labwarp-tripleo.repo";

/// The release's DLRN repos (its promoted packages and their dependencies) and the CentOS
/// Stream 9 repos TripleO's packages need besides BaseOS/AppStream (CRB, HighAvailability).
/// Every value comes from labwarp's release table, never from user input.
pub fn repo_file(release: &Release) -> String {
    let trunk = release.trunk_url();
    let name = release.name;
    let centos = |repo: &str| {
        format!(
            "https://mirrors.centos.org/metalink?repo=centos-{repo}-9-stream&arch=$basearch&protocol=https,http"
        )
    };
    format!(
        "# written by labwarp: TripleO {name} ({PROMOTION}) on CentOS Stream 9, as tripleo-repos sets up\n\
         [delorean-{name}]\n\
         name=TripleO {name} {PROMOTION} (DLRN)\n\
         baseurl={trunk}/{PROMOTION}/\n\
         enabled=1\n\
         gpgcheck=0\n\
         priority=1\n\
         module_hotfixes=1\n\
         \n\
         [delorean-{name}-deps]\n\
         name=TripleO {name} dependencies (DLRN deps)\n\
         baseurl={trunk}/deps/latest/\n\
         enabled=1\n\
         gpgcheck=0\n\
         priority=1\n\
         module_hotfixes=1\n\
         \n\
         [labwarp-centos9-crb]\n\
         name=CentOS Stream 9 CRB\n\
         metalink={}\n\
         enabled=1\n\
         gpgcheck=0\n\
         \n\
         [labwarp-centos9-highavailability]\n\
         name=CentOS Stream 9 HighAvailability\n\
         metalink={}\n\
         enabled=1\n\
         gpgcheck=0\n",
        centos("crb"),
        centos("highavailability"),
    )
}

/// `/etc/sudoers.d/<user>`: the stack user's passwordless sudo (quickstart's
/// `/etc/sudoers.d/stack`; TripleO's install runs `sudo` as that user).
pub fn sudoers_path(user: &str) -> String {
    format!("/etc/sudoers.d/{user}")
}

/// The sudoers entry. `user` is a validated user name (`undercloud.cloud_init.user`:
/// letters, digits, `_` and `-`), so it needs no quoting in sudoers' grammar.
pub fn sudoers(user: &str) -> String {
    format!("# written by labwarp\n{user} ALL=(root) NOPASSWD:ALL\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_release_gets_its_own_trunk() {
        for name in ["wallaby", "zed", "master"] {
            let r = crate::lab::release::release(name).unwrap();
            let f = repo_file(r);
            assert!(
                f.contains(&format!(
                    "baseurl=https://trunk.rdoproject.org/centos9-{name}/current-tripleo/"
                )),
                "{f}"
            );
            assert!(f.contains(&format!("[delorean-{name}-deps]")), "{f}");
        }
        assert_eq!(
            sudoers("stack"),
            "# written by labwarp\nstack ALL=(root) NOPASSWD:ALL\n"
        );
    }
}
