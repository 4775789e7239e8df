//! The rendered artefacts, end to end on the real libvirtd (inside netns `labwarp-ci`, where
//! the lab's 192.168.x networks live): the rendered network XML (NAT, DHCP with the
//! undercloud's fixed host entry, no-ping) and domain XML (direct kernel boot, virtio-scsi
//! cidata cdrom, pty serial logged to a file) boot the tiny test guest with the rendered
//! cloud-init seed; then the rendered ssh.config and Ansible inventory really log in, with the
//! host key pinned from the console (StrictHostKeyChecking stays on).

use crate::tiny_guest_support::{ensure_built, lease_ip, netns, require_libvirtd, virsh, wait_for};
use labwarp::lab::{DhcpRange, Disk, Hypervisor, Lab, Network, NetworkMode, Secret};
use labwarp::render::{KernelBoot, RenderContext, VirtType, render_all};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// Destroys the transient domain and networks however the test ends.
struct Cleanup {
    domain: Option<String>,
    networks: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(d) = &self.domain {
            let _ = virsh(&["destroy", d]);
        }
        for n in &self.networks {
            let _ = virsh(&["net-destroy", n]);
        }
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (run scripts/setup-host.sh)"))
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A lab whose hypervisor is this machine (`local`): tiny undercloud, NAT network on
/// 192.168.`octet`.0/24, unique names.
fn lab(tag: &str, octet: u8) -> Lab {
    let mut lab = Lab {
        name: format!("lwrb{tag}"),
        ..Lab::default()
    };
    lab.hypervisors = vec![Hypervisor {
        name: "here".into(),
        address: "local".into(),
        ..Hypervisor::default()
    }];
    lab.networks = vec![
        Network {
            name: "external".into(),
            bridge: format!("lwrb{tag}e"),
            mode: NetworkMode::Nat,
            cidr: format!("192.168.{octet}.0/24"),
            gateway: Some(format!("192.168.{octet}.1")),
            dhcp: Some(DhcpRange {
                start: format!("192.168.{octet}.10"),
                end: format!("192.168.{octet}.50"),
            }),
            mtu: None,
            host_nic: None,
        },
        Network {
            name: "overcloud".into(),
            bridge: format!("lwrb{tag}o"),
            mode: NetworkMode::Isolated,
            ..Network::default()
        },
    ];
    lab.undercloud.vm.vcpus = 1;
    lab.undercloud.vm.memory_mib = 256;
    lab.undercloud.vm.disks = vec![Disk { size_gib: 1 }];
    lab.undercloud.conf.undercloud_hostname = format!("uc-{tag}.localdomain");
    // The ctlplane beside the NAT network, so that the provisioning network's bridge (which
    // carries the hypervisor's VirtualBMC address) is unique in the namespace too.
    let p = octet.wrapping_add(40);
    let c = &mut lab.undercloud.conf;
    c.local_ip = format!("192.168.{p}.1/24");
    c.undercloud_public_host = format!("192.168.{p}.2");
    c.undercloud_admin_host = format!("192.168.{p}.3");
    c.subnet.cidr = format!("192.168.{p}.0/24");
    c.subnet.gateway = format!("192.168.{p}.1");
    c.subnet.dhcp_start = format!("192.168.{p}.5");
    c.subnet.dhcp_end = format!("192.168.{p}.30");
    c.subnet.inspection_start = format!("192.168.{p}.100");
    c.subnet.inspection_end = format!("192.168.{p}.120");
    lab.overcloud.vbmc.address = format!("192.168.{p}.254");
    lab
}

#[test]
fn rendered_lab_boots_and_rendered_ssh_config_and_inventory_log_in() {
    let _turn = crate::common::turn(module_path!());
    require_libvirtd();
    let guest = ensure_built();
    let tag = format!("{:05x}", rand::random::<u32>() & 0xf_ffff);
    let dir = tempfile::Builder::new()
        .prefix("labwarp-render-boot-")
        .tempdir()
        .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let p = |name: &str| -> PathBuf { dir.path().join(name) };
    let key = p("keys/id_ed25519");
    std::fs::create_dir_all(p("keys")).unwrap();
    let o = run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "render-boot", "-f"])
        .arg(&key));
    assert!(o.status.success(), "{}", text(&o));
    let pubkey = std::fs::read_to_string(p("keys/id_ed25519.pub")).unwrap();

    let mut cleanup = Cleanup {
        domain: None,
        networks: Vec::new(),
    };
    // Other tests create networks in parallel: libvirt refuses a range in use, so try another.
    let mut attempts = Vec::new();
    let mut chosen = None;
    for _ in 0..20 {
        let octet = 100 + (rand::random::<u8>() % 150);
        let lab = lab(&tag, octet);
        let mut ctx = RenderContext::for_lab(&lab, dir.path());
        ctx.ssh_public_key = Some(pubkey.clone());
        ctx.virt_type = VirtType::Qemu;
        ctx.image_dir = p("images");
        ctx.vbmc_password = Some(Secret("unused".into()));
        ctx.undercloud_kernel = Some(KernelBoot {
            kernel: guest.kernel.clone(),
            initrd: guest.initrd.clone(),
            cmdline: "console=ttyS0".into(),
        });
        let arts = render_all(&lab, &ctx).expect("renders");
        for a in &arts {
            let f = dir.path().join("out").join(&a.path);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(&f, &a.contents).unwrap();
        }
        let net = |n: &str| p(&format!("out/libvirt/networks/{}.xml", lab.domain_name(n)));
        match virsh(&["net-create", &net("external").to_string_lossy()]) {
            Ok(_) => {
                cleanup.networks.push(lab.domain_name("external"));
                // The provisioning network carries the hypervisor's BMC address: its
                // subnet may be taken in the namespace too; then try another pair.
                match virsh(&["net-create", &net("overcloud").to_string_lossy()]) {
                    Ok(_) => {
                        cleanup.networks.push(lab.domain_name("overcloud"));
                        chosen = Some((lab, ctx));
                        break;
                    }
                    Err(e) if e.contains("in use") => {
                        let _ = virsh(&["net-destroy", &lab.domain_name("external")]);
                        cleanup
                            .networks
                            .retain(|n| *n != lab.domain_name("external"));
                        attempts.push(format!("ctlplane beside 192.168.{octet}.0/24: {e}"));
                    }
                    Err(e) => panic!("rendered isolated network refused: {e}"),
                }
            }
            Err(e) => attempts.push(format!("192.168.{octet}.0/24: {e}")),
        }
    }
    let (lab, ctx) = chosen.unwrap_or_else(|| {
        panic!(
            "could not create the rendered NAT network:\n{}",
            attempts.join("\n")
        )
    });
    let domain = lab.domain_name("undercloud");

    // The disks and seed the domain XML refers to, at the context's paths.
    std::fs::create_dir_all(&ctx.image_dir).unwrap();
    let o = run(Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(ctx.disk_path(&domain, 0))
        .arg("64M"));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(Command::new("genisoimage")
        .args(["-quiet", "-volid", "cidata", "-joliet", "-rock", "-output"])
        .arg(ctx.seed_iso_path(&domain))
        .arg(p("out/cloud-init/user-data"))
        .arg(p("out/cloud-init/meta-data")));
    assert!(o.status.success(), "{}", text(&o));

    let xml = p(&format!("out/libvirt/domains/{domain}.xml"));
    virsh(&["create", &xml.to_string_lossy()])
        .unwrap_or_else(|e| panic!("rendered domain refused: {e}"));
    cleanup.domain = Some(domain.clone());

    // The fixed DHCP host entry: the undercloud gets exactly the address rendered for it.
    let mac = labwarp::render::lab_vms(&lab).unwrap()[0].nics[0]
        .mac
        .clone();
    let want_ip = ctx.undercloud_ip.unwrap().to_string();
    let ip = wait_for("the DHCP lease", Duration::from_secs(180), || {
        lease_ip(&lab.domain_name("external"), &mac)
    });
    assert_eq!(
        ip, want_ip,
        "the undercloud did not get its reserved address"
    );

    // Pin the host key the guest prints on its serial console (logged by the rendered
    // <serial><log/>), then connect only through the rendered files.
    let console = ctx.console_log_path(&domain);
    let host_key = wait_for(
        "LABWARP-HOSTKEY on the console log",
        Duration::from_secs(90),
        || {
            let t = std::fs::read_to_string(&console).ok()?;
            t.lines()
                .find_map(|l| l.trim().strip_prefix("LABWARP-HOSTKEY "))
                .filter(|k| k.starts_with("ssh-ed25519 "))
                .map(str::to_string)
        },
    );
    std::fs::write(&ctx.known_hosts, format!("{ip} {host_key}\n")).unwrap();

    let ssh_config = p("out/ssh.config");
    let ssh = |host: &str, cmd: &str| {
        run(Command::new("ip")
            .args(["netns", "exec", &netns(), "ssh", "-F"])
            .arg(&ssh_config)
            .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=5", host, cmd]))
    };
    let out = wait_for("SSH to `undercloud-root`", Duration::from_secs(60), || {
        let o = ssh("undercloud-root", "hostname");
        o.status.success().then_some(o)
    });
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        lab.undercloud.conf.undercloud_hostname
    );
    let out = ssh("undercloud", "id -un");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "stack");

    // Pinning is real: with another key pinned, the rendered config refuses to connect.
    std::fs::write(
        &ctx.known_hosts,
        format!("{ip} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBj4VXGZn3XmqbnKqyrsd0eTlOKhSkF0wtLDZxqMyY3o\n"),
    )
    .unwrap();
    let out = ssh("undercloud", "true");
    assert!(!out.status.success(), "a wrong pinned key was accepted");
    std::fs::write(&ctx.known_hosts, format!("{ip} {host_key}\n")).unwrap();

    // The rendered inventory, used by Ansible itself (raw: the guest has no Python).
    let venv = std::env::var("LABWARP_VENV").unwrap_or_else(|_| "/opt/labwarp-venv".into());
    let ansible = Path::new(&venv).join("bin/ansible");
    assert!(
        ansible.exists(),
        "{} missing: run scripts/setup-host.sh",
        ansible.display()
    );
    let out = run(Command::new("ip")
        .args(["netns", "exec", &netns()])
        .arg(&ansible)
        .arg("-i")
        .arg(p("out/inventory.yaml"))
        .args(["undercloud", "-m", "raw", "-a", "id -un"])
        .env("ANSIBLE_LOCAL_TEMP", p("ansible-tmp"))
        .env("ANSIBLE_SSH_CONTROL_PATH_DIR", p("ansible-cp")));
    assert!(
        out.status.success(),
        "ansible over the rendered inventory:\n{}",
        text(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("CHANGED") && stdout.contains("stack"),
        "{stdout}"
    );

    drop(cleanup);
    let left = virsh(&["list", "--all", "--name"]).unwrap();
    assert!(
        !left.lines().any(|l| l.trim() == domain),
        "domain left behind"
    );
}
