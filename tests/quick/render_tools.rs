//! Acceptance by the real tools: every rendered artefact is fed to the program that will
//! consume it (virt-xml-validate, libvirt itself, cloud-init, Python's configparser, OpenSSH,
//! ansible-inventory). A missing tool fails the test with the command that installs it.

use crate::render_labs;

use labwarp::lab::Lab;
use labwarp::render::{Artefact, RenderContext, render_all};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

const SETUP: &str = "run scripts/setup-host.sh (as root) to install and start it";

/// Runs a tool; a tool that cannot be started fails the test with the fix.
fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{program}` ({e}): {SETUP}"))
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ansible_inventory() -> PathBuf {
    let venv = std::env::var("LABWARP_VENV").unwrap_or_else(|_| "/opt/labwarp-venv".into());
    let p = Path::new(&venv).join("bin/ansible-inventory");
    assert!(p.exists(), "{} is missing: {SETUP}", p.display());
    p
}

/// Renders `lab` and writes every artefact under a fresh temp dir, with the ssh.config path
/// the inventory refers to pointing at the written file.
struct Rendered {
    dir: tempfile::TempDir,
    artefacts: Vec<Artefact>,
}

impl Rendered {
    fn new(lab: &Lab, mut ctx: RenderContext) -> Self {
        let dir = tempfile::tempdir().unwrap();
        ctx.ssh_config = dir.path().join("ssh.config");
        let artefacts = render_all(lab, &ctx).expect("lab renders");
        for a in &artefacts {
            let p = dir.path().join(&a.path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, &a.contents).unwrap();
        }
        Rendered { dir, artefacts }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn xml(&self, kind: &str) -> Vec<PathBuf> {
        let v: Vec<PathBuf> = self
            .artefacts
            .iter()
            .filter(|a| a.path.starts_with(format!("libvirt/{kind}")))
            .map(|a| self.dir.path().join(&a.path))
            .collect();
        assert!(!v.is_empty(), "no {kind} XML rendered");
        v
    }
}

fn labs() -> Vec<(&'static str, Lab, RenderContext)> {
    let m = render_labs::minimal();
    let mc = render_labs::minimal_ctx(&m);
    let l = render_labs::live_migration();
    let lc = render_labs::live_migration_ctx(&l);
    let b = render_labs::local_bridged();
    let bc = render_labs::local_bridged_ctx(&b);
    vec![
        ("minimal", m, mc),
        ("live-migration", l, lc),
        ("bridged", b, bc),
    ]
}

#[test]
fn virt_xml_validate_accepts_networks_and_domains() {
    // virt-xml-validate needs xmllint to tell domain from network XML.
    run("xmllint", &["--version"]);
    for (name, lab, ctx) in labs() {
        let r = Rendered::new(&lab, ctx);
        for kind in ["networks", "domains"] {
            for f in r.xml(kind) {
                let o = run("virt-xml-validate", &[f.to_str().unwrap()]);
                assert!(
                    o.status.success() && text(&o).contains(" validates"),
                    "{name}: {} rejected:\n{}",
                    f.display(),
                    text(&o)
                );
            }
        }
    }
}

#[test]
fn virt_xml_validate_rejects_a_broken_domain() {
    // Proves the validator really checks: a domain without <name> is invalid.
    let lab = render_labs::minimal();
    let r = Rendered::new(&lab, render_labs::minimal_ctx(&lab));
    let f = &r.xml("domains")[0];
    let xml = std::fs::read_to_string(f).unwrap();
    let start = xml.find("<name>").unwrap();
    let end = xml.find("</name>").unwrap() + "</name>".len();
    let broken = r.path("broken-domain.xml");
    std::fs::write(&broken, format!("{}{}", &xml[..start], &xml[end..])).unwrap();
    let o = run("virt-xml-validate", &[broken.to_str().unwrap(), "domain"]);
    assert!(
        !o.status.success(),
        "a domain without a name validated:\n{}",
        text(&o)
    );
}

/// `virsh -c URI "define F; undefine NAME"` (one connection: the test driver keeps no state
/// between connections).
fn virsh_define_undefine(uri: &str, define: &str, undefine: &str, file: &Path, name: &str) {
    let script = format!(
        "{define} {}; {undefine} {name}",
        labwarp::host::shell_quote(file.to_str().unwrap())
    );
    let o = run("virsh", &["-c", uri, &script]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("defined from") && out.contains("undefined"),
        "{uri}: `{script}` failed:\n{}",
        text(&o)
    );
}

#[test]
fn libvirt_test_driver_defines_every_domain_and_network() {
    for (_, lab, ctx) in labs() {
        let r = Rendered::new(&lab, ctx);
        for f in r.xml("domains") {
            let name = f.file_stem().unwrap().to_str().unwrap().to_string();
            virsh_define_undefine("test:///default", "define", "undefine", &f, &name);
            // Cleanup discovers labwarp's domains from the ownership metadata.
            let script = format!(
                "define {}; metadata {name} --uri {}; undefine {name}",
                labwarp::host::shell_quote(f.to_str().unwrap()),
                labwarp::render::LABWARP_XMLNS
            );
            let o = run("virsh", &["-c", "test:///default", &script]);
            let want = format!("lab=\"{}\"", lab.name);
            assert!(
                o.status.success() && String::from_utf8_lossy(&o.stdout).contains(&want),
                "{name}: ownership metadata not found:\n{}",
                text(&o)
            );
        }
        for f in r.xml("networks") {
            let name = f.file_stem().unwrap().to_str().unwrap().to_string();
            virsh_define_undefine("test:///default", "net-define", "net-undefine", &f, &name);
        }
    }
}

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

/// A lab name and bridge names no other test or run uses on the shared libvirtd.
fn unique_lab(mut lab: Lab) -> Lab {
    let n = UNIQUE.fetch_add(1, Ordering::SeqCst);
    let tag = format!("{:x}{n}", std::process::id() % 0xfffff);
    lab.name = format!("lwrt{tag}");
    for (i, net) in lab.networks.iter_mut().enumerate() {
        if net.mode != labwarp::lab::NetworkMode::Bridged {
            net.bridge = format!("lwr{tag}b{i}");
        }
    }
    lab
}

#[test]
fn real_libvirtd_defines_every_domain_and_network() {
    let probe = run("virsh", &["-c", "qemu:///system", "uri"]);
    assert!(
        probe.status.success(),
        "libvirtd (qemu:///system) is not running: {SETUP}\n{}",
        text(&probe)
    );
    for (_, lab, _) in labs() {
        let lab = unique_lab(lab);
        let mut ctx = RenderContext::for_lab(&lab, Path::new("/tmp/labwarp-render-test"));
        ctx.vbmc_password = Some(labwarp::lab::Secret("x".into()));
        let mut kvm = ctx.clone();
        kvm.virt_type = labwarp::render::VirtType::Kvm;
        for ctx in [ctx, kvm] {
            let r = Rendered::new(&lab, ctx);
            for f in r.xml("domains") {
                let name = f.file_stem().unwrap().to_str().unwrap().to_string();
                virsh_define_undefine("qemu:///system", "define", "undefine", &f, &name);
            }
            // A bridged network points at a host bridge that does not exist here; libvirt
            // checks that only when the network starts, so defining it is still meaningful.
            for f in r.xml("networks") {
                let name = f.file_stem().unwrap().to_str().unwrap().to_string();
                virsh_define_undefine("qemu:///system", "net-define", "net-undefine", &f, &name);
            }
        }
    }
}

#[test]
fn cloud_init_schema_accepts_user_data() {
    for (name, lab, ctx) in labs() {
        let r = Rendered::new(&lab, ctx);
        let f = r.path("cloud-init/user-data");
        let o = run(
            "cloud-init",
            &["schema", "--config-file", f.to_str().unwrap()],
        );
        assert!(
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains("Valid cloud-config"),
            "{name}: user-data rejected:\n{}",
            text(&o)
        );
        let meta: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(r.path("cloud-init/meta-data")).unwrap())
                .unwrap();
        assert_eq!(
            meta["instance-id"].as_str(),
            Some(format!("{}-undercloud", lab.name).as_str())
        );
        assert_eq!(
            meta["local-hostname"].as_str(),
            Some("undercloud.localdomain")
        );
    }
}

#[test]
fn cloud_init_schema_rejects_a_wrong_type() {
    // Proves the validator bites: `users` must be a list or string, not a number.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("user-data");
    std::fs::write(&f, "#cloud-config\nusers: 5\n").unwrap();
    let o = run(
        "cloud-init",
        &["schema", "--config-file", f.to_str().unwrap()],
    );
    assert!(!o.status.success(), "bad user-data accepted:\n{}", text(&o));
}

#[test]
fn configparser_reads_undercloud_conf() {
    let script = r#"
import configparser, json, sys
c = configparser.ConfigParser()
if c.read(sys.argv[1]) != [sys.argv[1]]:
    sys.exit("unreadable")
out = {"DEFAULT": dict(c.defaults())}
for s in c.sections():
    out[s] = {k: v for k, v in c.items(s, raw=True) if k not in c.defaults()}
print(json.dumps(out))
"#;
    for (name, lab, ctx) in labs() {
        let r = Rendered::new(&lab, ctx);
        let f = r.path("undercloud.conf");
        let o = run("python3", &["-c", script, f.to_str().unwrap()]);
        assert!(
            o.status.success(),
            "{name}: configparser failed:\n{}",
            text(&o)
        );
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let d = &v["DEFAULT"];
        let c = &lab.undercloud.conf;
        assert_eq!(d["undercloud_hostname"], c.undercloud_hostname.as_str());
        assert_eq!(d["local_ip"], c.local_ip.as_str());
        assert_eq!(d["local_interface"], c.local_interface.as_str());
        assert_eq!(
            d["undercloud_public_host"],
            c.undercloud_public_host.as_str()
        );
        assert_eq!(d["undercloud_admin_host"], c.undercloud_admin_host.as_str());
        assert_eq!(d["local_mtu"], c.local_mtu.to_string().as_str());
        assert_eq!(
            d["undercloud_nameservers"],
            c.undercloud_nameservers.join(",").as_str()
        );
        assert_eq!(d["container_cli"], "podman");
        assert_eq!(d["undercloud_debug"], "true");
        assert_eq!(d["enable_ironic"], "true");
        assert_eq!(d["subnets"], "ctlplane-subnet");
        assert_eq!(d["local_subnet"], "ctlplane-subnet");
        let s = &v["ctlplane-subnet"];
        let want = &c.subnet;
        assert_eq!(s["cidr"], want.cidr.as_str());
        assert_eq!(s["dhcp_start"], want.dhcp_start.as_str());
        assert_eq!(s["dhcp_end"], want.dhcp_end.as_str());
        assert_eq!(s["gateway"], want.gateway.as_str());
        assert_eq!(
            s["inspection_iprange"],
            format!("{},{}", want.inspection_start, want.inspection_end).as_str()
        );
        assert_eq!(s["masquerade"], "true");
        assert_eq!(
            v.as_object().unwrap().len(),
            2,
            "{name}: unexpected sections: {v}"
        );
    }
}

/// `ssh -G -F FILE HOST` as a key → value map (first value of each key).
fn ssh_g(config: &Path, host: &str) -> BTreeMap<String, String> {
    let o = run("ssh", &["-G", "-F", config.to_str().unwrap(), host]);
    assert!(o.status.success(), "ssh -G {host} failed:\n{}", text(&o));
    let mut m = BTreeMap::new();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        if let Some((k, v)) = line.split_once(' ') {
            m.entry(k.to_string()).or_insert_with(|| v.to_string());
        }
    }
    m
}

#[test]
fn openssh_resolves_every_host_as_intended() {
    for (name, lab, ctx) in labs() {
        let key = ctx.ssh_private_key.display().to_string();
        let known = ctx.known_hosts.display().to_string();
        let nodes = ctx.node_addresses.clone();
        let uc_ip = ctx.undercloud_ip.expect("undercloud address").to_string();
        let r = Rendered::new(&lab, ctx);
        let cfg = r.path("ssh.config");
        let hv = &lab.hypervisors[0];
        let local = hv.address == "local";
        // (alias, hostname, user, port, proxyjump)
        let mut want: Vec<(String, String, String, String, Option<String>)> = Vec::new();
        if !local {
            want.push((
                hv.name.clone(),
                hv.address.clone(),
                hv.ssh_user.clone(),
                hv.ssh_port.to_string(),
                None,
            ));
            want.push((
                format!("{}-stack", hv.name),
                hv.address.clone(),
                hv.stack_user.clone(),
                hv.ssh_port.to_string(),
                None,
            ));
        }
        let jump = (!local).then(|| hv.name.clone());
        let uc = lab.undercloud.vm.name.clone();
        want.push((
            uc.clone(),
            uc_ip.clone(),
            lab.undercloud.cloud_init.user.clone(),
            "22".into(),
            jump.clone(),
        ));
        want.push((
            format!("{uc}-root"),
            uc_ip,
            "root".into(),
            "22".into(),
            jump,
        ));
        for (node, addr) in &nodes {
            want.push((
                node.clone(),
                addr.clone(),
                "tripleo-admin".into(),
                "22".into(),
                Some(uc.clone()),
            ));
        }
        for (alias, hostname, user, port, proxy) in want {
            let g = ssh_g(&cfg, &alias);
            assert_eq!(g["hostname"], hostname, "{name} {alias}");
            assert_eq!(g["user"], user, "{name} {alias}");
            assert_eq!(g["port"], port, "{name} {alias}");
            assert_eq!(g["identityfile"], key, "{name} {alias}");
            assert_eq!(g["identitiesonly"], "yes", "{name} {alias}");
            assert_eq!(g["userknownhostsfile"], known, "{name} {alias}");
            assert_eq!(g["stricthostkeychecking"], "true", "{name} {alias}");
            assert_eq!(g.get("proxyjump"), proxy.as_ref(), "{name} {alias}");
        }
    }
}

#[test]
fn ansible_inventory_lists_groups_hosts_and_vars() {
    let tool = ansible_inventory();
    for (name, lab, ctx) in labs() {
        let key = ctx.ssh_private_key.display().to_string();
        let nodes = ctx.node_addresses.clone();
        let uc_ip = ctx.undercloud_ip.expect("undercloud address").to_string();
        let share = labwarp::render::nova_nfs::nfs_share(&lab, &ctx).unwrap();
        let uc = lab.undercloud.vm.name.clone();
        let r = Rendered::new(&lab, ctx);
        let inv = r.path("inventory.yaml");
        let o = Command::new(&tool)
            .args(["-i", inv.to_str().unwrap(), "--list"])
            .env("ANSIBLE_LOCAL_TEMP", r.path("ansible-tmp"))
            .env("ANSIBLE_INVENTORY_UNPARSED_FAILED", "true")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}: {SETUP}", tool.display()));
        assert!(
            o.status.success(),
            "{name}: ansible-inventory failed:\n{}",
            text(&o)
        );
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let hosts = |g: &str| -> Vec<String> {
            v[g]["hosts"]
                .as_array()
                .map(|a| a.iter().map(|h| h.as_str().unwrap().to_string()).collect())
                .unwrap_or_default()
        };
        let children = |g: &str| -> Vec<String> {
            v[g]["children"]
                .as_array()
                .map(|a| a.iter().map(|h| h.as_str().unwrap().to_string()).collect())
                .unwrap_or_default()
        };
        let hv = &lab.hypervisors[0];
        assert_eq!(hosts("hypervisor"), vec![hv.name.clone()], "{name}");
        assert_eq!(hosts("undercloud"), vec![uc.clone()], "{name}");
        let mut oc = children("overcloud");
        oc.sort();
        assert_eq!(oc, ["ceph", "compute", "controller", "custom"], "{name}");
        for node in lab.nodes() {
            let group = node.group.role.as_str();
            assert!(
                hosts(group).contains(&node.name),
                "{name}: {} not in {group}",
                node.name
            );
        }
        let vars = &v["_meta"]["hostvars"];
        let ucv = &vars[&uc];
        assert_eq!(ucv["ansible_host"], uc_ip.as_str(), "{name}");
        assert_eq!(ucv["ansible_user"], lab.undercloud.cloud_init.user.as_str());
        assert_eq!(ucv["ansible_port"], 22);
        assert_eq!(ucv["ansible_ssh_private_key_file"], key.as_str());
        let args = ucv["ansible_ssh_common_args"].as_str().unwrap();
        assert!(args.contains("StrictHostKeyChecking=yes"), "{name}: {args}");
        assert!(args.contains("UserKnownHostsFile="), "{name}: {args}");
        if hv.address == "local" {
            assert_eq!(vars[&hv.name]["ansible_connection"], "local");
            assert!(!args.contains("ProxyJump"), "{name}: {args}");
        } else {
            assert_eq!(vars[&hv.name]["ansible_host"], hv.address.as_str());
            assert_eq!(vars[&hv.name]["ansible_user"], hv.ssh_user.as_str());
            assert_eq!(vars[&hv.name]["ansible_port"], hv.ssh_port);
            assert!(
                args.contains(&format!("ProxyJump={}", hv.name)),
                "{name}: {args}"
            );
        }
        for node in lab.nodes() {
            let nv = &vars[&node.name];
            assert_eq!(nv["ansible_user"], "tripleo-admin");
            let a = nv["ansible_ssh_common_args"].as_str().unwrap();
            assert!(a.contains(&format!("ProxyJump={uc}")), "{name}: {a}");
            match nodes.get(&node.name) {
                Some(addr) => assert_eq!(nv["ansible_host"], addr.as_str()),
                None => assert!(nv.get("ansible_host").is_none()),
            }
        }
        for node in lab.nodes() {
            let got = &vars[&node.name]["labwarp_nova_nfs_share"];
            if lab.overcloud.live_migration.enabled {
                assert_eq!(got, share.as_str(), "{name} {}", node.name);
            } else {
                assert!(got.is_null(), "{name}: NFS vars without live migration");
            }
        }
    }
}

/// The inventory's ssh arguments, as Ansible would split them (shlex), run through `ssh -G`:
/// the jump host resolves through ssh.config even when paths contain spaces.
#[test]
fn inventory_ssh_args_resolve_through_openssh() {
    let lab = render_labs::live_migration();
    let ctx = render_labs::live_migration_ctx(&lab);
    let r = Rendered::new(&lab, ctx.clone());
    let inv: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(r.path("inventory.yaml")).unwrap()).unwrap();
    let host = &inv["all"]["children"]["overcloud"]["children"]["compute"]["hosts"]["compute-1"];
    let args = host["ansible_ssh_common_args"].as_str().unwrap();
    let script = "import shlex, sys; print('\\0'.join(shlex.split(sys.argv[1])))";
    let o = run("python3", &["-c", script, args]);
    assert!(o.status.success(), "{}", text(&o));
    let words: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .trim_end()
        .split('\0')
        .map(String::from)
        .collect();
    let mut argv: Vec<&str> = vec!["-G"];
    argv.extend(words.iter().map(String::as_str));
    argv.extend([
        "-l",
        "tripleo-admin",
        host["ansible_host"].as_str().unwrap(),
    ]);
    let o = run("ssh", &argv);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.lines().any(|l| l == "proxyjump undercloud"), "{out}");
    assert!(out.lines().any(|l| l == "hostname 192.168.24.12"), "{out}");
    assert!(
        out.lines()
            .any(|l| l == format!("userknownhostsfile {}", ctx.known_hosts.display())),
        "{out}"
    );
    // The jump host itself, resolved from the same ssh.config.
    let g = ssh_g(&r.path("ssh.config"), "undercloud");
    assert_eq!(g["proxyjump"], "virthost");
}
