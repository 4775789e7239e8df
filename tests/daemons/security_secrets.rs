//! Secrets: the VirtualBMC password (generated per lab) never appears in the workspace logs,
//! the state file, the run's output or any process's arguments or environment (every
//! /proc/*/cmdline and environ sampled during a whole demo run); secret files and keys are
//! 0600 in 0700 directories; labwarp leaves no core dump (it is non-dumpable).
//!
//! Also: the typed root password of `--bootstrap` (tests/daemons/ssh_cli.rs
//! `bootstrap_confirms_the_host_key_and_asks_the_password_without_echo`), the masked field
//! (tests/quick/proptest_form.rs `a_typed_vbmc_password_is_masked_on_screen`), lab.yaml never holding
//! a saved password (src/secrets.rs unit tests).

use crate::common::procs::ProcSampler;
use crate::engine_support::{TestLab, bin, text, walk};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Files that hold the secret on purpose: its own file, and instackenv.json in the (sandbox)
/// undercloud, which is how TripleO receives it.
fn holds_it_on_purpose(p: &Path) -> bool {
    p.ends_with("secrets/vbmc-password") || p.file_name().is_some_and(|n| n == "instackenv.json")
}

#[test]
fn the_vbmc_password_stays_out_of_logs_state_output_and_process_arguments() {
    let _turn = crate::common::turn(module_path!());
    let lab = TestLab::demo_file("secret", "", "ws");
    let sampler = ProcSampler::start();
    let o = lab.labwarp(&["run", "--yes"]);
    let samples = sampler.finish();
    assert!(o.status.success(), "{}", text(&o));

    // Generated per lab, into a 0600 file in a 0700 directory.
    let pw_file = lab.ws().join("secrets/vbmc-password");
    let password = std::fs::read_to_string(&pw_file)
        .expect("a generated VBMC password")
        .trim()
        .to_string();
    assert_eq!(password.len(), 20, "IPMI 2.0 allows 20 bytes");
    assert_eq!(mode(&pw_file), 0o600);
    assert_eq!(mode(pw_file.parent().unwrap()), 0o700);

    // It reached the undercloud (so the run really handled it) only in 0600 files.
    let files: Vec<_> = walk(lab.ws()).into_iter().filter(|p| p.is_file()).collect();
    let mut on_purpose = 0;
    for f in &files {
        let content = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
        if !content.contains(&password) {
            continue;
        }
        assert!(
            holds_it_on_purpose(f),
            "the VBMC password leaked into {}",
            f.display()
        );
        assert_eq!(mode(f), 0o600, "{} holds the password", f.display());
        on_purpose += 1;
    }
    assert!(on_purpose >= 2, "instackenv.json should carry the password");
    for required in ["state.yaml", "logs"] {
        assert!(lab.ws().join(required).exists(), "no {required} to check");
    }
    let out = text(&o);
    assert!(!out.contains(&password), "the run printed the password");
    let leaks = samples.containing(&password, |_| false);
    assert!(
        leaks.is_empty(),
        "in process arguments/environment: {leaks:?}"
    );
    assert!(
        samples
            .seen
            .iter()
            .any(|s| s.contains(bin()) && s.contains(" run ")),
        "the sampler never saw the run: it proves nothing"
    );

    // Keys and secret directories: 0600 files in 0700 directories.
    let mut checked = 0;
    for dir in ["keys", "secrets"] {
        let d = lab.ws().join(dir);
        if !d.exists() {
            continue;
        }
        assert_eq!(mode(&d), 0o700, "{}", d.display());
        for f in walk(&d).into_iter().filter(|p| p.is_file()) {
            let want = if f.extension().is_some_and(|e| e == "pub") {
                0o644
            } else {
                0o600
            };
            assert!(mode(&f) & !want == 0, "{} is {:o}", f.display(), mode(&f));
            checked += 1;
        }
    }
    println!(
        "secrets (demo run): VBMC password generated per lab (0600 in 0700); {} workspace files, {} distinct process command lines/environments over {} sweeps, the run's output: 0 leaks; {checked} key/secret files 0600",
        files.len(),
        samples.seen.len(),
        samples.sweeps
    );
}

/// Runs `argv` with core dumps allowed (`ulimit -c unlimited`, then exec: same pid) in `dir`,
/// waits until `ready(pid)`, sends SIGABRT (Rust catches SIGSEGV for its stack guard); returns whether the kernel reports a core dump,
/// the signal it died of, and any core files left in `dir`.
fn crash(
    argv: &[&str],
    dir: &Path,
    ready: impl Fn(u32) -> bool,
) -> (bool, Option<i32>, Vec<String>) {
    let mut child = Command::new("sh")
        .args(["-c", "ulimit -c unlimited && exec \"$@\"", "sh"])
        .args(argv)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let exe = std::fs::canonicalize(argv[0]).ok();
    let execed = || {
        std::fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .is_some_and(|e| exe.as_ref().is_none_or(|want| &e == want) && !e.ends_with("sh"))
    };
    let mut waited = 0;
    while !(execed() && ready(pid)) && waited < 3000 {
        // Bounded wait for the program to be up; not a timing assertion.
        std::thread::sleep(std::time::Duration::from_millis(10));
        waited += 1;
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGABRT,
    )
    .expect("kill");
    let status = child.wait().expect("wait");
    for d in crate::sshd::descendants(pid) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(d as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let cores = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("core"))
        .collect();
    (status.core_dumped(), status.signal(), cores)
}

fn sigabrt() -> i32 {
    nix::sys::signal::Signal::SIGABRT as i32
}

#[test]
fn labwarp_leaves_no_core_dump() {
    let _turn = crate::common::turn(module_path!());
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    // Control: the same crash of an ordinary process must dump, or this machine does not
    // write core dumps at all and the test would prove nothing.
    let control_dir = tempfile::tempdir().unwrap();
    let sleep = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v sleep"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let (dumped, _, _) = crash(&[sleep.trim(), "30"], control_dir.path(), |_| true);
    if !dumped {
        eprintln!(
            "\n*** SKIPPED labwarp_leaves_no_core_dump: this machine writes no core dumps even for `sleep` (core_pattern {:?}) ***\n",
            pattern.trim()
        );
        return;
    }
    // labwarp holding its workspace key and waiting on a command (`address: local`).
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let lab = dir.path().join("lab.yaml");
    std::fs::write(&lab, "preset: demo\nname: lwcore\n").unwrap();
    let lab = lab.display().to_string();
    let argv = [bin(), "ssh", "--config", lab.as_str(), "demo", "sleep 30"];
    let (dumped, signal, cores) = crash(&argv, dir.path(), |pid| {
        !crate::sshd::descendants(pid).is_empty()
    });
    assert_eq!(
        signal,
        Some(sigabrt()),
        "labwarp did not die of the SIGABRT"
    );
    assert!(
        !dumped,
        "the kernel dumped labwarp's memory (cores: {cores:?})"
    );
    assert!(cores.is_empty(), "core files: {cores:?}");
    println!(
        "secrets (core dumps): a SIGABRT of `sleep` dumps core here, of labwarp: none (PR_SET_DUMPABLE 0)"
    );
}
