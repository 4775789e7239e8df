//! Parsers and pure evaluations fed with command output captured on this machine
//! (tests/fixtures/commands) or shaped exactly like it: capabilities XML, `ip -j`, `ss`,
//! session-versus-system confusion, CIDR overlap.

use labwarp::checks::libvirt::{self, LibvirtFacts, other_uri};
use labwarp::checks::network::{self, NetworkFacts, parse_addrs, parse_routes, parse_udp_ports};
use labwarp::checks::virtualization::domain_types;
use labwarp::checks::{CheckContext, CheckOptions, CmdRun, FileRead, Severity};
use labwarp::checks::{apparmor, capacity};
use labwarp::lab::Lab;
use pretty_assertions::assert_eq;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/commands")
            .join(name),
    )
    .unwrap()
}

fn ran(shown: &str, stdout: &str) -> CmdRun {
    CmdRun::Ran {
        shown: shown.into(),
        code: Some(0),
        stdout: stdout.into(),
        stderr: String::new(),
    }
}

#[test]
fn capabilities_of_this_machine_list_kvm_and_qemu() {
    let xml = fixture("virsh-capabilities-kvm-pvm.xml");
    assert_eq!(domain_types(&xml), vec!["kvm", "qemu"]);
    assert_eq!(
        domain_types(
            "<capabilities><guest><arch name='x86_64'><domain type='test'/></arch></guest></capabilities>"
        ),
        vec!["test"]
    );
    assert!(domain_types("not xml <<<").is_empty());
}

#[test]
fn routes_and_addresses_of_this_machine() {
    let routes = parse_routes(&fixture("ip-route.json"));
    let nets: Vec<String> = routes.iter().map(|r| r.net.to_string()).collect();
    // default, local, broadcast and multicast entries are not networks the lab can clash with.
    assert_eq!(nets, vec!["192.0.2.0/24", "fd00::/64", "fe80::/64"]);
    let addrs = parse_addrs(&fixture("ip-addr.json"));
    assert!(
        addrs
            .iter()
            .any(|a| a.net.to_string() == "127.0.0.0/8" && a.dev == "lo")
    );
    assert!(
        addrs
            .iter()
            .any(|a| a.net.to_string() == "192.0.2.0/24" && a.dev == "eth0")
    );
}

#[test]
fn ss_lines_give_ports() {
    let out = "UNCONN 0      0          127.0.0.1:6230       0.0.0.0:*          \n\
               UNCONN 0      0               [::]:623          [::]:*          \n";
    let ports: Vec<u16> = parse_udp_ports(out).into_iter().map(|(p, _)| p).collect();
    assert_eq!(ports, vec![6230, 623]);
}

#[test]
fn other_uri_swaps_system_and_session() {
    assert_eq!(
        other_uri("qemu:///system").as_deref(),
        Some("qemu:///session")
    );
    assert_eq!(
        other_uri("qemu:///session").as_deref(),
        Some("qemu:///system")
    );
    assert_eq!(
        other_uri("qemu+ssh://root@virthost/system?keyfile=/k").as_deref(),
        Some("qemu+ssh://root@virthost/session?keyfile=/k")
    );
    assert_eq!(
        other_uri("qemu:///session?socket=/run/user/1000/libvirt/libvirt-sock").as_deref(),
        Some("qemu:///system")
    );
    assert_eq!(other_uri("test:///default"), None);
}

fn lab_ctx() -> CheckContext {
    let lab = Lab {
        name: "oooq".into(),
        ..Lab::default()
    };
    CheckContext::for_lab(lab, CheckOptions::default())
}

fn reachable_facts() -> LibvirtFacts {
    LibvirtFacts {
        uri: "qemu:///system".into(),
        uri_cmd: ran("virsh -c qemu:///system uri", "qemu:///system\n"),
        version: ran(
            "virsh -c qemu:///system version",
            "Compiled against library: libvirt 9.0.0\nUsing library: libvirt 9.0.0\nUsing API: QEMU 9.0.0\nRunning hypervisor: QEMU 7.2.22\n",
        ),
        capabilities: ran(
            "virsh -c qemu:///system capabilities",
            &fixture("virsh-capabilities-kvm-pvm.xml"),
        ),
        networks: ran("virsh -c qemu:///system net-list --all --name", "\n"),
        pools: ran(
            "virsh -c qemu:///system pool-list --all --name",
            "default\n\n",
        ),
        domains: ran("virsh -c qemu:///system list --all --name", "other-vm\n\n"),
        other_uri: Some("qemu:///session".into()),
        other_domains: ran(
            "env LIBVIRT_AUTOSTART=0 virsh -c qemu:///session list --all --name",
            "oooq-undercloud\noooq-controller-0\nunrelated\n\n",
        ),
    }
}

