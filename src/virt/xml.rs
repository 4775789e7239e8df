//! A small element tree over quick-xml, enough to read what libvirt's XML says (disks,
//! agent channel, pool target path, volume format, labwarp's ownership metadata).
//!
//! libvirt documents are a few kilobytes, so a tree is simpler and safer than ad-hoc
//! streaming matches, and namespaces are resolved by quick-xml's `NsReader`.

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

/// One element: its namespace URI (if bound), local name, attributes and text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub namespace: Option<String>,
    pub name: String,
    /// Attributes by qualified name as written (`name`, `xmlns:lw`, ...), values unescaped.
    pub attrs: Vec<(String, String)>,
    /// Concatenated text content directly inside this element (entities resolved).
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follows a path of local names from this element (`["devices", "disk"]`).
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |el, n| el.child(n))
    }
}

/// Parses a whole document and returns its root element.
pub fn parse(xml: &str) -> Result<Element, String> {
    let mut reader = NsReader::from_str(xml);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let pos = reader.buffer_position();
        let (ns, ev) = reader
            .read_resolved_event()
            .map_err(|e| format!("after byte {pos}: {e}"))?;
        let namespace = match ns {
            ResolveResult::Bound(n) => Some(n.as_ref().to_string()),
            _ => None,
        };
        match ev {
            Event::Start(ref s) | Event::Empty(ref s) => {
                let mut el = Element {
                    namespace,
                    name: s.local_name().as_ref().to_string(),
                    ..Element::default()
                };
                for a in s.attributes() {
                    let a = a.map_err(|e| e.to_string())?;
                    let key = a.key.as_ref().to_string();
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| e.to_string())?
                        .into_owned();
                    el.attrs.push((key, value));
                }
                if matches!(ev, Event::Empty(_)) {
                    close(el, &mut stack, &mut root);
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or("unbalanced end tag")?;
                close(el, &mut stack, &mut root);
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&c.into_inner());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(top) = stack.last_mut() {
                    if let Ok(Some(ch)) = r.resolve_char_ref() {
                        top.text.push(ch);
                    } else {
                        let name = r.xml10_content();
                        let s = quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| format!("unknown entity &{name};"))?;
                        top.text.push_str(s);
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err("document ends inside an element".into());
    }
    root.ok_or_else(|| "no root element".into())
}

fn close(el: Element, stack: &mut [Element], root: &mut Option<Element>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

/// The lab a domain belongs to, from labwarp's ownership element inside `<metadata>`: the
/// first child of `<metadata>` whose namespace URI contains "labwarp". The render module
/// writes `<labwarp:vm xmlns:labwarp="https://labwarp.dev/xmlns/libvirt/1.0" lab="LAB"
/// name="VM" role="..."/>`; this reads it generically, so other shapes keep working: the
/// `lab` attribute, else (on an element that is not the per-VM `vm` element) the `name`
/// attribute, else the element's text, else a `<lab>`/`<name>` child's text.
pub fn labwarp_lab(domain: &Element) -> Option<String> {
    let meta = domain.child("metadata")?;
    let owned = meta.children.iter().find(|c| {
        c.namespace
            .as_deref()
            .is_some_and(|ns| ns.to_ascii_lowercase().contains("labwarp"))
    })?;
    let name_is_lab = owned.name != "vm";
    let candidates = [
        owned.attr("lab").map(str::to_string),
        owned
            .attr("name")
            .filter(|_| name_is_lab)
            .map(str::to_string),
        Some(owned.text.trim().to_string()),
        owned.child("lab").map(|c| c.text.trim().to_string()),
        owned.child("name").map(|c| c.text.trim().to_string()),
    ];
    candidates.into_iter().flatten().find(|s| !s.is_empty())
}

/// The lab identity in labwarp's ownership element (its `id` attribute; see
/// `plan::owner`), on a domain or a network; `None` for objects written without one.
pub fn labwarp_id(object: &Element) -> Option<String> {
    let meta = object.child("metadata")?;
    meta.children
        .iter()
        .find(|c| {
            c.namespace
                .as_deref()
                .is_some_and(|ns| ns.to_ascii_lowercase().contains("labwarp"))
        })?
        .attr("id")
        .map(str::to_string)
        .filter(|s| !s.is_empty())
}

/// `(vcpus, memory in MiB)` of a domain's XML: `<vcpu>` and `<memory unit=…>`.
pub fn sizes(domain: &Element) -> Option<(u32, u64)> {
    let vcpus = domain.child("vcpu")?.text.trim().parse().ok()?;
    let mem = domain.child("memory")?;
    let n: u64 = mem.text.trim().parse().ok()?;
    let kib = match mem.attr("unit").unwrap_or("KiB") {
        "b" | "bytes" => n / 1024,
        "KB" => n * 1000 / 1024,
        "k" | "KiB" => n,
        "MB" => n * 1_000_000 / 1024,
        "M" | "MiB" => n * 1024,
        "GB" => n * 1_000_000_000 / 1024,
        "G" | "GiB" => n * 1024 * 1024,
        _ => return None,
    };
    Some((vcpus, kib / 1024))
}

/// `xml` (a domain's definition as libvirt wrote it) with `<vcpu>`, `<memory>` and
/// `<currentMemory>` set, everything else byte for byte as it was (device addresses,
/// MACs, the UUID).
pub fn with_sizes(xml: &str, vcpus: u32, memory_mib: u64) -> Result<String, String> {
    let kib = memory_mib * 1024;
    let mut out = xml.to_string();
    for (tag, value, required) in [
        ("vcpu", vcpus.to_string(), true),
        ("memory", kib.to_string(), true),
        ("currentMemory", kib.to_string(), false),
    ] {
        let open = format!("<{tag}");
        // The element itself, not one whose name merely starts with it.
        let Some(start) = out.match_indices(&open).map(|(i, _)| i).find(|i| {
            out[i + open.len()..]
                .chars()
                .next()
                .is_some_and(|c| c == '>' || c == ' ')
        }) else {
            if required {
                return Err(format!("no <{tag}> element"));
            }
            continue;
        };
        let close = format!("</{tag}>");
        let end = out[start..]
            .find(&close)
            .map(|e| start + e + close.len())
            .ok_or_else(|| format!("<{tag}> is not closed"))?;
        let head_end = start + out[start..].find('>').ok_or("unterminated tag")? + 1;
        let head = if tag == "vcpu" {
            out[start..head_end].to_string()
        } else {
            format!("<{tag} unit='KiB'>")
        };
        out.replace_range(start..end, &format!("{head}{value}{close}"));
    }
    Ok(out)
}

/// One `<disk>` of a domain: its device kind and where its data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskSource {
    /// `disk`, `cdrom`, `floppy`, `lun`.
    pub device: String,
    /// `<target dev=...>` (vda, sda, ...).
    pub target: Option<String>,
    /// `<source file=...>` or `<source dev=...>`.
    pub path: Option<String>,
    /// `<source pool=... volume=...>`.
    pub pool_volume: Option<(String, String)>,
}

pub fn domain_disks(domain: &Element) -> Vec<DiskSource> {
    let Some(devices) = domain.child("devices") else {
        return Vec::new();
    };
    devices
        .children_named("disk")
        .map(|d| {
            let src = d.child("source");
            DiskSource {
                device: d.attr("device").unwrap_or("disk").to_string(),
                target: d
                    .child("target")
                    .and_then(|t| t.attr("dev"))
                    .map(Into::into),
                path: src
                    .and_then(|s| s.attr("file").or_else(|| s.attr("dev")))
                    .map(Into::into),
                pool_volume: src
                    .and_then(|s| Some((s.attr("pool")?.into(), s.attr("volume")?.into()))),
            }
        })
        .collect()
}

/// One `<interface type='network'>` of a domain: the libvirt network it is plugged into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkNic {
    /// `<source network=...>`.
    pub network: String,
    /// `<mac address=...>`.
    pub mac: Option<String>,
    /// `<target dev=...>` (the host tap, present while running).
    pub target: Option<String>,
}

