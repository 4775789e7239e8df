//! Fixes that act, on the real components (`labwarp run --fix`, the troubleshoot screen's
//! `f` headless; both call `run::remedies`): each broken state is made for real, the run
//! fails with a diagnosis naming the fix, the fix is shown and applied, and the failed
//! step passes.
//!
//! - a lab network whose range collides with a route: a real route on an interface
//!   in the network namespace of a private libvirtd (tests/libvirtd_support), where labwarp
//!   runs too; libvirt itself refuses the network;
//! - a VirtualBMC port held by a real UDP listener (another process, or one proven this
//!   lab's), with the real vbmcd;
//! - leftover domains that cannot start, on a private libvirtd;
//! - a full pool: a small tmpfs of its own;
//! - a stale lock: vbmcd's pid file naming a live process that is no vbmcd.

use crate::engine_support::{TestLab, text};
use crate::libvirtd_support::PrivateLibvirtd;
use std::process::Command;

fn skip_reason() -> Option<String> {
    let why = crate::libvirtd_support::unavailable();
    if let Some(w) = &why {
        eprintln!("\n!!! SKIPPED: a private libvirtd cannot run here: {w} !!!\n");
    }
    why
}

fn sh_in(netns: &str, cmd: &str) -> std::process::Output {
    Command::new("ip")
        .args(["netns", "exec", netns, "sh", "-c", cmd])
        .output()
        .expect("ip netns exec")
}