#[test]
fn lab_domains_under_the_other_uri_are_flagged() {
    let ctx = lab_ctx();
    let found = libvirt::evaluate(&reachable_facts(), &ctx);
    let get = |id: &str| found.iter().find(|f| f.id == id).unwrap();
    assert_eq!(get("libvirt.reachable").severity, Severity::Ok);
    assert_eq!(
        get("libvirt.version").title,
        "libvirt 9.0.0 — Running hypervisor: QEMU 7.2.22"
    );
    assert_eq!(get("libvirt.tcg").severity, Severity::Ok);
    assert_eq!(
        get("libvirt.default-network").title,
        "No default network (labwarp creates its own; tools expecting `default` will not find it)"
    );
    assert_eq!(
        get("libvirt.default-pool").title,
        "The default storage pool exists"
    );
    assert_eq!(
        get("libvirt.lab-domains").title,
        "No domain of lab oooq exists yet under qemu:///system"
    );
    let other = get("libvirt.other-uri");
    assert_eq!(other.severity, Severity::Warn);
    assert_eq!(
        other.title,
        "Domains of lab oooq live under qemu:///session, not under the lab's qemu:///system: oooq-undercloud, oooq-controller-0"
    );
    assert!(other.fix.as_ref().unwrap().is_manual());

    // Nothing of the lab's under the other URI: ok. Its daemon down: said as such.
    let mut facts = reachable_facts();
    facts.other_domains = ran("x", "unrelated\n");
    let found = libvirt::evaluate(&facts, &ctx);
    assert_eq!(
        found
            .iter()
            .find(|f| f.id == "libvirt.other-uri")
            .unwrap()
            .severity,
        Severity::Ok
    );
    facts.other_domains = CmdRun::Ran {
        shown: "env LIBVIRT_AUTOSTART=0 virsh -c qemu:///session list --all --name".into(),
        code: Some(1),
        stdout: String::new(),
        stderr: "error: failed to connect to the hypervisor\n".into(),
    };
    let found = libvirt::evaluate(&facts, &ctx);
    let other = found.iter().find(|f| f.id == "libvirt.other-uri").unwrap();
    assert_eq!(other.severity, Severity::Info);
    assert!(
        other
            .evidence
            .ends_with("error: failed to connect to the hypervisor\n(exit status 1)")
    );
}

#[test]
fn unreachable_libvirt_is_a_failure_with_a_fix() {
    let facts = LibvirtFacts {
        uri: "qemu:///system".into(),
        uri_cmd: CmdRun::Ran {
            shown: "virsh -c qemu:///system uri".into(),
            code: Some(1),
            stdout: String::new(),
            stderr: "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory\n".into(),
        },
        ..LibvirtFacts::default()
    };
    let found = libvirt::evaluate(&facts, &lab_ctx());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::Fail);
    assert!(
        found[0]
            .evidence
            .contains("libvirt-sock': No such file or directory")
    );
}

#[test]
fn network_overlap_bridges_and_vbmc_ports() {
    let routes = r#"[{"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]},
        {"dst":"192.168.23.0/24","dev":"virbr7","protocol":"kernel","scope":"link","prefsrc":"192.168.23.1","flags":[]},
        {"dst":"192.168.0.0/16","dev":"tun0","flags":[]}]"#;
    let links = r#"[{"ifindex":1,"ifname":"lo"},{"ifindex":2,"ifname":"eth0"},{"ifindex":9,"ifname":"brovc"}]"#;
    let facts = NetworkFacts {
        routes: ran("ip -j route show table all", routes),
        addrs: ran("ip -j addr", "[]"),
        links: ran("ip -j link", links),
        udp: ran("ss -H -uln", "UNCONN 0 0 0.0.0.0:6231 0.0.0.0:*\n"),
        ip_forward: FileRead::Content("1\n".into()),
        bridge_nf: vec![(
            "net.bridge.bridge-nf-call-iptables".into(),
            FileRead::Missing,
        )],
    };
    let found = network::evaluate(&facts, &lab_ctx());
    let get = |id: &str| {
        found
            .iter()
            .find(|f| f.id == id)
            .unwrap_or_else(|| panic!("{id}"))
    };
    let ov = get("net.overlap.external");
    assert_eq!(ov.severity, Severity::Fail);
    assert_eq!(
        ov.evidence,
        "route 192.168.23.0/24 dev virbr7\nroute 192.168.0.0/16 dev tun0"
    );
    // The fix names a free range of the same size (all of 192.168/16 is routed: the next
    // private block), as `labwarp run --fix` would write it.
    let fix = &ov.fix.as_ref().unwrap().description;
    assert!(
        fix.contains("networks[external].cidr") && fix.contains("172.16.0.0/24 is free"),
        "{fix}"
    );
    assert_eq!(get("net.bridge.overcloud").severity, Severity::Warn);
    assert_eq!(get("net.bridge.external").severity, Severity::Ok);
    let vbmc = get("net.vbmc-ports");
    assert_eq!(vbmc.severity, Severity::Warn);
    assert_eq!(
        vbmc.evidence,
        "compute-0 (port 6231): UNCONN 0 0 0.0.0.0:6231 0.0.0.0:*"
    );
    assert_eq!(get("net.ip-forward").severity, Severity::Ok);
    assert_eq!(get("net.bridge-nf").severity, Severity::Ok);

    // With `ss -p`'s owner: another process is a failure naming it; vbmcd is information.
    let with_owner = |owner: &str| {
        let mut f = facts.clone();
        f.udp = ran(
            "ss -H -ulnp",
            &format!("UNCONN 0 0 0.0.0.0:6231 0.0.0.0:* users:((\"{owner}\",pid=4242,fd=5))\n"),
        );
        network::evaluate(&f, &lab_ctx())
            .into_iter()
            .find(|x| x.id == "net.vbmc-ports")
            .unwrap()
    };
    let other = with_owner("dnsmasq");
    assert_eq!(other.severity, Severity::Fail);
    assert_eq!(
        other.title,
        "VirtualBMC UDP ports taken by another process: dnsmasq (pid 4242)"
    );
    assert_eq!(with_owner("vbmcd").severity, Severity::Info);

    // The lab's own bridge carrying its CIDR (an earlier run) is not a clash.
    let mut lab = Lab::default();
    lab.networks[0].bridge = "virbr7".into();
    let ctx = CheckContext::for_lab(lab, CheckOptions::default());
    let found = network::evaluate(&facts, &ctx);
    let ov = found
        .iter()
        .find(|f| f.id == "net.overlap.external")
        .unwrap();
    assert_eq!(ov.evidence, "route 192.168.0.0/16 dev tun0");
}

