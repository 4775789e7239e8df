//! Helpers for the engine's end-to-end tests: a lab with a unique name and workspace, the
//! real `labwarp` binary run as a child process, and probes of what exists (libvirt through
//! virsh, the filesystem, podman) independent of labwarp's own view.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_labwarp")
}

pub struct TestLab {
    pub name: String,
    pub ws: tempfile::TempDir,
    /// `None`: the demo preset (test:///default). `Some`: a lab file on qemu:///system.
    pub file: Option<PathBuf>,
    pub uri: String,
    /// Run labwarp inside this network namespace (`ip netns exec`), where the lab's
    /// private-range networks live.
    pub netns: Option<String>,
    /// `LABWARP_SANDBOX=1`: the undercloud is a directory on this machine.
    pub sandbox: bool,
    /// Extra environment for every labwarp run.
    pub env: Vec<(String, String)>,
    /// The workspace when it is not the temp dir itself (a path below it).
    pub workspace: Option<PathBuf>,
}

/// The VirtualBMC base port of a libvirtd test lab: 4 ports per subnet octet, away from
/// the usual 6230 (and its TCP twin, vbmcd's control port).
pub fn vbmc_base_port(octet: u8) -> u16 {
    20000 + u16::from(octet) * 4
}

/// vbmcd processes (and the BMCs they forked) whose config lies in `dir`: they carry
/// `VIRTUALBMC_CONFIG=<dir>/...` in their environment.
pub fn vbmcd_processes(dir: &Path) -> Vec<String> {
    let needle = format!("VIRTUALBMC_CONFIG={}/", dir.display());
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        if env
            .split(|b| *b == 0)
            .any(|v| v.starts_with(needle.as_bytes()))
        {
            out.push(format!("vbmcd process {name}"));
        }
    }
    out
}

/// Short and unique per test and process (bridge names are at most 15 characters).
pub fn unique(tag: &str) -> String {
    format!("lw{tag}{}", std::process::id() % 10000)
}

impl TestLab {
    pub fn demo(tag: &str) -> TestLab {
        TestLab {
            name: unique(tag),
            ws: tempfile::tempdir().expect("temp workspace"),
            file: None,
            uri: "test:///default".into(),
            netns: None,
            sandbox: true,
            env: Vec::new(),
            workspace: None,
        }
    }

    /// The demo preset from a lab file (`preset: demo`, the unique name, then `extra` YAML),
    /// with the workspace at `sub` below the temp dir (any name: tests try hostile ones).
    pub fn demo_file(tag: &str, extra: &str, sub: &str) -> TestLab {
        let mut lab = TestLab::demo(tag);
        let file = lab.ws.path().join("lab.yaml");
        std::fs::write(&file, format!("preset: demo\nname: {}\n{extra}", lab.name))
            .expect("lab file");
        lab.workspace = Some(lab.ws.path().join(sub));
        lab.file = Some(file);
        lab
    }

    /// A lab on the real libvirtd (inside netns labwarp-ci) with its own bridges and
    /// subnet (`octet` picks 192.168.<octet>.0/24, unique per test), a sandbox undercloud
    /// and the stand-in `openstack`. Its VirtualBMC listens on 127.0.0.1 (this test runs in
    /// the root namespace) from UDP port `vbmc_base_port(octet)`, unique per test too.
    pub fn libvirtd(tag: &str, octet: u8) -> TestLab {
        TestLab::libvirtd_at(tag, octet, "qemu:///system")
    }

    /// [`TestLab::libvirtd`] on the daemon at `uri` (a private one: tests/libvirtd_support).
    pub fn libvirtd_at(tag: &str, octet: u8, uri: &str) -> TestLab {
        let name = unique(tag);
        let ws = tempfile::tempdir().expect("temp workspace");
        let file = ws.path().join("lab.yaml");
        std::fs::write(
            &file,
            format!(
                "preset: demo\nname: {name}\nhypervisors:\n  - name: virthost\n    address: local\n    ssh_user: root\n    stack_user: {name}s\n    libvirt_uri: {uri}\n    distro: debian\n    domain_type: qemu\nnetworks:\n  - name: external\n    bridge: {name}e\n    mode: nat\n    cidr: 192.168.{octet}.0/24\n    gateway: 192.168.{octet}.1\n    dhcp: {{start: 192.168.{octet}.10, end: 192.168.{octet}.50}}\n  - name: overcloud\n    bridge: {name}o\n    mode: isolated\novercloud:\n  vbmc: {{base_port: {port}, address: 127.0.0.1}}\noverrides: [bmc-address, undercloud-memory, node-memory]\n",
                port = vbmc_base_port(octet)
            ),
        )
        .expect("write lab file");
        TestLab {
            name,
            ws,
            file: Some(file),
            uri: uri.into(),
            netns: None,
            sandbox: true,
            env: Vec::new(),
            workspace: None,
        }
    }

