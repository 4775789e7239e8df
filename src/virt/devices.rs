//! Changing a defined domain's devices in place: a NIC attached or detached (in the
//! running VM when it runs, and in its persistent definition), a disk grown while it runs.

use super::domain::lookup;
use super::object::obj_err;
use super::{Libvirt, VirtError};
use virt::domain::Domain;
use virt::sys;

/// Live and config when the domain runs; config alone otherwise.
fn affect(dom: &Domain) -> u32 {
    let mut flags = sys::VIR_DOMAIN_AFFECT_CONFIG;
    if dom.is_active().unwrap_or(false) {
        flags |= sys::VIR_DOMAIN_AFFECT_LIVE;
    }
    flags
}

impl Libvirt {
    /// Attaches a device (`<interface …>`) to the domain: live when it runs, and config.
    pub async fn attach_device(&self, name: &str, device_xml: &str) -> Result<(), VirtError> {
        let (name, xml) = (name.to_string(), device_xml.to_string());
        self.call_once(move |c| {
            let dom = lookup(c, &name)?;
            dom.attach_device_flags(&xml, affect(&dom))
                .map_err(|e| obj_err::<Domain>(c, "attach a device to", &name, e))
        })
        .await
    }

    /// Detaches a device (matched by libvirt, a NIC by its MAC): live when it runs, and
    /// config.
    pub async fn detach_device(&self, name: &str, device_xml: &str) -> Result<(), VirtError> {
        let (name, xml) = (name.to_string(), device_xml.to_string());
        self.call_once(move |c| {
            let dom = lookup(c, &name)?;
            dom.detach_device_flags(&xml, affect(&dom))
                .map_err(|e| obj_err::<Domain>(c, "detach a device from", &name, e))
        })
        .await
    }

    /// Grows the disk `target` (`vda`) of a running domain to `bytes` (QEMU holds the image
    /// open, so qemu-img cannot).
    pub async fn block_resize(
        &self,
        name: &str,
        target: &str,
        bytes: u64,
    ) -> Result<(), VirtError> {
        let (name, target) = (name.to_string(), target.to_string());
        self.call_once(move |c| {
            lookup(c, &name)?
                .block_resize(&target, bytes, sys::VIR_DOMAIN_BLOCK_RESIZE_BYTES)
                .map_err(|e| obj_err::<Domain>(c, "resize a disk of", &name, e))
        })
        .await
    }
}
