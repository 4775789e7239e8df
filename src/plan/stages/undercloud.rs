//! The undercloud VM stage (disks on the base image, NoCloud seed, domain, then its
//! address, pinned host key and SSH) and the install stage.

use super::{IMAGES, Inputs, UNDERCLOUD_INSTALL, UNDERCLOUD_VM};
use crate::plan::snapshot::snapshot_name;
use crate::plan::steps::files::{MakeDir, PutFile};
use crate::plan::steps::images::SeedIso;
use crate::plan::steps::libvirt::{Disk, Domain};
use crate::plan::steps::openstack::UndercloudInstall;
use crate::plan::steps::snapshot::RespinSnapshot;
use crate::plan::steps::undercloud::{
    self, Address, EjectSeed, HostKey, SshFiles, SshReady, UndercloudRef,
};
use crate::plan::tripleo_stages;
use crate::plan::{HostRole, Level, Stage};
use crate::render::{self, VmRole};

pub(super) fn vm_stage(i: &Inputs) -> anyhow::Result<Stage> {
    let (lab, facts, rctx, vms) = (i.lab, i.facts, &i.rctx, &i.vms);
    let (home, base_image) = (&facts.undercloud_home, &i.base_image);
    // undercloud VM: disk on the base image, NoCloud seed, domain.
    let uc = vms
        .iter()
        .find(|v| v.role == VmRole::Undercloud)
        .ok_or_else(|| anyhow::anyhow!("undercloud.vm: the lab has no undercloud VM"))?;
    let mut undercloud_vm = Stage::new(UNDERCLOUD_VM, "Undercloud VM", &[IMAGES]);
    let mut before_domain = vec!["seed-iso".to_string()];
    for (i, size) in uc.disks_gib.iter().enumerate() {
        before_domain.push(format!("disk-{i}"));
        undercloud_vm = undercloud_vm.with_after(
            Disk {
                id: format!("disk-{i}"),
                path: rctx.disk_path(&uc.domain, i),
                size_gib: *size,
                backing: (i == 0).then(|| base_image.clone()),
                vm: Some(uc.domain.clone()),
            },
            &[],
        );
    }
    let seed = rctx.seed_iso_path(&uc.domain);
    undercloud_vm = undercloud_vm.with_after(
        SeedIso {
            path: seed,
            user_data: render::cloud_init::user_data(lab, rctx)?,
            meta_data: render::cloud_init::meta_data(lab)?,
            vm: uc.domain.clone(),
        },
        &[],
    );
    // The domain starts once its disks and seed exist.
    let before: Vec<&str> = before_domain.iter().map(String::as_str).collect();
    undercloud_vm = undercloud_vm.with_after(
        Domain {
            id: "domain".into(),
            name: uc.domain.clone(),
            xml: render::domain_xml::render(lab, rctx, uc)?,
            start: true,
            files: vec![rctx.console_log_path(&uc.domain)],
        },
        &before,
    );
    if !facts.sandbox {
        // The VM boots for real: its address, its pinned host key, SSH, then the seed out.
        let nat = render::undercloud_nat_network(lab);
        let ucref = UndercloudRef {
            vm: lab.undercloud.vm.name.clone(),
            domain: uc.domain.clone(),
            mac: nat
                .and_then(|n| uc.nics.iter().find(|nic| nic.network == n.name))
                .map(|nic| nic.mac.clone()),
            network: nat.map(|n| lab.domain_name(&n.name)),
            console: rctx.console_log_path(&uc.domain),
            seed: rctx.seed_iso_path(&uc.domain),
        };
        undercloud_vm = undercloud_vm
            .then(Address {
                uc: ucref.clone(),
                timeout: undercloud::WAIT,
            })
            .then(HostKey {
                uc: ucref.clone(),
                timeout: undercloud::WAIT,
            })
            .then(SshReady {
                uc: ucref.clone(),
                user: lab.undercloud.cloud_init.user.clone(),
                timeout: undercloud::WAIT,
            })
            .then(EjectSeed { uc: ucref })
            .then(SshFiles);
    }
    if facts.sandbox {
        // The sandbox undercloud: a directory on this machine standing for the VM.
        let root = facts.sandbox_undercloud_root();
        undercloud_vm = undercloud_vm
            .then(MakeDir {
                id: "sandbox".into(),
                role: HostRole::Undercloud,
                path: root,
                level: Level::Nodes,
                whole: true,
            })
            .then(MakeDir {
                id: "home".into(),
                role: HostRole::Undercloud,
                path: home.clone(),
                level: Level::Nodes,
                whole: false,
            });
    }
    Ok(undercloud_vm)
}

/// undercloud.conf, then the install; the lab saved once installed.
pub(super) fn install_stage(i: &Inputs) -> anyhow::Result<Stage> {
    let (lab, facts, cli) = (i.lab, i.facts, &i.cli);
    let home = &facts.undercloud_home;
    let conf = render::undercloud_conf::render(lab)?.into_bytes();
    let mut install = Stage::new(
        UNDERCLOUD_INSTALL,
        "Install the undercloud",
        &[tripleo_stages::UNDERCLOUD_PREP],
    )
    .then(PutFile {
        id: "undercloud-conf".into(),
        title: "upload undercloud.conf".into(),
        role: HostRole::Undercloud,
        path: home.join("undercloud.conf"),
        content: conf.clone(),
        mode: 0o644,
        level: Level::Nodes,
    })
    .then(UndercloudInstall {
        cli: cli.clone(),
        conf: conf.clone(),
    });
    // The lab saved once installed, for `run --respin overcloud` (steps/snapshot.rs).
    if let (false, Some(name)) = (facts.sandbox, snapshot_name(lab, false)?) {
        install = install.then(RespinSnapshot {
            name,
            undercloud_conf: conf,
        });
    }
    Ok(install)
}
