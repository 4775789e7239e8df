//! The concrete plan: stages of steps built purely from a lab and the facts.

use super::steps::files::{CopyFile, MakeDir, PutFile};
use super::steps::hostconf::{AppArmor, NestedKvm, QemuConf, Root};
use super::steps::images::{Download, SeedIso};
use super::steps::libvirt::{Disk, Domain, Network, Pool};
use super::steps::migration::{NfsExport, Readiness, ReadyKind, RemoteNfsExport, Transport};
use super::steps::openstack::{OpenstackCli, STANDIN, UndercloudInstall};
use super::steps::overcloud::{
    self as oc, DeployArgs, NetworkKind, NetworkProvision, NodeImport, NodeIntrospect,
    NodeProvision, OvercloudDeploy, RolesData,
};
use super::steps::system::{Packages, StackUser};
use super::steps::undercloud::{
    self, Address, EjectSeed, HostKey, SshFiles, SshReady, UndercloudRef,
};
use super::steps::vbmc;
use super::{Facts, HostRole, Level, Plan, Stage};
use crate::checks::QemuMode;
use crate::lab::{Lab, Role};
use crate::render::{self, RenderContext, VmRole};
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

/// Builds the plan. `workspace` is where rendered files that stay local go (keys, ssh.config).
pub fn build(lab: &Lab, facts: &Facts, workspace: &Path) -> anyhow::Result<Plan> {
    let hv = lab.hypervisors.first().cloned().unwrap_or_default();
    let cli = OpenstackCli::new(&lab.name, facts);
    let home = &facts.undercloud_home;
    let rctx = render_ctx(lab, facts, workspace);
    let vms = render::lab_vms(lab)?;
    let nodes: Vec<String> = lab.nodes().into_iter().map(|n| n.name).collect();

    // hypervisor: packages and user first, then networks (in parallel) and the pool.
    let mut hypervisor = Stage::new(HYPERVISOR, "Prepare the hypervisor", &[]);
    let mut base: Vec<&str> = Vec::new();
    if facts.sandbox {
        hypervisor = hypervisor.then(MakeDir {
            id: "sandbox".into(),
            role: HostRole::Virthost,
            path: facts.sandbox_dir.clone(),
            level: Level::Virthost,
            whole: false,
        });
        base.push("sandbox");
    }
    // Packages and the stack user are real changes to a real hypervisor: not on the test
    // driver, where this machine only stands in for one.
    if !facts.test_driver {
        hypervisor = hypervisor
            .then(Packages::for_distro(hv.distro))
            .then(StackUser {
                lab: lab.name.clone(),
                name: hv.stack_user.clone(),
            });
        base = vec!["stack-user"];
        // qemu.conf, AppArmor and nested KVM, from the preflight checks' findings and fixes
        // (qemu mode root, oooq-warp's recipe: `labwarp check`'s default).
        let root = Root::system(hv.address == "local");
        hypervisor = hypervisor
            .then(QemuConf {
                root: root.clone(),
                mode: QemuMode::Root,
            })
            .then(AppArmor {
                root: root.clone(),
                mode: QemuMode::Root,
            })
            .then(NestedKvm {
                root,
                domain_type: facts.domain_type,
                domain_type_reason: facts.domain_type_reason.clone(),
            });
    }
    let net_ids: Vec<String> = lab
        .networks
        .iter()
        .map(|n| format!("network-{}", n.name))
        .collect();
    for (net, id) in lab.networks.iter().zip(&net_ids) {
        hypervisor = hypervisor.with_after(
            Network {
                id: id.clone(),
                name: lab.domain_name(&net.name),
                xml: render::network_xml::render(lab, &rctx, net)?,
            },
            &base,
        );
    }
    hypervisor = hypervisor
        .with_after(
            MakeDir {
                id: "pool-dir".into(),
                role: HostRole::Virthost,
                path: facts.pool_dir.clone(),
                level: Level::Virthost,
                whole: false,
            },
            &base,
        )
        .then(Pool {
            name: lab.domain_name("pool"),
            path: facts.pool_dir.clone(),
        });

    // VirtualBMC: venv, the lab's vbmcd and its firewall openings. Not on the test driver:
    // vbmcd is another process, and test:///default exists only inside labwarp's.
    let vbmc_paths = vbmc::VbmcPaths::new(lab, facts);
    if !facts.test_driver {
        hypervisor = hypervisor
            .with_after(
                vbmc::Install {
                    venv: facts.vbmc_venv.clone(),
                },
                &base,
            )
            .then(vbmc::Daemon {
                paths: vbmc_paths.clone(),
            })
            .with_after(
                vbmc::OpenPorts {
                    ports: lab.nodes().iter().map(|n| n.vbmc_port).collect(),
                },
                &base,
            );
        // The BMCs listen on the hypervisor's own address on the provisioning network:
        // checked once the networks are up.
        let address = lab.overcloud.vbmc.address.clone();
        let network = lab.provisioning_network().map(|n| n.name.clone());
        let nets: Vec<&str> = net_ids.iter().map(String::as_str).collect();
        hypervisor = hypervisor.with_after(vbmc::BmcAddress { address, network }, &nets);
    }

    // images: the undercloud's base image in the cache.
    let base_image = facts
        .image_cache
        .join(format!("{}-undercloud-base.qcow2", lab.name));
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
            },
            &[],
        );
    }
    let seed = rctx.seed_iso_path(&uc.domain);
    undercloud_vm = undercloud_vm.with_after(
        SeedIso {
            path: seed,
            user_data: render::cloud_init::user_data(lab, &rctx)?,
            meta_data: render::cloud_init::meta_data(lab)?,
        },
        &[],
    );
    // The domain starts once its disks and seed exist.
    let before: Vec<&str> = before_domain.iter().map(String::as_str).collect();
    undercloud_vm = undercloud_vm.with_after(
        Domain {
            id: "domain".into(),
            name: uc.domain.clone(),
            xml: render::domain_xml::render(lab, &rctx, uc)?,
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
        let root = home
            .ancestors()
            .nth(2)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| home.clone());
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

    let mut install = Stage::new(
        UNDERCLOUD_INSTALL,
        "Install the undercloud",
        &[UNDERCLOUD_VM],
    );
    if facts.standin_openstack {
        install = install.then(PutFile {
            id: "standin-openstack".into(),
            title: "upload labwarp's stand-in `openstack`".into(),
            role: HostRole::Undercloud,
            path: cli.standin_path(),
            content: STANDIN.as_bytes().to_vec(),
            mode: 0o755,
            level: Level::Nodes,
        });
    }
    install = install
        .then(PutFile {
            id: "container-prepare".into(),
            title: "upload containers-prepare-parameter.yaml".into(),
            role: HostRole::Undercloud,
            path: home.join(oc::CONTAINERS_PREPARE),
            content: render::containers_prepare::render(lab)?.into_bytes(),
            mode: 0o644,
            level: Level::Nodes,
        })
        .then(PutFile {
            id: "undercloud-conf".into(),
            title: "upload undercloud.conf".into(),
            role: HostRole::Undercloud,
            path: home.join("undercloud.conf"),
            content: render::undercloud_conf::render(lab)?.into_bytes(),
            mode: 0o644,
            level: Level::Nodes,
        })
        .then(UndercloudInstall { cli: cli.clone() });

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
                xml: render::domain_xml::render(lab, &rctx, vm)?,
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
            content: render::instackenv::render(lab, &rctx)?.into_bytes(),
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

    // Live migration: the NFS share and its parameters before the deploy, readiness after.
    let migration = live_migration(lab, facts, &rctx)?;
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
    let mut deploy_after = vec![OVERCLOUD_NODES];
    if let Some((_, env)) = &migration {
        env_files.push(env.clone());
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
    let deploy = super::steps::node_addresses::then_in(deploy, lab, facts, &rctx)?;

    let mut plan = vec![hypervisor, images, undercloud_vm, install, overcloud_nodes];
    if let Some((stage, _)) = &migration {
        plan.push(stage.clone());
    }
    plan.push(deploy);
    if migration.is_some() {
        plan.push(migration_ready(lab, facts, &rctx)?);
    }
    super::validate(&plan)?;
    Ok(plan)
}

/// The sandbox undercloud's root directory (`workspace/sandbox/undercloud`), or `/`.
fn undercloud_root(facts: &Facts) -> PathBuf {
    if facts.sandbox {
        facts
            .undercloud_home
            .ancestors()
            .nth(2)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| facts.undercloud_home.clone())
    } else {
        PathBuf::from("/")
    }
}

