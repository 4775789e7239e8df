//! Golden tests: every artefact of each fixture lab, byte for byte (insta snapshots in
//! tests/quick/snapshots). A change in output shows up as a reviewed snapshot diff.

use crate::render_labs;

use labwarp::lab::Lab;
use labwarp::render::{RenderContext, render_all};

fn golden(prefix: &str, lab: &Lab, ctx: &RenderContext) {
    let artefacts = render_all(lab, ctx).expect("fixture labs render");
    assert!(!artefacts.is_empty());
    for a in artefacts {
        let name = format!(
            "{prefix}__{}",
            a.path.display().to_string().replace(['/', '.'], "_")
        );
        insta::assert_snapshot!(name, a.contents);
    }
}

#[test]
fn minimal_lab_artefacts() {
    let lab = render_labs::minimal();
    golden("minimal", &lab, &render_labs::minimal_ctx(&lab));
}

#[test]
fn live_migration_lab_artefacts() {
    let lab = render_labs::live_migration();
    golden(
        "live_migration",
        &lab,
        &render_labs::live_migration_ctx(&lab),
    );
}

#[test]
fn local_bridged_lab_artefacts() {
    let lab = render_labs::local_bridged();
    golden("local_bridged", &lab, &render_labs::local_bridged_ctx(&lab));
}

#[test]
fn the_artefact_set_is_complete() {
    let lab = render_labs::live_migration();
    let names: Vec<String> = render_all(&lab, &render_labs::live_migration_ctx(&lab))
        .unwrap()
        .into_iter()
        .map(|a| a.path.display().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "libvirt/networks/livemig-external.xml",
            "libvirt/networks/livemig-overcloud.xml",
            "libvirt/networks/livemig-storage.xml",
            "libvirt/domains/livemig-undercloud.xml",
            "libvirt/domains/livemig-controller-0.xml",
            "libvirt/domains/livemig-compute-0.xml",
            "libvirt/domains/livemig-compute-1.xml",
            "cloud-init/user-data",
            "cloud-init/meta-data",
            "undercloud.conf",
            "instackenv.json",
            "ssh.config",
            "inventory.yaml",
            "tripleo/containers-prepare-parameter.yaml",
            "tripleo/overcloud-baremetal-deploy.yaml",
            "tripleo/network_data.yaml",
            "tripleo/vip_data.yaml",
            "tripleo/nova-nfs.yaml",
        ]
    );
}
