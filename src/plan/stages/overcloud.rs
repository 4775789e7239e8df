//! The overcloud nodes stage (disks, domains, BMC entries, instackenv.json and the
//! deploy's files) and the deploy stage (BMCs checked from the undercloud, import,
//! introspection, roles, networks, VIPs, provisioning, the deploy, node addresses).

use super::{Inputs, LIVE_MIGRATION, OVERCLOUD_DEPLOY, OVERCLOUD_NODES, UNDERCLOUD_INSTALL};
use crate::plan::steps::files::PutFile;
use crate::plan::steps::libvirt::{Disk, Domain};
use crate::plan::steps::overcloud::{
    self as oc, DeployArgs, NetworkKind, NetworkProvision, NodeImport, NodeIntrospect,
    NodeProvision, OvercloudDeploy, RolesData,
};
use crate::plan::steps::vbmc;
use crate::plan::tripleo_stages;
use crate::plan::{HostRole, Level, Stage};
use crate::render::{self, VmRole};

pub(super) fn nodes_stage(i: &Inputs) -> anyhow::Result<Stage> {
    let (lab, facts, rctx, vms) = (i.lab, i.facts, &i.rctx, &i.vms);
    let (home, vbmc_paths) = (&facts.undercloud_home, &i.vbmc_paths);
    // overcloud nodes: each node's disks, domain then VirtualBMC entry, nodes in parallel;
    // instackenv.json (same ports, address and credentials as the entries).
    let mut overcloud_nodes = Stage::new(OVERCLOUD_NODES, "Overcloud nodes", &[UNDERCLOUD_INSTALL]);
    let lab_nodes = lab.nodes();
    for (vm, node) in vms
        .iter()
        .filter(|v| v.role != VmRole::Undercloud)
        .zip(&lab_nodes)
    {
        let mut disk_ids = Vec::new();
        for (i, size) in vm.disks_gib.iter().enumerate() {
            let id = format!("{}-disk-{i}", vm.name);
            overcloud_nodes = overcloud_nodes.with_after(
                Disk {
                    id: id.clone(),
                    path: rctx.disk_path(&vm.domain, i),
                    size_gib: *size,
                    backing: None,
                    vm: Some(vm.domain.clone()),
                },
                &[],
            );
            disk_ids.push(id);
        }
        let after: Vec<&str> = disk_ids.iter().map(String::as_str).collect();
        overcloud_nodes = overcloud_nodes.with_after(
            Domain {
                id: format!("{}-domain", vm.name),
                name: vm.domain.clone(),
                xml: render::domain_xml::render(lab, rctx, vm)?,
                start: false,
                files: vec![rctx.console_log_path(&vm.domain)],
            },
            &after,
        );
        if !facts.test_driver {
            let domain_id = format!("{}-domain", vm.name);
            overcloud_nodes = overcloud_nodes.with_after(
                vbmc::Node::new(
                    format!("{}-vbmc", vm.name),
                    vbmc_paths.clone(),
                    lab,
                    &vm.domain,
                    node.vbmc_port,
                ),
                &[domain_id.as_str()],
            );
        }
    }
    overcloud_nodes = overcloud_nodes.with_after(
        PutFile {
            id: "instackenv".into(),
            title: "write and upload instackenv.json".into(),
            role: HostRole::Undercloud,
            path: home.join("instackenv.json"),
            content: render::instackenv::render(lab, rctx)?.into_bytes(),
            mode: 0o600,
            level: Level::Nodes,
        },
        &[],
    );
    // The deploy's own files: what to provision (roles, counts, instance names) and the
    // network data. One after the other: uploads at once over one SSH connection to a small
    // undercloud (the tiny test guest's dropbear) lost their channels under load.
    let mut prev = "instackenv";
    for (id, file, title, content) in [
        (
            "baremetal-deployment",
            oc::BAREMETAL_DEPLOYMENT,
            "write and upload the baremetal deployment (roles, counts, hostnames)",
            render::baremetal_deployment::render(lab)?,
        ),
        (
            "network-data",
            oc::NETWORK_DATA,
            "write and upload network_data.yaml",
            render::network_data::render(lab)?,
        ),
        (
            "vip-data",
            oc::VIP_DATA,
            "write and upload vip_data.yaml",
            render::network_data::vip_data(lab)?,
        ),
    ] {
        overcloud_nodes = overcloud_nodes.with_after(
            PutFile {
                id: id.into(),
                title: title.into(),
                role: HostRole::Undercloud,
                path: home.join(file),
                content: content.into_bytes(),
                mode: 0o644,
                level: Level::Nodes,
            },
            &[prev],
        );
        prev = id;
    }
    Ok(overcloud_nodes)
}

/// The deploy; `migration_env` is live migration's environment file when it is on.
pub(super) fn deploy_stage(i: &Inputs, migration_env: Option<&str>) -> anyhow::Result<Stage> {
    let (lab, facts, rctx) = (i.lab, i.facts, &i.rctx);
    let (home, cli) = (&facts.undercloud_home, i.cli.clone());
    let nodes: Vec<String> = lab.nodes().into_iter().map(|n| n.name).collect();
    let provision = NodeProvision {
        cli: cli.clone(),
        nodes: nodes.clone(),
    };
    let networks = NetworkProvision {
        cli: cli.clone(),
        kind: NetworkKind::Networks,
    };
    let vips = NetworkProvision {
        cli: cli.clone(),
        kind: NetworkKind::Vips,
    };
    let mut env_files = vec![
        networks.output().to_string_lossy().into_owned(),
        vips.output().to_string_lossy().into_owned(),
        provision.output().to_string_lossy().into_owned(),
        home.join(oc::CONTAINERS_PREPARE)
            .to_string_lossy()
            .into_owned(),
    ];
    env_files.extend(lab.overcloud.deploy.environment_files.iter().cloned());
    let mut deploy_after = vec![OVERCLOUD_NODES, tripleo_stages::OVERCLOUD_IMAGES];
    if let Some(env) = migration_env {
        env_files.push(env.to_string());
        deploy_after.push(LIVE_MIGRATION);
    }
    let mut deploy = Stage::new(OVERCLOUD_DEPLOY, "Deploy the overcloud", &deploy_after);
    if !facts.test_driver {
        // As ironic will see them: from the undercloud, before the nodes are handed over.
        let v = &lab.overcloud.vbmc;
        deploy = deploy.then(vbmc::BmcReachable {
            address: v.address.clone(),
            user: v.username.clone(),
            nodes: lab
                .nodes()
                .iter()
                .map(|n| (n.name.clone(), n.vbmc_port))
                .collect(),
        });
    }
    let deploy = deploy
        .then(NodeImport {
            cli: cli.clone(),
            nodes: nodes.clone(),
        })
        .then(NodeIntrospect {
            cli: cli.clone(),
            nodes,
        });
    let roles = RolesData {
        cli: cli.clone(),
        templates: lab.overcloud.deploy.templates.clone(),
        roles: render::baremetal_deployment::roles_to_generate(lab),
    };
    let roles_file = roles.file();
    let deploy = deploy
        .then(roles)
        .then(networks)
        .then(vips)
        .then(provision)
        .then(OvercloudDeploy {
            cli,
            args: DeployArgs {
                templates: lab.overcloud.deploy.templates.clone(),
                roles_file,
                networks_file: home.join(oc::NETWORK_DATA),
                env_files,
            },
        });
    crate::plan::steps::node_addresses::then_in(deploy, lab, facts, rctx)
}
