//! The tiny guest (scripts/build-tiny-guest.sh) on the real libvirtd: a NAT network and a
//! TCG domain booted by direct kernel boot with a NoCloud `cidata` ISO, exactly the path the
//! lab's undercloud takes. Checks from inside netns `labwarp-ci` (where libvirtd and so the
//! 192.168.x network live; nothing here talks to a private address from the root namespace):
//! the DHCP lease, SSH as root and as the user named in user-data with the key from the
//! seed, the hostname from meta-data, and that the ISO can be ejected afterwards.
//!
//! Host key pinning: the guest's init prints its ed25519 host key on the serial console
//! (`LABWARP-HOSTKEY …`); the test writes that into a temp known_hosts and connects with
//! `StrictHostKeyChecking=yes` (no trust-on-first-use), and checks that a wrong pinned key
//! is refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::tiny_guest_support::{ensure_built, lease_ip, netns, require_libvirtd, virsh, wait_for};

/// Destroys the transient domain and network however the test ends.
struct Cleanup {
    domain: String,
    network: Option<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = virsh(&["destroy", &self.domain]);
        if let Some(net) = &self.network {
            let _ = virsh(&["net-destroy", net]);
        }
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn network_xml(name: &str, bridge: &str, octet: u8) -> String {
    format!(
        "<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>
  <name>{name}</name>
  <forward mode='nat'/>
  <bridge name='{bridge}' stp='off' delay='0'/>
  <ip address='192.168.{octet}.1' netmask='255.255.255.0'>
    <dhcp><range start='192.168.{octet}.10' end='192.168.{octet}.100'/></dhcp>
  </ip>
  <dnsmasq:options><dnsmasq:option value='no-ping'/></dnsmasq:options>
</network>
"
    )
}

fn domain_xml(
    name: &str,
    kernel: &Path,
    initrd: &Path,
    seed: &Path,
    network: &str,
    mac: &str,
    console: &Path,
) -> String {
    format!(
        "<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>console=ttyS0</cmdline>
  </os>
  <features><acpi/></features>
  <devices>
    <controller type='scsi' model='virtio-scsi'/>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='{seed}'/>
      <target dev='sda' bus='scsi'/>
      <readonly/>
    </disk>
    <interface type='network'>
      <source network='{network}'/>
      <mac address='{mac}'/>
      <model type='virtio'/>
    </interface>
    <serial type='file'><source path='{console}'/><target port='0'/></serial>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
  </devices>
</domain>
",
        kernel = kernel.display(),
        initrd = initrd.display(),
        seed = seed.display(),
        console = console.display(),
    )
}

fn ssh(known_hosts: &Path, key: &Path, target: &str, cmd: &str) -> Output {
    run(Command::new("ip")
        .args(["netns", "exec", &netns(), "ssh"])
        .args([
            "-i",
            &key.to_string_lossy(),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            &format!("UserKnownHostsFile={}", known_hosts.display()),
            "-o",
            "ConnectTimeout=5",
            "-o",
            "LogLevel=ERROR",
            target,
            cmd,
        ]))
}

#[test]
fn tiny_guest_boots_takes_cidata_keys_and_answers_ssh_inside_the_netns() {
    let _turn = crate::common::turn(module_path!());
    require_libvirtd();
    let guest = ensure_built();

    let tag = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
    let dir = tempfile::Builder::new()
        .prefix("labwarp-tiny-guest-")
        .tempdir()
        .expect("temp dir");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let p = |name: &str| -> PathBuf { dir.path().join(name) };

    // Two keys and the NoCloud seed, written the way labwarp writes the undercloud's: key A
    // only in the `users:` entry (serde_yaml's unindented list style), key B only in the
    // top-level list (indented, quoted). The init installs every key it finds for root and
    // for each user, so logging in with each one proves each form was parsed.
    let keygen = |path: &Path| {
        let out = run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C"])
            .arg(format!("tiny-guest-{tag}"))
            .arg("-f")
            .arg(path));
        assert!(out.status.success(), "ssh-keygen: {out:?}");
        std::fs::read_to_string(path.with_extension("pub"))
            .unwrap()
            .trim()
            .to_string()
    };
    let key_a = p("key_a");
    let key_b = p("key_b");
    let (pub_a, pub_b) = (keygen(&key_a), keygen(&key_b));
    let hostname = format!("tiny-{tag}");
    let user_data = p("user-data");
    std::fs::write(
        &user_data,
        format!(
            "#cloud-config\nusers:\n- name: stack\n  sudo: ALL=(ALL) NOPASSWD:ALL\n  \
             ssh_authorized_keys:\n  - {pub_a}\nssh_authorized_keys:\n  - \"{pub_b}\"\n\
             timezone: UTC\n"
        ),
    )
    .unwrap();
    // The seed is valid cloud-config for the real cloud-init, not just for the tiny init.
    let out = run(Command::new("cloud-init")
        .args(["schema", "--config-file"])
        .arg(&user_data));
    assert!(
        out.status.success(),
        "cloud-init schema rejects the user-data: {out:?}"
    );
    std::fs::write(
        p("meta-data"),
        format!("instance-id: {hostname}\nlocal-hostname: {hostname}\n"),
    )
    .unwrap();
    let seed = p("seed.iso");
    let out = run(Command::new("genisoimage")
        .args(["-quiet", "-volid", "cidata", "-joliet", "-rock", "-output"])
        .arg(&seed)
        .arg(p("user-data"))
        .arg(p("meta-data")));
    assert!(out.status.success(), "genisoimage: {out:?}");

