//! podman fixtures: the busybox image labwarp's stand-in `openstack` builds (no registry is
//! reachable; one name, one builder, so the order of demo runs and test runs never matters)
//! and containers run with the flags this sandbox needs (runc, no network, lowered ulimits;
//! see HOST-SETUP.md), removed when their guard drops.

use std::process::Command;
use std::sync::OnceLock;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The stand-in's image (every busybox applet), built by the stand-in's own builder
/// (`scripts/standin/openstack --ensure-image`) when missing; returns its name. Once per
/// test process; concurrent builds by other test binaries import the same content.
pub fn ensure_image() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/standin/openstack");
        let out = run(Command::new("sh")
            .arg(script)
            .arg("--ensure-image")
            .env("LABWARP_LAB", "tests"));
        let name = out.lines().last().unwrap_or_default().trim().to_string();
        assert!(
            name.starts_with("localhost/labwarp-busybox:"),
            "the stand-in printed no image name: {out:?}"
        );
        name
    })
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
