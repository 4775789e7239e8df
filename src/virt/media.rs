//! Removable media: what each cdrom drive of a domain holds, and ejecting it (what
//! `virsh change-media DOMAIN TARGET --eject` does), live and in the persistent definition.

use super::domain::lookup;
use super::{Libvirt, Outcome, VirtError, xml};
use virt::sys;

/// One cdrom drive and its media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cdrom {
    /// `<target dev=...>` (`sda`).
    pub target: String,
    /// `<target bus=...>` (`scsi`, `sata`, `ide`).
    pub bus: Option<String>,
    /// The media in the running domain (the persistent definition when it is off).
    pub live: Option<String>,
    /// The media in the persistent definition (what the next boot gets).
    pub config: Option<String>,
}

impl Cdrom {
    pub fn empty(&self) -> bool {
        self.live.is_none() && self.config.is_none()
    }
}

/// `(target, bus, source)` of each cdrom drive in a domain's XML.
type Drive = (String, Option<String>, Option<String>);

fn cdroms_of(text: &str) -> Result<Vec<Drive>, String> {
    let tree = xml::parse(text)?;
    let Some(devices) = tree.child("devices") else {
        return Ok(Vec::new());
    };
    Ok(devices
        .children_named("disk")
        .filter(|d| d.attr("device") == Some("cdrom"))
        .filter_map(|d| {
            let t = d.child("target")?;
            let src = d
                .child("source")
                .and_then(|s| s.attr("file").or_else(|| s.attr("dev")))
                .map(str::to_string);
            Some((
                t.attr("dev")?.to_string(),
                t.attr("bus").map(Into::into),
                src,
            ))
        })
        .collect())
}

/// The device XML of an empty drive: the same target, no `<source>`.
fn empty_drive_xml(target: &str, bus: Option<&str>) -> String {
    use quick_xml::escape::escape;
    let bus = bus
        .map(|b| format!(" bus='{}'", escape(b)))
        .unwrap_or_default();
    format!(
        "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='{}'{bus}/><readonly/></disk>",
        escape(target)
    )
}

impl Libvirt {
    /// The domain's cdrom drives with what they hold now and in the persistent definition.
    pub async fn cdroms(&self, name: &str) -> Result<Vec<Cdrom>, VirtError> {
        let name = name.to_string();
        self.call(move |c| {
            let dom = lookup(c, &name)?;
            let err = |e: virt::error::Error| c.lv(format!("get XML of domain '{name}'"), e);
            let live_text = dom.xml_desc(0).map_err(err)?;
            let config_text = dom.xml_desc(sys::VIR_DOMAIN_XML_INACTIVE).map_err(err)?;
            let what = format!("domain '{name}'");
            let live = cdroms_of(&live_text).map_err(|m| c.xml_err(&what, m))?;
            let config = cdroms_of(&config_text).map_err(|m| c.xml_err(&what, m))?;
            Ok(live
                .into_iter()
                .map(|(target, bus, src)| Cdrom {
                    config: config
                        .iter()
                        .find(|(t, _, _)| *t == target)
                        .and_then(|(_, _, s)| s.clone()),
                    live: src,
                    target,
                    bus,
                })
                .collect())
        })
        .await
    }

    /// Ejects the media of drive `target`: from the running domain (forced, as a guest may
    /// hold the tray locked) and from its persistent definition. `AlreadyInState` when the
    /// drive was empty.
    pub async fn eject(&self, name: &str, target: &str) -> Result<Outcome, VirtError> {
        let drives = self.cdroms(name).await?;
        let Some(d) = drives.into_iter().find(|d| d.target == target) else {
            return Err(VirtError::Xml {
                uri: self.uri().to_string(),
                what: format!("domain '{name}'"),
                message: format!("no cdrom drive with target '{target}'"),
            });
        };
        if d.empty() {
            return Ok(Outcome::AlreadyInState);
        }
        let name = name.to_string();
        self.call(move |c| {
            let dom = lookup(c, &name)?;
            let xml = empty_drive_xml(&d.target, d.bus.as_deref());
            let active = dom
                .is_active()
                .map_err(|e| c.lv(format!("query domain '{name}'"), e))?;
            let mut flags = sys::VIR_DOMAIN_AFFECT_CONFIG;
            if active {
                flags |= sys::VIR_DOMAIN_AFFECT_LIVE | sys::VIR_DOMAIN_DEVICE_MODIFY_FORCE;
            }
            dom.update_device_flags(&xml, flags).map_err(|e| {
                c.lv(
                    format!("eject the media of {} in domain '{name}'", d.target),
                    e,
                )
            })?;
            Ok(Outcome::Done)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cdroms_and_builds_an_empty_drive() {
        let text = "<domain><devices>\
            <disk type='file' device='disk'><source file='/a.qcow2'/><target dev='vda' bus='virtio'/></disk>\
            <disk type='file' device='cdrom'><source file='/seed.iso'/><target dev='sda' bus='scsi'/></disk>\
            <disk type='file' device='cdrom'><target dev='sdb' bus='scsi'/></disk>\
            </devices></domain>";
        assert_eq!(
            cdroms_of(text).unwrap(),
            vec![
                ("sda".into(), Some("scsi".into()), Some("/seed.iso".into())),
                ("sdb".into(), Some("scsi".into()), None),
            ]
        );
        let x = empty_drive_xml("sda", Some("scsi"));
        assert!(x.contains("<target dev='sda' bus='scsi'/>") && !x.contains("source"));
    }
}
