//! `labwarp clean` removes only what labwarp made (SECURITY.md, "clean removes only what
//! labwarp made"). Things labwarp did not make are planted before and between runs, on a
//! real libvirtd, real podman and real files: another VM's disk in a pool directory that
//! existed before, a domain, a network and a volume named with the lab's prefix,
//! containers with the lab's names but no label (or another workspace's identity), user
//! files in the workspace and the sandbox, symbolic links where labwarp writes. Then run,
//! clean at every level, kill -9 in the middle of a clean and clean again: every planted
//! thing is still there byte for byte, and everything labwarp made is gone.

use crate::engine_support::{TestLab, libvirtd_available, text};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn sh(cmd: &str) -> std::process::Output {
    Command::new("sh").args(["-c", cmd]).output().unwrap()
}

fn ok(cmd: &str) -> String {
    let o = sh(cmd);
    assert!(o.status.success(), "`{cmd}` failed: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A rootfs podman can create a container from without any image (`--rootfs`).
fn rootfs() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("bin")).unwrap();
    std::fs::copy("/bin/busybox", d.path().join("bin/sleep")).unwrap();
    d
}

/// Containers created (never started) from a bare rootfs, removed on drop.
struct Planted {
    containers: Vec<String>,
    domains: Vec<String>,
    networks: Vec<String>,
    _rootfs: tempfile::TempDir,
}

impl Planted {
    fn container(&mut self, name: &str, labels: &[&str]) {
        let mut c = Command::new("podman");
        c.args(["create", "--network", "none", "--name", name]);
        for l in labels {
            c.args(["--label", l]);
        }
        c.arg("--rootfs")
            .arg(self._rootfs.path())
            .args(["/bin/sleep", "1000"]);
        let o = c.output().unwrap();
        assert!(o.status.success(), "podman create {name}: {}", text(&o));
        self.containers.push(name.to_string());
    }

    fn domain(&mut self, name: &str) {
        let xml = format!(
            "<domain type='qemu'><name>{name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>"
        );
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), xml).unwrap();
        ok(&format!(
            "virsh -c qemu:///system define {}",
            f.path().display()
        ));
        self.domains.push(name.to_string());
    }

    fn network(&mut self, name: &str, bridge: &str) {
        let xml = format!("<network><name>{name}</name><bridge name='{bridge}'/></network>");
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), xml).unwrap();
        ok(&format!(
            "virsh -c qemu:///system net-define {}",
            f.path().display()
        ));
        self.networks.push(name.to_string());
    }

    fn container_exists(name: &str) -> bool {
        sh(&format!("podman container exists {name}"))
            .status
            .success()
    }
}

impl Drop for Planted {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = sh(&format!("podman rm -f --ignore {c}"));
        }
        for d in &self.domains {
            let _ = sh(&format!("virsh -c qemu:///system undefine {d}"));
        }
        for n in &self.networks {
            let _ = sh(&format!("virsh -c qemu:///system net-undefine {n}"));
        }
    }
}

/// Every planted file with its bytes.
fn snapshot(files: &[PathBuf]) -> BTreeMap<PathBuf, Vec<u8>> {
    files
        .iter()
        .map(|f| {
            (
                f.clone(),
                std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display())),
            )
        })
        .collect()
}

fn assert_planted_intact(files: &BTreeMap<PathBuf, Vec<u8>>, planted: &Planted, when: &str) {
    for (f, bytes) in files {
        let now = std::fs::read(f)
            .unwrap_or_else(|e| panic!("{when}: planted {} is gone: {e}", f.display()));
        assert!(&now == bytes, "{when}: planted {} changed", f.display());
    }
    for c in &planted.containers {
        assert!(
            Planted::container_exists(c),
            "{when}: planted container {c} was removed"
        );
    }
    for d in &planted.domains {
        assert!(
            sh(&format!("virsh -c qemu:///system dominfo {d}"))
                .status
                .success(),
            "{when}: planted domain {d} was removed"
        );
    }
    for n in &planted.networks {
        assert!(
            sh(&format!("virsh -c qemu:///system net-info {n}"))
                .status
                .success(),
            "{when}: planted network {n} was removed"
        );
    }
}

/// What labwarp made that is still there: libvirt objects named with the prefix but the
/// planted ones, the lab's own labelled containers, the state file's resources.
fn made_by_labwarp_left(lab: &TestLab, planted: &Planted) -> Vec<String> {
    lab.leftovers()
        .into_iter()
        .filter(|l| {
            !planted
                .domains
                .iter()
                .any(|d| l.starts_with(&format!("domain {d} ")))
                && !planted.networks.iter().any(|n| *l == format!("network {n}"))
                && !planted.containers.iter().any(|c| *l == format!("container {c}"))
                // The sandbox stays while it holds the planted files (checked apart).
                && !l.starts_with("directory ")
        })
        .collect()
}

