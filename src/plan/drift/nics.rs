//! A domain's NICs: one added in lab.yaml is attached, one removed is detached (in the
//! running VM and its persistent definition alike). NICs are matched by MAC.

use crate::plan::{Drift, DriftCost};
use crate::virt::xml::{self, NetworkNic};

/// One NIC to attach or detach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NicChange {
    Attach { mac: String, network: String },
    Detach { mac: String, network: String },
}

impl NicChange {
    /// The `<interface>` libvirt attaches or detaches (a detach matches on the MAC).
    pub fn device_xml(&self) -> String {
        let (mac, network) = match self {
            NicChange::Attach { mac, network } | NicChange::Detach { mac, network } => {
                (mac, network)
            }
        };
        format!(
            "<interface type='network'><mac address='{}'/><source network='{}'/><model type='virtio'/></interface>",
            quick_xml::escape::escape(mac.as_str()),
            quick_xml::escape::escape(network.as_str())
        )
    }

    pub fn drift(&self) -> Drift {
        match self {
            NicChange::Attach { mac, network } => Drift::new(
                format!("nic {mac}"),
                "absent",
                format!("on {network}"),
                DriftCost::Live,
            ),
            NicChange::Detach { mac, network } => Drift::new(
                format!("nic {mac}"),
                format!("on {network}"),
                "absent",
                DriftCost::Live,
            ),
        }
    }
}

/// `domain_xml` (a definition as libvirt wrote it) with this change made to its devices,
/// everything else as it was: for drivers that cannot attach or detach (the test driver),
/// where the definition is redefined instead.
pub fn edited_definition(domain_xml: &str, change: &NicChange) -> Result<String, String> {
    match change {
        NicChange::Attach { .. } => {
            let at = domain_xml
                .rfind("</devices>")
                .ok_or("the definition has no </devices>")?;
            let mut out = domain_xml.to_string();
            out.insert_str(at, &format!("  {}\n  ", change.device_xml()));
            Ok(out)
        }
        NicChange::Detach { mac, .. } => {
            let mut from = 0;
            while let Some(i) = domain_xml[from..].find("<interface") {
                let start = from + i;
                let end = domain_xml[start..]
                    .find("</interface>")
                    .map(|e| start + e + "</interface>".len())
                    .ok_or("an <interface> is not closed")?;
                let block = domain_xml[start..end].to_ascii_lowercase();
                if block.contains(&format!("address='{mac}'"))
                    || block.contains(&format!("address=\"{mac}\""))
                {
                    let line_start = domain_xml[..start].trim_end_matches([' ', '\t']).len();
                    let mut out = domain_xml[..line_start].to_string();
                    out.push_str(domain_xml[end..].trim_start_matches([' ', '\t', '\n']));
                    return Ok(out);
                }
                from = end;
            }
            Err(format!("no <interface> with MAC {mac}"))
        }
    }
}

fn by_mac(nics: Vec<NetworkNic>) -> Vec<(String, String)> {
    nics.into_iter()
        .filter_map(|n| Some((n.mac?.to_ascii_lowercase(), n.network)))
        .collect()
}

/// The NIC changes that turn the live definition's NICs into the wanted ones: detaches
/// first (a NIC moved to another network is detached, then attached anew).
pub fn changes(wanted_xml: &str, live_xml: &str) -> Result<Vec<NicChange>, String> {
    let want = by_mac(xml::network_nics(&xml::parse(wanted_xml)?));
    let live = by_mac(xml::network_nics(&xml::parse(live_xml)?));
    let mut out = Vec::new();
    for (mac, network) in &live {
        if !want.contains(&(mac.clone(), network.clone())) {
            out.push(NicChange::Detach {
                mac: mac.clone(),
                network: network.clone(),
            });
        }
    }
    for (mac, network) in &want {
        if !live.contains(&(mac.clone(), network.clone())) {
            out.push(NicChange::Attach {
                mac: mac.clone(),
                network: network.clone(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dom(nics: &[(&str, &str)]) -> String {
        let n: String = nics
            .iter()
            .map(|(mac, net)| {
                format!("<interface type='network'><mac address='{mac}'/><source network='{net}'/></interface>")
            })
            .collect();
        format!("<domain><name>d</name><devices>{n}</devices></domain>")
    }

    #[test]
    fn an_added_nic_is_attached_a_removed_one_detached_the_rest_left_alone() {
        let live = dom(&[("52:54:00:00:00:01", "ext"), ("52:54:00:00:00:02", "old")]);
        let want = dom(&[("52:54:00:00:00:01", "ext"), ("52:54:00:00:00:03", "new")]);
        let c = changes(&want, &live).unwrap();
        assert_eq!(
            c,
            vec![
                NicChange::Detach {
                    mac: "52:54:00:00:00:02".into(),
                    network: "old".into()
                },
                NicChange::Attach {
                    mac: "52:54:00:00:00:03".into(),
                    network: "new".into()
                },
            ]
        );
        assert_eq!(
            c[1].drift().to_string(),
            "~ nic 52:54:00:00:00:03: absent → on new (applied live)"
        );
        assert!(
            c[0].device_xml()
                .contains("<mac address='52:54:00:00:00:02'/>")
        );
        // Made in the definition itself, the same changes leave nothing to do.
        let mut edited = live.clone();
        for ch in &c {
            edited = edited_definition(&edited, ch).unwrap();
        }
        assert_eq!(changes(&want, &edited).unwrap(), Vec::new(), "{edited}");
        assert!(edited_definition(&want, &c[0]).is_err());
        // MACs compare case-insensitively (libvirt writes them lower-case).
        let upper = dom(&[("52:54:00:00:00:0A", "ext")]);
        let lower = dom(&[("52:54:00:00:00:0a", "ext")]);
        assert_eq!(changes(&upper, &lower).unwrap(), Vec::new());
    }
}
