//! `labwarp export` end to end: the real binary writes every artefact, secrets with mode
//! 0600, a generated VirtualBMC password that stays the same across exports and is never
//! printed.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn export(dir: &Path, lab: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_labwarp"))
        .current_dir(dir)
        .args(["export", "--out", "out", lab])
        .output()
        .unwrap()
}

#[test]
fn export_writes_every_artefact_with_secret_modes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lab.yaml"), "name: exp\nworkspace: ws\n").unwrap();
    let o = export(dir.path(), "lab.yaml");
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{stdout}\n{stderr}");
    let out = dir.path().join("out");
    for f in [
        "libvirt/networks/exp-external.xml",
        "libvirt/networks/exp-overcloud.xml",
        "libvirt/domains/exp-undercloud.xml",
        "libvirt/domains/exp-controller-0.xml",
        "libvirt/domains/exp-compute-0.xml",
        "cloud-init/user-data",
        "cloud-init/meta-data",
        "undercloud.conf",
        "ssh.config",
        "inventory.yaml",
        "tripleo/containers-prepare-parameter.yaml",
        "tripleo/overcloud-baremetal-deploy.yaml",
        "tripleo/network_data.yaml",
        "tripleo/vip_data.yaml",
    ] {
        assert_eq!(mode(&out.join(f)), 0o644, "{f}");
        assert!(stdout.contains(f), "{f} not reported:\n{stdout}");
    }
    assert_eq!(mode(&out.join("instackenv.json")), 0o600);
    // A fresh workspace gets its SSH key, and user-data authorises exactly that key.
    assert_eq!(mode(&dir.path().join("ws/keys/id_ed25519")), 0o600);
    assert!(
        stderr.contains("generated the workspace SSH key"),
        "{stderr}"
    );
    let pubkey = std::fs::read_to_string(dir.path().join("ws/keys/id_ed25519.pub")).unwrap();
    let material: Vec<&str> = pubkey.split_whitespace().take(2).collect();
    let ud = std::fs::read_to_string(out.join("cloud-init/user-data")).unwrap();
    assert!(ud.contains(&material.join(" ")), "{ud}");
    let pw_file = dir.path().join("ws/secrets/vbmc-password");
    assert_eq!(mode(&pw_file), 0o600);
    assert_eq!(mode(&dir.path().join("ws/secrets")), 0o700);
    let pw = std::fs::read_to_string(&pw_file).unwrap();
    // 20: the IPMI 2.0 maximum (and what `labwarp run` registers with VirtualBMC).
    assert!(
        pw.len() == 20,
        "generated password of {} characters",
        pw.len()
    );
    assert!(!stdout.contains(&pw) && !stderr.contains(&pw));
    let inst = std::fs::read_to_string(out.join("instackenv.json")).unwrap();
    assert!(inst.contains(&format!("\"pm_password\": \"{pw}\"")));
    // The inventory points ssh at the exported ssh.config, and keys at the workspace.
    let inv = std::fs::read_to_string(out.join("inventory.yaml")).unwrap();
    let abs = std::fs::canonicalize(dir.path()).unwrap();
    assert!(
        inv.contains(&format!("-F {}/out/ssh.config", abs.display())),
        "{inv}"
    );
    assert!(
        inv.contains(&format!("{}/ws/keys/id_ed25519", abs.display())),
        "{inv}"
    );

    // A second export reuses the stored password and leaves no temp files behind.
    let o = export(dir.path(), "lab.yaml");
    assert!(o.status.success());
    assert_eq!(std::fs::read_to_string(&pw_file).unwrap(), pw);
    assert_eq!(
        std::fs::read_to_string(out.join("instackenv.json")).unwrap(),
        inst
    );
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".labwarp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn export_uses_the_workspace_key_when_present() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("ws/keys")).unwrap();
    std::fs::set_permissions(
        dir.path().join("ws/keys"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "me@ws", "-f"])
        .arg(dir.path().join("ws/keys/id_ed25519"))
        .output()
        .expect("ssh-keygen (openssh-client; run scripts/setup-host.sh)");
    assert!(o.status.success());
    let pubkey = std::fs::read_to_string(dir.path().join("ws/keys/id_ed25519.pub")).unwrap();
    let material: Vec<&str> = pubkey.split_whitespace().take(2).collect();
    std::fs::write(dir.path().join("lab.yaml"), "name: exp2\nworkspace: ws\n").unwrap();
    let o = export(dir.path(), "lab.yaml");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("generated the workspace SSH key"));
    let ud = std::fs::read_to_string(dir.path().join("out/cloud-init/user-data")).unwrap();
    assert!(ud.contains(&material.join(" ")), "{ud}");
    // The key was used, not replaced.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ws/keys/id_ed25519.pub")).unwrap(),
        pubkey
    );
}

#[test]
fn export_of_a_bad_lab_exits_1_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lab.yaml"), "name: [unclosed\n").unwrap();
    let o = export(dir.path(), "lab.yaml");
    assert_eq!(o.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&o.stderr).is_empty());
    assert!(!dir.path().join("out/instackenv.json").exists());
}

#[test]
fn export_without_out_is_a_usage_error() {
    let o = Command::new(env!("CARGO_BIN_EXE_labwarp"))
        .args(["export"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--out"));
}

#[test]
fn export_of_a_preset_needs_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_labwarp"))
        .current_dir(dir.path())
        .args(["export", "--out", "out", "--preset", "live-migration"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = dir.path().join("out");
    assert!(out.join("tripleo/nova-nfs.yaml").exists());
    assert_eq!(mode(&out.join("instackenv.json")), 0o600);
    let o = Command::new(env!("CARGO_BIN_EXE_labwarp"))
        .current_dir(dir.path())
        .args(["export", "--out", "out2", "--preset", "nope"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope"));
    assert!(!dir.path().join("out2").exists());
}
