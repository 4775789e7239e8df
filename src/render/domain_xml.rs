//! libvirt domain XML (`virsh define`) for the undercloud and each overcloud node.
//!
//! - Disks are qcow2 on virtio; the undercloud boots its root disk (or a kernel directly),
//!   nodes boot from their first NIC (PXE from the undercloud's ironic) and then disk.
//! - The undercloud's NoCloud seed is a cdrom on virtio-scsi: cloud kernels carry no AHCI.
//! - The serial console is a pty (`virsh console` works) logged to a file, so boot problems
//!   are readable without a TTY.
//! - `<metadata>` records the lab in labwarp's own namespace: cleanup discovers labwarp's
//!   domains from libvirt itself, even without the state file.
//! - With `kvm` the guest gets `host-passthrough` (nested virtualisation for computes); TCG
//!   (`qemu`) keeps libvirt's default CPU model, which it can emulate.

use super::network_xml::{finish, write_name_and_metadata, xml_error};
use super::{RenderContext, Result, VirtType, Vm, VmRole};
use crate::lab::Lab;
use quick_xml::Writer;
use quick_xml::events::BytesText;
use std::io;

/// Disk target names in order: vda, vdb, ... (virtio), or sda, ... (scsi).
fn target_dev(prefix: &str, index: usize) -> String {
    let mut n = index;
    let mut suffix = Vec::new();
    loop {
        suffix.push(b'a' + (n % 26) as u8);
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    suffix.reverse();
    format!("{prefix}{}", String::from_utf8_lossy(&suffix))
}

/// The domain XML of one VM from [`super::lab_vms`].
pub fn render(lab: &Lab, ctx: &RenderContext, vm: &Vm) -> Result<String> {
    let undercloud = vm.role == VmRole::Undercloud;
    let kernel = if undercloud {
        ctx.undercloud_kernel.as_ref()
    } else {
        None
    };
    // Per-device boot order; ignored (so left out) with direct kernel boot.
    let (nic_boot, disk_boot) = match (kernel.is_some(), undercloud) {
        (true, _) => (None, None),
        (false, true) => (None, Some(1)),
        (false, false) => (Some(1), Some(2)),
    };
    let memory = vm.memory_mib.to_string();
    let vcpus = vm.vcpus.to_string();
    let disks: Vec<(String, String)> = vm
        .disks_gib
        .iter()
        .enumerate()
        .map(|(i, _)| {
            (
                ctx.disk_path(&vm.domain, i).display().to_string(),
                target_dev("vd", i),
            )
        })
        .collect();
    let seed = undercloud.then(|| ctx.seed_iso_path(&vm.domain).display().to_string());
    let console = ctx.console_log_path(&vm.domain).display().to_string();
    // XML 1.0 cannot carry most control characters, and libvirt would refuse them.
    super::single_line("name", &lab.name)?;
    super::single_line("VM name", &vm.name)?;
    super::single_line("image directory", &console)?;
    if let Some(k) = kernel {
        super::single_line("kernel path", &k.kernel.display().to_string())?;
        super::single_line("initrd path", &k.initrd.display().to_string())?;
        super::single_line("images.kernel_cmdline", &k.cmdline)?;
    }

    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.create_element("domain")
        .with_attribute(("type", ctx.virt_type.as_str()))
        .write_inner_content(|w| {
            write_name_and_metadata(
                w,
                &vm.domain,
                "vm",
                &[
                    ("lab", lab.name.as_str()),
                    ("name", vm.name.as_str()),
                    ("role", vm.role.as_str()),
                    ("id", ctx.lab_id.as_str()),
                ],
            )?;
            w.create_element("memory")
                .with_attribute(("unit", "MiB"))
                .write_text_content(BytesText::new(&memory))?;
            w.create_element("vcpu")
                .with_attribute(("placement", "static"))
                .write_text_content(BytesText::new(&vcpus))?;
            w.create_element("os").write_inner_content(|w| {
                w.create_element("type")
                    .with_attribute(("arch", ctx.arch.as_str()))
                    .write_text_content(BytesText::new("hvm"))?;
                if let Some(k) = kernel {
                    let text = |p: &std::path::Path| p.display().to_string();
                    w.create_element("kernel")
                        .write_text_content(BytesText::new(&text(&k.kernel)))?;
                    w.create_element("initrd")
                        .write_text_content(BytesText::new(&text(&k.initrd)))?;
                    w.create_element("cmdline")
                        .write_text_content(BytesText::new(&k.cmdline))?;
                }
                Ok(())
            })?;
            w.create_element("features").write_inner_content(|w| {
                w.create_element("acpi").write_empty()?;
                w.create_element("apic").write_empty()?;
                Ok(())
            })?;
            if ctx.virt_type == VirtType::Kvm {
                w.create_element("cpu")
                    .with_attribute(("mode", "host-passthrough"))
                    .with_attribute(("check", "none"))
                    .write_empty()?;
            }
            w.create_element("clock")
                .with_attribute(("offset", "utc"))
                .write_empty()?;
            w.create_element("on_poweroff")
                .write_text_content(BytesText::new("destroy"))?;
            w.create_element("on_reboot")
                .write_text_content(BytesText::new("restart"))?;
            w.create_element("on_crash")
                .write_text_content(BytesText::new("destroy"))?;
            w.create_element("devices").write_inner_content(|w| {
                for (i, (path, dev)) in disks.iter().enumerate() {
                    let boot = if i == 0 { disk_boot } else { None };
                    write_disk(w, path, dev, boot)?;
                }
                if let Some(iso) = &seed {
                    w.create_element("controller")
                        .with_attribute(("type", "scsi"))
                        .with_attribute(("index", "0"))
                        .with_attribute(("model", "virtio-scsi"))
                        .write_empty()?;
                    write_cdrom(w, iso)?;
                }
                for (i, nic) in vm.nics.iter().enumerate() {
                    let boot = if i == 0 { nic_boot } else { None };
                    write_nic(w, &lab.domain_name(&nic.network), &nic.mac, boot)?;
                }
                // A pty keeps `virsh console` working; virtlogd copies everything to the log.
                w.create_element("serial")
                    .with_attribute(("type", "pty"))
                    .write_inner_content(|w| {
                        w.create_element("log")
                            .with_attribute(("file", console.as_str()))
                            .with_attribute(("append", "on"))
                            .write_empty()?;
                        w.create_element("target")
                            .with_attribute(("port", "0"))
                            .write_empty()?;
                        Ok(())
                    })?;
                w.create_element("rng")
                    .with_attribute(("model", "virtio"))
                    .write_inner_content(|w| {
                        w.create_element("backend")
                            .with_attribute(("model", "random"))
                            .write_text_content(BytesText::new("/dev/urandom"))?;
                        Ok(())
                    })?;
                w.create_element("memballoon")
                    .with_attribute(("model", "virtio"))
                    .write_empty()?;
                Ok(())
            })?;
            Ok(())
        })
        .map_err(xml_error)?;
    finish(w)
}

fn write_boot(w: &mut Writer<Vec<u8>>, order: Option<u32>) -> io::Result<()> {
    if let Some(order) = order {
        w.create_element("boot")
            .with_attribute(("order", order.to_string().as_str()))
            .write_empty()?;
    }
    Ok(())
}

fn write_disk(w: &mut Writer<Vec<u8>>, path: &str, dev: &str, boot: Option<u32>) -> io::Result<()> {
    w.create_element("disk")
        .with_attribute(("type", "file"))
        .with_attribute(("device", "disk"))
        .write_inner_content(|w| {
            w.create_element("driver")
                .with_attribute(("name", "qemu"))
                .with_attribute(("type", "qcow2"))
                .with_attribute(("discard", "unmap"))
                .write_empty()?;
            w.create_element("source")
                .with_attribute(("file", path))
                .write_empty()?;
            w.create_element("target")
                .with_attribute(("dev", dev))
                .with_attribute(("bus", "virtio"))
                .write_empty()?;
            write_boot(w, boot)
        })?;
    Ok(())
}

fn write_cdrom(w: &mut Writer<Vec<u8>>, path: &str) -> io::Result<()> {
    w.create_element("disk")
        .with_attribute(("type", "file"))
        .with_attribute(("device", "cdrom"))
        .write_inner_content(|w| {
            w.create_element("driver")
                .with_attribute(("name", "qemu"))
                .with_attribute(("type", "raw"))
                .write_empty()?;
            w.create_element("source")
                .with_attribute(("file", path))
                .write_empty()?;
            w.create_element("target")
                .with_attribute(("dev", "sda"))
                .with_attribute(("bus", "scsi"))
                .write_empty()?;
            w.create_element("readonly").write_empty()?;
            Ok(())
        })?;
    Ok(())
}

fn write_nic(
    w: &mut Writer<Vec<u8>>,
    network: &str,
    mac: &str,
    boot: Option<u32>,
) -> io::Result<()> {
    w.create_element("interface")
        .with_attribute(("type", "network"))
        .write_inner_content(|w| {
            w.create_element("mac")
                .with_attribute(("address", mac))
                .write_empty()?;
            w.create_element("source")
                .with_attribute(("network", network))
                .write_empty()?;
            w.create_element("model")
                .with_attribute(("type", "virtio"))
                .write_empty()?;
            write_boot(w, boot)
        })?;
    Ok(())
}

#[cfg(test)]
mod unit {
    use super::target_dev;

    #[test]
    fn disk_targets_follow_the_kernel_naming() {
        assert_eq!(target_dev("vd", 0), "vda");
        assert_eq!(target_dev("vd", 25), "vdz");
        assert_eq!(target_dev("vd", 26), "vdaa");
        assert_eq!(target_dev("vd", 27), "vdab");
    }
}
