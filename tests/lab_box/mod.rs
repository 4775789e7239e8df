//! The lab in a box: this machine as the hypervisor, reached over SSH (a real OpenSSH sshd on
//! 127.0.0.1 inside the network namespace libvirtd runs in), the tiny guest as the undercloud
//! image, a unique lab name and subnet, and cleanup on drop even when the test fails.
//!
//! Everything that talks to the lab (labwarp, ssh, ipmitool, ansible-inventory) runs inside
//! that namespace with `ip netns exec`: the lab's 192.168.x networks exist only there.
#![allow(dead_code)]

pub mod findings;
pub mod migration;
pub mod nfs_rig;
pub mod report;

use crate::engine_support::{TestLab, text, unique};
use crate::sshd::{Sshd, free_port};
use crate::tiny_guest_support::{TinyGuest, ensure_built, netns, virsh};
use labwarp::host::{SshOptions, TrustPolicy};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The box: dropped in field order after `Drop for LabBox` ran labwarp's clean and the sweep.
pub struct LabBox {
    /// The NFS server of the lab's live migration (first: stopped before the temp dir goes).
    pub nfs: nfs_rig::NfsRig,
    pub lab: TestLab,
    pub sshd: Sshd,
    pub tmp: tempfile::TempDir,
    pub ns: String,
    pub octet: u8,
    pub guest: TinyGuest,
    /// How many VirtualBMC ports the lab uses, from 6230.
    pub nodes: Vec<String>,
}

/// `ip netns exec NS PROGRAM`.
pub fn in_ns(ns: &str, program: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, program]);
    c
}

pub fn out(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (run scripts/setup-host.sh)"))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A /24 in 192.168.160-199 that no libvirt network and no address in `ns` uses yet.
fn free_octet(ns: &str) -> u8 {
    let mut used = String::new();
    if let Ok(names) = virsh(&["net-list", "--all", "--name"]) {
        for n in names.lines().map(str::trim).filter(|n| !n.is_empty()) {
            used.push_str(&virsh(&["net-dumpxml", n]).unwrap_or_default());
        }
    }
    used.push_str(&stdout(&out(
        Command::new("ip").args(["-n", ns, "-4", "addr"])
    )));
    let start = (std::process::id() % 40) as u8;
    (0..40u8)
        .map(|i| 160 + (start + i) % 40)
        .find(|o| !used.contains(&format!("192.168.{o}.")))
        .expect("every 192.168.160-199 subnet is in use in the namespace")
}

impl LabBox {
    /// The hypervisor's address on the provisioning network, where the BMCs listen.
    pub fn bmc_address(&self) -> String {
        format!("192.168.{}.254", provisioning_octet(self.octet))
    }

    pub fn new() -> LabBox {
        let ns = netns();
        let guest = ensure_built();
        let tmp = tempfile::Builder::new()
            .prefix("labwarp-box-")
            .tempdir()
            .expect("temp dir");
        let ws = tempfile::Builder::new()
            .prefix("labwarp-box-ws-")
            .tempdir()
            .expect("temp workspace");
        let name = unique("box");
        // The workspace key labwarp will use, created first so the hypervisor's sshd trusts it.
        let opts = SshOptions::for_workspace(ws.path(), TrustPolicy::PinnedOnly)
            .expect("workspace SSH key");
        let mut sshd = Sshd::new(
            &tmp.path().join("sshd"),
            "127.0.0.1",
            free_port(),
            Some(&ns),
            "",
        );
        sshd.authorize(&opts.identity.public_line());
        sshd.start();
        // The tiny guest boots its kernel and initrd directly; its disk starts empty.
        let base = tmp.path().join("undercloud-base.qcow2");
        let o = out(Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&base)
            .arg("64M"));
        assert!(o.status.success(), "qemu-img: {}", text(&o));
        let octet = free_octet(&ns);
        let file = tmp.path().join("lab.yaml");
        std::fs::write(
            &file,
            lab_yaml(
                &name,
                ws.path(),
                tmp.path(),
                sshd.port,
                octet,
                &guest,
                &base,
            ),
        )
        .expect("write lab.yaml");
        let mut lab = TestLab::real(name, ws, file, &ns);
        // TripleO cannot run in the tiny guest: labwarp's stand-in `openstack` does.
        lab.env
            .push(("LABWARP_OPENSTACK_STANDIN".into(), "1".into()));
        // The tiny guest has no podman: the stand-in's containers run in the hypervisor's
        // podman (this machine), which is where the podman pane reads them from.
        lab.env
            .push(("LABWARP_STANDIN_CONTAINERS".into(), "hypervisor".into()));
        // Test rig: no ironic under the stand-in, so labwarp plays its PXE part and the nodes
        // network-boot the tiny guest from the undercloud, which serves DHCP and HTTP on the
        // provisioning network (`labwarp.dhcp=` below).
        lab.env.push(("LABWARP_NODES_NETBOOT".into(), "1".into()));
        // Test rig: live migration's NFS server is ganesha on the hypervisor's provisioning
        // address, and its readiness probes what the tiny computes answer (steps/migration_rig).
        lab.env.push(("LABWARP_MIGRATION_RIG".into(), "1".into()));
        let p = provisioning_octet(octet);
        let nfs =
            nfs_rig::NfsRig::start(&ns, tmp.path(), EXPORT_PATH, &format!("192.168.{p}.0/24"));
        let nodes = vec![
            "controller-0".to_string(),
            "compute-0".to_string(),
            "compute-1".to_string(),
        ];
        LabBox {
            nfs,
            lab,
            sshd,
            tmp,
            ns,
            octet,
            guest,
            nodes,
        }
    }

    pub fn ws(&self) -> &Path {
        self.lab.ws()
    }

    pub fn file(&self) -> PathBuf {
        self.lab.file.clone().expect("lab file")
    }

    pub fn domain(&self, vm: &str) -> String {
        format!("{}-{vm}", self.lab.name)
    }

    /// The serial console log labwarp's domain XML has libvirt write for `domain`.
    pub fn console_log(&self, domain: &str) -> PathBuf {
        self.tmp
            .path()
            .join("pool")
            .join(format!("{domain}-console.log"))
    }

    /// Everything of the lab libvirt still has (domains, networks, pools), by name prefix.
    pub fn libvirt_leftovers(&self) -> Vec<String> {
        self.lab.libvirt_objects().into_iter().collect()
    }

    /// Bridges of the lab still present in the namespace.
    pub fn bridges_left(&self) -> Vec<String> {
        let o = out(Command::new("ip").args(["-n", &self.ns, "-o", "link"]));
        stdout(&o)
            .lines()
            .filter_map(|l| l.split(':').nth(1).map(|s| s.trim().to_string()))
            .filter(|n| n.starts_with(&self.lab.name))
            .collect()
    }

    /// UDP sockets bound in the namespace on the lab's VirtualBMC ports.
    pub fn vbmc_listeners(&self) -> Vec<String> {
        let o = out(in_ns(&self.ns, "ss").args(["-H", "-uln"]));
        let ports: Vec<String> = (0..self.nodes.len())
            .map(|i| format!(":{}", 6230 + i))
            .collect();
        stdout(&o)
            .lines()
            .filter(|l| {
                l.split_whitespace()
                    .any(|w| ports.iter().any(|p| w.ends_with(p.as_str())))
            })
            .map(str::to_string)
            .collect()
    }
}

