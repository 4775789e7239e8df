//! podman fixtures: a busybox image built locally (no registry is reachable) and containers
//! run with the flags this sandbox needs (runc, no network, lowered ulimits; see
//! HOST-SETUP.md), removed when their guard drops.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// The test image: Debian's static busybox with one symlink per applet, imported from a
/// rootfs tarball.
pub const IMAGE: &str = "localhost/labwarp-busybox:latest";

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn build_image() {
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.exists(),
        "/bin/busybox missing: install busybox-static (scripts/setup-host.sh)"
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for d in ["tmp", "etc", "proc", "sys", "dev"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(busybox, bin.join("busybox")).unwrap();
    let list = run(Command::new(busybox).arg("--list"));
    for applet in list.lines().map(str::trim).filter(|a| !a.is_empty()) {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
    }
    let tar = dir.path().join("rootfs.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg("."));
    run(Command::new("podman")
        .arg("import")
        .arg("-q")
        .arg(&tar)
        .arg(IMAGE));
}

/// Builds the image once per test process (and not at all when it already exists; the
/// content is the same, so concurrent builds by other test binaries are harmless).
pub fn ensure_image() -> &'static str {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let exists = Command::new("podman")
            .args(["image", "exists", IMAGE])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !exists {
            build_image();
        }
    });
    IMAGE
}

/// Removes the container when dropped (also when the test panics).
pub struct ContainerGuard {
    pub name: String,
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args(["rm", "-f", "-t", "0", &self.name])
            .output();
    }
}

/// `podman run -d` of the test image running `script` with /bin/sh; `extra` goes before the
/// image (e.g. health check options).
pub fn run_container(name: &str, script: &str, extra: &[&str]) -> ContainerGuard {
    let image = ensure_image();
    let guard = ContainerGuard { name: name.into() };
    let mut cmd = Command::new("podman");
    cmd.args([
        "--runtime",
        "runc",
        "run",
        "-d",
        "--network",
        "none",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1000:1000",
        "--name",
        name,
    ])
    .args(extra)
    .args([image, "/bin/sh", "-c", script]);
    run(&mut cmd);
    guard
}

/// Blocks until the container exits (`podman wait`); returns its exit code.
pub fn wait_exit(name: &str) -> i32 {
    run(Command::new("podman").args(["wait", name]))
        .trim()
        .parse()
        .expect("podman wait prints the exit code")
}
