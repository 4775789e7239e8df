//! The concrete plan: stages of steps built purely from a lab and the facts.

mod hypervisor;
mod images;
mod migration;
mod overcloud;
mod undercloud;

use super::steps::openstack::OpenstackCli;
use super::steps::vbmc::VbmcPaths;
use super::tripleo_stages;
use super::{Facts, Plan};
use crate::lab::Lab;
use crate::render::{self, RenderContext};
use std::path::{Path, PathBuf};

pub const HYPERVISOR: &str = "hypervisor";
pub const IMAGES: &str = "images";
pub const UNDERCLOUD_VM: &str = "undercloud-vm";
pub const UNDERCLOUD_INSTALL: &str = "undercloud-install";
pub const OVERCLOUD_NODES: &str = "overcloud-nodes";
pub const OVERCLOUD_DEPLOY: &str = "overcloud-deploy";
pub const LIVE_MIGRATION: &str = "live-migration";
pub const LIVE_MIGRATION_READY: &str = "live-migration-ready";

fn render_ctx(lab: &Lab, facts: &Facts, workspace: &Path) -> RenderContext {
    let mut r = RenderContext::for_lab(lab, workspace);
    r.image_dir = facts.pool_dir.clone();
    r.ssh_public_key = facts.ssh_public_key.clone();
    r.lab_id = facts.lab_id.clone();
    r.virt_type = facts.domain_type;
    r
}

/// What every stage's builder reads: the lab, the facts, and what is derived from them once.
pub(super) struct Inputs<'a> {
    pub lab: &'a Lab,
    pub facts: &'a Facts,
    pub hv: crate::lab::Hypervisor,
    pub cli: OpenstackCli,
    pub rctx: RenderContext,
    pub vms: Vec<render::Vm>,
    /// The undercloud's base image in the cache.
    pub base_image: PathBuf,
    pub vbmc_paths: VbmcPaths,
}

/// Builds the plan. `workspace` is where rendered files that stay local go (keys, ssh.config).
pub fn build(lab: &Lab, facts: &Facts, workspace: &Path) -> anyhow::Result<Plan> {
    let i = Inputs {
        lab,
        facts,
        hv: lab.hypervisors.first().cloned().unwrap_or_default(),
        cli: OpenstackCli::new(&lab.name, facts),
        rctx: render_ctx(lab, facts, workspace),
        vms: render::lab_vms(lab)?,
        base_image: facts
            .image_cache
            .join(format!("{}-undercloud-base.qcow2", lab.name)),
        vbmc_paths: VbmcPaths::new(lab, facts),
    };
    // Live migration: the NFS share and its parameters before the deploy, readiness after.
    let migration = migration::live_migration(lab, facts, &i.rctx)?;
    let mut plan = vec![
        hypervisor::stage(&i)?,
        images::stage(&i)?,
        undercloud::vm_stage(&i)?,
        // The repos, tripleoclient, sudo, hostname, time sync and container images' parameters.
        tripleo_stages::prep_stage(lab, facts, &i.cli, UNDERCLOUD_VM)?,
        undercloud::install_stage(&i)?,
        overcloud::nodes_stage(&i)?,
        tripleo_stages::images_stage(lab, facts, &i.cli, OVERCLOUD_NODES)?,
    ];
    if let Some((stage, _)) = &migration {
        plan.push(stage.clone());
    }
    plan.push(overcloud::deploy_stage(
        &i,
        migration.as_ref().map(|(_, env)| env.as_str()),
    )?);
    if migration.is_some() {
        plan.push(migration::migration_ready(lab, facts, &i.rctx)?);
    }
    super::validate(&plan)?;
    Ok(plan)
}

/// The sandbox undercloud's root directory (`workspace/sandbox/undercloud`), or `/`.
pub(super) fn undercloud_root(facts: &Facts) -> PathBuf {
    if facts.sandbox {
        facts.sandbox_undercloud_root()
    } else {
        PathBuf::from("/")
    }
}