    /// A lab file on the real libvirtd, run for real (no sandbox) from inside `netns`.
    pub fn real(name: String, ws: tempfile::TempDir, file: PathBuf, netns: &str) -> TestLab {
        TestLab {
            name,
            ws,
            file: Some(file),
            uri: "qemu:///system".into(),
            netns: Some(netns.to_string()),
            sandbox: false,
            env: Vec::new(),
            workspace: None,
        }
    }

    pub fn ws(&self) -> &Path {
        self.workspace.as_deref().unwrap_or(self.ws.path())
    }

    pub fn cmd(&self, args: &[&str], fault: Option<&str>) -> Command {
        let mut c = match &self.netns {
            // `ip netns exec` execs labwarp in place: the child's pid is labwarp's.
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, bin()]);
                c
            }
            None => Command::new(bin()),
        };
        c.args(args);
        match &self.file {
            Some(f) => {
                c.arg(f);
            }
            None => {
                c.args(["--preset", "demo", "--name", &self.name]);
            }
        }
        c.arg("--workspace")
            .arg(self.ws())
            .env("STANDIN_DELAY", "0");
        if self.sandbox {
            c.env("LABWARP_SANDBOX", "1");
        } else {
            c.env_remove("LABWARP_SANDBOX");
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        match fault {
            Some(f) => c.env("LABWARP_FAULT", f),
            None => c.env_remove("LABWARP_FAULT"),
        };
        c
    }

    pub fn labwarp(&self, args: &[&str]) -> Output {
        self.cmd(args, None).output().expect("run labwarp")
    }

    /// Starts labwarp in the background; its stdout and stderr go to `spawned.log` in the
    /// workspace (overwritten by the next spawn), which [`TestLab::spawned_log`] reads back
    /// so a failing run can say why.
    pub fn spawn(&self, args: &[&str], fault: Option<&str>) -> Child {
        let log = std::fs::File::create(self.ws().join("spawned.log")).expect("spawned.log");
        let err = log.try_clone().expect("spawned.log");
        self.cmd(args, fault)
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn labwarp")
    }

    /// What the last [`TestLab::spawn`]ed run printed.
    pub fn spawned_log(&self) -> String {
        std::fs::read_to_string(self.ws().join("spawned.log")).unwrap_or_default()
    }

    /// Every step as `stage/step`, in plan order (from `labwarp plan --json`).
    pub fn steps(&self) -> Vec<String> {
        self.steps_with_status()
            .into_iter()
            .map(|(s, _)| s)
            .collect()
    }

    /// Every step with what its check says now (`done`, `todo`, `error`).
    pub fn steps_with_status(&self) -> Vec<(String, String)> {
        let o = self.labwarp(&["plan", "--json"]);
        assert!(o.status.success(), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("plan JSON");
        let mut out = Vec::new();
        for st in v["stages"].as_array().expect("stages") {
            for s in st["steps"].as_array().expect("steps") {
                out.push((
                    format!(
                        "{}/{}",
                        st["id"].as_str().unwrap(),
                        s["id"].as_str().unwrap()
                    ),
                    s["status"].as_str().unwrap_or("?").to_string(),
                ));
            }
        }
        out
    }

    /// The lab's containers with their state (`running`, `exited`, ...).
    pub fn containers(&self) -> Vec<(String, String)> {
        let out = Command::new("podman")
            .args(["ps", "-a", "--filter"])
            .arg(format!("label=labwarp.lab={}", self.name))
            .args(["--format", "json"])
            .output()
            .expect("podman ps");
        let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let mut v: Vec<(String, String)> = list
            .iter()
            .map(|c| {
                (
                    c["Names"][0].as_str().unwrap_or("?").to_string(),
                    c["State"].as_str().unwrap_or("?").to_string(),
                )
            })
            .collect();
        v.sort();
        v
    }

    /// The URI virsh reads the lab's libvirt through: for a lab on `test:///default`, the
    /// world labwarp keeps in the workspace (`libvirt-test.xml`, loaded as `test:///PATH`),
    /// so what a run left is seen from outside labwarp.
    pub fn virsh_uri(&self) -> String {
        let world = self.ws().join("libvirt-test.xml");
        if self.uri == "test:///default" && world.is_file() {
            labwarp::virt::world_uri(&world)
        } else {
            self.uri.clone()
        }
    }

    fn virsh_names(&self, what: &str) -> Vec<String> {
        let out = Command::new("virsh")
            .args(["-c", &self.virsh_uri(), what, "--all", "--name"])
            .output()
            .expect("virsh");
        let prefix = format!("{}-", self.name);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with(&prefix))
            .map(str::to_string)
            .collect()
    }

    /// Domains with their state, networks and pools named with the lab prefix (on
    /// test:///default: in the world the workspace keeps, see [`TestLab::virsh_uri`]).
    pub fn libvirt_objects(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let uri = self.virsh_uri();
        for d in self.virsh_names("list") {
            let st = Command::new("virsh")
                .args(["-c", &uri, "domstate", &d])
                .output()
                .expect("virsh domstate");
            out.insert(format!(
                "domain {d} {}",
                String::from_utf8_lossy(&st.stdout).trim()
            ));
        }
        for n in self.virsh_names("net-list") {
            out.insert(format!("network {n}"));
        }
        for p in self.virsh_names("pool-list") {
            out.insert(format!("pool {p}"));
        }
        out
    }

    pub fn user_exists(&self) -> bool {
        Command::new("getent")
            .args(["passwd", &format!("{}s", self.name)])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// Everything that exists, with the lab name and workspace replaced by placeholders,
    /// so two labs' end states compare equal when they are the same.
    pub fn end_state(&self) -> BTreeSet<String> {
        let norm = |s: &str| {
            s.replace(&self.ws().display().to_string(), "WS")
                .replace(&self.name, "LAB")
        };
        let mut out: BTreeSet<String> = self.libvirt_objects().iter().map(|s| norm(s)).collect();
        for (c, st) in self.containers() {
            out.insert(norm(&format!("container {c} {st}")));
        }
        for f in walk(&self.ws().join("sandbox")) {
            out.insert(norm(&format!("file {}", f.display())));
        }
        if self.user_exists() {
            out.insert("user LAB".into());
        }
        let state = std::fs::read_to_string(self.ws().join("state.yaml")).unwrap_or_default();
        let st: serde_yaml::Value = serde_yaml::from_str(&state).unwrap_or_default();
        if let Some(rs) = st["resources"].as_sequence() {
            for r in rs {
                let what = r["name"]
                    .as_str()
                    .or(r["path"].as_str())
                    .or(r["node"].as_str())
                    .unwrap_or("?");
                out.insert(norm(&format!(
                    "state {} {} {}",
                    r["kind"].as_str().unwrap_or("?"),
                    what,
                    r["status"].as_str().unwrap_or("?")
                )));
            }
        }
        out
    }

    /// What labwarp created that still exists, leaving out what only `--level all` removes
    /// (the stack user and its sudoers rule).
    pub fn leftovers(&self) -> Vec<String> {
        let mut v: Vec<String> = self.libvirt_objects().into_iter().collect();
        v.extend(
            self.containers()
                .into_iter()
                .map(|(c, _)| format!("container {c}")),
        );
        if self.ws().join("sandbox").exists() {
            v.push(format!("directory {}", self.ws().join("sandbox").display()));
        }
        v.extend(vbmcd_processes(self.ws()));
        let state = std::fs::read_to_string(self.ws().join("state.yaml")).unwrap_or_default();
        let st: serde_yaml::Value = serde_yaml::from_str(&state).unwrap_or_default();
        for r in st["resources"].as_sequence().cloned().unwrap_or_default() {
            let all_only = r["kind"].as_str() == Some("user") || r["level"].as_str() == Some("all");
            if !all_only {
                v.push(format!("state.yaml still lists {r:?}"));
            }
        }
        v
    }
}

