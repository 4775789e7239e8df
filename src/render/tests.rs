//! Unit tests of the renderers' rules (golden files and real-tool acceptance live in
//! tests/quick/render_golden.rs and tests/quick/render_tools.rs).

use super::*;
use crate::lab::{Lab, Nic};
use std::path::Path;

fn ctx(lab: &Lab) -> RenderContext {
    let mut c = RenderContext::for_lab(lab, Path::new("/ws"));
    c.vbmc_password = Some(Secret("pw-not-in-logs".into()));
    c
}

#[test]
fn derived_macs_are_stable_distinct_and_in_qemu_range() {
    let a = derived_mac("lab", "undercloud", 0);
    assert_eq!(a, derived_mac("lab", "undercloud", 0));
    assert!(a.starts_with("52:54:00:"), "{a}");
    assert_eq!(a.len(), 17);
    assert_ne!(a, derived_mac("lab", "undercloud", 1));
    assert_ne!(a, derived_mac("lab2", "undercloud", 0));
    assert_ne!(a, derived_mac("lab", "controller-0", 0));
}

#[test]
fn fixed_macs_are_normalised_and_bad_ones_named() {
    let mut lab = Lab::default();
    lab.undercloud.vm.nics[0].mac = Some("52:54:00:AB:CD:EF".into());
    assert_eq!(lab_vms(&lab).unwrap()[0].nics[0].mac, "52:54:00:ab:cd:ef");
    lab.undercloud.vm.nics[0].mac = Some("52:54:00:AB:CD".into());
    let e = lab_vms(&lab).unwrap_err().to_string();
    assert!(e.contains("undercloud.vm.nics[0].mac"), "{e}");
}

#[test]
fn a_mac_used_twice_is_an_error() {
    let mut lab = Lab::default();
    for nic in &mut lab.undercloud.vm.nics {
        nic.mac = Some("52:54:00:00:00:01".into());
    }
    assert!(matches!(
        lab_vms(&lab),
        Err(RenderError::DuplicateMac { .. })
    ));
}

#[test]
fn an_unknown_network_names_the_field() {
    let mut lab = Lab::default();
    lab.undercloud.vm.nics.push(Nic {
        network: "nope".into(),
        mac: None,
    });
    let e = render_all(&lab, &ctx(&lab)).unwrap_err().to_string();
    assert!(e.contains("undercloud.vm.nics[2].network"), "{e}");
    assert!(e.contains("'nope'"), "{e}");
    let mut lab = Lab::default();
    lab.overcloud.nodes[1].networks = vec!["missing".into()];
    let e = render_all(&lab, &ctx(&lab)).unwrap_err().to_string();
    assert!(e.contains("overcloud.nodes[1].networks[0]"), "{e}");
}

#[test]
fn xml_values_are_escaped_not_pasted() {
    let lab = Lab {
        name: "a<b>&\"c'".into(),
        ..Lab::default()
    };
    let c = ctx(&lab);
    let net = network_xml::render(&lab, &c, &lab.networks[0]).unwrap();
    assert!(
        net.contains("<name>a&lt;b&gt;&amp;&quot;c&apos;-external</name>"),
        "{net}"
    );
    assert!(
        net.contains("lab=\"a&lt;b&gt;&amp;&quot;c&apos;\""),
        "{net}"
    );
    let vms = lab_vms(&lab).unwrap();
    let dom = domain_xml::render(&lab, &c, &vms[1]).unwrap();
    assert!(!dom.contains("a<b>"), "{dom}");
}

#[test]
fn kvm_gets_host_passthrough_and_tcg_does_not() {
    let lab = Lab::default();
    let mut c = ctx(&lab);
    let vms = lab_vms(&lab).unwrap();
    c.virt_type = VirtType::Qemu;
    let q = domain_xml::render(&lab, &c, &vms[1]).unwrap();
    assert!(q.starts_with("<domain type=\"qemu\">"), "{q}");
    assert!(!q.contains("<cpu"), "{q}");
    c.virt_type = VirtType::Kvm;
    let k = domain_xml::render(&lab, &c, &vms[1]).unwrap();
    assert!(k.starts_with("<domain type=\"kvm\">"), "{k}");
    assert!(k.contains("<cpu mode=\"host-passthrough\""), "{k}");
}

