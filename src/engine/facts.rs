//! What preflight read from the hosts and what labwarp decided from it: the facts that
//! shape a plan, shared by checks, plan, run and the front ends.

use super::resource::HostRole;
use crate::lab::{DomainType, Lab, VirtType};
use crate::workspace::owner;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What preflight read from the hosts (and labwarp decided from it) that shapes the plan.
/// Every such choice is printed by `labwarp plan` and at the start of `labwarp run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// Domain type the VMs get: `kvm` or `qemu`.
    pub domain_type: VirtType,
    /// Why that domain type (the evidence).
    pub domain_type_reason: String,
    /// The undercloud is a sandbox directory on this machine and disks and images live in
    /// `workspace/sandbox`: always with libvirt's in-memory test driver (nothing boots), and
    /// with `LABWARP_SANDBOX=1` on a real libvirt.
    pub sandbox: bool,
    /// The libvirt URI is the in-memory test driver (`test:///default`; its world is saved
    /// in the workspace, see `virt::test_world`).
    pub test_driver: bool,
    /// `workspace/sandbox` (removed at `virthost`).
    pub sandbox_dir: PathBuf,
    /// Home directory of the undercloud's user, where undercloud.conf and rc files go.
    pub undercloud_home: PathBuf,
    /// Directory holding the VM disks (the storage pool's path).
    pub pool_dir: PathBuf,
    /// Directory holding downloaded images.
    pub image_cache: PathBuf,
    /// Run labwarp's stand-in `openstack` (scripts/standin/openstack) instead of TripleO's.
    pub standin_openstack: bool,
    /// VirtualBMC's Python venv on the hypervisor (shared by the labs there; removed at
    /// `all`). `LABWARP_VBMC_VENV` overrides the default `/opt/labwarp-vbmc`.
    #[serde(default)]
    pub vbmc_venv: PathBuf,
    /// This lab's VirtualBMC directory on the hypervisor: vbmcd's config, pid file, log and
    /// one `nodes/<domain>/config` per node (removed at `virthost`).
    #[serde(default)]
    pub vbmc_dir: PathBuf,
    /// Prefix of the undercloud's container names: `<lab>-` in the sandbox (several sandbox
    /// labs share this machine's podman), empty on a real undercloud (TripleO's exact names).
    pub container_prefix: String,
    /// Where the undercloud's containers run: the undercloud itself (TripleO), or, with the
    /// stand-in and `LABWARP_STANDIN_CONTAINERS=hypervisor`, the hypervisor's podman (for an
    /// undercloud image without podman, such as labwarp's tiny test guest).
    pub container_host: HostRole,
    /// The workspace's public key, which cloud-init installs in the undercloud (set by the
    /// session; `None` for a sandbox, which needs no SSH).
    #[serde(default)]
    pub ssh_public_key: Option<String>,
    /// The lab's identity (`workspace/lab-id`, see [`owner`]): with the name, what marks
    /// labwarp's objects (container labels, libvirt metadata, directory markers). Set by
    /// the session; empty when unknown (nothing is then proven ours by a mark).
    #[serde(default)]
    pub lab_id: String,
    /// Test rig (`LABWARP_NODES_NETBOOT=1`, with the stand-in on a real libvirt and the
    /// lab's direct-boot kernel and initrd): labwarp plays ironic's PXE part so that the
    /// overcloud nodes network-boot that kernel from the undercloud (see `render::node_boot`).
    #[serde(default)]
    pub nodes_netboot: bool,
    /// Test rig (`LABWARP_MIGRATION_RIG=1`, with the network-boot rig): the computes run the
    /// tiny guest and the NFS server is played by the rig, so live migration's readiness
    /// probes what those guests can answer over labwarp's own SSH route to the nodes (see
    /// `plan::steps::migration_rig`).
    #[serde(default)]
    pub migration_rig: bool,
    /// The choices above, in words, for output.
    pub notes: Vec<String>,
}

impl Facts {
    /// The sandbox undercloud's root directory (`workspace/sandbox/undercloud`, two levels
    /// above the stack user's home there).
    pub fn sandbox_undercloud_root(&self) -> PathBuf {
        self.undercloud_home
            .ancestors()
            .nth(2)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.undercloud_home.clone())
    }

    /// This lab as its marks name it.
    pub fn owner(&self, lab: &str) -> owner::Owner {
        owner::Owner::new(lab, &self.lab_id)
    }
}

