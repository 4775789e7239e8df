//! The overcloud form's fields below the node-group table: VirtualBMC, the TripleO release,
//! deploy and live migration.

use super::FieldKey::{self, *};
use super::convert::{into_lines, into_port, into_text, non_empty, text};
use super::spec::{Spec, specs, stepper};
use super::{Kind, Value};
use crate::lab::{Lab, Secret};

const YES_NO: &[&str] = &["no", "yes"];

pub const FIELDS: &[Spec<FieldKey>] = specs! {
    VbmcPort => "overcloud.vbmc.base_port", "VBMC base port", stepper(1, 65535, 1, ""),
        "UDP port of the first node's VirtualBMC; the others follow.";
    VbmcAddress => "overcloud.vbmc.address", "VBMC address", Kind::Line,
        "Address vbmcd listens on (the ctlplane .1 in quickstart).";
    VbmcUser => "overcloud.vbmc.username", "IPMI user", Kind::Line,
        "IPMI user of every VirtualBMC.";
    VbmcPassword => "overcloud.vbmc.password", "IPMI password", Kind::Secret,
        "IPMI password; left empty, one is generated into the workspace.";
    TripleoRelease => "tripleo.release", "TripleO release",
        Kind::Select(&crate::lab::release::NAMES),
        "TripleO release (quickstart's -R): Wallaby and later deploy; older ones are refused.";
    DeployTemplates => "overcloud.deploy.templates", "Templates", Kind::Line,
        "--templates directory for `openstack overcloud deploy`.";
    DeployEnvFiles => "overcloud.deploy.environment_files", "Environment files", Kind::Multi,
        "-e files in order, one per line.";
    LmEnabled => "overcloud.live_migration.enabled", "Live migration", Kind::Select(YES_NO),
        "Share /var/lib/nova/instances over NFS so instances can live-migrate.";
    LmServer => "overcloud.live_migration.nfs_server", "NFS server", Kind::Line,
        "Host serving the NFS export: undercloud, a node name or an address.";
    LmExport => "overcloud.live_migration.export_path", "NFS export", Kind::Line,
        "Exported directory on the NFS server.";
};

pub fn get(key: FieldKey, lab: &Lab) -> Value {
    let oc = &lab.overcloud;
    match key {
        VbmcPort => Value::Number(u64::from(oc.vbmc.base_port)),
        VbmcAddress => text(&oc.vbmc.address),
        VbmcUser => text(&oc.vbmc.username),
        VbmcPassword => text(oc.vbmc.password.as_ref().map(Secret::expose).unwrap_or("")),
        TripleoRelease => text(&lab.tripleo.release),
        DeployTemplates => text(&oc.deploy.templates),
        DeployEnvFiles => Value::Lines(oc.deploy.environment_files.clone()),
        LmEnabled => text(if oc.live_migration.enabled {
            "yes"
        } else {
            "no"
        }),
        LmServer => text(&oc.live_migration.nfs_server),
        LmExport => text(&oc.live_migration.export_path),
        other => unreachable!("{other:?} is not an overcloud-wide field"),
    }
}

pub fn set(key: FieldKey, lab: &mut Lab, v: Value) -> Result<(), String> {
    if key == TripleoRelease {
        lab.tripleo.release = into_text(v);
        return Ok(());
    }
    let oc = &mut lab.overcloud;
    match key {
        VbmcPort => oc.vbmc.base_port = into_port(v)?,
        VbmcAddress => oc.vbmc.address = into_text(v),
        VbmcUser => oc.vbmc.username = into_text(v),
        VbmcPassword => oc.vbmc.password = non_empty(into_text(v)).map(Secret),
        DeployTemplates => oc.deploy.templates = into_text(v),
        DeployEnvFiles => oc.deploy.environment_files = into_lines(v),
        LmEnabled => oc.live_migration.enabled = into_text(v) == "yes",
        LmServer => oc.live_migration.nfs_server = into_text(v),
        LmExport => oc.live_migration.export_path = into_text(v),
        other => unreachable!("{other:?} is not an overcloud-wide field"),
    }
    Ok(())
}