impl Drop for LabBox {
    fn drop(&mut self) {
        // labwarp's own cleanup first (while the hypervisor's sshd still runs), then a sweep
        // of anything with the lab's prefix that it left, said loudly: that is a cleanup bug.
        let t = std::time::Instant::now();
        let o = self.lab.labwarp(&["clean", "--level", "all", "--yes"]);
        {
            use std::io::Write;
            let _ = std::io::stderr().lock().write_all(
                format!(
                    "lab in a box: labwarp clean --level all {} in {:.1} s\n",
                    if o.status.success() { "done" } else { "FAILED" },
                    t.elapsed().as_secs_f64()
                )
                .as_bytes(),
            );
        }
        let mut swept = Vec::new();
        for obj in self.libvirt_leftovers() {
            let mut w = obj.split_whitespace();
            let (kind, name) = (w.next().unwrap_or(""), w.next().unwrap_or(""));
            let cmds: &[&[&str]] = match kind {
                "domain" => &[
                    &["destroy", name],
                    &["undefine", name, "--snapshots-metadata"],
                ],
                "network" => &[&["net-destroy", name], &["net-undefine", name]],
                "pool" => &[&["pool-destroy", name], &["pool-undefine", name]],
                _ => &[],
            };
            for c in cmds {
                let _ = virsh(c);
            }
            swept.push(obj);
        }
        if !swept.is_empty() {
            use std::io::Write;
            let _ = std::io::stderr().lock().write_all(
                format!(
                    "\n!!! lab in a box: labwarp clean left these, swept by the test: {swept:?}\n"
                )
                .as_bytes(),
            );
        }
    }
}