/// Files and directories under `dir`, sorted.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        out.push(p.clone());
        if p.is_dir() {
            out.extend(walk(&p));
        }
    }
    out.sort();
    out
}

impl Drop for TestLab {
    fn drop(&mut self) {
        // Whatever happened, leave nothing behind.
        let _ = self.labwarp(&["clean", "--level", "all", "--yes"]);
        for (c, _) in self.containers() {
            let _ = Command::new("podman").args(["rm", "-f", &c]).output();
        }
    }
}

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// After a lost state file: runs the commands a `clean --dry-run --json` listed for the
/// files it left alone (unmarked, so not provably the lab's), as a user who knows they are
/// not needed would. Returns how many it ran.
pub fn remove_left_alone_files(dry_run: &serde_json::Value) -> usize {
    let cmds: Vec<String> = dry_run["kept"]
        .as_array()
        .expect("the dry run lists what it leaves alone")
        .iter()
        .filter(|k| k["what"].as_str().unwrap_or("").starts_with("file "))
        .map(|k| {
            k["by_hand"]
                .as_str()
                .expect("a file left alone comes with the command that removes it")
                .to_string()
        })
        .collect();
    for c in &cmds {
        let st = Command::new("sh").args(["-c", c]).status().expect("sh");
        assert!(st.success(), "{c}");
    }
    cmds.len()
}