#[test]
fn auto_domain_type_renders_as_tcg_until_probed() {
    assert_eq!(VirtType::from_model(DomainType::Auto), VirtType::Qemu);
    assert_eq!(VirtType::from_model(DomainType::Kvm), VirtType::Kvm);
}

#[test]
fn network_without_gateway_uses_the_first_host_address() {
    let mut lab = Lab::default();
    lab.networks[0].gateway = None;
    lab.networks[0].cidr = "192.168.50.0/24".into();
    let xml = network_xml::render(&lab, &ctx(&lab), &lab.networks[0]).unwrap();
    assert!(
        xml.contains("<ip address=\"192.168.50.1\" prefix=\"24\">"),
        "{xml}"
    );
    lab.networks[0].cidr = "192.168.50.0/33".into();
    let e = network_xml::render(&lab, &ctx(&lab), &lab.networks[0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("networks[0].cidr"), "{e}");
}

#[test]
fn undercloud_gets_a_fixed_lease_on_its_nat_network_only() {
    let lab = Lab::default();
    let c = ctx(&lab);
    let mac = &lab_vms(&lab).unwrap()[0].nics[0].mac;
    let ext = network_xml::render(&lab, &c, &lab.networks[0]).unwrap();
    assert!(
        ext.contains(&format!(
            "<host mac=\"{mac}\" name=\"undercloud\" ip=\"192.168.23.10\"/>"
        )),
        "{ext}"
    );
    assert!(ext.contains("<dnsmasq:option value=\"no-ping\"/>"), "{ext}");
    let ovc = network_xml::render(&lab, &c, &lab.networks[1]).unwrap();
    assert!(!ovc.contains("<host"), "{ovc}");
    assert!(!ovc.contains("dnsmasq"), "{ovc}");
}

#[test]
fn ssh_config_refuses_values_that_leave_their_line() {
    let mut lab = Lab::default();
    lab.hypervisors[0].address = "10.0.0.1\n  ProxyCommand evil".into();
    let e = ssh_config::render(&lab, &ctx(&lab))
        .unwrap_err()
        .to_string();
    assert!(e.contains("hypervisors[0].address"), "{e}");
    let mut lab = Lab::default();
    lab.hypervisors[0].name = "virt host".into();
    let e = ssh_config::render(&lab, &ctx(&lab))
        .unwrap_err()
        .to_string();
    assert!(e.contains("hypervisors[0].name"), "{e}");
    let mut lab = Lab::default();
    lab.hypervisors[0].ssh_user = "ro\"ot".into();
    assert!(ssh_config::render(&lab, &ctx(&lab)).is_err());
}

#[test]
fn undercloud_conf_refuses_injected_keys() {
    let mut lab = Lab::default();
    lab.undercloud.conf.local_interface = "eth1\nenable_ironic = false".into();
    let e = undercloud_conf::render(&lab).unwrap_err().to_string();
    assert!(e.contains("undercloud.conf.local_interface"), "{e}");
}

#[test]
fn instackenv_needs_a_password_and_is_a_secret_file() {
    let lab = Lab::default();
    let mut c = ctx(&lab);
    c.vbmc_password = None;
    let e = instackenv::render(&lab, &c).unwrap_err().to_string();
    assert!(e.contains("overcloud.vbmc.password"), "{e}");
    let c = ctx(&lab);
    let all = render_all(&lab, &c).unwrap();
    let inst = all
        .iter()
        .find(|a| a.path == Path::new("instackenv.json"))
        .unwrap();
    assert!(inst.secret);
    assert!(inst.contents.contains("pw-not-in-logs"));
    assert!(!format!("{inst:?}").contains("pw-not-in-logs"));
    let ud = all
        .iter()
        .find(|a| a.path == Path::new("cloud-init/user-data"))
        .unwrap();
    assert!(!ud.secret, "user-data without a host key holds no secret");
    let v: serde_json::Value = serde_json::from_str(&inst.contents).unwrap();
    let nodes = v["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0]["pm_port"], "6230");
    assert_eq!(nodes[1]["pm_port"], "6231");
    assert_eq!(nodes[0]["pm_type"], "ipmi");
    // The PXE MAC is the node's first NIC, the one its domain XML boots from.
    let vms = lab_vms(&lab).unwrap();
    assert_eq!(nodes[0]["ports"][0]["address"], vms[1].nics[0].mac.as_str());
    assert_eq!(nodes[0]["ports"].as_array().unwrap().len(), 1);
    // validate_nodes refuses a `mac` field: it must not come back.
    assert!(nodes.iter().all(|n| n.get("mac").is_none()), "{v}");
}

#[test]
fn a_host_key_makes_user_data_secret() {
    let lab = Lab::default();
    let mut c = ctx(&lab);
    c.undercloud_host_key = Some(HostKeyPair {
        private: Secret("PRIVATE".into()),
        public: "ssh-ed25519 AAAA host".into(),
    });
    let all = render_all(&lab, &c).unwrap();
    let ud = all
        .iter()
        .find(|a| a.path == Path::new("cloud-init/user-data"))
        .unwrap();
    assert!(ud.secret);
    assert!(ud.contents.contains("ed25519_private: PRIVATE"));
    assert!(!format!("{c:?}").contains("PRIVATE"));
}

#[test]
fn nfs_server_resolves_undercloud_node_or_literal() {
    let mut lab = Lab::default();
    let mut c = ctx(&lab);
    assert_eq!(
        nova_nfs::nfs_share(&lab, &c).unwrap(),
        "192.168.24.1:/export/nova"
    );
    lab.overcloud.live_migration.nfs_server = "controller-0".into();
    assert_eq!(
        nova_nfs::nfs_share(&lab, &c).unwrap(),
        "controller-0:/export/nova"
    );
    c.node_addresses
        .insert("controller-0".into(), "192.168.24.9".into());
    assert_eq!(
        nova_nfs::nfs_share(&lab, &c).unwrap(),
        "192.168.24.9:/export/nova"
    );
}

#[test]
fn no_undercloud_address_is_a_clear_error() {
    let mut lab = Lab::default();
    lab.networks[0].dhcp = None;
    let c = ctx(&lab);
    assert!(c.undercloud_ip.is_none());
    let e = ssh_config::render(&lab, &c).unwrap_err().to_string();
    assert!(e.contains("NAT network with a DHCP range"), "{e}");
}

#[test]
fn an_address_ssh_could_read_as_an_option_is_refused() {
    let mut lab = Lab::default();
    lab.hypervisors[0].address = "-oProxyCommand=touch /tmp/x".into();
    let c = ctx(&lab);
    for e in [
        ssh_config::render(&lab, &c).unwrap_err().to_string(),
        inventory::render(&lab, &c).unwrap_err().to_string(),
    ] {
        assert!(e.contains("hypervisors[0].address"), "{e}");
    }
}

mod properties {
    //! Random values in the fields that reach each format: rendering never panics, and what
    //! it writes keeps the format's structure (no value escapes its line, attribute or text).
    use super::*;
    use proptest::prelude::*;
    use quick_xml::Reader;
    use quick_xml::events::Event;

    const SSH_KEYWORDS: &[&str] = &[
        "HostName",
        "Port",
        "User",
        "ProxyJump",
        "IdentityFile",
        "IdentitiesOnly",
        "UserKnownHostsFile",
        "StrictHostKeyChecking",
        "ServerAliveInterval",
    ];

    /// The text of the first `<name>` element, unescaped.
    fn xml_name(xml: &str) -> String {
        let mut r = Reader::from_str(xml);
        let mut in_name = false;
        let mut raw = String::new();
        loop {
            match r.read_event().expect("well-formed XML") {
                Event::Start(e) if e.name().0 == "name" => in_name = true,
                Event::Text(t) if in_name => raw.push_str(&t),
                Event::GeneralRef(g) if in_name => {
                    raw.push('&');
                    raw.push_str(&g);
                    raw.push(';');
                }
                Event::End(e) if e.name().0 == "name" => {
                    return quick_xml::escape::unescape(&raw)
                        .expect("valid entities")
                        .into_owned();
                }
                Event::Eof => panic!("no <name> in {xml}"),
                _ => {}
            }
        }
    }

    fn any_text() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,24}",
            "[a-z\\x00-\\x1f]{0,8}",
            "[a-z0-9.-]{1,16}",
            Just("a\nb".to_string()),
            Just("\"<&'>".to_string()),
            Just("-oProxyCommand=x".to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn rendering_random_values_never_breaks_a_format(
            name in any_text(),
            address in any_text(),
            user in any_text(),
            iface in any_text(),
            key in any_text(),
            timezone in any_text(),
        ) {
            let mut lab = Lab { name: name.clone(), ..Lab::default() };
            lab.hypervisors[0].address = address;
            lab.hypervisors[0].ssh_user = user;
            lab.undercloud.conf.local_interface = iface;
            lab.undercloud.cloud_init.ssh_authorized_keys = vec![key];
            lab.undercloud.cloud_init.timezone = timezone.clone();
            let c = ctx(&lab);
            let reference = undercloud_conf::render(&Lab::default()).unwrap();
            let key_lines = |t: &str| t.lines().filter(|l| l.contains(" = ")).count();

            // XML: quick-xml escapes, so the name survives the round trip; control
            // characters (not allowed in XML 1.0) are refused naming the field.
            let vms = lab_vms(&lab).unwrap();
            match (
                network_xml::render(&lab, &c, &lab.networks[0]),
                domain_xml::render(&lab, &c, &vms[0]),
            ) {
                (Ok(net), Ok(dom)) => {
                    prop_assert_eq!(xml_name(&net), format!("{name}-external"));
                    prop_assert_eq!(xml_name(&dom), format!("{name}-undercloud"));
                }
                (Err(e1), Err(e2)) => {
                    prop_assert!(name.chars().any(char::is_control));
                    prop_assert!(e1.to_string().starts_with("name:"), "{}", e1);
                    prop_assert!(e2.to_string().starts_with("name:"), "{}", e2);
                }
                (a, b) => prop_assert!(false, "network {:?} vs domain {:?}", a.is_ok(), b.is_ok()),
            }

            // user-data: valid YAML after the header, the timezone intact.
            if let Ok(ud) = cloud_init::user_data(&lab, &c) {
                prop_assert!(ud.starts_with("#cloud-config\n"));
                let v: serde_yaml::Value = serde_yaml::from_str(&ud).unwrap();
                prop_assert_eq!(v["timezone"].as_str(), Some(timezone.as_str()));
            }
            // undercloud.conf: the same keys, one per line, whatever the values.
            match undercloud_conf::render(&lab) {
                Ok(conf) => prop_assert_eq!(key_lines(&conf), key_lines(&reference)),
                Err(e) => prop_assert!(e.to_string().contains("undercloud.conf.local_interface")),
            }
            // ssh.config: only Host lines and known keywords, one StrictHostKeyChecking each.
            match ssh_config::render(&lab, &c) {
                Ok(cfg) => {
                    let mut hosts = 0;
                    for line in cfg.lines() {
                        if line.is_empty() || line.starts_with('#') {
                            continue;
                        }
                        if let Some(h) = line.strip_prefix("Host ") {
                            prop_assert!(!h.contains(' '));
                            hosts += 1;
                            continue;
                        }
                        let kw = line.trim_start().split(' ').next().unwrap_or("");
                        prop_assert!(line.starts_with("  ") && SSH_KEYWORDS.contains(&kw), "{}", line);
                    }
                    prop_assert_eq!(cfg.matches("StrictHostKeyChecking yes").count(), hosts);
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
            // inventory: valid YAML whose hypervisor host has the address as given.
            if let Ok(inv) = inventory::render(&lab, &c) {
                let v: serde_yaml::Value = serde_yaml::from_str(&inv).unwrap();
                let hv = &v["all"]["children"]["hypervisor"]["hosts"]["virthost"];
                prop_assert_eq!(hv["ansible_host"].as_str(), Some(lab.hypervisors[0].address.as_str()));
            }
        }
    }
}
