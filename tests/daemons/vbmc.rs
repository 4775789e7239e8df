//! VirtualBMC for real: labwarp's steps register the lab's node domains (on the real
//! libvirtd, qemu:///system) with a real VirtualBMC from PyPI, and Debian's `ipmitool`
//! powers them on and off over IPMI lanplus, as TripleO's ironic does; libvirt sees it.
//! Then: a rerun changes nothing, a drifted entry is put back, the password never shows on
//! a command line, and the cleanup levels remove the entries, then the daemon.
//!
//! labwarp runs in the root network namespace here (the sandbox undercloud's podman does
//! not work under `ip netns exec`, which remounts /sys), so VirtualBMC listens on
//! 127.0.0.1 only; the lab's 192.168 networks still live in libvirtd's netns labwarp-ci.
//! The venv is the one scripts/setup-host.sh pre-installs (/opt/labwarp-vbmc, the step's
//! default); without it the run installs it from PyPI itself (about a minute).

use crate::engine_support::{TestLab, text, vbmc_base_port, vbmcd_processes};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

fn have(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn prerequisites() -> bool {
    let mut missing = Vec::new();
    if !have("virsh", &["-c", "qemu:///system", "version"]) {
        missing.push("libvirtd (qemu:///system)");
    }
    if !have("ipmitool", &["-V"]) {
        missing.push("ipmitool");
    }
    if !missing.is_empty() {
        eprintln!(
            "\n!!! SKIPPED: {} not available; run scripts/setup-host.sh first !!!\n",
            missing.join(", ")
        );
        return false;
    }
    true
}

/// `labwarp check --json` on the lab (its file names the workspace, as `check` reads it
/// from there): the VirtualBMC findings (`vbmc.answers*`, `net.vbmc-ports`) as
/// (id, severity, title).
fn vbmc_findings(lab: &TestLab) -> Vec<(String, String, String)> {
    let file = lab.file.clone().expect("lab file");
    let yaml = std::fs::read_to_string(&file).unwrap();
    if !yaml.contains("\nworkspace:") {
        std::fs::write(&file, format!("{yaml}workspace: {}\n", lab.ws().display())).unwrap();
    }
    let o = Command::new(crate::engine_support::bin())
        .args(["check", "--json", "--config"])
        .arg(&file)
        .env("LABWARP_SANDBOX", "1")
        .output()
        .expect("labwarp check");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("check --json: {e}: {}", text(&o)));
    let list = v["findings"]
        .as_array()
        .or_else(|| v.as_array())
        .unwrap_or_else(|| panic!("no findings in {v}"));
    list.iter()
        .filter(|f| {
            let id = f["id"].as_str().unwrap_or("");
            id.starts_with("vbmc.") || id == "net.vbmc-ports"
        })
        .map(|f| {
            (
                f["id"].as_str().unwrap_or("").to_string(),
                f["severity"].as_str().unwrap_or("").to_string(),
                f["title"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn severity_of(found: &[(String, String, String)], id: &str) -> String {
    found
        .iter()
        .find(|(i, _, _)| i == id)
        .map(|(_, s, _)| s.to_lowercase())
        .unwrap_or_else(|| panic!("no finding {id} in {found:?}"))
}

/// A libvirtd test lab with an explicit IPMI password (so the canary knows what to look for).
fn lab_with_password(tag: &str, octet: u8, password: &str) -> TestLab {
    let lab = TestLab::libvirtd(tag, octet);
    let file = lab.file.clone().expect("lab file");
    let yaml = std::fs::read_to_string(&file).unwrap();
    let port = vbmc_base_port(octet);
    let yaml = yaml.replace(
        &format!("vbmc: {{base_port: {port}, address: 127.0.0.1}}"),
        &format!("vbmc: {{base_port: {port}, address: 127.0.0.1, password: {password}}}"),
    );
    assert!(yaml.contains(password), "lab file not rewritten:\n{yaml}");
    std::fs::write(&file, yaml).unwrap();
    lab
}

fn ipmi(port: u16, password: &str, args: &[&str]) -> std::process::Output {
    Command::new("ipmitool")
        .args(["-I", "lanplus", "-H", "127.0.0.1", "-p", &port.to_string()])
        .args(["-U", "admin", "-E", "-R", "3", "-N", "2"])
        .args(args)
        // -E: the password from the environment, never on ipmitool's own command line.
        .env("IPMI_PASSWORD", password)
        .output()
        .expect("run ipmitool")
}

fn domstate(domain: &str) -> String {
    let o = Command::new("virsh")
        .args(["-c", "qemu:///system", "domstate", domain])
        .output()
        .expect("virsh domstate");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Local UDP ports something listens on (`ss -uln`).
fn udp_listening(port: u16) -> bool {
    let o = Command::new("ss")
        .args(["-H", "-uln"])
        .output()
        .expect("ss");
    String::from_utf8_lossy(&o.stdout).lines().any(|l| {
        l.split_whitespace()
            .nth(3)
            .is_some_and(|a| a.ends_with(&format!(":{port}")))
    })
}

/// Reads every process's command line until stopped; counts samples and hits of `needle`.
struct Canary {
    stop: Arc<AtomicBool>,
    samples: Arc<AtomicUsize>,
    hits: Arc<std::sync::Mutex<Vec<String>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Canary {
    fn start(needle: &str) -> Canary {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(AtomicUsize::new(0));
        let hits = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (s, n, h, needle) = (
            stop.clone(),
            samples.clone(),
            hits.clone(),
            needle.as_bytes().to_vec(),
        );
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                    let Ok(c) = std::fs::read(e.path().join("cmdline")) else {
                        continue;
                    };
                    if c.windows(needle.len()).any(|w| w == needle.as_slice()) {
                        let shown = String::from_utf8_lossy(&c).replace('\0', " ");
                        h.lock().unwrap().push(shown);
                    }
                }
                n.fetch_add(1, Ordering::Relaxed);
            }
        });
        Canary {
            stop,
            samples,
            hits,
            handle: Some(handle),
        }
    }

    /// Stops sampling; returns (samples taken, command lines that held the needle).
    fn finish(mut self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join().expect("canary thread");
        }
        let hits = self.hits.lock().unwrap().clone();
        (self.samples.load(Ordering::Relaxed), hits)
    }
}

#[test]
fn ipmi_powers_the_lab_nodes_through_labwarps_virtualbmc() {
    let _turn = crate::common::turn(module_path!());
    if !prerequisites() {
        return;
    }
    let password = "Cnry7q2ZpX4v";
    let octet = 221;
    let lab = lab_with_password("vb", octet, password);
    let base = vbmc_base_port(octet);
    let nodes = [
        (format!("{}-controller-0", lab.name), base),
        (format!("{}-compute-0", lab.name), base + 1),
    ];

    // 1. The run, with every process's command line sampled for the password meanwhile.
    let canary = Canary::start(password);
    let o = lab.labwarp(&["run", "--yes"]);
    let (samples, hits) = canary.finish();
    assert!(o.status.success(), "{}", text(&o));
    assert!(samples > 0, "the canary never sampled /proc");
    assert_eq!(
        hits,
        Vec::<String>::new(),
        "the IPMI password showed on a command line"
    );
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        !out.contains(password),
        "the password is in labwarp's output"
    );
    for f in crate::engine_support::walk(&lab.ws().join("logs")) {
        let log = std::fs::read_to_string(&f).unwrap_or_default();
        assert!(
            !log.contains(password),
            "the password is in {}",
            f.display()
        );
    }
    for (d, _) in &nodes {
        assert!(
            out.contains(&format!(
                "[overcloud-nodes] {}-vbmc",
                d.trim_start_matches(&format!("{}-", lab.name))
            )),
            "no VirtualBMC step for {d} in the run:\n{out}"
        );
    }

    // 2. The entries: 0600 files holding the plan's values, agreeing with instackenv.json.
    let vbmc_dir = lab.ws().join("sandbox/vbmc");
    let inst_path = lab
        .ws()
        .join("sandbox/undercloud/home/stack/instackenv.json");
    let inst: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&inst_path).unwrap()).unwrap();
    for (d, port) in &nodes {
        let cfg = vbmc_dir.join("nodes").join(d).join("config");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} mode {mode:o}", cfg.display());
        let text = std::fs::read_to_string(&cfg).unwrap();
        assert!(text.contains(&format!("port = {port}")), "{text}");
        let short = d.trim_start_matches(&format!("{}-", lab.name));
        let n = inst["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == short)
            .unwrap_or_else(|| panic!("{short} not in instackenv.json"));
        assert_eq!(n["pm_port"], port.to_string());
        assert_eq!(n["pm_addr"], "127.0.0.1");
        assert_eq!(n["pm_user"], "admin");
        assert_eq!(n["pm_password"], password);
    }

    // Preflight now sees both BMCs answer, and the ports held by vbmcd (not a stranger).
    let found = vbmc_findings(&lab);
    assert_eq!(
        severity_of(&found, "vbmc.answers.controller-0"),
        "ok",
        "{found:?}"
    );
    assert_eq!(
        severity_of(&found, "vbmc.answers.compute-0"),
        "ok",
        "{found:?}"
    );
    assert_eq!(severity_of(&found, "net.vbmc-ports"), "info", "{found:?}");

    // 3. IPMI power control reaches libvirt, for every node.
    for (d, port) in &nodes {
        assert_eq!(domstate(d), "shut off", "{d} starts defined, not running");
        let st = ipmi(*port, password, &["power", "status"]);
        assert!(st.status.success(), "{}", text(&st));
        assert!(
            String::from_utf8_lossy(&st.stdout).contains("Chassis Power is off"),
            "{}",
            text(&st)
        );
        let on = ipmi(*port, password, &["power", "on"]);
        assert!(on.status.success(), "{}", text(&on));
        assert_eq!(domstate(d), "running", "IPMI power on did not start {d}");
        let st = ipmi(*port, password, &["power", "status"]);
        assert!(
            String::from_utf8_lossy(&st.stdout).contains("Chassis Power is on"),
            "{}",
            text(&st)
        );
        let off = ipmi(*port, password, &["power", "off"]);
        assert!(off.status.success(), "{}", text(&off));
        assert_eq!(domstate(d), "shut off", "IPMI power off did not stop {d}");
    }
    // A wrong password is refused (the BMC really checks it).
    let bad = ipmi(base, "wrong-password", &["power", "status"]);
    assert!(!bad.status.success(), "a wrong password was accepted");

    // 4. Rerun: every step's check passes, nothing to do.
    let todo: Vec<(String, String)> = lab
        .steps_with_status()
        .into_iter()
        .filter(|(_, s)| s != "done")
        .collect();
    assert_eq!(
        todo,
        Vec::<(String, String)>::new(),
        "a rerun would change things"
    );

    // 5. Drift: an entry moved to another port by hand is noticed and put back.
    let (d0, p0) = &nodes[0];
    let cfg = vbmc_dir.join("nodes").join(d0).join("config");
    let text0 = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text0.replace(&format!("port = {p0}"), "port = 1")).unwrap();
    let drift = lab.steps_with_status();
    let step = drift
        .iter()
        .find(|(s, _)| s == "overcloud-nodes/controller-0-vbmc")
        .expect("controller-0's VirtualBMC step");
    assert_eq!(step.1, "todo", "{drift:?}");
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), text0);
    let st = ipmi(*p0, password, &["power", "status"]);
    assert!(st.status.success(), "after the repair: {}", text(&st));

    // 6. clean --level nodes: the entries (and their BMCs) go, the daemon stays.
    let o = lab.labwarp(&["clean", "--level", "nodes", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for (d, port) in &nodes {
        assert!(
            out.contains(&format!("removed VirtualBMC entry {d}")),
            "{out}"
        );
        assert!(!vbmc_dir.join("nodes").join(d).exists(), "{d} entry left");
        assert!(!udp_listening(*port), "UDP {port} still bound after clean");
    }
    assert!(
        !vbmcd_processes(lab.ws()).is_empty(),
        "vbmcd should survive a nodes-level clean"
    );
    let found = vbmc_findings(&lab);
    assert_eq!(severity_of(&found, "vbmc.answers"), "info", "{found:?}");
    assert_eq!(severity_of(&found, "net.vbmc-ports"), "ok", "{found:?}");
    // Idempotent: a second clean at the same level finds no entry left.
    let o = lab.labwarp(&["clean", "--level", "nodes", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("VirtualBMC entry"),
        "{}",
        text(&o)
    );

    // 7. clean --level virthost: the daemon and its directory go too.
    let o = lab.labwarp(&["clean", "--level", "virthost", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(vbmcd_processes(lab.ws()), Vec::<String>::new());
    assert!(!vbmc_dir.exists());
    assert_eq!(lab.leftovers(), Vec::<String>::new());
}

#[test]
fn a_lost_state_file_still_finds_the_entries_and_the_daemon() {
    let _turn = crate::common::turn(module_path!());
    if !prerequisites() {
        return;
    }
    let octet = 222;
    let lab = TestLab::libvirtd("vl", octet);
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    // A run killed inside an entry's write used to leave its directory without a config;
    // vbmcd's `list` then fails for good ("No domain with matching name"). The vbmcd step
    // sees it and removes it, and the rerun converges.
    let ghost = lab
        .ws()
        .join(format!("sandbox/vbmc/nodes/{}-ghost", lab.name));
    std::fs::create_dir(&ghost).unwrap();
    let o = lab.labwarp(&["plan", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let vbmcd = plan["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|st| st["steps"].as_array().unwrap())
        .find(|s| s["id"] == "vbmcd")
        .expect("the vbmcd step")
        .clone();
    assert_eq!(vbmcd["status"], "todo", "{vbmcd}");
    assert!(vbmcd["saw"].as_str().unwrap().contains("-ghost"), "{vbmcd}");
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!ghost.exists(), "the broken entry is still there");
    // vbmcd dies by kill -9 behind labwarp's back: its BMC children keep the UDP ports
    // and still answer.
    let pid = std::fs::read_to_string(lab.ws().join("sandbox/vbmc/vbmcd.pid")).unwrap();
    let pid = pid.trim().to_string();
    let k = Command::new("kill").args(["-KILL", &pid]).output().unwrap();
    assert!(k.status.success(), "{}", text(&k));
    let found = vbmc_findings(&lab);
    assert_eq!(
        severity_of(&found, "vbmc.answers.compute-0"),
        "ok",
        "{found:?}"
    );
    // The silent failure: one BMC process dies, its entry stays; preflight says so.
    let bmc = Command::new("ss")
        .args([
            "-H",
            "-ulnp",
            "sport",
            "=",
            &format!(":{}", vbmc_base_port(octet) + 1),
        ])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&bmc.stdout).to_string();
    let bmc_pid = line
        .split("pid=")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .unwrap_or_else(|| panic!("no BMC process on the port: {line}"))
        .to_string();
    let k = Command::new("kill")
        .args(["-KILL", &bmc_pid])
        .output()
        .unwrap();
    assert!(k.status.success(), "{}", text(&k));
    let found = vbmc_findings(&lab);
    assert_eq!(
        severity_of(&found, "vbmc.answers.compute-0"),
        "fail",
        "{found:?}"
    );
    assert_eq!(
        severity_of(&found, "vbmc.answers.controller-0"),
        "ok",
        "{found:?}"
    );
    std::fs::remove_file(lab.ws().join("state.yaml")).unwrap();
    let o = lab.labwarp(&["clean", "--level", "virthost", "--dry-run", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let whats = crate::engine_support::dry_run_whats(&list, "items");
    for want in [
        format!("VirtualBMC entry {}-controller-0", lab.name),
        format!("VirtualBMC entry {}-compute-0", lab.name),
        "vbmcd of".to_string(),
    ] {
        assert!(
            whats.iter().any(|w| w.starts_with(&want)),
            "discovery missed {want}: {whats:?}"
        );
    }
    let o = lab.labwarp(&["clean", "--level", "virthost", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(vbmcd_processes(lab.ws()), Vec::<String>::new());
    let base = vbmc_base_port(octet);
    assert!(!udp_listening(base) && !udp_listening(base + 1));
    // Unmarked files (disks, console logs) were left alone, with their commands.
    crate::engine_support::remove_left_alone_files(&list);
    let o = lab.labwarp(&["clean", "--level", "virthost", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(lab.leftovers(), Vec::<String>::new());
}
