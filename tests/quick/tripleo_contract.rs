//! TripleO's own code judges what labwarp writes and runs, for every preset in `presets/`:
//! python-tripleoclient 20 / tripleo-common 18 from PyPI (`scripts/setup-tripleo.sh`,
//! venv `LABWARP_TRIPLEO_VENV`, default /opt/labwarp-tripleo), driven by
//! `tests/tripleo_contract/check.py`:
//! - `undercloud.conf` (from `labwarp export`) loads with tripleoclient's registered options,
//!   the per-subnet groups registered as `_load_subnets_config_groups` does: no unknown,
//!   deprecated or unparsable key; then tripleoclient's preflight value validators pass;
//! - `instackenv.json` passes `tripleo_common.utils.nodes.validate_nodes`;
//! - every `openstack` command line the plan issues (`plan_argv`: exact argv, nothing run)
//!   parses with the real command class's parser (`overcloud deploy` also through its
//!   `_validate_args`; `node import` opens the exported instackenv.json and validates it).
//!
//! A mutation test shows each check failing, naming what is wrong. A demo run's calls of the
//! stand-in `openstack` (its journal: argv, credential variables, working directory) are
//! replayed through the same parsers; they must be exactly the plan's command lines. Without
//! the venv the tests say `!!! SKIPPED … !!!`; with `CI=true` a missing venv fails them.

use crate::engine_support;
#[path = "../tripleo_contract/journal.rs"]
mod journal;

use engine_support::{TestLab, text};
use journal::{Call, before_install, read_journal};
use labwarp::plan::Facts;
use labwarp::plan::steps::openstack::plan_argv;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

const HELPER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/tripleo_contract/check.py"
);
const INSTALL: &str = "run scripts/setup-tripleo.sh (scripts/setup-host.sh runs it)";

/// The TripleO venv's python, or `None` (and a loud SKIPPED line) when it is not installed
/// outside CI. In CI the contract cannot be skipped.
fn tripleo_python(test: &str) -> Option<PathBuf> {
    let venv =
        std::env::var("LABWARP_TRIPLEO_VENV").unwrap_or_else(|_| "/opt/labwarp-tripleo".into());
    let python = Path::new(&venv).join("bin/python");
    if python.exists() {
        return Some(python);
    }
    let why = format!(
        "TripleO's code is not installed: {} is missing",
        python.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {why} (CI=true: the TripleO contract is not skippable): {INSTALL}");
    }
    // Straight to the process's stderr: the test harness captures eprintln! of a passing
    // test, and a skip must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "\n!!! SKIPPED: {test}: {why}; {INSTALL} !!!\n"
    );
    None
}

#[derive(Debug, Clone)]
struct Verdict {
    check: String,
    ok: bool,
    detail: String,
    kind: String,
}

/// Runs the helper on `spec`; returns the TripleO versions line and each check's verdict.
fn judge(python: &Path, spec: &Value) -> (String, Vec<Verdict>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("spec.json");
    std::fs::write(&file, serde_json::to_vec(spec).unwrap()).unwrap();
    let o = Command::new(python)
        .arg(HELPER)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}: {INSTALL}", python.display()));
    assert!(
        o.status.success(),
        "the TripleO contract helper failed (status {:?}):\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "helper output is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&o.stdout)
        )
    });
    let versions = v["versions"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or("?")))
        .collect::<Vec<_>>()
        .join(", ");
    let verdicts = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Verdict {
            check: c["check"].as_str().unwrap().to_string(),
            ok: c["ok"].as_bool().unwrap(),
            detail: c["detail"].as_str().unwrap().to_string(),
            kind: c["kind"].as_str().unwrap().to_string(),
        })
        .collect();
    (versions, verdicts)
}

fn line(v: &Verdict) -> String {
    let verdict = match (v.ok, v.kind.as_str()) {
        (true, _) => "PASS",
        (false, "contract") => "FAIL",
        (false, _) => "GAP ",
    };
    format!("  {verdict} {}: {}", v.check, v.detail)
}

