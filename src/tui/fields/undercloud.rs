//! The undercloud form: its VM, image, cloud-init and undercloud.conf fields.

use super::FieldKey::{self, *};
use super::convert::{
    disk0, into_lines, into_number, into_text, non_empty, opt_text, set_disk0, text, to_u32,
};
use super::spec::{Spec, specs, stepper};
use super::{Kind, Value};
use crate::lab::Lab;

const CONTAINER_CLIS: &[&str] = &["podman", "docker"];

pub const FIELDS: &[Spec<FieldKey>] = specs! {
    UcVcpus => "undercloud.vm.vcpus", "vCPUs", stepper(1, 256, 1, ""),
        "vCPUs of the undercloud VM (quickstart uses 6; 4 is the least that works).";
    UcMemory => "undercloud.vm.memory_mib", "Memory", stepper(512, 1 << 20, 1024, "MiB"),
        "Memory of the undercloud VM in MiB (12288 recommended, 8192 minimum).";
    UcDisk => "undercloud.vm.disks[0].size_gib", "Root disk", stepper(1, 65536, 10, "GiB"),
        "Root disk of the undercloud VM in GiB.";
    UcImage => "images.undercloud.source", "Base image", Kind::Line,
        "Cloud qcow2 for the undercloud: a local path or an http(s) URL.";
    UcImageMd5 => "images.undercloud.md5", "Image md5", Kind::Line,
        "Expected md5 of the image (32 hex digits); empty skips the check.";
    UcUser => "undercloud.cloud_init.user", "Login user", Kind::Line,
        "Login user cloud-init creates in the VM, with passwordless sudo.";
    UcKeys => "undercloud.cloud_init.ssh_authorized_keys", "SSH keys", Kind::Multi,
        "Extra public keys for the login user; the workspace key is always added.";
    UcNameservers => "undercloud.cloud_init.nameservers", "Nameservers", Kind::Multi,
        "DNS servers of the undercloud VM, one per line.";
    UcHostname => "undercloud.conf.undercloud_hostname", "Hostname", Kind::Line,
        "undercloud_hostname in undercloud.conf (a fully qualified name).";
    UcLocalIp => "undercloud.conf.local_ip", "local_ip", Kind::Line,
        "IP/prefix of the undercloud on the ctlplane (192.168.24.1/24).";
    UcLocalInterface => "undercloud.conf.local_interface", "local_interface", Kind::Line,
        "Undercloud NIC on the provisioning network (eth1 with two NICs).";
    UcSubnetCidr => "undercloud.conf.subnet.cidr", "ctlplane CIDR", Kind::Line,
        "ctlplane subnet; DHCP, gateway and inspection ranges lie inside it.";
    UcDhcpStart => "undercloud.conf.subnet.dhcp_start", "DHCP start", Kind::Line,
        "First address handed to deployed nodes.";
    UcDhcpEnd => "undercloud.conf.subnet.dhcp_end", "DHCP end", Kind::Line,
        "Last address handed to deployed nodes.";
    UcGateway => "undercloud.conf.subnet.gateway", "Gateway", Kind::Line,
        "Gateway of the ctlplane subnet (the undercloud's local_ip).";
    UcInspectionStart => "undercloud.conf.subnet.inspection_start", "Inspection start", Kind::Line,
        "First address for introspection; must not overlap DHCP.";
    UcInspectionEnd => "undercloud.conf.subnet.inspection_end", "Inspection end", Kind::Line,
        "Last address for introspection.";
    UcContainerCli => "undercloud.conf.container_cli", "Container CLI",
        Kind::Select(CONTAINER_CLIS),
        "Container engine on the undercloud (podman on TripleO Train and later).";
};

pub fn get(key: FieldKey, lab: &Lab) -> Value {
    let uc = &lab.undercloud;
    let sub = &uc.conf.subnet;
    match key {
        UcVcpus => Value::Number(u64::from(uc.vm.vcpus)),
        UcMemory => Value::Number(uc.vm.memory_mib),
        UcDisk => Value::Number(disk0(&uc.vm.disks)),
        UcImage => text(&lab.images.undercloud.source),
        UcImageMd5 => opt_text(&lab.images.undercloud.md5),
        UcUser => text(&uc.cloud_init.user),
        UcKeys => Value::Lines(uc.cloud_init.ssh_authorized_keys.clone()),
        UcNameservers => Value::Lines(uc.cloud_init.nameservers.clone()),
        UcHostname => text(&uc.conf.undercloud_hostname),
        UcLocalIp => text(&uc.conf.local_ip),
        UcLocalInterface => text(&uc.conf.local_interface),
        UcSubnetCidr => text(&sub.cidr),
        UcDhcpStart => text(&sub.dhcp_start),
        UcDhcpEnd => text(&sub.dhcp_end),
        UcGateway => text(&sub.gateway),
        UcInspectionStart => text(&sub.inspection_start),
        UcInspectionEnd => text(&sub.inspection_end),
        UcContainerCli => text(&uc.conf.container_cli),
        other => unreachable!("{other:?} is not an undercloud field"),
    }
}

pub fn set(key: FieldKey, lab: &mut Lab, v: Value) -> Result<(), String> {
    let uc = &mut lab.undercloud;
    let sub = &mut uc.conf.subnet;
    match key {
        UcVcpus => uc.vm.vcpus = to_u32(into_number(v)?)?,
        UcMemory => uc.vm.memory_mib = into_number(v)?,
        UcDisk => set_disk0(&mut uc.vm.disks, into_number(v)?)?,
        UcImage => lab.images.undercloud.source = into_text(v),
        UcImageMd5 => lab.images.undercloud.md5 = non_empty(into_text(v)),
        UcUser => uc.cloud_init.user = into_text(v),
        UcKeys => uc.cloud_init.ssh_authorized_keys = into_lines(v),
        UcNameservers => uc.cloud_init.nameservers = into_lines(v),
        UcHostname => uc.conf.undercloud_hostname = into_text(v),
        UcLocalIp => uc.conf.local_ip = into_text(v),
        UcLocalInterface => uc.conf.local_interface = into_text(v),
        UcSubnetCidr => sub.cidr = into_text(v),
        UcDhcpStart => sub.dhcp_start = into_text(v),
        UcDhcpEnd => sub.dhcp_end = into_text(v),
        UcGateway => sub.gateway = into_text(v),
        UcInspectionStart => sub.inspection_start = into_text(v),
        UcInspectionEnd => sub.inspection_end = into_text(v),
        UcContainerCli => uc.conf.container_cli = into_text(v),
        other => unreachable!("{other:?} is not an undercloud field"),
    }
    Ok(())
}