fn lab_yaml(
    name: &str,
    ws: &Path,
    tmp: &Path,
    port: u16,
    octet: u8,
    guest: &TinyGuest,
    base: &Path,
) -> String {
    format!(
        "# The lab in a box (tests/journeys/lab_in_a_box.rs): this machine over SSH, the tiny guest.
name: {name}
workspace: {ws}
hypervisors:
  - name: virthost
    address: 127.0.0.1
    ssh_user: root
    ssh_port: {port}
    stack_user: {name}s
    libvirt_uri: qemu:///system
    distro: debian
    pool_path: {tmp}/pool
    domain_type: auto
networks:
  - name: external
    bridge: {name}e
    mode: nat
    cidr: 192.168.{octet}.0/24
    gateway: 192.168.{octet}.1
    dhcp: {{start: 192.168.{octet}.10, end: 192.168.{octet}.50}}
  - name: overcloud
    bridge: {name}o
    mode: isolated
    cidr: 192.168.{p}.0/24
    gateway: 192.168.{p}.254
images:
  cache_dir: {tmp}/cache
  undercloud: {{source: {base}, md5: {base_md5}}}
  overcloud_kernel: {{source: {kernel}, md5: {kernel_md5}}}
  overcloud_initrd: {{source: {initrd}, md5: {initrd_md5}}}
  # labwarp.ctlplane: the tiny guest puts local_ip on eth1, as TripleO's install would;
  # labwarp.dhcp: it serves DHCP (the ctlplane's dhcp_start-dhcp_end) and HTTP boot there,
  # as ironic would.
  kernel_cmdline: console=ttyS0 labwarp.ctlplane=192.168.{p}.1/24 labwarp.dhcp=192.168.{p}.5-192.168.{p}.30
{tripleo}undercloud:
  vm:
    name: undercloud
    vcpus: 1
    memory_mib: 256
    disks: [{{size_gib: 1}}]
    nics: [{{network: external}}, {{network: overcloud}}]
{conf}overcloud:
  nodes:
    - {{role: controller, count: 1, vcpus: 1, memory_mib: 256, disks: [{{size_gib: 1}}], networks: [overcloud]}}
    - {{role: compute, count: 2, vcpus: 1, memory_mib: 256, disks: [{{size_gib: 1}}], networks: [overcloud]}}
  vbmc: {{base_port: 6230, address: 192.168.{p}.254, username: admin}}
  # The NFS server is the test rig's ganesha on the hypervisor's provisioning address.
  live_migration: {{enabled: true, nfs_server: 192.168.{p}.254, export_path: {EXPORT_PATH}}}
# A tiny guest stands in for the undercloud and the nodes: installer memory rules a real
# undercloud would enforce, knowingly broken here.
overrides: [undercloud-memory, node-memory]
",
        p = provisioning_octet(octet),
        conf = ctlplane_conf(provisioning_octet(octet)),
        tripleo = crate::engine_support::tripleo_tarballs(tmp),
        ws = ws.display(),
        tmp = tmp.display(),
        base = base.display(),
        kernel = guest.kernel.display(),
        initrd = guest.initrd.display(),
        base_md5 = crate::engine_support::md5_of(base),
        kernel_md5 = crate::engine_support::md5_of(&guest.kernel),
        initrd_md5 = crate::engine_support::md5_of(&guest.initrd),
    )
}

/// The share's path as the computes mount it (the NFSv4 path the rig's ganesha exports).
pub const EXPORT_PATH: &str = "/export/nova";

/// The provisioning network's /24 beside a lab's external one (40 higher, in 200-239 for
/// the box): the hypervisor owns .254 there (VirtualBMC), the undercloud .1.
pub fn provisioning_octet(external: u8) -> u8 {
    external.wrapping_add(40)
}

/// The `undercloud.conf` part of a lab file (under `undercloud:`) whose ctlplane is
/// 192.168.`p`.0/24, with the VirtualBMC address .254 outside every range of it.
pub fn ctlplane_conf(p: u8) -> String {
    format!(
        "  conf:\n    local_ip: 192.168.{p}.1/24\n    undercloud_public_host: 192.168.{p}.2\n    undercloud_admin_host: 192.168.{p}.3\n    subnet: {{cidr: 192.168.{p}.0/24, dhcp_start: 192.168.{p}.5, dhcp_end: 192.168.{p}.30, gateway: 192.168.{p}.1, inspection_start: 192.168.{p}.100, inspection_end: 192.168.{p}.120}}\n"
    )
}
