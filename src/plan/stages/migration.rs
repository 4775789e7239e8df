//! Live migration's stages: the NFS share and its parameters before the deploy, readiness
//! after it.

use super::{
    LIVE_MIGRATION, LIVE_MIGRATION_READY, OVERCLOUD_DEPLOY, OVERCLOUD_NODES, UNDERCLOUD_INSTALL,
    undercloud_root,
};
use crate::lab::{Lab, Role};
use crate::plan::steps::files::PutFile;
use crate::plan::steps::migration::{NfsExport, Readiness, ReadyKind, RemoteNfsExport, Transport};
use crate::plan::tripleo_stages::OVERCLOUD_IMAGES;
use crate::plan::{Facts, HostRole, Level, Stage};
use crate::render::{self, RenderContext};

/// `live-migration` (when `overcloud.live_migration.enabled`): the NFS export on the
/// undercloud (or a check that an external server exports it) and the NovaNfs* environment
/// file uploaded for the deploy. Returns the stage and the environment file's path.
pub(super) fn live_migration(
    lab: &Lab,
    facts: &Facts,
    rctx: &RenderContext,
) -> anyhow::Result<Option<(Stage, String)>> {
    let lm = &lab.overcloud.live_migration;
    if !lm.enabled {
        return Ok(None);
    }
    let clients = lab.undercloud.conf.subnet.cidr.clone();
    let mut stage = Stage::new(
        LIVE_MIGRATION,
        "Live migration: NFS share and parameters",
        // After the nodes' uploads and the images' copies to the undercloud, not beside
        // them: parallel SSH channels to a small undercloud's sshd (the tiny test guest's
        // dropbear) were seen to drop.
        &[UNDERCLOUD_INSTALL, OVERCLOUD_NODES, OVERCLOUD_IMAGES],
    );
    let server = lm.nfs_server.trim();
    if server == "undercloud" || server == lab.undercloud.vm.name {
        let root = undercloud_root(facts);
        if !facts.sandbox {
            // The server itself, on the undercloud (the sandbox's exports are left alone).
            use crate::plan::steps::nfs_server::{
                IdmapdDomain, NfsFirewall, NfsServer, idmapd_domain,
            };
            stage = stage
                .then(NfsServer {
                    role: HostRole::Undercloud,
                })
                .then(NfsFirewall {
                    role: HostRole::Undercloud,
                })
                .then(IdmapdDomain {
                    role: HostRole::Undercloud,
                    domain: idmapd_domain(&lab.undercloud.conf.undercloud_hostname),
                });
        }
        stage = stage.then(NfsExport {
            role: HostRole::Undercloud,
            lab: lab.name.clone(),
            exports_dir: root.join("etc/exports.d"),
            export_path: root.join(lm.export_path.trim().trim_start_matches('/')),
            clients,
            exportfs: !facts.sandbox,
        });
    } else {
        stage = stage.then(RemoteNfsExport {
            server: render::nova_nfs::nfs_server(lab, rctx)?,
            export_path: lm.export_path.trim().to_string(),
            clients,
            rig: facts.migration_rig,
        });
    }
    let env = facts.undercloud_home.join("nova-nfs.yaml");
    stage = stage.then(PutFile {
        id: "nova-nfs-env".into(),
        title: "upload nova-nfs.yaml (NovaNfsEnabled, NovaNfsShare, ...) for the deploy".into(),
        role: HostRole::Undercloud,
        path: env.clone(),
        content: render::nova_nfs::render(lab, rctx)?.into_bytes(),
        mode: 0o644,
        level: Level::Nodes,
    });
    Ok(Some((stage, env.to_string_lossy().into_owned())))
}

/// `live-migration-ready`: readiness checks on the computes after the deploy.
pub(super) fn migration_ready(
    lab: &Lab,
    facts: &Facts,
    rctx: &RenderContext,
) -> anyhow::Result<Stage> {
    // The overcloud's hostnames are the VM names (the baremetal deployment's
    // hostname_format, `compute-%index%`).
    let computes: Vec<String> = lab
        .nodes()
        .into_iter()
        .filter(|n| n.group.role == Role::Compute)
        .map(|n| n.name)
        .collect();
    let share = render::nova_nfs::nfs_share(lab, rctx)?;
    let mut stage = Stage::new(
        LIVE_MIGRATION_READY,
        "Live migration: readiness on the computes",
        &[OVERCLOUD_DEPLOY],
    );
    for kind in ReadyKind::IN_ORDER {
        let r = Readiness {
            kind,
            computes: computes.clone(),
            transport: Transport::Ssh,
            share: share.clone(),
            standin: facts.standin_openstack,
            overcloudrc: facts.undercloud_home.join("overcloudrc"),
        };
        stage = match crate::plan::steps::migration_rig::rig_probe(facts.migration_rig, &r) {
            // One after the other: parallel SSH channels to a small undercloud (the tiny
            // test guest's dropbear) were seen to drop.
            Some(rig) => stage.then(rig),
            None => stage.then(r),
        };
    }
    let idmapd = crate::plan::steps::nfs_clients::ComputesIdmapd::for_lab(lab, facts, computes);
    Ok(stage.then(idmapd))
}