#[test]
fn clean_at_every_level_and_after_a_kill_touches_nothing_it_did_not_make() {
    let _turn = crate::common::turn(module_path!());
    if !libvirtd_available() {
        return;
    }
    let lab = TestLab::libvirtd("own", 215);
    let ws = lab.ws().to_path_buf();
    let name = lab.name.clone();
    let mut planted = Planted {
        containers: Vec::new(),
        domains: Vec::new(),
        networks: Vec::new(),
        _rootfs: rootfs(),
    };
    // Before the run: a pool directory that already holds another VM's disk, a volume
    // named with the lab's prefix in it, user files in the workspace and the sandbox.
    let pool = ws.join("sandbox/pool");
    std::fs::create_dir_all(pool.join("keep")).unwrap();
    let files = vec![
        pool.join("other-vm.qcow2"),
        pool.join("keep/notes.txt"),
        pool.join(format!("{name}-stray.qcow2")),
        ws.join("sandbox/mine.txt"),
        ws.join("notes.txt"),
    ];
    for (i, f) in files.iter().enumerate() {
        std::fs::write(f, format!("planted {i} {}\n", "x".repeat(i * 100))).unwrap();
    }
    planted.domain(&format!("{name}-stranger"));
    planted.network(&format!("{name}-strnet"), &format!("{name}x"));
    let before = snapshot(&files);

    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_planted_intact(&before, &planted, "after the run");

    // Between runs: containers named as the lab's would be but not labelled, and one
    // labelled for a lab of the same name in another workspace; a file in the lab's
    // image cache directory.
    planted.container(&format!("{name}-nova_api"), &[]);
    planted.container(
        &format!("{name}-twin"),
        &[
            &format!("labwarp.lab={name}"),
            "labwarp.lab-id=00000000000000000000000000000000",
        ],
    );
    let cache_file = ws.join("sandbox/images/user.iso");
    std::fs::write(&cache_file, "mine").unwrap();
    let mut with_cache = files.clone();
    with_cache.push(cache_file.clone());
    let before = snapshot(&with_cache);

    // The dry run says what stays and why, before anything is removed.
    let o = lab.labwarp(&["clean", "--level", "all", "--dry-run", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let kept: Vec<String> = list["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            format!(
                "{}: {}",
                k["what"].as_str().unwrap(),
                k["why"].as_str().unwrap()
            )
        })
        .collect();
    let items = crate::engine_support::dry_run_whats(&list, "items");
    for want in [
        format!("domain {name}-stranger"),
        format!("network {name}-strnet"),
        format!("container {name}-nova_api "),
        format!("container {name}-twin "),
        format!("directory {} ", pool.display()),
    ] {
        assert!(
            kept.iter().any(|k| k.starts_with(&want)),
            "the dry run must list {want} as left alone: {kept:#?}"
        );
        assert!(
            !items.iter().any(|i| i.starts_with(&want)),
            "the dry run would remove {want}: {items:#?}"
        );
    }
    assert!(
        kept.iter().any(|k| k.contains("another workspace")),
        "the twin's reason names another workspace: {kept:#?}"
    );
    assert!(
        items
            .iter()
            .any(|i| i.starts_with(&format!("domain {name}-undercloud"))),
        "{items:#?}"
    );

    // nodes, then a virthost clean killed half-way, then virthost and all.
    let o = lab.labwarp(&["clean", "--level", "nodes", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_planted_intact(&before, &planted, "after clean --level nodes");

    let mut child = lab.spawn(
        &["clean", "--level", "virthost", "--yes"],
        Some("clean/item-2@before-remove=pause"),
    );
    let paused = ws.join("fault-paused-clean_item-2@before-remove");
    let t0 = std::time::Instant::now();
    while !paused.exists() {
        if let Some(st) = child.try_wait().unwrap() {
            panic!(
                "the clean ended before its pause: {st:?}\n{}",
                lab.spawned_log()
            );
        }
        assert!(
            t0.elapsed().as_secs() < 120,
            "no pause\n{}",
            lab.spawned_log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_file(&paused).unwrap();
    assert_planted_intact(&before, &planted, "after a clean killed half-way");

    for level in ["virthost", "all"] {
        let o = lab.labwarp(&["clean", "--level", level, "--yes"]);
        assert!(o.status.success(), "{}", text(&o));
        assert_planted_intact(&before, &planted, &format!("after clean --level {level}"));
    }
    // The image cache directory labwarp made stays while it holds the user's file (and
    // stays recorded, so that a later clean removes it once emptied).
    let images = ws.join("sandbox/images");
    let left: Vec<String> = made_by_labwarp_left(&lab, &planted)
        .into_iter()
        .filter(|l| !l.contains(&format!("{}\"", images.display())))
        .collect();
    assert_eq!(
        left,
        Vec::<String>::new(),
        "labwarp's own objects must be gone"
    );
    let mut in_images: Vec<String> = std::fs::read_dir(&images)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    in_images.sort();
    assert_eq!(
        in_images,
        vec![".labwarp-owner".to_string(), "user.iso".into()]
    );
    // labwarp's directories are gone where it made them; the pool directory that existed
    // before stays with exactly what it held (and the stray volume), nothing of the lab.
    let mut left: Vec<String> = std::fs::read_dir(&pool)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let mut want = vec![
        "keep".to_string(),
        "other-vm.qcow2".into(),
        format!("{name}-stray.qcow2"),
    ];
    want.sort();
    assert_eq!(
        left, want,
        "the pre-existing pool directory holds only what was planted"
    );
    assert!(
        !ws.join("sandbox/undercloud").exists(),
        "the sandbox undercloud is labwarp's"
    );
    // Once the user moves their file away, the next clean removes labwarp's directory.
    std::fs::remove_file(&cache_file).unwrap();
    let o = lab.labwarp(&["clean", "--level", "all", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!images.exists(), "{}", text(&o));
    assert_eq!(made_by_labwarp_left(&lab, &planted), Vec::<String>::new());
    let o = lab.labwarp(&["clean", "--level", "all", "--dry-run"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("0 item(s) to remove"),
        "one more clean finds nothing of the lab's: {}",
        text(&o)
    );
}

#[test]
fn a_container_in_the_way_is_never_replaced_and_the_run_says_so() {
    let _turn = crate::common::turn(module_path!());
    let lab = TestLab::demo("way");
    let mut planted = Planted {
        containers: Vec::new(),
        domains: Vec::new(),
        networks: Vec::new(),
        _rootfs: rootfs(),
    };
    let name = format!("{}-keystone", lab.name);
    planted.container(&name, &[]);
    let id_before = ok(&format!("podman container inspect -f '{{{{.Id}}}}' {name}"));
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(!o.status.success(), "the run must stop: {}", text(&o));
    let all = text(&o);
    assert!(
        all.contains(&name) && all.contains("did not make"),
        "the failure names the container and why: {all}"
    );
    let id_after = ok(&format!("podman container inspect -f '{{{{.Id}}}}' {name}"));
    assert_eq!(id_before, id_after, "the planted container was replaced");
    // The clean removes the lab's containers, never the planted one.
    let o = lab.labwarp(&["clean", "--level", "virthost", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(Planted::container_exists(&name));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("left alone"),
        "{}",
        text(&o)
    );
}

#[test]
fn links_planted_where_labwarp_writes_are_refused_and_never_followed() {
    let _turn = crate::common::turn(module_path!());
    for entry in [
        "logs",
        "state.yaml",
        "secrets",
        "keys",
        "known_hosts",
        "sandbox",
        "lab-id",
    ] {
        let lab = TestLab::demo("lnk");
        let target = tempfile::tempdir().unwrap();
        let victim = target.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let link_to: &Path = if entry.contains('.') || entry == "known_hosts" || entry == "lab-id" {
            &victim
        } else {
            target.path()
        };
        std::os::unix::fs::symlink(link_to, lab.ws().join(entry)).unwrap();
        let o = lab.labwarp(&["run", "--yes"]);
        assert!(
            !o.status.success(),
            "{entry}: a link must be refused: {}",
            text(&o)
        );
        let err = text(&o);
        assert!(
            err.contains(entry) && err.contains("symbolic link"),
            "{entry}: the refusal names the link: {err}"
        );
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "precious\n",
            "{entry}"
        );
        let names: Vec<_> = std::fs::read_dir(target.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names.len(),
            1,
            "{entry}: labwarp wrote through the link: {names:?}"
        );
        let o = lab.labwarp(&["clean", "--level", "all", "--yes"]);
        assert!(
            !o.status.success(),
            "{entry}: clean refuses too: {}",
            text(&o)
        );
        assert!(victim.exists());
    }
}
