//! `labwarp check` on the box, cross-checked finding by finding against what this test reads
//! itself (files, virsh, ip/ss inside the namespace): a finding that says something untrue
//! about this machine fails the test.

use super::{LabBox, in_ns, out, stdout};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// What the test itself knows about this machine's KVM.
pub struct KvmTruth {
    pub dev_kvm: bool,
    pub vmx_svm: bool,
    pub modules: Vec<String>,
}

impl KvmTruth {
    pub fn read() -> KvmTruth {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let vmx_svm = cpuinfo
            .lines()
            .filter(|l| l.starts_with("flags"))
            .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"));
        let mut modules: Vec<String> = std::fs::read_dir("/sys/module")
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| n.starts_with("kvm"))
                    .collect()
            })
            .unwrap_or_default();
        modules.sort();
        KvmTruth {
            dev_kvm: Path::new("/dev/kvm").exists(),
            vmx_svm,
            modules,
        }
    }

    /// Guests need TCG: no /dev/kvm, no hardware virtualisation flags, or a KVM module other
    /// than kvm_intel/kvm_amd (kvm_pvm here: standard kernels crash under it).
    pub fn needs_tcg(&self) -> bool {
        let vendor = self
            .modules
            .iter()
            .any(|m| m == "kvm_intel" || m == "kvm_amd");
        let foreign = self
            .modules
            .iter()
            .any(|m| m != "kvm" && m != "kvm_intel" && m != "kvm_amd");
        !self.dev_kvm || !self.vmx_svm || !vendor || foreign
    }
}

fn meminfo(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
}

fn close(a: u64, b: u64, tolerance: f64) -> bool {
    let (a, b) = (a as f64, b as f64);
    (a - b).abs() <= tolerance * a.max(b).max(1.0)
}