/// Every preset file's name (`presets/NAME.yaml`).
fn preset_names() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("presets");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_suffix(".yaml").map(str::to_string)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 5, "presets: {names:?}");
    names
}

/// `labwarp export --out DIR/out --preset NAME` in `dir` (its workspace goes there too).
fn export(dir: &Path, preset: &str) -> PathBuf {
    let o = Command::new(env!("CARGO_BIN_EXE_labwarp"))
        .current_dir(dir)
        .args(["export", "--out", "out", "--preset", preset])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "export --preset {preset}:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    dir.join("out")
}

/// Where each file the plan uploads to the undercloud's home comes from in an export.
const UPLOADED: &[(&str, &str)] = &[
    ("instackenv.json", "instackenv.json"),
    ("undercloud.conf", "undercloud.conf"),
    (
        "containers-prepare-parameter.yaml",
        "tripleo/containers-prepare-parameter.yaml",
    ),
    (
        "overcloud-baremetal-deploy.yaml",
        "tripleo/overcloud-baremetal-deploy.yaml",
    ),
    ("network_data.yaml", "tripleo/network_data.yaml"),
    ("vip_data.yaml", "tripleo/vip_data.yaml"),
    ("nova-nfs.yaml", "tripleo/nova-nfs.yaml"),
];

/// One preset, exported and planned: the spec for the helper and the exact argv.
struct Subject {
    _dir: tempfile::TempDir,
    out: PathBuf,
    /// (issuing step, exact argv as the plan runs it, argv with the undercloud's home
    /// mapped to a local copy holding the exported files)
    commands: Vec<(String, Vec<String>, Vec<String>)>,
}

fn subject(preset: &str) -> Subject {
    let dir = tempfile::tempdir().unwrap();
    let out = export(dir.path(), preset);
    let mut lab = labwarp::lab::load_preset(preset).unwrap();
    if lab.overcloud.vbmc.password.is_none() {
        lab.overcloud.vbmc.password = Some(labwarp::lab::Secret("contract-test".into()));
    }
    let ws = dir.path().join("plan-workspace");
    let facts = Facts::decide(&lab, &ws);
    let plan = labwarp::plan::stages::build(&lab, &facts, &ws).expect("the preset plans");
    // The undercloud's home, here: the exported files under the names the plan uploads.
    let home = dir.path().join("undercloud-home");
    std::fs::create_dir_all(&home).unwrap();
    for (uploaded, exported) in UPLOADED {
        if out.join(exported).exists() {
            std::fs::copy(out.join(exported), home.join(uploaded)).unwrap();
        }
    }
    // What the overcloud-images stage unpacks into ~/images before the upload.
    std::fs::create_dir_all(home.join("images")).unwrap();
    for tar in [
        labwarp::lab::tripleo::OVERCLOUD_TAR,
        labwarp::lab::tripleo::IPA_TAR,
    ] {
        for m in labwarp::plan::steps::overcloud_images::members(tar) {
            std::fs::write(home.join("images").join(m), m).unwrap();
        }
    }
    let remote = facts.undercloud_home.to_string_lossy().into_owned();
    let local = home.to_string_lossy().into_owned();
    let commands = plan_argv(&plan)
        .into_iter()
        .map(|(step, argv)| {
            let mapped = argv
                .iter()
                .map(|w| match w.strip_prefix(&remote) {
                    Some(rest) if rest.starts_with('/') => format!("{local}{rest}"),
                    _ => w.clone(),
                })
                .collect();
            (step, argv, mapped)
        })
        .collect();
    Subject {
        _dir: dir,
        out,
        commands,
    }
}

fn spec(s: &Subject) -> Value {
    json!({
        "undercloud_conf": s.out.join("undercloud.conf"),
        "instackenv": s.out.join("instackenv.json"),
        "commands": s.commands.iter().map(|(step, argv, mapped)| json!({
            "argv": mapped,
            "label": format!("{step}: openstack {}", argv.iter().map(|w| labwarp::host::shell_quote(w)).collect::<Vec<_>>().join(" ")),
        })).collect::<Vec<_>>(),
    })
}