#[test]
fn a_network_range_taken_by_a_route_moves_to_a_free_range_and_the_network_starts() {
    let _turn = crate::common::turn(module_path!());
    if skip_reason().is_some() {
        return;
    }
    let d = PrivateLibvirtd::start("nr");
    let octet = 231;
    // The user's route: a bridge interface holding the lab's range, in libvirtd's netns.
    let o = sh_in(
        &d.netns,
        &format!(
            "ip link add lwfix0 type bridge && ip link set lwfix0 up && ip route add 192.168.{octet}.0/24 dev lwfix0"
        ),
    );
    assert!(o.status.success(), "{}", text(&o));
    let mut lab = TestLab::libvirtd_at("nr", octet, &d.uri());
    lab.netns = Some(d.netns.clone());
    let file = lab.file.clone().unwrap();
    std::fs::write(
        &file,
        format!(
            "# my lab, my comments\n{}",
            std::fs::read_to_string(&file).unwrap()
        ),
    )
    .unwrap();

    // Without --fix: libvirt refuses the network; the diagnosis says what and names the fix.
    let o = lab.labwarp(&["run", "--yes", "--only", "hypervisor"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{}", d.log());
    assert!(
        out.contains("already in use by interface lwfix0"),
        "libvirt's own refusal: {out}"
    );
    assert!(
        out.contains("A lab network's range collides with a host route")
            && out.contains("labwarp run --fix: move the lab's network to a free range"),
        "{out}"
    );

    // With --fix: the exact change shown, lab.yaml rewritten, the stage finishes.
    let o = lab.labwarp(&["run", "--yes", "--only", "hypervisor", "--fix"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}\n{}", d.log());
    let new = format!("192.168.{}.0/24", octet + 1);
    for want in [
        format!("collides with the hypervisor's route 192.168.{octet}.0/24 dev lwfix0"),
        format!("networks[0].cidr 192.168.{octet}.0/24 → {new}"),
        format!("gateway 192.168.{octet}.1 → 192.168.{}.1", octet + 1),
        format!("write {}", file.display()),
        "fix applied".into(),
    ] {
        assert!(out.contains(&want), "missing {want:?}:\n{out}");
    }
    // The file keeps its comment, preset and the rest; it validates; the route is untouched.
    let yaml = std::fs::read_to_string(&file).unwrap();
    assert!(yaml.starts_with("# my lab, my comments\n"), "{yaml}");
    assert!(
        yaml.contains("preset: demo") && yaml.contains(&new),
        "{yaml}"
    );
    assert!(yaml.contains("bmc-address"), "{yaml}");
    let v = Command::new(crate::engine_support::bin())
        .arg("validate")
        .arg(&file)
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", text(&v));
    let r = sh_in(&d.netns, &format!("ip route show 192.168.{octet}.0/24"));
    assert!(
        String::from_utf8_lossy(&r.stdout).contains("lwfix0"),
        "the user's route is left as it was"
    );
    // libvirt's network is active, on the new range.
    let net = format!("{}-external", lab.name);
    let x = d.virsh(&["net-dumpxml", &net]);
    let xml = String::from_utf8_lossy(&x.stdout);
    assert!(xml.contains(&format!("192.168.{}.1", octet + 1)), "{xml}");
    let info = d.virsh(&["net-info", &net]);
    assert!(
        String::from_utf8_lossy(&info.stdout).contains("Active:         yes"),
        "{}",
        text(&info)
    );
    drop(lab);
}

/// A process that holds a UDP port on 127.0.0.1 until dropped (killed by its pid and
/// reaped): something that is not the lab's VirtualBMC.
struct UdpHolder(std::process::Child);
impl UdpHolder {
    fn bind(port: u16) -> UdpHolder {
        UdpHolder::bind_with(port, &[])
    }

    /// With `env` in its environment (an orphaned BMC carries its vbmcd's config path).
    fn bind_with(port: u16, env: &[(&str, String)]) -> UdpHolder {
        let mut c = Command::new("python3")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .arg("-c")
            .arg(format!(
                "import socket,sys,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('127.0.0.1',{port}))\nprint('bound',flush=True)\ntime.sleep(3600)"
            ))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(c.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "bound", "the holder could not bind UDP {port}");
        UdpHolder(c)
    }
}
impl Drop for UdpHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_vbmc_port_held_by_another_process_moves_the_lab_to_free_ports_and_the_nodes_register() {
    let _turn = crate::common::turn(module_path!());
    if skip_reason().is_some() {
        return;
    }
    let d = PrivateLibvirtd::start("vp");
    let octet = 233;
    // labwarp in this namespace (podman's containers need its cgroup mounts, which `ip
    // netns exec` hides), the lab's networks in the private libvirtd's; VirtualBMC on
    // 127.0.0.1 from a port unique to this test.
    let lab = TestLab::libvirtd_at("vp", octet, &d.uri());
    let base = crate::engine_support::vbmc_base_port(octet);
    let holder = UdpHolder::bind(base);
    let file = lab.file.clone().unwrap();

    let o = lab.labwarp(&["run", "--yes"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{}", d.log());
    assert!(
        out.contains("A VirtualBMC port is taken")
            && out.contains(
                "labwarp run --fix: stop this lab's stale vbmcd, or move the lab to free VBMC ports"
            ),
        "{out}"
    );

    let o = lab.labwarp(&["run", "--yes", "--fix"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}\n{}", d.log());
    let pid = holder.0.id();
    for want in [
        format!("UDP port {base} is held by python3 (pid {pid})"),
        format!("overcloud.vbmc.base_port {base} →"),
        "fix applied".into(),
        "every stage finished".into(),
    ] {
        assert!(out.contains(&want), "missing {want:?}:\n{out}");
    }
    let yaml = std::fs::read_to_string(&file).unwrap();
    let moved = labwarp::lab::load_path(&file)
        .unwrap()
        .overcloud
        .vbmc
        .base_port;
    assert_ne!(moved, base, "{yaml}");
    // The other process still holds its port: it was left alone.
    assert!(holder_alive(&holder), "the holder was touched");
    drop(lab);
    drop(holder);
}

fn holder_alive(h: &UdpHolder) -> bool {
    std::path::Path::new(&format!("/proc/{}", h.0.id())).exists()
}

/// A domain of the lab's undercloud name that cannot start: its disk is gone.
fn leftover_xml(name: &str) -> String {
    format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'>\
         <driver name='qemu' type='qcow2'/><source file='/nonexistent/earlier-lab/{name}.qcow2'/>\
         <target dev='vda' bus='virtio'/></disk></devices></domain>"
    )
}

fn define(d: &PrivateLibvirtd, dir: &std::path::Path, xml: &str) {
    let f = dir.join("leftover.xml");
    std::fs::write(&f, xml).unwrap();
    let o = d.virsh(&["define", f.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_leftover_domain_is_removed_only_when_provably_the_labs_and_the_vm_then_starts() {
    let _turn = crate::common::turn(module_path!());
    if skip_reason().is_some() {
        return;
    }
    let d = PrivateLibvirtd::start("ld");
    let lab = TestLab::libvirtd_at("ld", 235, &d.uri());
    let domain = format!("{}-undercloud", lab.name);
    for stage in ["hypervisor", "images"] {
        let o = lab.labwarp(&["run", "--yes", "--only", stage]);
        assert!(o.status.success(), "{}\n{}", text(&o), d.log());
    }

    // An earlier lab's domain of the same name, not labwarp's to remove: shown, left alone.
    define(&d, lab.ws.path(), &leftover_xml(&domain));
    let o = lab.labwarp(&["run", "--yes", "--only", "undercloud-vm", "--fix"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{}", d.log());
    for want in [
        "Cannot access storage file",
        "A leftover domain from an earlier lab",
        &format!(
            "domain {domain} is left over and cannot start: its disk /nonexistent/earlier-lab/"
        ),
        "labwarp changes nothing here",
        &format!("undefine {domain}"),
    ] {
        assert!(out.contains(want), "missing {want:?}:\n{out}");
    }
    assert!(
        d.virsh(&["dominfo", &domain]).status.success(),
        "a domain labwarp cannot prove is the lab's was removed"
    );
    // The person removes it by hand, as shown; the VM is then defined and starts.
    let o = d.virsh(&["undefine", &domain]);
    assert!(o.status.success(), "{}", text(&o));
    let o = lab.labwarp(&["run", "--yes", "--only", "undercloud-vm"]);
    assert!(o.status.success(), "{}\n{}", text(&o), d.log());

    // The lab's own domain, left over pointing at a disk that is gone (an earlier build):
    // proven the lab's, removed by the fix, defined anew and started by the step.
    let _ = d.virsh(&["destroy", &domain]);
    let xml = String::from_utf8_lossy(&d.virsh(&["dumpxml", &domain]).stdout).into_owned();
    let disk = format!("{}/sandbox/pool/{domain}.qcow2", lab.ws.path().display());
    assert!(xml.contains(&disk), "{xml}");
    define(
        &d,
        lab.ws.path(),
        &xml.replace(&disk, &format!("/nonexistent/earlier-build/{domain}.qcow2")),
    );
    let o = lab.labwarp(&["run", "--yes", "--only", "undercloud-vm", "--fix"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}\n{}", d.log());
    for want in [
        "A leftover domain from an earlier lab",
        "it is this lab's",
        &format!("remove domain {domain}"),
        "fix applied",
        "every stage finished",
    ] {
        assert!(out.contains(want), "missing {want:?}:\n{out}");
    }
    let xml = String::from_utf8_lossy(&d.virsh(&["dumpxml", &domain]).stdout).into_owned();
    assert!(xml.contains(&disk), "defined anew with its disk: {xml}");
    let info = String::from_utf8_lossy(&d.virsh(&["domstate", &domain]).stdout).into_owned();
    assert_eq!(info.trim(), "running");
    drop(lab);
}

/// A tmpfs mounted on a directory; unmounted (lazily) when dropped.
struct Tmpfs(std::path::PathBuf);
impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }
}
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `path` until ENOSPC.
fn fill(path: &std::path::Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("ballast");
    let chunk = vec![0xA5u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
}

fn demo_nodes(computes: u32) -> String {
    format!(
        "overcloud:\n  nodes:\n    - {{role: controller, count: 1, vcpus: 1, memory_mib: 256, disks: [{{size_gib: 1}}], networks: [overcloud]}}\n    - {{role: compute, count: {computes}, vcpus: 1, memory_mib: 256, disks: [{{size_gib: 1}}], networks: [overcloud]}}\n"
    )
}

#[test]
fn a_full_pool_frees_only_what_the_lab_made_and_no_longer_needs_then_the_step_passes() {
    let _turn = crate::common::turn(module_path!());
    let lab = TestLab::demo_file("pf", &demo_nodes(2), "ws");
    let pool = lab.ws().join("sandbox/pool");
    // The pool on a small file system of its own (the workspace's state and logs elsewhere).
    let Some(_mnt) = Tmpfs::mount(&pool, "16m") else {
        eprintln!(
            "\n!!! SKIPPED: cannot mount a tmpfs (not root?): the full-pool fix is untested !!!\n"
        );
        return;
    };
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    // The second compute node's disk holds data; then the lab shrinks to one compute.
    let old_disk = std::fs::read_dir(&pool)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.contains("compute-1") && n.ends_with(".qcow2")
        })
        .expect("compute-1's disk in the pool");
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&old_disk)
            .unwrap();
        f.write_all(&vec![0x5Au8; 8 << 20]).unwrap();
        f.sync_all().unwrap();
    }
    let file = lab.file.clone().unwrap();
    std::fs::write(
        &file,
        format!("preset: demo\nname: {}\n{}", lab.name, demo_nodes(1)),
    )
    .unwrap();
    // The seed ISO must be written again, and someone else's file fills the pool.
    let seed = std::fs::read_dir(&pool)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("undercloud-cidata.iso"))
        .expect("the seed ISO");
    std::fs::remove_file(&seed).unwrap();
    let ballast = pool.join("someone-elses-file");
    fill(&ballast);

    let o = lab.labwarp(&["run", "--yes"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("The disk is full")
            && out
                .contains("labwarp run --fix: remove what labwarp made there and no longer needs"),
        "{out}"
    );

    let o = lab.labwarp(&["run", "--yes", "--fix"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for want in [
        format!("{}: tmpfs", pool.display()),
        "someone-elses-file".to_string(),
        format!("{} (8.", old_disk.display()),
        "made by this lab (state file), no step of the lab wants it now".into(),
        format!("$ rm -f -- {}", old_disk.display()),
        "fix applied".into(),
        "every stage finished".into(),
    ] {
        assert!(out.contains(&want), "missing {want:?}:\n{out}");
    }
    assert!(!old_disk.exists());
    assert!(ballast.exists(), "someone else's file was touched");
    assert!(seed.exists(), "the step wrote the seed ISO again");
    drop(_mnt);
    drop(lab);
}

/// A BMC of this lab left over from an earlier run (its environment names the lab's
/// VirtualBMC config, as vbmcd's children do) holds a node's port: proven the lab's, it is
/// stopped with the lab's vbmcd, the ports stay as they are, and the run finishes.
#[test]
fn a_vbmc_port_held_by_this_labs_own_stale_bmc_is_freed_and_the_nodes_register() {
    let _turn = crate::common::turn(module_path!());
    if skip_reason().is_some() {
        return;
    }
    let d = PrivateLibvirtd::start("vo");
    let octet = 237;
    let lab = TestLab::libvirtd_at("vo", octet, &d.uri());
    let base = crate::engine_support::vbmc_base_port(octet);
    let conf = lab.ws().join("sandbox/vbmc/virtualbmc.conf");
    let mut holder =
        UdpHolder::bind_with(base, &[("VIRTUALBMC_CONFIG", conf.display().to_string())]);
    let pid = holder.0.id();
    let o = lab.labwarp(&["run", "--yes", "--fix"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}\n{}", d.log());
    for want in [
        format!("UDP port {base} is held by python3 (pid {pid}), this lab's VirtualBMC"),
        format!("$ kill -TERM {pid}"),
        "stop this lab's vbmcd and its BMCs".into(),
        "fix applied".into(),
        "every stage finished".into(),
    ] {
        assert!(out.contains(&want), "missing {want:?}:\n{out}");
    }
    assert!(
        holder.0.try_wait().unwrap().is_some(),
        "the stale BMC was stopped"
    );
    let file = lab.file.clone().unwrap();
    let kept = labwarp::lab::load_path(&file)
        .unwrap()
        .overcloud
        .vbmc
        .base_port;
    assert_eq!(kept, base, "the lab keeps its ports");
    drop(lab);
}

/// A stale lock: the lab's vbmcd died (SIGKILL, its pid file left behind) and its pid now
/// names another live process, so a new vbmcd refuses to start ("server PID #N still
/// running"). The fix proves the holder is no vbmcd, removes the pid file, and the daemon
/// starts; the other process is left alone.
#[test]
fn a_stale_vbmcd_pid_file_whose_holder_is_dead_is_removed_and_vbmcd_starts() {
    let _turn = crate::common::turn(module_path!());
    if skip_reason().is_some() {
        return;
    }
    let d = PrivateLibvirtd::start("sl");
    let lab = TestLab::libvirtd_at("sl", 229, &d.uri());
    let o = lab.labwarp(&["run", "--yes", "--only", "hypervisor"]);
    assert!(o.status.success(), "{}\n{}", text(&o), d.log());
    let pid_file = lab.ws().join("sandbox/vbmc/vbmcd.pid");
    let vbmcd: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(vbmcd),
        nix::sys::signal::Signal::SIGKILL,
    );
    while std::fs::read_to_string(format!("/proc/{vbmcd}/stat")).is_ok_and(|s| !s.contains(") Z "))
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Its pid "reused": the file now names a live process that is no vbmcd.
    let mut other = Command::new("sleep").arg("300").spawn().unwrap();
    std::fs::write(&pid_file, other.id().to_string()).unwrap();

    let o = lab.labwarp(&["run", "--yes", "--only", "hypervisor", "--fix"]);
    let out = text(&o);
    let alive = other.try_wait().unwrap().is_none();
    let _ = other.kill();
    let _ = other.wait();
    assert!(o.status.success(), "{out}\n{}", d.log());
    for want in [
        "server PID #".to_string(),
        "A stale lock".into(),
        format!("names pid {}, now `sleep 300` (not vbmcd", other.id()),
        format!("$ rm -f -- {}", pid_file.display()),
        "fix applied".into(),
        "every stage finished".into(),
    ] {
        assert!(out.contains(&want), "missing {want:?}:\n{out}");
    }
    assert!(alive, "the process the stale file named was left alone");
    let now: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        std::fs::read_to_string(format!("/proc/{now}/cmdline")).is_ok_and(|c| c.contains("vbmcd")),
        "a new vbmcd runs"
    );
    drop(lab);
}