#[test]
fn bridge_nf_fix_is_exact() {
    let facts = NetworkFacts {
        ip_forward: FileRead::Content("0\n".into()),
        bridge_nf: vec![
            (
                "net.bridge.bridge-nf-call-iptables".into(),
                FileRead::Content("1\n".into()),
            ),
            (
                "net.bridge.bridge-nf-call-ip6tables".into(),
                FileRead::Content("0\n".into()),
            ),
        ],
        ..NetworkFacts::default()
    };
    let found = network::evaluate(&facts, &CheckContext::local(CheckOptions::default()));
    let nf = found.iter().find(|f| f.id == "net.bridge-nf").unwrap();
    assert_eq!(nf.severity, Severity::Warn);
    let fix = nf.fix.as_ref().unwrap();
    assert_eq!(
        fix.commands,
        vec![vec![
            "sysctl".to_string(),
            "-w".into(),
            "net.bridge.bridge-nf-call-iptables=0".into()
        ]]
    );
    assert_eq!(
        fix.edits[0].path.to_str(),
        Some("/etc/sysctl.d/90-labwarp-bridge-nf.conf")
    );
    assert_eq!(
        fix.edits[0].content,
        "# Written by labwarp check --fix\nnet.bridge.bridge-nf-call-iptables = 0\n"
    );
}

#[test]
fn small_parsers() {
    assert_eq!(
        apparmor::parse_profiles(
            "libvirtd (enforce)\nlibvirtd//qemu_bridge_helper (enforce)\n/usr/sbin/chronyd (complain)\n"
        ),
        vec![
            ("libvirtd".to_string(), "enforce".to_string()),
            ("libvirtd//qemu_bridge_helper".into(), "enforce".into()),
            ("/usr/sbin/chronyd".into(), "complain".into()),
        ]
    );
    assert!(apparmor::aa_denies(
        std::path::Path::new("/usr/lib/images/a.qcow2"),
        false
    ));
    assert!(apparmor::aa_denies(
        std::path::Path::new("/boot/vmlinuz"),
        false
    ));
    assert!(!apparmor::aa_denies(
        std::path::Path::new("/boot/vmlinuz"),
        true
    ));
    assert!(!apparmor::aa_denies(
        std::path::Path::new("/var/lib/libvirt/images/a.qcow2"),
        false
    ));
    assert_eq!(
        capacity::df_available(
            "Filesystem 1-blocks Used Available Capacity Mounted on\n/dev/vda 270553174016 21039120384 76533628928 22% /\n"
        ),
        Some(76533628928)
    );
    assert_eq!(
        capacity::meminfo_kb(
            "MemTotal:       24683656 kB\nMemAvailable:   23699900 kB\n",
            "MemAvailable"
        ),
        Some(23699900)
    );
    let t = capacity::totals(&Lab::default());
    assert_eq!(
        (t.memory_mib, t.vcpus, t.disk_gib, t.vms),
        (12288 + 2 * 8192, 6 + 2 + 2, 150, 3)
    );
}
