//! Changing a running network in place: its persistent definition, and its DHCP range
//! through `virNetworkUpdate` (live and config at once, so dnsmasq picks it up without the
//! network, and every VM plugged into it, going down).

use super::error::is_unsupported;
use super::object::{self, obj_err};
use super::{Libvirt, VirtError};
use virt::network::Network;
use virt::sys;

/// A DHCP range `<range start=… end=…/>` as libvirt's update API wants it.
fn range_xml(start: &str, end: &str) -> String {
    format!(
        "<range start='{}' end='{}'/>",
        quick_xml::escape::escape(start),
        quick_xml::escape::escape(end)
    )
}

impl Libvirt {
    /// The network's persistent definition (what it starts with next), whatever its state.
    pub async fn network_xml_inactive(&self, name: &str) -> Result<String, VirtError> {
        let name = name.to_string();
        self.call(move |c| {
            let net = object::lookup::<Network>(c, &name)?;
            match net.xml_desc(sys::VIR_NETWORK_XML_INACTIVE) {
                // The test driver knows no such flag (and keeps one definition).
                Err(e) if is_unsupported(&e) => net.xml_desc(0),
                r => r,
            }
            .map_err(|e| obj_err::<Network>(c, "get XML of", &name, e))
        })
        .await
    }

    /// Replaces the DHCP range `old` of the network's first `<ip>` with `new`: the new one
    /// added first, then the old one deleted, in the running network (when active) and its
    /// persistent definition alike.
    pub async fn update_network_dhcp_range(
        &self,
        name: &str,
        old: (&str, &str),
        new: (&str, &str),
    ) -> Result<(), VirtError> {
        let name = name.to_string();
        let old = range_xml(old.0, old.1);
        let new = range_xml(new.0, new.1);
        self.call_once(move |c| {
            let net = object::lookup::<Network>(c, &name)?;
            let err = |op: &str, e| obj_err::<Network>(c, op, &name, e);
            let active = net.is_active().map_err(|e| err("query", e))?;
            let mut flags = sys::VIR_NETWORK_UPDATE_AFFECT_CONFIG;
            if active {
                flags |= sys::VIR_NETWORK_UPDATE_AFFECT_LIVE;
            }
            let section = sys::VIR_NETWORK_SECTION_IP_DHCP_RANGE;
            // Two ranges may not overlap: delete first, then add (a failed add puts the
            // old range back, so the network is never left without one).
            net.update(
                sys::VIR_NETWORK_UPDATE_COMMAND_DELETE,
                section,
                -1,
                &old,
                flags,
            )
            .map_err(|e| err("delete the DHCP range of", e))?;
            if let Err(e) = net.update(
                sys::VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
                section,
                -1,
                &new,
                flags,
            ) {
                let _ = net.update(
                    sys::VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
                    section,
                    -1,
                    &old,
                    flags,
                );
                return Err(err("add the DHCP range to", e));
            }
            Ok(())
        })
        .await
    }
}