impl Facts {
    /// Decides the facts that need no probing: from the lab and the workspace alone.
    /// `LABWARP_OPENSTACK_STANDIN=1` forces the stand-in on a real hypervisor (tests).
    pub fn decide(lab: &Lab, workspace: &Path) -> Facts {
        let hv = lab.hypervisors.first().cloned().unwrap_or_default();
        let test_driver = hv.libvirt_uri.starts_with("test:");
        // LABWARP_SANDBOX=1: a sandbox undercloud on a real libvirt (tests, trials).
        let sandbox = test_driver || std::env::var("LABWARP_SANDBOX").is_ok_and(|v| v == "1");
        let standin_env = std::env::var("LABWARP_OPENSTACK_STANDIN").is_ok_and(|v| v == "1");
        let mut notes = Vec::new();
        let (domain_type, reason) = if test_driver {
            (
                VirtType::Qemu,
                format!(
                    "{} is libvirt's in-memory test driver: nothing boots",
                    hv.libvirt_uri
                ),
            )
        } else {
            match hv.domain_type {
                DomainType::Kvm => (VirtType::Kvm, "lab.yaml asks for kvm".into()),
                DomainType::Qemu => (VirtType::Qemu, "lab.yaml asks for qemu (TCG)".into()),
                DomainType::Auto => (
                    VirtType::Qemu,
                    "domain_type auto: TCG unless preflight proves KVM usable (labwarp check --deep)"
                        .into(),
                ),
            }
        };
        let user = &lab.undercloud.cloud_init.user;
        let sandbox_dir = crate::workspace::sandbox_dir(workspace);
        let (undercloud_home, pool_dir, image_cache) = if sandbox {
            if test_driver {
                notes.push(format!(
                    "sandbox: {} keeps VMs in memory and boots nothing",
                    hv.libvirt_uri
                ));
            }
            notes.push(format!(
                "sandbox: the undercloud is the directory {} on this machine; disks and images live in {}",
                sandbox_dir.join("undercloud").display(),
                sandbox_dir.display()
            ));
            (
                sandbox_dir.join("undercloud").join("home").join(user),
                sandbox_dir.join("pool"),
                sandbox_dir.join("images"),
            )
        } else {
            (
                PathBuf::from("/home").join(user),
                hv.pool_path.clone(),
                lab.images.cache_dir.clone(),
            )
        };
        if !test_driver {
            notes.push(
                "hypervisor: qemu.conf in mode root (oooq-warp's recipe, `labwarp check`'s default): user/group root, dynamic_ownership 0, security_driver none; the original is kept as qemu.conf.labwarp.bak and restored by `clean --level all`"
                    .into(),
            );
        }
        if let Some(r) = crate::lab::release::release(&lab.tripleo.release) {
            notes.push(format!(
                "TripleO {} (tripleo.release): container images from {}; networks, VIPs and nodes provisioned before `overcloud deploy`, every command after the undercloud install with OS_CLOUD=undercloud",
                r.name, r.namespace
            ));
        }
        let standin_openstack = sandbox || standin_env;
        if standin_openstack {
            notes.push(
                "TripleO cannot run here: labwarp's stand-in `openstack` (scripts/standin/openstack) is uploaded and run instead; it starts real podman containers named as TripleO's"
                    .into(),
            );
        }
        // The stand-in on an undercloud without podman: its containers run on the
        // hypervisor, shared with other labs there, hence the lab prefix.
        let containers_on_hypervisor = !sandbox
            && standin_openstack
            && std::env::var("LABWARP_STANDIN_CONTAINERS").is_ok_and(|v| v == "hypervisor");
        let container_host = if containers_on_hypervisor {
            notes.push(format!(
                "LABWARP_STANDIN_CONTAINERS=hypervisor: the stand-in runs the install on the undercloud, but the undercloud's containers run in the hypervisor's podman, named {}-<TripleO name> (the undercloud image has no podman)",
                lab.name
            ));
            HostRole::Virthost
        } else {
            HostRole::Undercloud
        };
        let container_prefix = if containers_on_hypervisor {
            format!("{}-", lab.name)
        } else if sandbox {
            notes.push(format!(
                "sandbox: the undercloud's containers are named {}-<TripleO name> (e.g. {}-keystone), as they share this machine's podman",
                lab.name, lab.name
            ));
            format!("{}-", lab.name)
        } else {
            String::new()
        };
        let nodes_netboot = crate::render::node_boot::rig_wanted(lab, sandbox, standin_openstack);
        if nodes_netboot {
            notes.push(crate::render::node_boot::NOTE.into());
        }
        let migration_rig =
            nodes_netboot && std::env::var("LABWARP_MIGRATION_RIG").is_ok_and(|v| v == "1");
        if migration_rig {
            notes.push(crate::render::node_boot::MIGRATION_NOTE.into());
        }
        let vbmc_venv = std::env::var_os("LABWARP_VBMC_VENV")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(super::vbmc_layout::DEFAULT_VENV));
        // Per lab, so two labs' daemons and entries never meet.
        let vbmc_dir = if sandbox {
            sandbox_dir.join("vbmc")
        } else {
            PathBuf::from(super::vbmc_layout::STATE_ROOT).join(&lab.name)
        };
        Facts {
            vbmc_venv,
            vbmc_dir,
            test_driver,
            sandbox_dir,
            container_prefix,
            container_host,
            ssh_public_key: None,
            lab_id: String::new(),
            domain_type,
            domain_type_reason: reason,
            sandbox,
            undercloud_home,
            pool_dir,
            image_cache,
            standin_openstack,
            nodes_netboot,
            migration_rig,
            notes,
        }
    }
}
