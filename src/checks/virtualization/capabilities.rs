//! libvirt's capabilities XML: the domain types it offers and the lines shown as evidence.

/// Domain types (`kvm`, `qemu`) in libvirt's capabilities XML, sorted, unique.
pub fn domain_types(capabilities_xml: &str) -> Vec<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(capabilities_xml);
    let mut out = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) if e.name().into_inner() == "domain" => {
                if let Ok(Some(attr)) = e.try_get_attribute("type") {
                    out.push(attr.value.to_string());
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The `<arch>` and `<domain type>` lines of the capabilities, verbatim (the evidence).
pub(super) fn capability_lines(xml: &str) -> String {
    xml.lines()
        .filter(|l| l.contains("<arch name=") || l.contains("<domain type="))
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}
