//! TripleO environment file for Nova live migration on NFS shared storage
//! (`deployment/nova/nova-compute-container-puppet.yaml`'s `NovaNfs*` parameters), rendered
//! when `overcloud.live_migration.enabled`. Pass it to `openstack overcloud deploy -e`.

use super::{RenderContext, RenderError, Result};
use crate::lab::Lab;
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Params<'a> {
    nova_nfs_enabled: bool,
    nova_nfs_share: String,
    nova_nfs_options: &'a str,
    nova_nfs_version: &'a str,
    /// The live-migration transport's port (TripleO's SSH transport through the
    /// nova_migration_target container), written out so that the readiness probe between
    /// the computes (`plan::steps::migration::Transport::Ssh`) checks the same port.
    migration_ssh_port: u16,
}

#[derive(Serialize)]
struct Env<'a> {
    parameter_defaults: Params<'a>,
}

/// The NFS server's address: `undercloud` is its ctlplane IP, a node name its known address
/// (else the name, resolved on the overcloud), anything else is used as written.
pub fn nfs_server(lab: &Lab, ctx: &RenderContext) -> Result<String> {
    let server = lab.overcloud.live_migration.nfs_server.trim();
    if server == "undercloud" || server == lab.undercloud.vm.name {
        return Ok(super::undercloud_ctlplane_ip(lab)?.to_string());
    }
    Ok(ctx
        .node_addresses
        .get(server)
        .cloned()
        .unwrap_or_else(|| server.to_string()))
}

/// `server:/export` as NovaNfsShare wants it.
pub fn nfs_share(lab: &Lab, ctx: &RenderContext) -> Result<String> {
    Ok(format!(
        "{}:{}",
        nfs_server(lab, ctx)?,
        lab.overcloud.live_migration.export_path.trim()
    ))
}

pub fn render(lab: &Lab, ctx: &RenderContext) -> Result<String> {
    let lm = &lab.overcloud.live_migration;
    let env = Env {
        parameter_defaults: Params {
            nova_nfs_enabled: lm.enabled,
            nova_nfs_share: nfs_share(lab, ctx)?,
            nova_nfs_options: &lm.mount_options,
            nova_nfs_version: &lm.nfs_version,
            migration_ssh_port: crate::render::MIGRATION_SSH_PORT,
        },
    };
    let body = serde_yaml::to_string(&env).map_err(|e| RenderError::Serialise {
        format: "YAML",
        reason: e.to_string(),
    })?;
    Ok(format!(
        "# Nova live migration on NFS for lab '{}', rendered by labwarp.\n{body}",
        lab.name.escape_debug()
    ))
}
