//! Shared by the tests that boot the tiny guest (scripts/build-tiny-guest.sh): builds it
//! into a fixed cache dir (instant when the package versions have not changed).
#![allow(dead_code)] // each test crate uses its own part of this module

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The libvirt URI of the real daemon (started by scripts/setup-host.sh inside netns
/// `labwarp-ci`).
pub const URI: &str = "qemu:///system";

/// The network namespace libvirtd runs in: everything that talks to a guest runs there.
pub fn netns() -> String {
    std::env::var("LABWARP_NETNS").unwrap_or_else(|_| "labwarp-ci".into())
}

/// The built guest.
pub struct TinyGuest {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
}

/// Where the guest is cached: `$LABWARP_TINY_GUEST_CACHE`, else
/// /var/cache/labwarp-test/tiny-guest (scripts/setup-host.sh builds it there).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("LABWARP_TINY_GUEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/labwarp-test/tiny-guest"))
}

/// Builds the tiny guest into [`cache_dir`] unless the cache is current, and returns it.
pub fn ensure_built() -> TinyGuest {
    let dir = cache_dir();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-tiny-guest.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(&dir)
        .output()
        .expect("run scripts/build-tiny-guest.sh");
    assert!(
        out.status.success(),
        "scripts/build-tiny-guest.sh {} failed (needs root, apt lists and the network; \
         scripts/setup-host.sh runs it):\n{}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let guest = TinyGuest {
        kernel: dir.join("vmlinuz"),
        initrd: dir.join("initrd.img"),
    };
    assert!(guest.kernel.is_file() && guest.initrd.is_file());
    guest
}

/// `virsh -c URI ARGS…`: stdout, or the stderr as the error.
pub fn virsh(args: &[&str]) -> Result<String, String> {
    let out = Command::new("virsh")
        .arg("-c")
        .arg(URI)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run virsh: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Fails loudly when the real libvirtd is not there (CI starts it with setup-host.sh).
pub fn require_libvirtd() {
    if let Err(e) = virsh(&["uri"]) {
        panic!(
            "the real libvirtd ({URI}) is not reachable: {e}\n\
             run scripts/setup-host.sh as root first (it starts libvirtd in netns labwarp-ci)"
        );
    }
}

/// Polls `f` every 250 ms until it returns `Some` or `limit` passes (a bound so a broken
/// guest fails the test instead of hanging it; not a speed assertion).
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < end,
            "gave up waiting for {what} after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The IPv4 address leased to `mac` on `network`.
pub fn lease_ip(network: &str, mac: &str) -> Option<String> {
    let out = virsh(&["net-dhcp-leases", network, "--mac", mac]).ok()?;
    out.lines()
        .filter(|l| l.contains(mac) && l.contains("ipv4"))
        .flat_map(|l| l.split_whitespace())
        .find(|w| w.starts_with("192.168.") && w.contains('/'))
        .and_then(|w| w.split('/').next())
        .map(str::to_string)
}
