//! The engine driving a hypervisor over SSH (a real OpenSSH sshd started by the test, the
//! real russh transport, the host key pinned in the workspace): `plan`, `run`, `status` and
//! `clean` through the real binary.

use crate::engine_support::{TestLab, text, unique};
use labwarp::host::{SshOptions, TrustPolicy};

/// The demo lab (test driver, sandbox undercloud) whose hypervisor is this machine reached
/// over SSH at 127.0.0.1:`port`: every hypervisor command goes through the SSH channel.
fn ssh_demo_lab(tag: &str, port: u16) -> TestLab {
    let name = unique(tag);
    let ws = tempfile::tempdir().expect("temp workspace");
    let file = ws.path().join("lab.yaml");
    std::fs::write(
        &file,
        format!(
            "preset: demo\nname: {name}\nhypervisors:\n  - name: virthost\n    address: 127.0.0.1\n    ssh_port: {port}\n    ssh_user: root\n    libvirt_uri: test:///default\n    distro: debian\n"
        ),
    )
    .expect("write lab file");
    TestLab {
        name,
        ws,
        file: Some(file),
        uri: "test:///default".into(),
        netns: None,
        sandbox: true,
        env: Vec::new(),
        workspace: None,
    }
}

#[test]
fn plan_run_status_clean_drive_an_ssh_hypervisor_with_a_pinned_key() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    let tmp = tempfile::tempdir().unwrap();
    let mut sshd = crate::sshd::Sshd::new(
        &tmp.path().join("sshd"),
        "127.0.0.1",
        crate::sshd::free_port(),
        None,
        "",
    );
    let lab = ssh_demo_lab("rh", sshd.port);
    // The workspace key labwarp will use, authorized on the "hypervisor".
    let opts = SshOptions::for_workspace(lab.ws(), TrustPolicy::PinnedOnly).unwrap();
    sshd.authorize(&opts.identity.public_line());
    sshd.start();
    let fp = sshd.host_fingerprint();

    // Unknown host key, no trust flag: refused before anything runs, fingerprint shown.
    let o = lab.labwarp(&["plan"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&fp), "the fingerprint to confirm: {err}");
    assert!(!lab.ws().join("sandbox").exists(), "nothing may run");

    // Trusting exactly that fingerprint pins it; the plan is surveyed over SSH.
    let o = lab.labwarp(&["plan", "--trust-host-key", &fp]);
    assert!(o.status.success(), "{}", text(&o));
    let kh = std::fs::read_to_string(lab.ws().join("known_hosts")).unwrap();
    assert!(
        kh.contains(&format!("[127.0.0.1]:{} ssh-ed25519 ", sshd.port)),
        "{kh}"
    );

    // From now on the pin alone is enough: the whole demo runs with the hypervisor's
    // commands on SSH channels (sshd logs each session).
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("run: every stage finished"),
        "{}",
        text(&o)
    );
    assert!(lab.ws().join("sandbox/pool").is_dir(), "made over SSH");
    let log = sshd.log();
    assert!(
        log.contains("Accepted publickey for root"),
        "the run went through sshd: {log}"
    );

    let o = lab.labwarp(&["status"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("finished: every stage done"), "{out}");

    let o = lab.labwarp(&["clean", "--level", "virthost", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(lab.leftovers(), Vec::<String>::new(), "left behind");

    // A changed host key is refused, naming both fingerprints; nothing runs.
    sshd.stop();
    sshd.new_host_key();
    sshd.start();
    let o = lab.labwarp(&["plan"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&fp) && err.contains(&sshd.host_fingerprint()),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// A real undercloud VM: everything inside netns `labwarp-ci` (where libvirtd runs, so the
// lab's 192.168.x network exists only there): the "hypervisor" is a real sshd on
// 127.0.0.1 in that namespace, and labwarp, ssh and ip run there too. Nothing here talks to
// a private address from the root namespace.

use crate::tiny_guest_support::{ensure_built, lease_ip, netns, require_libvirtd, virsh};
use std::path::Path;
use std::process::{Command, Output};

/// A 192.168.x.0/24 no interface in the namespace uses yet (other tests' networks).
fn free_octet() -> u8 {
    let used = Command::new("ip")
        .args(["-n", &netns(), "-4", "-o", "addr"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let start = 60 + (std::process::id() % 40) as u8;
    (0..40u8)
        .map(|i| start + i)
        .find(|o| !used.contains(&format!("192.168.{o}.")))
        .expect("a free 192.168.x.0/24 in the namespace")
}

struct VmLab {
    name: String,
    dir: tempfile::TempDir,
    file: std::path::PathBuf,
    octet: u8,
}

impl VmLab {
    fn ws(&self) -> std::path::PathBuf {
        self.dir.path().join("workspace")
    }

    /// `labwarp ARGS LAB_FILE` inside the namespace, with the stand-in and its containers
    /// on the hypervisor (the tiny guest has no podman).
    fn labwarp(&self, args: &[&str]) -> Output {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &netns(), crate::engine_support::bin()])
            .args(args)
            .env("LABWARP_OPENSTACK_STANDIN", "1")
            .env("LABWARP_STANDIN_CONTAINERS", "hypervisor")
            .env_remove("LABWARP_SANDBOX")
            .env_remove("LABWARP_FAULT");
        if !matches!(args.first(), Some(&"ssh")) {
            c.arg(&self.file);
        }
        c.output().expect("run labwarp")
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.labwarp(args);
        assert!(o.status.success(), "labwarp {args:?}:\n{}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn state(&self) -> serde_yaml::Value {
        let t = std::fs::read_to_string(self.ws().join("state.yaml")).unwrap_or_default();
        serde_yaml::from_str(&t).unwrap_or_default()
    }

    /// Names of this lab's containers on this machine (`running`: only those running).
    fn containers_where(&self, running: bool) -> Vec<String> {
        let label = format!("label=labwarp.lab={}", self.name);
        let mut args = vec!["ps", "--filter", label.as_str(), "--format", "{{.Names}}"];
        if running {
            args.extend(["--filter", "status=running"]);
        } else {
            args.push("-a");
        }
        let o = Command::new("podman")
            .args(&args)
            .output()
            .expect("podman ps");
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn containers(&self) -> Vec<String> {
        self.containers_where(false)
    }
}

/// Removes whatever the test leaves, however it ends (only this lab's objects, by name).
impl Drop for VmLab {
    fn drop(&mut self) {
        let o = self.labwarp(&["clean", "--level", "virthost", "--yes"]);
        if !o.status.success() {
            eprintln!("cleanup of {} failed:\n{}", self.name, text(&o));
        }
        for c in self.containers() {
            let _ = Command::new("podman").args(["rm", "-f", &c]).output();
        }
        let _ = Command::new("userdel")
            .args(["-r", "-f", &format!("{}s", self.name)])
            .output();
    }
}

fn vm_lab(tag: &str, port: u16, kernel: &Path, initrd: &Path) -> VmLab {
    let name = unique(tag);
    let dir = tempfile::Builder::new()
        .prefix("labwarp-uc-")
        .tempdir()
        .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let octet = free_octet();
    // Any qcow2 serves as the base image: the tiny guest boots its kernel and initrd.
    let base = dir.path().join("base.qcow2");
    let o = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&base)
        .arg("64M")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let p = |s: &str| dir.path().join(s).display().to_string();
    let file = dir.path().join("lab.yaml");
    std::fs::write(
        &file,
        format!(
            "preset: demo\nname: {name}\nworkspace: {ws}\n\
hypervisors:\n  - name: virthost\n    address: 127.0.0.1\n    ssh_port: {port}\n    ssh_user: root\n    stack_user: {name}s\n    libvirt_uri: qemu:///system\n    distro: debian\n    domain_type: qemu\n    pool_path: {pool}\n\
networks:\n  - name: external\n    bridge: {name}e\n    mode: nat\n    cidr: 192.168.{octet}.0/24\n    gateway: 192.168.{octet}.1\n    dhcp: {{start: 192.168.{octet}.10, end: 192.168.{octet}.50}}\n  - name: overcloud\n    bridge: {name}o\n    mode: isolated\n    cidr: 192.168.{p}.0/24\n    gateway: 192.168.{p}.254\n\
images:\n  cache_dir: {cache}\n  undercloud: {{source: {base}, md5: {base_md5}}}\n  overcloud_kernel: {{source: {kernel}, md5: {kernel_md5}}}\n  overcloud_initrd: {{source: {initrd}, md5: {initrd_md5}}}\n  kernel_cmdline: console=ttyS0 labwarp.ctlplane=192.168.{p}.1/24\n\
{tripleo}undercloud:\n{conf}\
overcloud:\n  vbmc: {{base_port: {vbmc}, address: 192.168.{p}.254}}\n\
# Tiny guests on a real libvirtd: installer memory rules a real undercloud would enforce.\n\
overrides: [undercloud-memory, node-memory]\n",
            p = octet + 40,
            conf = ctlplane_conf(octet + 40),
            tripleo = crate::engine_support::tripleo_tarballs(dir.path()),
            vbmc = crate::engine_support::vbmc_base_port(octet),
            ws = p("workspace"),
            pool = p("pool"),
            cache = p("cache"),
            base = base.display(),
            kernel = kernel.display(),
            initrd = initrd.display(),
            base_md5 = crate::engine_support::md5_of(&base),
            kernel_md5 = crate::engine_support::md5_of(kernel),
            initrd_md5 = crate::engine_support::md5_of(initrd),
        ),
    )
    .unwrap();
    VmLab {
        name,
        dir,
        file,
        octet,
    }
}

fn skipped(events: &str) -> (Vec<String>, Vec<String>) {
    let mut applied = Vec::new();
    let mut skipped = Vec::new();
    for l in events.lines() {
        let e: serde_json::Value = serde_json::from_str(l).expect("JSON event");
        let key = format!(
            "{}/{}",
            e["stage"].as_str().unwrap_or_default(),
            e["step"].as_str().unwrap_or_default()
        );
        match e["event"].as_str() {
            Some("step_finished") => applied.push(key),
            Some("step_skipped") => skipped.push(key),
            _ => {}
        }
    }
    (applied, skipped)
}

#[test]
fn a_real_undercloud_vm_through_an_ssh_hypervisor_lease_pinned_key_proxyjump_eject_install() {
    let _turn = crate::common::turn(module_path!());
    require_sshd!();
    require_libvirtd();
    let guest = ensure_built();
    let tmp = tempfile::tempdir().unwrap();
    let mut sshd = crate::sshd::Sshd::new(
        &tmp.path().join("sshd"),
        "127.0.0.1",
        crate::sshd::free_port(),
        Some(&netns()),
        "",
    );
    let lab = vm_lab("uv", sshd.port, &guest.kernel, &guest.initrd);
    let opts = SshOptions::for_workspace(&lab.ws(), TrustPolicy::PinnedOnly).unwrap();
    sshd.authorize(&opts.identity.public_line());
    sshd.start();
    let fp = sshd.host_fingerprint();
    let domain = format!("{}-undercloud", lab.name);
    let network = format!("{}-external", lab.name);

    // The stages up to the undercloud install, one at a time (later stages need
    // VirtualBMC and nodes, which this test is not about).
    lab.ok(&[
        "run",
        "--yes",
        "--only",
        "hypervisor",
        "--trust-host-key",
        &fp,
    ]);
    lab.ok(&["run", "--yes", "--only", "images"]);
    let out = lab.ok(&["run", "--yes", "--only", "undercloud-vm"]);
    assert!(out.contains("run: every stage finished"), "{out}");

    // The address: libvirt's lease for the undercloud's MAC, the one the network reserves
    // for it, recorded in state.yaml.
    let mac = labwarp::render::lab_vms(&labwarp::lab::load_path(&lab.file).unwrap()).unwrap()[0]
        .nics[0]
        .mac
        .clone();
    let ip = lease_ip(&network, &mac).expect("a DHCP lease for the undercloud");
    assert_eq!(ip, format!("192.168.{}.10", lab.octet));
    assert_eq!(
        lab.state()["addresses"]["undercloud"].as_str(),
        Some(ip.as_str())
    );

    // The host key: what the guest printed on its console, pinned for that address.
    let console =
        std::fs::read_to_string(lab.dir.path().join(format!("pool/{domain}-console.log"))).unwrap();
    assert!(
        console.contains("-----BEGIN SSH HOST KEY KEYS-----"),
        "{console}"
    );
    let key = console
        .lines()
        .find_map(|l| l.trim().strip_prefix("LABWARP-HOSTKEY "))
        .expect("the guest's key on the console")
        .to_string();
    let kh = std::fs::read_to_string(lab.ws().join("known_hosts")).unwrap();
    assert!(kh.lines().any(|l| l == format!("{ip} {key}")), "{kh}");

    // The seed ISO is out of the drive, live and in the definition.
    for flags in [&[][..], &["--inactive"][..]] {
        let mut args = vec!["dumpxml", domain.as_str()];
        args.extend_from_slice(flags);
        let xml = virsh(&args).unwrap();
        assert!(xml.contains("device='cdrom'"), "{xml}");
        assert!(
            !xml.contains("-cidata.iso"),
            "seed still in the drive {flags:?}:\n{xml}"
        );
    }

    // SSH as the cloud-init user, as a user would: labwarp ssh and OpenSSH with the
    // ssh.config labwarp wrote (ProxyJump through the hypervisor, pins only).
    let cfg = lab.ws().join("ssh.config");
    let cfg_s = cfg.display().to_string();
    let lab_s = lab.file.display().to_string();
    let who = lab.ok(&["ssh", "--config", &lab_s, "undercloud", "id", "-un"]);
    assert_eq!(who.trim(), "stack");
    let o = Command::new("ip")
        .args(["netns", "exec", &netns(), "ssh", "-F", &cfg_s])
        .args(["-o", "BatchMode=yes", "undercloud", "hostname"])
        .output()
        .unwrap();
    assert!(o.status.success(), "ssh -F ssh.config: {}", text(&o));
    let status = lab.ok(&["status"]);
    assert!(status.contains(&ip), "status shows the address: {status}");

    // The prep (the stand-in's tripleoclient, files under ~/.standin-root), then the
    // install: uploads and the stand-in over SSH on the VM, its output streamed into the
    // stage log; the containers in the hypervisor's podman (this machine's).
    let out = lab.ok(&["run", "--yes", "--only", "undercloud-prep"]);
    assert!(out.contains("run: every stage finished"), "{out}");
    let repo = lab.ok(&[
        "ssh",
        "--config",
        &lab_s,
        "undercloud",
        "cat",
        ".standin-root/etc/yum.repos.d/labwarp-tripleo.repo",
    ]);
    assert!(
        repo.contains("trunk.rdoproject.org/centos9-wallaby/"),
        "{repo}"
    );
    let out = lab.ok(&["run", "--yes", "--only", "undercloud-install"]);
    assert!(out.contains("run: every stage finished"), "{out}");
    let log = std::fs::read_to_string(lab.ws().join("logs/undercloud-install.log")).unwrap();
    for want in [
        "labwarp stand-in: simulating 'openstack undercloud install'",
        "runs no containers itself",
        "The Undercloud has been successfully installed",
        "starting the undercloud's containers on",
    ] {
        assert!(
            log.contains(want),
            "`{want}` missing from the stage log:\n{log}"
        );
    }
    let running = lab.containers_where(true);
    for c in ["keystone", "ironic_conductor", "mysql"] {
        assert!(
            running.contains(&format!("{}-{c}", lab.name)),
            "{c}: {running:?}"
        );
    }
    let rc = lab.ok(&["ssh", "--config", &lab_s, "undercloud", "cat", "stackrc"]);
    assert!(rc.contains("written by the labwarp stand-in"), "{rc}");

    // Rerun: every check passes, nothing is applied again.
    for stage in ["undercloud-vm", "undercloud-prep", "undercloud-install"] {
        let out = lab.ok(&["run", "--yes", "--json", "--only", stage]);
        let (applied, skipped) = skipped(&out);
        assert!(applied.is_empty(), "rerun of {stage} applied {applied:?}");
        assert!(!skipped.is_empty(), "{out}");
    }

    // The undercloud is reached through the hypervisor: without it, no way in.
    sshd.stop();
    let o = lab.labwarp(&["ssh", "--config", &lab_s, "undercloud", "true"]);
    assert_eq!(o.status.code(), Some(255), "{}", text(&o));
    sshd.start();

    // One clean leaves nothing of the lab in libvirt, podman or state.yaml.
    lab.ok(&["clean", "--level", "virthost", "--yes"]);
    let doms = virsh(&["list", "--all", "--name"]).unwrap();
    let nets = virsh(&["net-list", "--all", "--name"]).unwrap();
    assert!(
        !doms.contains(&lab.name) && !nets.contains(&lab.name),
        "{doms}{nets}"
    );
    assert!(lab.containers().is_empty(), "{:?}", lab.containers());
    assert!(lab.state()["addresses"].is_null(), "{:?}", lab.state());
}

/// The `undercloud.conf` part of a lab file whose ctlplane is 192.168.`p`.0/24 (the
/// provisioning network, where the hypervisor owns .254 for VirtualBMC).
fn ctlplane_conf(p: u8) -> String {
    format!(
        "  conf:\n    local_ip: 192.168.{p}.1/24\n    undercloud_public_host: 192.168.{p}.2\n    undercloud_admin_host: 192.168.{p}.3\n    subnet: {{cidr: 192.168.{p}.0/24, dhcp_start: 192.168.{p}.5, dhcp_end: 192.168.{p}.30, gateway: 192.168.{p}.1, inspection_start: 192.168.{p}.100, inspection_end: 192.168.{p}.120}}\n"
    )
}
