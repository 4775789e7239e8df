//! Hostile input: every text value of a lab that can reach a command or a file, tried with
//! shell metacharacters, quotes, newlines, `$(…)`, backticks, globs, escapes, very long values,
//! and (where bytes can be given) invalid UTF-8. Each is either rejected with a problem naming
//! its field, or accepted and carried intact to where it lands. A canary file proves that
//! nothing ran: every hostile value tries to create it.
//!
//! Real code paths: the loader/validator in process and through `labwarp validate`, `plan` with
//! a hostile `--name`, and a whole `labwarp run` of the demo preset (test:///default, real
//! commands on this machine, real podman) with a hostile workspace path and VBMC password.
//! (`labwarp ssh` against a real sshd: tests/daemons/ssh_cli.rs `hostile_host_names_and_words`.)

use crate::common::hostile::values as hostile_values;
use crate::engine_support::{TestLab, bin, text, walk};
use labwarp::lab::{self, preset_text};
use serde_yaml::Value;
use std::path::Path;
use std::process::Command;

/// Every text field of a lab that reaches a command, a rendered file or a path, as written in
/// lab.yaml (the problem path the validator must name), with the preset it is tried on.
const FIELDS: &[(&str, &str)] = &[
    ("demo", "name"),
    ("demo", "description"),
    ("demo", "workspace"),
    ("demo", "theme"),
    ("minimal", "hypervisors[0].name"),
    ("minimal", "hypervisors[0].address"),
    ("minimal", "hypervisors[0].ssh_user"),
    ("minimal", "hypervisors[0].stack_user"),
    ("minimal", "hypervisors[0].libvirt_uri"),
    ("minimal", "hypervisors[0].pool_path"),
    ("demo", "networks[0].name"),
    ("demo", "networks[0].bridge"),
    ("demo", "networks[0].cidr"),
    ("demo", "networks[0].gateway"),
    ("demo", "images.cache_dir"),
    ("demo", "images.undercloud.source"),
    ("demo", "images.undercloud.md5"),
    ("demo", "images.undercloud.md5_url"),
    ("demo", "images.kernel_cmdline"),
    ("demo", "undercloud.vm.name"),
    ("demo", "undercloud.cloud_init.user"),
    ("demo", "undercloud.cloud_init.timezone"),
    ("demo", "undercloud.cloud_init.packages[0]"),
    ("demo", "undercloud.cloud_init.nameservers[0]"),
    ("demo", "undercloud.cloud_init.ssh_authorized_keys[0]"),
    ("demo", "undercloud.conf.undercloud_hostname"),
    ("demo", "undercloud.conf.local_interface"),
    ("demo", "undercloud.conf.container_images_file"),
    ("demo", "overcloud.nodes[0].name"),
    ("demo", "overcloud.nodes[0].networks[0]"),
    ("demo", "overcloud.vbmc.address"),
    ("demo", "overcloud.vbmc.username"),
    ("demo", "overcloud.vbmc.password"),
    ("demo", "overcloud.deploy.templates"),
    ("demo", "overcloud.deploy.environment_files[0]"),
    ("live-migration", "overcloud.live_migration.nfs_server"),
    ("live-migration", "overcloud.live_migration.export_path"),
    ("live-migration", "overcloud.live_migration.nfs_version"),
    ("live-migration", "overcloud.live_migration.mount_options"),
];

/// Fields whose value is data, never a command word or a name: any text without line breaks
/// may be accepted, and must then arrive intact (the password lands in instackenv.json, the
/// kernel arguments in domain XML, mount options in a YAML file, all escaped by their writer).
const DATA: &[&str] = &[
    "description",
    "overcloud.vbmc.password",
    "overcloud.vbmc.username",
    "images.kernel_cmdline",
    "overcloud.live_migration.mount_options",
];

/// Fields that are paths (or a path-or-URL). The user's own local paths (workspace, image
/// source) may hold shell syntax, which must stay one argv word (the demo run test proves it
/// for the workspace); the paths labwarp writes, exports or deletes on a host take only plain
/// characters (SECURITY.md, "What each text field accepts"), so they reject it here.
const PATHS: &[&str] = &[
    "workspace",
    "hypervisors[0].pool_path",
    "images.cache_dir",
    "images.undercloud.source",
    "undercloud.conf.container_images_file",
    "overcloud.deploy.templates",
    "overcloud.deploy.environment_files[0]",
    "overcloud.live_migration.export_path",
];

/// Splits `a.b[0].c` into keys and indexes.
fn segments(path: &str) -> Vec<Result<String, usize>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, idx) = match part.split_once('[') {
            Some((k, i)) => (k, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        out.push(Ok(key.to_string()));
        if let Some(i) = idx {
            out.push(Err(i));
        }
    }
    out
}