/// Checks every finding it can; returns (verified ids, ids it cannot cross-check), or the
/// list of untrue findings as the error.
pub fn cross_check(b: &LabBox, findings: &[Value]) -> Result<(Vec<String>, Vec<String>), String> {
    let kvm = KvmTruth::read();
    let mut bad = Vec::new();
    let mut verified = Vec::new();
    let mut unverified = Vec::new();
    let virsh_ok = |args: &[&str]| crate::tiny_guest_support::virsh(args);
    for f in findings {
        let id = f["id"].as_str().unwrap_or("?").to_string();
        let sev = f["severity"].as_str().unwrap_or("?");
        let title = f["title"].as_str().unwrap_or("");
        let ev = f["evidence"].as_str().unwrap_or("");
        let mut expect = |ok: bool, what: String| {
            if !ok {
                bad.push(format!(
                    "{id} [{sev}] {title}\n    evidence: {ev}\n    but: {what}"
                ));
            }
        };
        match id.as_str() {
            "kvm.dev" => expect(
                (sev == "ok") == kvm.dev_kvm,
                format!("/dev/kvm exists: {}", kvm.dev_kvm),
            ),
            "kvm.cpu-flags" => expect(
                (sev == "ok") == kvm.vmx_svm,
                format!("vmx/svm in /proc/cpuinfo: {}", kvm.vmx_svm),
            ),
            "kvm.module" | "kvm.nested" if ev.contains("/sys/module entries starting with kvm") => {
                let listed: Vec<String> = ev
                    .rsplit(':')
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                let mut listed = listed;
                listed.sort();
                expect(
                    listed == kvm.modules,
                    format!("/sys/module has {:?}", kvm.modules),
                )
            }
            "kvm.verdict" => {
                let tcg = kvm.needs_tcg();
                expect(
                    title.contains("use TCG (domain type qemu)") == tcg,
                    format!("this machine needs TCG: {tcg} ({:?})", kvm.modules),
                );
                if !kvm.dev_kvm {
                    expect(
                        title.starts_with("KVM not available"),
                        "/dev/kvm is missing".into(),
                    );
                }
            }
            "kvm.deep-probe" => {
                // The probe guest really ran type='kvm' and is gone again.
                let booted = sev == "ok";
                expect(
                    booted != kvm.needs_tcg(),
                    format!("this machine needs TCG: {}", kvm.needs_tcg()),
                );
                let left = virsh_ok(&["list", "--all", "--name"])
                    .unwrap_or_default()
                    .lines()
                    .any(|l| l.starts_with("labwarp-probe-"));
                expect(!left, "the probe domain is still defined".into());
            }
            "kvm.ioctl" => expect(
                ev.contains("not probed") || sev == "ok" || !kvm.dev_kvm,
                "an ioctl verdict over SSH".into(),
            ),
            "kvm.libvirt-domain-types" | "libvirt.tcg" => {
                let caps = virsh_ok(&["capabilities"]).unwrap_or_default();
                let qemu = caps.contains("<domain type='qemu'");
                let kvm_t = caps.contains("<domain type='kvm'");
                if id == "libvirt.tcg" {
                    expect(
                        (sev == "ok") == qemu,
                        format!("capabilities offer qemu: {qemu}"),
                    );
                } else {
                    expect(
                        title.contains("kvm") == kvm_t && title.contains("qemu") == qemu,
                        format!("capabilities: kvm {kvm_t}, qemu {qemu}"),
                    );
                }
            }
            "libvirt.reachable" => expect(
                (sev == "ok") == virsh_ok(&["uri"]).is_ok(),
                "virsh -c qemu:///system uri".into(),
            ),
            "libvirt.version" => {
                let v = virsh_ok(&["version"]).unwrap_or_default();
                let lib = v
                    .lines()
                    .find(|l| l.starts_with("Using library:"))
                    .map(|l| l.trim_start_matches("Using library:").trim().to_string())
                    .unwrap_or_default();
                expect(
                    !lib.is_empty() && title.contains(&lib),
                    format!("virsh version says {lib}"),
                )
            }
            "libvirt.default-network" | "libvirt.default-pool" => {
                let what = if id.ends_with("network") {
                    "net-list"
                } else {
                    "pool-list"
                };
                let has = virsh_ok(&[what, "--all", "--name"])
                    .unwrap_or_default()
                    .lines()
                    .any(|l| l.trim() == "default");
                expect(
                    title.starts_with("No default") != has,
                    format!("a `default` exists: {has}"),
                )
            }
            "libvirt.lab-domains" => expect(
                title.starts_with("No domain")
                    == b.lab
                        .libvirt_objects()
                        .iter()
                        .all(|o| !o.starts_with("domain")),
                "virsh list".into(),
            ),
            "capacity.memory" => {
                let now = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
                let (t0, a0) = (meminfo(ev, "MemTotal:"), meminfo(ev, "MemAvailable:"));
                let (t1, a1) = (meminfo(&now, "MemTotal:"), meminfo(&now, "MemAvailable:"));
                expect(
                    t0.is_some() && t0 == t1,
                    format!("/proc/meminfo MemTotal {t1:?}"),
                );
                // MemAvailable moves while other tests run: the same within 15%.
                expect(
                    matches!((a0, a1), (Some(x), Some(y)) if close(x, y, 0.15)),
                    format!("/proc/meminfo MemAvailable {a1:?} now"),
                );
                // The lab: 4 VMs of 256 MiB.
                expect(
                    title.contains("4 VMs need 1.0 GiB"),
                    "the lab's 4 VMs need 1.0 GiB".into(),
                );
            }
            "capacity.cpus" => {
                let n = std::fs::read_to_string("/proc/cpuinfo")
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| l.starts_with("processor"))
                    .count();
                expect(
                    ev.contains(&format!("{n} processor entries"))
                        && title.starts_with(&format!("4 vCPUs in total on {n} CPUs")),
                    format!("4 vCPUs on {n} processors"),
                )
            }
            "capacity.disk" => {
                // `Available` of `df -P -B1 DIR` then and now: the same within 2 GiB.
                let dir = ev
                    .lines()
                    .find_map(|l| l.strip_prefix("$ df -P -B1 "))
                    .unwrap_or("/");
                let avail = |t: &str| -> Option<u64> {
                    t.lines().nth(1)?.split_whitespace().nth(3)?.parse().ok()
                };
                let then = ev
                    .split_once("$ df -P -B1 ")
                    .and_then(|(_, rest)| rest.split_once('\n'))
                    .and_then(|(_, table)| avail(table));
                let now = avail(&stdout(&out(Command::new("df").args(["-P", "-B1", dir]))));
                expect(
                    matches!((then, now), (Some(x), Some(y)) if x.abs_diff(y) < 2 << 30),
                    format!("df -P -B1 {dir} says {now:?} available now"),
                )
            }
            "os.distro" => {
                let osr = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
                let pretty = osr
                    .lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                    .unwrap_or("")
                    .trim_matches('"')
                    .to_string();
                expect(
                    !pretty.is_empty() && title.contains(&pretty),
                    format!("/etc/os-release: {pretty}"),
                )
            }
            "user.sudo" => expect(
                sev == "ok" && ev.contains("root"),
                "the hypervisor's ssh_user is root".into(),
            ),
            id if id.starts_with("qemu-conf.") => {
                // `/etc/libvirt/qemu.conf:N: text` must be line N of the file.
                let conf = std::fs::read_to_string("/etc/libvirt/qemu.conf").unwrap_or_default();
                let quoted = ev
                    .strip_prefix("/etc/libvirt/qemu.conf:")
                    .and_then(|r| r.split_once(": "))
                    .and_then(|(n, t)| Some((n.parse::<usize>().ok()?, t.to_string())));
                expect(
                    matches!(&quoted, Some((n, t)) if conf.lines().nth(n - 1).map(str::trim) == Some(t.trim())),
                    format!("qemu.conf line as quoted: {quoted:?}"),
                )
            }
            "apparmor.enabled" => {
                let on = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
                    .is_ok_and(|v| v.trim() == "Y");
                expect(
                    title.contains("not enabled") != on,
                    format!("AppArmor enabled: {on}"),
                )
            }
            "fs.traverse" => {
                use std::os::unix::fs::MetadataExt;
                for l in ev.lines() {
                    let mut w = l.split_whitespace();
                    let (mode, path) = (w.next().unwrap_or(""), w.nth(1).unwrap_or(""));
                    let real = std::fs::metadata(path)
                        .map(|m| format!("{:o}", m.mode() & 0o7777))
                        .unwrap_or_default();
                    expect(real == mode, format!("{path} has mode {real}"));
                }
            }
            id if id.starts_with("images.") => {
                let path = ev
                    .lines()
                    .find_map(|l| l.strip_prefix("path on the hypervisor: "))
                    .and_then(|l| l.rsplit_once(" ("))
                    .map(|(p, _)| p.to_string())
                    .unwrap_or_default();
                expect(
                    title.contains("present") == Path::new(&path).is_file(),
                    format!("{path} is a file: {}", Path::new(&path).is_file()),
                )
            }
            "net.ip-forward" => {
                let v = stdout(&out(
                    in_ns(&b.ns, "cat").arg("/proc/sys/net/ipv4/ip_forward")
                ));
                expect(
                    ev.ends_with(&format!(": {}", v.trim())),
                    format!("ip_forward in the namespace is {}", v.trim()),
                )
            }
            "net.bridge-nf" => {
                for l in ev.lines() {
                    if let Some((k, v)) = l.split_once(" = ") {
                        let file = format!("/proc/sys/{}", k.replace('.', "/"));
                        let real = stdout(&out(in_ns(&b.ns, "cat").arg(&file)));
                        expect(
                            real.trim() == v.trim(),
                            format!("{file} is {}", real.trim()),
                        );
                    }
                }
            }
            id if id.starts_with("net.bridge.") => {
                let br = title
                    .strip_prefix("Bridge name ")
                    .and_then(|r| r.split_whitespace().next())
                    .unwrap_or("");
                let exists = out(Command::new("ip").args(["-n", &b.ns, "link", "show", br]))
                    .status
                    .success();
                expect(
                    !br.is_empty() && title.ends_with("is free") != exists,
                    format!("{br} exists in the namespace: {exists}"),
                )
            }
            "net.vbmc-ports" => {
                let busy = b.vbmc_listeners();
                expect(
                    (sev == "ok") == busy.is_empty() && title.contains("6230, 6231, 6232"),
                    format!("UDP listeners on 6230-6232 in the namespace: {busy:?}"),
                )
            }
            id if id.starts_with("net.overlap.") => {
                let addrs = stdout(&out(Command::new("ip").args(["-n", &b.ns, "-4", "addr"])));
                let clash = addrs.contains(&format!("192.168.{}.", b.octet));
                expect(
                    (sev == "ok") != clash,
                    format!("192.168.{}.x in use in the namespace: {clash}", b.octet),
                )
            }
            _ => {
                unverified.push(id.clone());
                continue;
            }
        }
        verified.push(id);
    }
    if bad.is_empty() {
        Ok((verified, unverified))
    } else {
        Err(bad.join("\n"))
    }
}