/// `live-migration` (when `overcloud.live_migration.enabled`): the NFS export on the
/// undercloud (or a check that an external server exports it) and the NovaNfs* environment
/// file uploaded for the deploy. Returns the stage and the environment file's path.
fn live_migration(
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
        // After the nodes' uploads to the undercloud, not beside them: parallel SSH channels
        // to a small undercloud's sshd (the tiny test guest's dropbear) were seen to drop.
        &[UNDERCLOUD_INSTALL, OVERCLOUD_NODES],
    );
    let server = lm.nfs_server.trim();
    if server == "undercloud" || server == lab.undercloud.vm.name {
        let root = undercloud_root(facts);
        if !facts.sandbox {
            // The server itself, on the undercloud (the sandbox's exports are left alone).
            use super::steps::nfs_server::{IdmapdDomain, NfsFirewall, NfsServer, idmapd_domain};
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
fn migration_ready(lab: &Lab, facts: &Facts, rctx: &RenderContext) -> anyhow::Result<Stage> {
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
        stage = match super::steps::migration_rig::rig_probe(facts.migration_rig, &r) {
            Some(rig) => stage.with_after(rig, &[]),
            None => stage.with_after(r, &[]),
        };
    }
    let idmapd = super::steps::nfs_clients::ComputesIdmapd::for_lab(lab, facts, computes);
    Ok(stage.with_after(idmapd, &[]))
}