/// Sets `path` in a YAML tree, creating mappings and growing lists as needed.
fn set(v: &mut Value, path: &str, value: Value) {
    let segs = segments(path);
    let mut cur = v;
    for (n, seg) in segs.iter().enumerate() {
        let last = n + 1 == segs.len();
        let next_is_index = matches!(segs.get(n + 1), Some(Err(_)));
        let fresh = || {
            if next_is_index {
                Value::Sequence(Vec::new())
            } else {
                Value::Mapping(Default::default())
            }
        };
        match seg {
            Ok(key) => {
                let m = cur.as_mapping_mut().expect("a mapping on the way");
                if last {
                    m.insert(Value::String(key.clone()), value);
                    return;
                }
                let k = Value::String(key.clone());
                if m.get(&k).is_none_or(Value::is_null) {
                    m.insert(k.clone(), fresh());
                }
                cur = m.get_mut(&k).expect("just inserted");
            }
            Err(i) => {
                let s = cur.as_sequence_mut().expect("a list on the way");
                while s.len() <= *i {
                    s.push(if last { Value::Null } else { fresh() });
                }
                if last {
                    s[*i] = value;
                    return;
                }
                cur = &mut s[*i];
            }
        }
    }
}

fn lab_with(preset: &str, field: &str, value: &str) -> String {
    let mut v: Value = serde_yaml::from_str(preset_text(preset).expect("preset")).expect("yaml");
    set(&mut v, field, Value::String(value.to_string()));
    serde_yaml::to_string(&v).expect("yaml out")
}

/// The problem path names the field, an element below it, or the entry that holds it
/// (`overcloud.nodes[0]` for a node group's name).
fn names_field(problem_path: &str, field: &str) -> bool {
    let below = |a: &str, b: &str| {
        a == b || a.starts_with(&format!("{b}.")) || a.starts_with(&format!("{b}["))
    };
    !problem_path.is_empty() && (below(problem_path, field) || below(field, problem_path))
}

#[test]
fn hostile_values_are_rejected_naming_the_field_or_accepted_as_data() {
    let _turn = crate::common::turn(module_path!());
    let tmp = tempfile::tempdir().unwrap();
    let canary = tmp.path().join("CANARY");
    let values = hostile_values(&canary);
    let (mut rejected, mut accepted) = (0, Vec::new());
    let mut unnamed = Vec::new();
    for (preset, field) in FIELDS {
        // The field must be valid as the preset has it (else we test the wrong thing).
        for value in &values {
            match lab::load_str(&lab_with(preset, field, value), "hostile.yaml") {
                Err(e) => {
                    rejected += 1;
                    assert!(
                        !e.errors().any(|p| p.message.contains("unknown key")),
                        "{field} is not a lab field: {e}"
                    );
                    let named = e.errors().any(|p| names_field(&p.path, field));
                    if !named {
                        unnamed.push(format!("{field} = {value:?}: {e}"));
                    }
                }
                Ok(_) => accepted.push((*field, value.clone())),
            }
        }
    }
    assert!(
        unnamed.is_empty(),
        "rejected without naming the field:\n{}",
        unnamed.join("\n")
    );
    // Accepted hostile values: shell syntax only in data and path fields; line breaks, NUL
    // and escape characters nowhere.
    let surprising: Vec<_> = accepted
        .iter()
        .filter(|(f, v)| {
            let shell_syntax = v.contains("touch") || v.contains(['*', '?', '~']);
            let control = v.contains(['\n', '\r', '\u{0}', '\u{1b}']);
            (shell_syntax && !DATA.contains(f) && !PATHS.contains(f)) || control
        })
        .collect();
    assert!(
        surprising.is_empty(),
        "hostile values accepted where they do not belong: {surprising:#?}"
    );
    assert!(!canary.exists(), "the canary was created");
    println!(
        "hostile input (validation): {} values × {} fields = {} cases: {rejected} rejected naming the field, {} accepted as data or paths (carried intact as one word), 0 executed",
        values.len(),
        FIELDS.len(),
        values.len() * FIELDS.len(),
        accepted.len()
    );
}

#[test]
fn labwarp_validate_names_every_hostile_field_and_runs_nothing() {
    let _turn = crate::common::turn(module_path!());
    let tmp = tempfile::tempdir().unwrap();
    let canary = tmp.path().join("CANARY");
    let values = hostile_values(&canary);
    let demo_fields: Vec<&str> = FIELDS
        .iter()
        .filter(|(p, f)| *p == "demo" && !DATA.contains(f) && !PATHS.contains(f))
        .map(|(_, f)| *f)
        .collect();
    let (mut runs, mut problems) = (0, 0);
    for (i, value) in values.iter().enumerate() {
        let mut v: Value = serde_yaml::from_str(preset_text("demo").unwrap()).unwrap();
        for f in &demo_fields {
            set(&mut v, f, Value::String(value.clone()));
        }
        let file = tmp.path().join(format!("hostile-{i}.yaml"));
        std::fs::write(&file, serde_yaml::to_string(&v).unwrap()).unwrap();
        let o = Command::new(bin())
            .arg("validate")
            .arg(&file)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        runs += 1;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{value:?}: {out}");
        assert!(!out.contains("panicked"), "{value:?}: {out}");
        // Every problem the library finds in this file is in the binary's output, by path.
        let text_yaml = std::fs::read_to_string(&file).unwrap();
        let e = lab::load_str(&text_yaml, "x").expect_err("hostile file loads");
        for p in e.errors() {
            assert!(
                out.contains(&format!("{}:", p.path)),
                "`labwarp validate` does not report {} for {value:?}:\n{out}",
                p.path
            );
            problems += 1;
        }
    }
    // A hostile --name on the command line goes through the same validation.
    for value in &values[..13] {
        let o = Command::new(bin())
            .args(["plan", "--preset", "demo", "--name", value, "--workspace"])
            .arg(tmp.path().join("ws"))
            .env("LABWARP_SANDBOX", "1")
            .output()
            .unwrap();
        runs += 1;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "--name {value:?}: {out}");
        assert!(out.contains("name"), "--name {value:?} not named: {out}");
    }
    assert!(!canary.exists(), "the canary was created");
    println!(
        "hostile input (labwarp validate / plan --name): {runs} runs of the binary, {problems} problems each reported with its field path, 0 executed"
    );
}