    let domain = format!("lwtest-tiny-{tag}");
    let mut cleanup = Cleanup {
        domain: domain.clone(),
        network: None,
    };

    // A NAT network on a free 192.168.x/24 (other tests create networks in parallel: libvirt
    // refuses a range already in use, so try another).
    let network = format!("lwtest-tiny-{tag}");
    let bridge = format!("lwt{tag}");
    let mut attempts = Vec::new();
    for _ in 0..20 {
        let octet = 100 + (rand::random::<u8>() % 150);
        let xml = p("network.xml");
        std::fs::write(&xml, network_xml(&network, &bridge, octet)).unwrap();
        match virsh(&["net-create", &xml.to_string_lossy()]) {
            Ok(_) => {
                cleanup.network = Some(network.clone());
                break;
            }
            Err(e) => attempts.push(format!("192.168.{octet}.0/24: {e}")),
        }
    }
    assert!(
        cleanup.network.is_some(),
        "could not create a NAT network:\n{}",
        attempts.join("\n")
    );

    let mac = format!(
        "52:54:00:{:02x}:{:02x}:{:02x}",
        rand::random::<u8>(),
        rand::random::<u8>(),
        rand::random::<u8>()
    );
    let console = p("console.log");
    let xml = p("domain.xml");
    std::fs::write(
        &xml,
        domain_xml(
            &domain,
            &guest.kernel,
            &guest.initrd,
            &seed,
            &network,
            &mac,
            &console,
        ),
    )
    .unwrap();
    let t0 = Instant::now();
    virsh(&["create", &xml.to_string_lossy()]).unwrap_or_else(|e| panic!("virsh create: {e}"));

    let ip = wait_for("the DHCP lease", Duration::from_secs(180), || {
        lease_ip(&network, &mac)
    });
    let t_lease = t0.elapsed();
    let host_key = wait_for(
        "LABWARP-HOSTKEY on the console",
        Duration::from_secs(60),
        || {
            let text = std::fs::read_to_string(&console).ok()?;
            text.lines()
                .find_map(|l| l.trim().strip_prefix("LABWARP-HOSTKEY "))
                .filter(|k| k.starts_with("ssh-ed25519 "))
                .map(str::to_string)
        },
    );

    let known_hosts = p("known_hosts");
    std::fs::write(&known_hosts, format!("{ip} {host_key}\n")).unwrap();
    let root = format!("root@{ip}");
    // dropbear starts right after the key is printed: retry while it comes up.
    let out = wait_for("SSH as root", Duration::from_secs(60), || {
        let out = ssh(&known_hosts, &key_a, &root, "hostname");
        out.status.success().then_some(out)
    });
    let t_ssh = t0.elapsed();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), hostname);

    let out = ssh(
        &known_hosts,
        &key_b,
        &root,
        "cat /root/.ssh/authorized_keys",
    );
    assert!(
        out.status.success(),
        "ssh as root with the top-level key: {out:?}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{pub_a}\n{pub_b}")
    );

    let out = ssh(
        &known_hosts,
        &key_a,
        &format!("stack@{ip}"),
        "id -un; echo $HOME; test -w $HOME && echo writable",
    );
    assert!(out.status.success(), "ssh as stack: {out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "stack\n/home/stack\nwritable"
    );

    // The pin matters: a different key for this address is refused.
    let wrong = p("known_hosts.wrong");
    std::fs::write(
        &wrong,
        format!("{ip} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBj4VXGZn3XmqbnKqyrsd0eTlOKhSkF0wtLDZxqMyY3o\n"),
    )
    .unwrap();
    let out = ssh(&wrong, &key_a, &root, "true");
    assert!(
        !out.status.success(),
        "a wrong pinned host key must be refused"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("HOST IDENTIFICATION HAS CHANGED"),
        "{out:?}"
    );

    // Another key is not let in (auth really uses the seed's keys).
    let other = p("other_key");
    let o = run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other));
    assert!(o.status.success());
    let out = ssh(&known_hosts, &other, &root, "true");
    assert!(
        !out.status.success(),
        "a key not in user-data must be refused"
    );

    // The init unmounted the seed, so the tray is unlocked: labwarp's eject step works.
    virsh(&["change-media", &domain, "sda", "--eject"])
        .unwrap_or_else(|e| panic!("eject the cidata ISO: {e}"));

    eprintln!(
        "[tiny_guest] TCG guest {domain}: lease {ip} after {:.1} s, SSH after {:.1} s",
        t_lease.as_secs_f64(),
        t_ssh.as_secs_f64()
    );
    drop(cleanup);
    let left = virsh(&["list", "--all", "--name"]).unwrap();
    assert!(
        !left.lines().any(|l| l.trim() == domain),
        "domain left behind"
    );
    let nets = virsh(&["net-list", "--all", "--name"]).unwrap();
    assert!(
        !nets.lines().any(|l| l.trim() == network),
        "network left behind"
    );
}
