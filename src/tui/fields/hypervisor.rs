//! The hypervisor form's own fields: the lab's name and workspace, then `hypervisors[0]`.

use super::FieldKey::{self, *};
use super::convert::{into_port, into_text, text};
use super::spec::{Spec, specs, stepper};
use super::{Kind, Value};
use crate::lab::{DistroFamily, DomainType, Hypervisor, Lab};
use std::path::PathBuf;

const DISTROS: &[&str] = &["rhel", "debian"];
const DOMAIN_TYPES: &[&str] = &["auto", "kvm", "qemu"];

pub const FIELDS: &[Spec<FieldKey>] = specs! {
    LabName => "name", "Lab name", Kind::Line,
        "Prefix of every VM, network and file labwarp creates; cleanup finds them by it.";
    Workspace => "workspace", "Workspace", Kind::Line,
        "Directory for keys, ssh.config, inventory, logs and state.yaml.";
    HvName => "hypervisors[0].name", "Hypervisor name", Kind::Line,
        "A short name for the hypervisor in the inventory and ssh.config.";
    HvAddress => "hypervisors[0].address", "Address", Kind::Line,
        "Host or IP labwarp reaches over SSH; `local` means this machine.";
    HvSshUser => "hypervisors[0].ssh_user", "SSH user", Kind::Line,
        "User labwarp logs in as (root, or a user with passwordless sudo).";
    HvSshPort => "hypervisors[0].ssh_port", "SSH port", stepper(1, 65535, 1, ""),
        "sshd port on the hypervisor (22 by default).";
    HvStackUser => "hypervisors[0].stack_user", "Stack user", Kind::Line,
        "Unprivileged user that owns the lab, as in quickstart (`stack`).";
    HvLibvirtUri => "hypervisors[0].libvirt_uri", "libvirt URI", Kind::Line,
        "qemu:///system, qemu:///session, qemu+ssh://user@host/system or test:///default.";
    HvDistro => "hypervisors[0].distro", "Distro family", Kind::Select(DISTROS),
        "rhel: dnf, firewalld, SELinux. debian: apt, AppArmor.";
    HvDomainType => "hypervisors[0].domain_type", "Domain type", Kind::Select(DOMAIN_TYPES),
        "auto lets preflight choose kvm when /dev/kvm works, else qemu (slow).";
    HvPoolPath => "hypervisors[0].pool_path", "Storage pool", Kind::Line,
        "Directory of the libvirt storage pool holding VM disks.";
};

pub fn get(key: FieldKey, lab: &Lab) -> Value {
    let default_hv = Hypervisor::default();
    let hv = lab.hypervisors.first().unwrap_or(&default_hv);
    match key {
        LabName => text(&lab.name),
        Workspace => text(&lab.workspace.display().to_string()),
        HvName => text(&hv.name),
        HvAddress => text(&hv.address),
        HvSshUser => text(&hv.ssh_user),
        HvSshPort => Value::Number(u64::from(hv.ssh_port)),
        HvStackUser => text(&hv.stack_user),
        HvLibvirtUri => text(&hv.libvirt_uri),
        HvDistro => text(match hv.distro {
            DistroFamily::Rhel => "rhel",
            DistroFamily::Debian => "debian",
        }),
        HvDomainType => text(match hv.domain_type {
            DomainType::Auto => "auto",
            DomainType::Kvm => "kvm",
            DomainType::Qemu => "qemu",
        }),
        HvPoolPath => text(&hv.pool_path.display().to_string()),
        other => unreachable!("{other:?} is not a hypervisor field"),
    }
}

/// Writes a field; the lab has a hypervisor by then.
pub fn set(key: FieldKey, lab: &mut Lab, v: Value) -> Result<(), String> {
    let hv = &mut lab.hypervisors[0];
    match key {
        LabName => lab.name = into_text(v),
        Workspace => lab.workspace = PathBuf::from(into_text(v)),
        HvName => hv.name = into_text(v),
        HvAddress => hv.address = into_text(v),
        HvSshUser => hv.ssh_user = into_text(v),
        HvSshPort => hv.ssh_port = into_port(v)?,
        HvStackUser => hv.stack_user = into_text(v),
        HvLibvirtUri => hv.libvirt_uri = into_text(v),
        HvDistro => {
            hv.distro = match into_text(v).as_str() {
                "debian" => DistroFamily::Debian,
                _ => DistroFamily::Rhel,
            }
        }
        HvDomainType => {
            hv.domain_type = match into_text(v).as_str() {
                "kvm" => DomainType::Kvm,
                "qemu" => DomainType::Qemu,
                _ => DomainType::Auto,
            }
        }
        HvPoolPath => hv.pool_path = PathBuf::from(into_text(v)),
        other => unreachable!("{other:?} is not a hypervisor field"),
    }
    Ok(())
}