#[test]
fn tripleo_accepts_every_presets_files_and_command_lines() {
    let Some(python) = tripleo_python("tripleo_accepts_every_presets_files_and_command_lines")
    else {
        return;
    };
    let mut report = Vec::new();
    let mut failures = Vec::new();
    let mut versions = String::new();
    for preset in preset_names() {
        let s = subject(&preset);
        // Every command labwarp issues to TripleO is there to be judged.
        let issued: Vec<String> = s.commands.iter().map(|(_, a, _)| a.join(" ")).collect();
        for want in [
            "tripleo container image prepare default",
            "undercloud install",
            "overcloud image upload",
            "endpoint list",
            "baremetal node list",
            "overcloud node import",
            "overcloud node introspect",
            "overcloud roles generate",
            "overcloud network provision",
            "overcloud network vip provision",
            "overcloud node provision",
            "overcloud deploy",
            "overcloud status",
        ] {
            assert!(
                issued.iter().any(|i| i.starts_with(want)),
                "{preset}: the plan issues no `openstack {want}`: {issued:?}"
            );
        }
        // `export` writes every file the deploy uses that labwarp renders (the roles data
        // and the provisioned servers' environment are TripleO's own output).
        for (uploaded, exported) in UPLOADED {
            let used = s
                .commands
                .iter()
                .any(|(_, a, _)| a.iter().any(|w| w.ends_with(&format!("/{uploaded}"))));
            if used {
                assert!(
                    s.out.join(exported).is_file(),
                    "{preset}: the plan uses {uploaded}, but export did not write {exported}"
                );
            }
        }
        let (v, verdicts) = judge(&python, &spec(&s));
        versions = v;
        report.push(format!("preset {preset}"));
        // conf options + conf values (judged once the options pass) + validate_nodes + one
        // per command line.
        if verdicts.iter().all(|v| v.ok) {
            assert_eq!(
                verdicts.len(),
                3 + s.commands.len(),
                "{preset}: checks missing from the helper's verdicts: {verdicts:#?}"
            );
        }
        for v in &verdicts {
            report.push(line(v));
            if !v.ok {
                failures.push(format!("{preset}: {}: {}", v.check, v.detail));
            }
        }
    }
    // Straight to stderr, past the harness's capture: the report is read in CI's log.
    let _ = writeln!(
        std::io::stderr(),
        "TripleO contract ({versions}):\n{}",
        report.join("\n")
    );
    assert!(
        failures.is_empty(),
        "TripleO refuses what labwarp writes or runs:\n{}\n\nfull report:\n{}",
        failures.join("\n"),
        report.join("\n")
    );
}

/// The verdict whose name (without `argv: `) starts with `check`.
fn verdict<'a>(verdicts: &'a [Verdict], check: &str) -> &'a Verdict {
    verdicts
        .iter()
        .find(|v| {
            let name = v.check.strip_prefix("argv: ").unwrap_or(&v.check);
            v.check.starts_with(check) || name.starts_with(check)
        })
        .unwrap_or_else(|| panic!("no verdict for {check}: {verdicts:#?}"))
}

/// `verdict` failed and its detail names every one of `names`.
fn assert_caught(verdicts: &[Verdict], check: &str, names: &[&str]) {
    let v = verdict(verdicts, check);
    assert!(!v.ok, "the mutation went unnoticed: {v:?}");
    for n in names {
        assert!(
            v.detail.contains(n),
            "{check}: the failure does not name {n}: {v:?}"
        );
    }
    println!("{}", line(v));
}

