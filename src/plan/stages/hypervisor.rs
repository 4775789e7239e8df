//! The hypervisor stage: packages and the stack user, host configuration (qemu.conf,
//! AppArmor, nested KVM), networks, the pool, VirtualBMC.

use super::{HYPERVISOR, Inputs};
use crate::checks::QemuMode;
use crate::plan::steps::files::MakeDir;
use crate::plan::steps::hostconf::{AppArmor, NestedKvm, QemuConf, Root};
use crate::plan::steps::libvirt::{Network, Pool};
use crate::plan::steps::system::{Packages, StackUser};
use crate::plan::steps::vbmc;
use crate::plan::{HostRole, Level, Stage};
use crate::render;

pub(super) fn stage(i: &Inputs) -> anyhow::Result<Stage> {
    let (lab, facts, hv, rctx) = (i.lab, i.facts, &i.hv, &i.rctx);
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
                xml: render::network_xml::render(lab, rctx, net)?,
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
    let vbmc_paths = &i.vbmc_paths;
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
    Ok(hypervisor)
}