/// Whether the shared libvirtd (qemu:///system) answers; says loudly that the test is
/// skipped when it does not.
pub fn libvirtd_available() -> bool {
    let ok = Command::new("virsh")
        .args(["-c", "qemu:///system", "version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!(
            "\n!!! SKIPPED: libvirtd (qemu:///system) is not reachable; run scripts/setup-host.sh first !!!\n"
        );
    }
    ok
}

/// The `what` of each entry of a clean dry run's list `key` (`items` or `kept`).
pub fn dry_run_whats(list: &serde_json::Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .expect("a clean --dry-run --json list")
        .iter()
        .map(|i| i["what"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The overcloud image and IPA tarballs as local files (nothing is downloaded from the
/// internet): quickstart's members, a line of text each, with their md5. A lab's run
/// fetches them into the cache, copies them to the tiny guest, unpacks and uploads them
/// (the upload is the stand-in's). Returns the `tripleo:` part of a lab file.
pub fn tripleo_tarballs(tmp: &Path) -> String {
    let mut yaml = String::from("tripleo:\n");
    for (field, tar) in [
        ("overcloud_image", labwarp::lab::tripleo::OVERCLOUD_TAR),
        ("ipa_image", labwarp::lab::tripleo::IPA_TAR),
    ] {
        let src = tmp.join(format!("{tar}.src"));
        std::fs::create_dir_all(&src).expect("tarball dir");
        for m in labwarp::plan::steps::overcloud_images::members(tar) {
            std::fs::write(src.join(m), format!("lab in a box: {m}\n")).expect("member");
        }
        let file = tmp.join(tar);
        let o = Command::new("tar")
            .arg("-cf")
            .arg(&file)
            .arg("-C")
            .arg(&src)
            .args(labwarp::plan::steps::overcloud_images::members(tar))
            .output()
            .expect("tar");
        assert!(o.status.success(), "tar: {}", text(&o));
        yaml.push_str(&format!(
            "  {field}: {{source: {}, md5: {}}}\n",
            file.display(),
            md5_of(&file)
        ));
    }
    yaml
}

/// A local file's md5, as `md5sum` prints it: what a test lab gives in `images.*.md5`, so the
/// image steps verify what they copy (with no md5 they are UNVERIFIED, by design).
pub fn md5_of(file: &Path) -> String {
    let o = Command::new("md5sum").arg(file).output().expect("md5sum");
    assert!(
        o.status.success(),
        "md5sum {}: {}",
        file.display(),
        text(&o)
    );
    let sum = String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    assert_eq!(sum.len(), 32, "md5sum {}: {sum:?}", file.display());
    sum
}
