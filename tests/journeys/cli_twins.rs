//! The dashboard's headless twins through the real binary on a demo lab (libvirt's test
//! driver, real podman containers of the stand-in): `labwarp vms`, `labwarp containers`
//! (list, `--logs`, `--restart`, `--shell`), each with `--json`, and a failed `labwarp run`
//! printing the troubleshoot screen's diagnosis.

use crate::engine_support::{TestLab, text};
use serde_json::Value;
use std::process::Command;

fn json(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

fn started_at(name: &str) -> String {
    let o = Command::new("podman")
        .args(["inspect", "--format", "{{.State.StartedAt}}", name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn vms_and_containers_show_what_the_dashboard_shows() {
    let _turn = crate::common::turn(module_path!());
    let lab = TestLab::demo("tw");
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));

    // VMs: the same rows as the VM pane (libvirt's view), text and JSON.
    let o = lab.labwarp(&["vms", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v = json(&o);
    let uc = format!("{}-undercloud", lab.name);
    let vms = v["vms"].as_array().unwrap();
    let row = vms
        .iter()
        .find(|r| r["name"] == uc.as_str())
        .expect("undercloud listed");
    assert_eq!(row["state"], "running", "{v}");
    assert!(vms.len() >= 3, "undercloud and nodes: {v}");
    let o = lab.labwarp(&["vms"]);
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(
        t.lines()
            .any(|l| l.starts_with(&uc) && l.contains("running")),
        "{t}"
    );

    // Containers: the lab's own, as podman itself lists them.
    let o = lab.labwarp(&["containers", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v = json(&o);
    let names: Vec<String> = v["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    let mut podman: Vec<String> = lab.containers().into_iter().map(|(n, _)| n).collect();
    podman.sort();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, podman, "the lab's containers, as podman has them");
    let name = names
        .iter()
        .find(|n| n.ends_with("-keystone"))
        .expect("keystone")
        .clone();
    let o = lab.labwarp(&["containers"]);
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(
        t.lines()
            .any(|l| l.starts_with(&name) && l.contains("running")),
        "{t}"
    );

    // Logs: what `podman logs` says.
    let o = lab.labwarp(&["containers", "--logs", &name, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let lines = json(&o)["lines"].as_array().unwrap().len();
    let p = Command::new("podman")
        .args(["logs", &name])
        .output()
        .unwrap();
    let want = String::from_utf8_lossy(&p.stdout).lines().count()
        + String::from_utf8_lossy(&p.stderr).lines().count();
    assert_eq!(lines, want);

    // Restart: podman shows it started again.
    let before = started_at(&name);
    let o = lab.labwarp(&["containers", "--restart", &name]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("restarted {name}")));
    assert_ne!(started_at(&name), before, "the container started again");

    // Shell: the command line handed to the terminal (here this machine's podman).
    let o = lab.labwarp(&["containers", "--shell", &name, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let argv: Vec<String> = serde_json::from_value(json(&o)["argv"].clone()).unwrap();
    assert_eq!(
        &argv[..4],
        ["podman", "exec", "-it", name.as_str()],
        "{argv:?}"
    );

    // The shell itself, on a terminal (tmux): a prompt in the container, its exit status.
    if crate::tmux_support::available() {
        let cmd = lab.cmd(&["containers", "--shell", &name], None);
        let argv: Vec<String> = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|a| labwarp::host::shell_quote(&a.to_string_lossy()))
            .collect();
        let envs: Vec<String> = cmd
            .get_envs()
            .filter_map(|(k, v)| Some(format!("{}={}", k.to_string_lossy(), v?.to_string_lossy())))
            .map(|kv| labwarp::host::shell_quote(&kv))
            .collect();
        let t = crate::tmux_support::Tmux::start_sized(
            &format!("lwtwins-{}", std::process::id()),
            lab.ws(),
            &format!(
                "env {} {}; echo SHELL-EXITED-$?; sleep 30",
                envs.join(" "),
                argv.join(" ")
            ),
            100,
            30,
        );
        t.wait_for("/ #");
        t.text("hostname; exit 7");
        t.keys(&["Enter"]);
        t.wait_for("SHELL-EXITED-7");
    } else {
        panic!("tmux is not installed: run scripts/setup-host.sh");
    }

    // A container that is not the lab's is refused, by name.
    let o = lab.labwarp(&["containers", "--restart", "not-this-labs-container"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no container named 'not-this-labs-container'"),
        "{}",
        text(&o)
    );
}

/// A PATH with every command of this machine's but `missing`.
fn path_without(missing: &str, dir: &std::path::Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for d in [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ] {
        let Ok(rd) = std::fs::read_dir(d) else {
            continue;
        };
        for e in rd.flatten() {
            let n = e.file_name();
            if n == missing || bin.join(&n).exists() {
                continue;
            }
            let _ = std::os::unix::fs::symlink(e.path(), bin.join(&n));
        }
    }
    bin.display().to_string()
}

#[test]
fn a_failed_run_prints_the_troubleshoot_diagnosis() {
    let _turn = crate::common::turn(module_path!());
    let mut lab = TestLab::demo("td");
    let path = path_without("genisoimage", lab.ws.path());
    lab.env.push(("PATH".into(), path));
    let o = lab.labwarp(&["run", "--yes"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("diagnosis of undercloud-vm/"), "{out}");
    assert!(out.contains("`genisoimage` is missing"), "{out}");
    assert!(out.contains("apt-get install -y genisoimage"), "{out}");

    let o = lab.labwarp(&["run", "--yes", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let diag: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "diagnosis")
        .collect();
    assert!(!diag.is_empty(), "{}", text(&o));
    assert_eq!(
        diag[0]["matches"][0]["title"], "`genisoimage` is missing",
        "{diag:?}"
    );
    // The safe fix the troubleshoot screen offers on one key, for the lab's distro family.
    let cmd = diag[0]["matches"][0]["remedy"]["commands"][0].to_string();
    assert!(
        cmd.contains("apt-get") && cmd.contains("genisoimage"),
        "{diag:?}"
    );
}