#[test]
fn invalid_utf8_in_a_lab_file_or_an_argument_is_an_error_not_a_panic() {
    let _turn = crate::common::turn(module_path!());
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bad.yaml");
    std::fs::write(&file, b"preset: demo\nname: \xff\xfe-lab\n").unwrap();
    let o = Command::new(bin())
        .arg("validate")
        .arg(&file)
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(!out.contains("panicked"), "{out}");
    assert!(out.contains("bad.yaml"), "the file is not named: {out}");

    // A non-UTF-8 file name and a non-UTF-8 host name.
    let odd = tmp
        .path()
        .join(std::ffi::OsStr::from_bytes(b"lab-\xff.yaml"));
    std::fs::write(&odd, preset_text("demo").unwrap()).unwrap();
    let o = Command::new(bin())
        .arg("validate")
        .arg(&odd)
        .output()
        .unwrap();
    assert!(!text(&o).contains("panicked"), "{}", text(&o));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = Command::new(bin())
        .arg("ssh")
        .arg("--config")
        .arg(&odd)
        .arg(std::ffi::OsStr::from_bytes(b"host-\xff"))
        .arg("true")
        .output()
        .unwrap();
    let out = text(&o);
    assert!(!out.contains("panicked"), "{out}");
    assert_ne!(o.status.code(), Some(0), "{out}");
    println!(
        "hostile input (invalid UTF-8): lab content, file name, host argument: errors, 0 panics"
    );
}

/// A whole demo run with the values that validation accepts and that do reach commands and
/// files: a workspace path full of shell syntax and a VBMC password of shell syntax (it goes
/// into instackenv.json, which the stand-in `openstack` reads through a shell script).
#[test]
fn a_demo_run_carries_hostile_accepted_values_intact_and_runs_nothing() {
    let _turn = crate::common::turn(module_path!());
    let probe = tempfile::tempdir().unwrap();
    let canary = probe.path().join("CANARY");
    let c = canary.display();
    let password = "p$(touch C)`x`;'\"*";
    assert!(password.len() <= 20);
    // Everything but `"`, which ssh.config cannot carry (validation refuses it).
    let sub = format!("ws 'q' $(touch {c}) `touch {c}` ;&|*? x");
    let extra = format!(
        "overcloud:\n  vbmc:\n    password: {}\n",
        serde_yaml::to_string(password).unwrap().trim()
    );
    let lab = TestLab::demo_file("hostile", &extra, &sub);
    std::fs::create_dir_all(lab.ws()).unwrap();
    let o = lab.labwarp(&["plan"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!canary.exists(), "a value was executed:\n{}", text(&o));
    assert!(
        !Path::new("C").exists(),
        "the password ran in the test's directory"
    );
    let ran = walk(lab.ws.path())
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "C"))
        .collect::<Vec<_>>();
    assert!(ran.is_empty(), "the password was executed: {ran:?}");

    // The workspace was used exactly as named: nothing went to a truncated or split path.
    assert!(lab.ws().join("state.yaml").is_file());
    assert!(lab.ws().join("sandbox").is_dir());
    let stray: Vec<_> = std::fs::read_dir(lab.ws.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "lab.yaml" && !sub.starts_with(&format!("{n}/")))
        .collect();
    assert!(stray.is_empty(), "files outside the workspace: {stray:?}");
    let state: Value =
        serde_yaml::from_str(&std::fs::read_to_string(lab.ws().join("state.yaml")).unwrap())
            .expect("state.yaml is valid YAML");
    assert!(state.is_mapping());

    // The password arrived intact in instackenv.json.
    let env = walk(&lab.ws().join("sandbox"))
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == "instackenv.json"))
        .expect("instackenv.json in the sandbox undercloud");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&env).unwrap()).unwrap();
    let pws: Vec<_> = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["pm_password"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(!pws.is_empty());
    assert!(pws.iter().all(|p| p == password), "{pws:?}");
    println!(
        "hostile input (demo run): workspace path and VBMC password with shell syntax through plan + run ({} steps): intact, 0 executed",
        lab.steps().len()
    );
}