#[test]
fn each_contract_check_fails_naming_what_is_wrong() {
    let Some(python) = tripleo_python("each_contract_check_fails_naming_what_is_wrong") else {
        return;
    };
    let s = subject("minimal");
    let dir = tempfile::tempdir().unwrap();

    // instackenv.json: the first node with the `mac` list TripleO no longer reads.
    let mut inst: Value =
        serde_json::from_str(&std::fs::read_to_string(s.out.join("instackenv.json")).unwrap())
            .unwrap();
    let mac = inst["nodes"][0]["ports"][0]["address"].clone();
    inst["nodes"][0]["mac"] = json!([mac]);
    let bad_inst = dir.path().join("instackenv.json");
    std::fs::write(&bad_inst, serde_json::to_string_pretty(&inst).unwrap()).unwrap();

    // undercloud.conf: an unknown key, a key deprecated for removal, an unknown key in the
    // subnet's group and an unparsable value.
    let conf = std::fs::read_to_string(s.out.join("undercloud.conf")).unwrap();
    let conf = conf
        .replace(
            "[DEFAULT]\n",
            "[DEFAULT]\nlabwarp_bogus_option = 1\nenable_heat = true\n",
        )
        .replace(
            "[ctlplane-subnet]\n",
            "[ctlplane-subnet]\nbogus_subnet_key = 2\n",
        );
    let conf = conf
        .lines()
        .map(|l| {
            if l.starts_with("local_mtu") {
                "local_mtu = not-a-number"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let bad_conf = dir.path().join("undercloud.conf");
    std::fs::write(&bad_conf, conf).unwrap();

    // The plan's deploy argv with an argument TripleO does not have, and with one it refuses.
    let deploy = s
        .commands
        .iter()
        .find(|(_, a, _)| a[..2] == ["overcloud", "deploy"])
        .map(|(_, _, mapped)| mapped.clone())
        .expect("a deploy command");
    let with = |extra: &str| {
        let mut a = deploy.clone();
        a.push(extra.into());
        a
    };
    let import = vec![
        "overcloud".to_string(),
        "node".into(),
        "import".into(),
        bad_inst.to_string_lossy().into_owned(),
    ];
    // The planned provisioning (it writes the environment the planned deploy passes), then
    // the deploy without that environment.
    let planned = |verb: &str| {
        s.commands
            .iter()
            .find(|(_, a, _)| a.join(" ").starts_with(verb))
            .map(|(_, _, mapped)| mapped.clone())
            .unwrap_or_else(|| panic!("no `{verb}` planned"))
    };
    let provision = planned("overcloud node provision");
    let deployed_env =
        provision[provision.iter().position(|w| w == "--output").unwrap() + 1].clone();
    let mut unprovisioned = deploy.clone();
    let at = unprovisioned
        .iter()
        .position(|w| *w == deployed_env)
        .unwrap();
    unprovisioned.drain(at - 1..=at);
    // Baremetal deployment files TripleO refuses: a key it does not have, and more instances
    // than the role's count.
    let bm =
        std::fs::read_to_string(s.out.join("tripleo/overcloud-baremetal-deploy.yaml")).unwrap();
    let with_file = |name: &str, text: String| {
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        let mut a = provision.clone();
        *a.last_mut().unwrap() = file.to_string_lossy().into_owned();
        a
    };
    let bogus_key = with_file(
        "bogus-key.yaml",
        bm.replacen("  count: 1\n", "  count: 1\n  labwarp_bogus: 1\n", 1),
    );
    let over_count = with_file(
        "over-count.yaml",
        bm.replacen("  count: 1\n", "  count: 0\n", 1),
    );
    // The networks and virtual IPs, as planned, then a VIP on a network this overcloud lacks.
    let networks = planned("overcloud network provision");
    let vips = planned("overcloud network vip provision");
    let bad_vips_file = dir.path().join("vip_data.yaml");
    std::fs::write(&bad_vips_file, "- network: internal_api\n").unwrap();
    let mut bad_vips = vips.clone();
    *bad_vips.last_mut().unwrap() = bad_vips_file.to_string_lossy().into_owned();
    let out = bad_vips.iter().position(|w| w == "--output").unwrap() + 1;
    bad_vips[out] = dir
        .path()
        .join("vips-env.yaml")
        .to_string_lossy()
        .into_owned();
    let (_, verdicts) = judge(
        &python,
        &json!({
            "undercloud_conf": bad_conf,
            "instackenv": bad_inst,
            "commands": [
                {"argv": with("--labwarp-bogus-argument"), "label": "deploy + unknown argument"},
                {"argv": with("--provision-nodes"), "label": "deploy + --provision-nodes"},
                {"argv": import, "label": "node import of the mac file"},
                {"argv": ["undercloud", "containers"], "label": "a command TripleO lacks"},
                {"argv": networks, "label": "networks as planned"},
                {"argv": vips, "label": "VIPs as planned"},
                {"argv": bad_vips, "label": "a VIP on a network the overcloud lacks"},
                {"argv": provision, "label": "provision as planned"},
                {"argv": deploy, "label": "deploy as planned"},
                {"argv": unprovisioned, "label": "deploy without the provisioned servers"},
                {"argv": bogus_key, "label": "provision of a file with an unknown key"},
                {"argv": over_count, "label": "provision of more instances than the count"},
                {"argv": ["overcloud", "node", "introspect", "--all-manageable"],
                 "label": "introspect without credentials", "credentials": []},
                {"argv": ["overcloud", "node", "introspect", "--all-manageable"],
                 "label": "introspect with OS_CLOUD", "credentials": ["OS_CLOUD"]},
            ],
        }),
    );
    println!("mutations caught:");
    assert_caught(
        &verdicts,
        "instackenv.json validate_nodes",
        &["\"mac\" field"],
    );
    assert_caught(
        &verdicts,
        "undercloud.conf options",
        &[
            "[DEFAULT] labwarp_bogus_option: unknown option",
            "[DEFAULT] enable_heat: deprecated for removal",
            "[ctlplane-subnet] bogus_subnet_key: unknown option",
            "[DEFAULT] local_mtu: unparsable value",
        ],
    );
    assert_caught(
        &verdicts,
        "deploy + unknown argument",
        &["unrecognized arguments: --labwarp-bogus-argument"],
    );
    assert_caught(
        &verdicts,
        "deploy + --provision-nodes",
        &["--provision-node is no longer supported"],
    );
    assert_caught(&verdicts, "node import of the mac file", &["\"mac\" field"]);
    assert_caught(
        &verdicts,
        "a command TripleO lacks",
        &["no TripleO command `openstack undercloud containers`"],
    );
    assert_caught(
        &verdicts,
        "credentials: introspect without credentials",
        &["neither OS_CLOUD nor OS_AUTH_URL"],
    );
    assert_caught(
        &verdicts,
        "deploy without the provisioned servers",
        &["overcloud node provision", &deployed_env],
    );
    assert_caught(
        &verdicts,
        "provision of a file with an unknown key",
        &["'labwarp_bogus' was unexpected"],
    );
    assert_caught(
        &verdicts,
        "provision of more instances than the count",
        &["Controller: number of instance entries 1 cannot be greater than count 0"],
    );
    // The same helper still passes what was not mutated: the failures are the mutations'.
    assert_caught(
        &verdicts,
        "a VIP on a network the overcloud lacks",
        &["Network internal_api for Virtual IP not found."],
    );
    for ok in [
        "networks as planned",
        "VIPs as planned",
        "provision as planned",
        "deploy as planned",
    ] {
        let v = verdict(&verdicts, ok);
        assert!(v.ok, "{v:?}");
    }
    let with_creds = verdict(&verdicts, "credentials: introspect with OS_CLOUD");
    assert!(with_creds.ok, "{with_creds:?}");

    // A wrong value that parses: tripleoclient's own preflight validators catch it.
    let conf = std::fs::read_to_string(s.out.join("undercloud.conf")).unwrap();
    let conf: String = conf
        .lines()
        .map(|l| {
            if l.starts_with("dhcp_end") {
                "dhcp_end = 192.168.24.2".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&bad_conf, conf).unwrap();
    let (_, verdicts) = judge(&python, &json!({"undercloud_conf": bad_conf}));
    assert!(
        verdict(&verdicts, "undercloud.conf options").ok,
        "{verdicts:#?}"
    );
    assert_caught(
        &verdicts,
        "undercloud.conf values",
        &["dhcp_end \"192.168.24.2\""],
    );
}

#[test]
fn tripleo_parses_every_call_of_a_demo_run() {
    let Some(python) = tripleo_python("tripleo_parses_every_call_of_a_demo_run") else {
        return;
    };
    let lab = TestLab::demo("tc");
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let home = lab.ws().join("sandbox/undercloud/home/stack");
    let calls = read_journal(&home.join(".standin/journal"));

    // What ran is exactly what the plan declares (Step::openstack_argv), and the reverse.
    let mut demo = labwarp::lab::load_preset("demo").unwrap();
    demo.name = lab.name.clone();
    demo.overcloud.vbmc.password = Some(labwarp::lab::Secret("unused".into()));
    let facts = Facts::decide(&demo, lab.ws());
    assert_eq!(facts.undercloud_home, home, "the test plans another lab");
    let plan = labwarp::plan::stages::build(&demo, &facts, lab.ws()).unwrap();
    let planned: std::collections::BTreeSet<Vec<String>> =
        plan_argv(&plan).into_iter().map(|(_, a)| a).collect();
    let called: std::collections::BTreeSet<Vec<String>> =
        calls.iter().map(|c| c.argv.clone()).collect();
    assert_eq!(
        called, planned,
        "the stand-in's journal and the plan's command lines differ"
    );

    // Each distinct call (argv, credentials, cwd), with how often it was made, in the order
    // first made (the helper judges a deployment's commands in order).
    let mut distinct: Vec<(Call, usize)> = Vec::new();
    for c in &calls {
        match distinct.iter_mut().find(|(d, _)| d == c) {
            Some((_, n)) => *n += 1,
            None => distinct.push((c.clone(), 1)),
        }
    }
    let spec = json!({
        "order": true,
        "commands": distinct.iter().map(|(c, n)| json!({
            "argv": c.argv,
            "credentials": c.credentials,
            "label": format!(
                "openstack {} (x{n}, in {})",
                c.argv.iter().map(|w| labwarp::host::shell_quote(w)).collect::<Vec<_>>().join(" "),
                c.cwd
            ),
        })).collect::<Vec<_>>(),
    });
    let (versions, verdicts) = judge(&python, &spec);
    let report: Vec<String> = verdicts.iter().map(line).collect();
    let _ = writeln!(
        std::io::stderr(),
        "TripleO contract, replay of a demo run's {} call(s) ({versions}):\n{}",
        calls.len(),
        report.join("\n")
    );
    let refused: Vec<&Verdict> = verdicts
        .iter()
        .filter(|v| !v.ok && v.kind == "contract")
        .collect();
    assert!(
        refused.is_empty(),
        "TripleO refuses calls labwarp made: {refused:#?}"
    );
    // One parse verdict per distinct call at least.
    let parsed = verdicts
        .iter()
        .filter(|v| v.check.starts_with("argv: "))
        .count();
    assert_eq!(parsed, distinct.len(), "{verdicts:#?}");

    // Credentials: every call after the undercloud install carries them (OS_CLOUD=undercloud;
    // the stand-in refuses a call without them, so a run that finished made none).
    let gaps: Vec<&Verdict> = verdicts
        .iter()
        .filter(|v| !v.ok && v.kind == "credentials")
        .collect();
    let judged = verdicts.iter().filter(|v| v.kind == "credentials").count();
    assert_eq!(
        judged,
        distinct.iter().filter(|(c, _)| !before_install(c)).count(),
        "every call after the install is judged for credentials: {verdicts:#?}"
    );
    assert!(
        gaps.is_empty(),
        "calls after the undercloud install without credentials (OS_CLOUD/OS_AUTH_URL): {gaps:#?}"
    );
    for (c, _) in &distinct {
        assert_eq!(
            c.credentials.is_empty(),
            before_install(c),
            "only the install and TripleO's container prepare generator before it run without credentials, and they without any: {c:?}"
        );
    }

    journal::assert_in_order(&python, &spec, &distinct, &verdicts);
}