pub fn network_nics(domain: &Element) -> Vec<NetworkNic> {
    let Some(devices) = domain.child("devices") else {
        return Vec::new();
    };
    devices
        .children_named("interface")
        .filter(|i| i.attr("type") == Some("network"))
        .filter_map(|i| {
            Some(NetworkNic {
                network: i.child("source")?.attr("network")?.to_string(),
                mac: i
                    .child("mac")
                    .and_then(|m| m.attr("address"))
                    .map(str::to_string),
                target: i
                    .child("target")
                    .and_then(|t| t.attr("dev"))
                    .map(str::to_string),
            })
        })
        .collect()
}

/// Whether a `<network>` document has at least one `<ip>` element.
pub fn network_has_ip(network: &Element) -> bool {
    network.child("ip").is_some()
}

/// Whether a `<network>` document serves DHCP (an `<ip>` with a `<dhcp>` inside).
pub fn network_has_dhcp(network: &Element) -> bool {
    network
        .children_named("ip")
        .any(|ip| ip.child("dhcp").is_some())
}

/// Whether the domain has a QEMU guest agent channel (only then is asking the agent for
/// addresses worth its timeout).
pub fn has_guest_agent(domain: &Element) -> bool {
    domain.child("devices").is_some_and(|d| {
        d.children_named("channel").any(|c| {
            c.child("target")
                .and_then(|t| t.attr("name"))
                .is_some_and(|n| n == "org.qemu.guest_agent.0")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOMAIN: &str = r#"<domain type='qemu'>
  <name>lw-ctl0</name>
  <metadata>
    <other:thing xmlns:other="http://example.org/other" name="not-me"/>
    <lw:owner xmlns:lw="https://labwarp.dev/xmlns/libvirt/1" name="lab&amp;one"/>
  </metadata>
  <devices>
    <disk type='file' device='disk'>
      <source file='/var/lib/libvirt/images/lw-ctl0.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='volume' device='cdrom'>
      <source pool='lw' volume='seed.iso'/>
      <target dev='sda' bus='scsi'/>
    </disk>
    <interface type='network'/>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
  </devices>
</domain>"#;

    #[test]
    fn reads_lab_from_attribute_in_any_labwarp_namespace() {
        let d = parse(DOMAIN).unwrap();
        assert_eq!(labwarp_lab(&d).as_deref(), Some("lab&one"));
    }

    #[test]
    fn reads_lab_from_the_render_modules_vm_element() {
        let lab = crate::lab::load_preset("minimal").unwrap();
        let mut ctx = crate::render::RenderContext::for_lab(&lab, std::path::Path::new("/ws"));
        ctx.vbmc_password = Some(crate::lab::Secret("pw".into()));
        let domains: Vec<_> = crate::render::render_all(&lab, &ctx)
            .unwrap()
            .into_iter()
            .filter(|a| a.contents.starts_with("<domain"))
            .collect();
        assert!(!domains.is_empty());
        for a in domains {
            let tree = parse(&a.contents).unwrap();
            assert_eq!(
                labwarp_lab(&tree).as_deref(),
                Some(lab.name.as_str()),
                "{}",
                a.path.display()
            );
        }
        // The VM's own name in `name` is not mistaken for the lab.
        let vm = r#"<domain><metadata><labwarp:vm xmlns:labwarp="https://labwarp.dev/xmlns/libvirt/1.0" name="undercloud"/></metadata></domain>"#;
        assert_eq!(labwarp_lab(&parse(vm).unwrap()), None);
    }

    #[test]
    fn reads_lab_from_text_or_child() {
        let text = r#"<domain><metadata><x:lab xmlns:x="urn:labwarp:lab">  minimal &#x41; </x:lab></metadata></domain>"#;
        assert_eq!(
            labwarp_lab(&parse(text).unwrap()).as_deref(),
            Some("minimal A")
        );
        let child = r#"<domain><metadata><lab xmlns="https://LabWarp.example/ns"><name>edge</name></lab></metadata></domain>"#;
        assert_eq!(labwarp_lab(&parse(child).unwrap()).as_deref(), Some("edge"));
    }

    #[test]
    fn no_labwarp_metadata_is_none() {
        let other = r#"<domain><metadata><o:lab xmlns:o="http://example.org/other" name="x"/></metadata></domain>"#;
        assert_eq!(labwarp_lab(&parse(other).unwrap()), None);
        // A prefix that merely looks like labwarp but is bound elsewhere does not count.
        let fake = r#"<domain><metadata><labwarp:lab xmlns:labwarp="http://example.org/x" name="x"/></metadata></domain>"#;
        assert_eq!(labwarp_lab(&parse(fake).unwrap()), None);
        assert_eq!(labwarp_lab(&parse("<domain/>").unwrap()), None);
    }

    #[test]
    fn disks_and_agent() {
        let d = parse(DOMAIN).unwrap();
        let disks = domain_disks(&d);
        assert_eq!(disks.len(), 2);
        assert_eq!(disks[0].device, "disk");
        assert_eq!(
            disks[0].path.as_deref(),
            Some("/var/lib/libvirt/images/lw-ctl0.qcow2")
        );
        assert_eq!(disks[1].device, "cdrom");
        assert_eq!(
            disks[1].pool_volume,
            Some(("lw".to_string(), "seed.iso".to_string()))
        );
        assert!(has_guest_agent(&d));
        assert!(!has_guest_agent(
            &parse("<domain><devices/></domain>").unwrap()
        ));
    }

    #[test]
    fn network_nics_and_network_ip_dhcp() {
        let dom = parse(
            "<domain><devices>\
             <interface type='network'><mac address='52:54:00:00:00:01'/>\
             <source network='prov'/><target dev='vnet3'/></interface>\
             <interface type='bridge'><source bridge='br0'/></interface>\
             </devices></domain>",
        )
        .unwrap();
        let nics = network_nics(&dom);
        assert_eq!(nics.len(), 1);
        assert_eq!(nics[0].network, "prov");
        assert_eq!(nics[0].mac.as_deref(), Some("52:54:00:00:00:01"));
        assert_eq!(nics[0].target.as_deref(), Some("vnet3"));
        let isolated = parse("<network><name>prov</name><bridge name='x'/></network>").unwrap();
        assert!(!network_has_ip(&isolated) && !network_has_dhcp(&isolated));
        let static_ip = parse("<network><ip address='10.1.0.1' prefix='24'/></network>").unwrap();
        assert!(network_has_ip(&static_ip) && !network_has_dhcp(&static_ip));
        let dhcp = parse(
            "<network><ip address='10.1.0.1' prefix='24'><dhcp><range start='10.1.0.2' \
             end='10.1.0.9'/></dhcp></ip></network>",
        )
        .unwrap();
        assert!(network_has_ip(&dhcp) && network_has_dhcp(&dhcp));
    }

    #[test]
    fn malformed_xml_is_an_error() {
        assert!(parse("<domain><name>x</domain>").is_err());
        assert!(parse("<domain>").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn sizes_are_read_in_any_unit_and_set_keeping_everything_else() {
        let xml = "<domain type='kvm'>\n  <name>a</name>\n  <uuid>u-1</uuid>\n  <memory unit='GiB'>2</memory>\n  <currentMemory unit='KiB'>2097152</currentMemory>\n  <vcpu placement='static'>2</vcpu>\n  <vcpupin vcpu='0' cpuset='1'/>\n  <devices><interface type='network'><mac address='52:54:00:00:00:01'/></interface></devices>\n</domain>";
        assert_eq!(sizes(&parse(xml).unwrap()), Some((2, 2048)));
        let new = with_sizes(xml, 4, 3072).unwrap();
        assert_eq!(sizes(&parse(&new).unwrap()), Some((4, 3072)));
        assert!(new.contains("<vcpu placement='static'>4</vcpu>"), "{new}");
        assert!(
            new.contains("<currentMemory unit='KiB'>3145728</currentMemory>"),
            "{new}"
        );
        // <vcpupin> is not <vcpu>; the UUID, the MAC and the rest are untouched.
        assert!(new.contains("<vcpupin vcpu='0' cpuset='1'/>"));
        assert!(new.contains("<uuid>u-1</uuid>") && new.contains("52:54:00:00:00:01"));
        assert!(with_sizes("<domain><name>x</name></domain>", 1, 1).is_err());
    }
}
