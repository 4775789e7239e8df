//! labwarp's stand-in `openstack` (scripts/standin/openstack) refuses what TripleO's client
//! would refuse, or what would fail for real, with TripleO-like errors: a call after the
//! install without credentials or naming an unknown cloud, an argument the real command does
//! not have, introspection or provisioning before `overcloud image upload`, an upload whose
//! image files are missing, TripleO's container prepare generator with no release's repos,
//! provisioning before introspection, a deploy of nodes that were not provisioned,
//! a deploy whose roles data lacks a provisioned role or whose control plane VIP was not
//! provisioned, a VIP on a network the overcloud lacks, a provision that would overwrite its
//! output without `--yes`. Then the same calls in order succeed, and `overcloud status` and
//! `endpoint list` answer as the plan's checks read them.
//!
//! The script runs as the plan runs it (`sh`, in a temporary home), with
//! `STANDIN_CONTAINER_HOST` set so that the install starts no containers (nothing here needs
//! podman); then again under busybox's `sh` with only busybox's applets on PATH, as on the
//! tiny test guest that serves as an undercloud in `engine_remote` and `lab_in_a_box`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const STANDIN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/standin/openstack");

struct Home {
    dir: tempfile::TempDir,
    /// The shell and the PATH the script runs with (`None`: this process's PATH).
    shell: Vec<String>,
    path: Option<PathBuf>,
}

impl Home {
    fn new(shell: &[&str], path: Option<PathBuf>) -> Home {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("undercloud.conf"),
            "[DEFAULT]\nundercloud_hostname = undercloud.localdomain\nlocal_ip = 192.168.24.1/24\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("instackenv.json"),
            // As labwarp writes it (serde_json's pretty form): one key a line.
            "{\n  \"nodes\": [\n    {\n      \"name\": \"controller-0\"\n    },\n    {\n      \"name\": \"compute-0\"\n    }\n  ]\n}\n",
        )
        .unwrap();
        Home {
            dir,
            shell: shell.iter().map(|s| s.to_string()).collect(),
            path,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn p(&self, name: &str) -> String {
        self.path(name).to_string_lossy().into_owned()
    }

    /// `openstack ARGS` with the given cloud (`None`: no credentials at all).
    fn run(&self, cloud: Option<&str>, args: &[&str]) -> Output {
        let mut c = Command::new(&self.shell[0]);
        c.args(&self.shell[1..])
            .arg(STANDIN)
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("OS_CLOUD")
            .env_remove("OS_AUTH_URL")
            .env("HOME", self.dir.path())
            .env("STANDIN_HOME", self.dir.path())
            .env("STANDIN_DELAY", "0")
            .env("LABWARP_LAB", "standin-test")
            .env("LABWARP_LAB_ID", "0123")
            .env("STANDIN_ROOT", self.dir.path().join("root"))
            .env("STANDIN_CONTAINER_HOST", "the test");
        if let Some(cloud) = cloud {
            c.env("OS_CLOUD", cloud);
        }
        if let Some(path) = &self.path {
            c.env("PATH", path);
        }
        c.output().expect("sh")
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(Some("undercloud"), args);
        assert!(o.status.success(), "openstack {args:?}: {}", show(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// The call fails with `code` and its stderr says each of `says`.
    fn refused(&self, cloud: Option<&str>, args: &[&str], code: i32, says: &[&str]) {
        let o = self.run(cloud, args);
        assert_eq!(
            o.status.code(),
            Some(code),
            "openstack {args:?}: {}",
            show(&o)
        );
        let err = String::from_utf8_lossy(&o.stderr);
        for s in says {
            assert!(
                err.contains(s),
                "openstack {args:?} does not say {s:?}: {}",
                show(&o)
            );
        }
    }
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

const BAREMETAL: &str = "- name: Controller\n  count: 1\n  hostname_format: controller-%index%\n  defaults:\n    profile: control\n  instances:\n  - hostname: controller-0\n    name: controller-0\n- name: Compute\n  count: 1\n  hostname_format: compute-%index%\n  instances:\n  - hostname: compute-0\n    name: compute-0\n";

#[test]
fn the_standin_refuses_what_tripleo_refuses_then_deploys_in_order() {
    scenario(Home::new(&["sh"], None));
}

#[test]
fn the_same_under_busybox_alone() {
    let busybox = Path::new("/usr/bin/busybox");
    assert!(
        busybox.exists(),
        "busybox is not installed: apt-get install busybox-static (scripts/run installs it)"
    );
    // A PATH of busybox's applets only.
    let bin = tempfile::tempdir().unwrap();
    let list = Command::new(busybox).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        std::os::unix::fs::symlink(busybox, bin.path().join(applet)).unwrap();
    }
    let sh = bin.path().join("sh");
    scenario(Home::new(
        &[sh.to_str().unwrap()],
        Some(bin.path().to_path_buf()),
    ));
}

fn scenario(h: Home) {
    let list = [
        "baremetal",
        "node",
        "list",
        "-f",
        "value",
        "-c",
        "Name",
        "-c",
        "Provisioning State",
    ];
    // Before the install there is no cloud to talk to.
    h.refused(
        None,
        &list,
        1,
        &["Missing value auth-url required for auth plugin password"],
    );
    h.refused(
        Some("undercloud"),
        &list,
        1,
        &["Cloud undercloud was not found."],
    );
    let out = h.run(None, &["undercloud", "install"]);
    assert!(out.status.success(), "{}", show(&out));
    let clouds = std::fs::read_to_string(h.path(".config/openstack/clouds.yaml")).unwrap();
    assert!(
        clouds.contains("  undercloud:\n") && clouds.contains("http://192.168.24.1:5000"),
        "{clouds}"
    );
    // After it: still no call without credentials, nor with a cloud it did not write.
    let import = ["overcloud", "node", "import", &h.p("instackenv.json")];
    h.refused(None, &import, 1, &["Missing value auth-url"]);
    h.refused(
        Some("overcloud"),
        &import,
        1,
        &["Cloud overcloud was not found."],
    );
    assert_eq!(
        h.ok(&["endpoint", "list", "-f", "value", "-c", "Service Name"])
            .lines()
            .next(),
        Some("keystone")
    );
    h.refused(
        Some("undercloud"),
        &["endpoint", "list", "--bogus"],
        2,
        &["unrecognized arguments: --bogus"],
    );
    h.ok(&import);
    assert_eq!(
        h.ok(&list),
        "controller-0 manageable\ncompute-0 manageable\n"
    );

    // Introspection and provisioning boot the IPA: nothing to boot before an upload.
    let introspect = [
        "overcloud",
        "node",
        "introspect",
        "--all-manageable",
        "--provide",
    ];
    h.refused(
        Some("undercloud"),
        &introspect,
        1,
        &[
            "deploy kernel and ramdisk are missing",
            "run 'openstack overcloud image upload' first",
        ],
    );
    write(&h.path("bm.yaml"), BAREMETAL);
    let provision = [
        "overcloud",
        "node",
        "provision",
        "--stack",
        "overcloud",
        "--yes",
        "--output",
        &h.p("deployed.yaml"),
        &h.p("bm.yaml"),
    ];
    h.refused(
        Some("undercloud"),
        &provision,
        1,
        &["run 'openstack overcloud image upload' first"],
    );
    // The upload: credentials, its own arguments, and every file it reads.
    std::fs::create_dir(h.path("images")).unwrap();
    let upload = [
        "overcloud",
        "image",
        "upload",
        "--image-path",
        &h.p("images"),
        "--update-existing",
    ];
    h.refused(None, &upload, 1, &["Missing value auth-url"]);
    h.refused(
        Some("undercloud"),
        &["overcloud", "image", "upload", "--whole-disk-bogus"],
        2,
        &["unrecognized arguments: --whole-disk-bogus"],
    );
    h.refused(
        Some("undercloud"),
        &upload,
        1,
        &[
            "Required file",
            "ironic-python-agent.initramfs\" does not exist.",
        ],
    );
    for f in [
        "ironic-python-agent.initramfs",
        "ironic-python-agent.kernel",
        "overcloud-full.qcow2",
        "overcloud-full.vmlinuz",
        "overcloud-full.initrd",
    ] {
        write(&h.path("images").join(f), &format!("{f}\n"));
    }
    let out = h.ok(&upload);
    assert!(out.contains("overcloud-full.raw\" was copied."), "{out}");
    assert_eq!(
        std::fs::read_to_string(h.path(".standin/var/lib/ironic/httpboot/agent.ramdisk")).unwrap(),
        "ironic-python-agent.initramfs\n"
    );
    let again = h.ok(&upload);
    assert!(
        !again.contains("was copied"),
        "a second upload copies nothing: {again}"
    );

    // TripleO's container prepare generator: of the release of the repos, or none.
    let prepare = [
        "tripleo",
        "container",
        "image",
        "prepare",
        "default",
        "--local-push-destination",
        "--output-env-file",
        &h.p("defaults.yaml"),
    ];
    h.refused(None, &prepare, 1, &["no TripleO repos in"]);
    std::fs::create_dir_all(h.path("root/etc/yum.repos.d")).unwrap();
    write(
        &h.path("root/etc/yum.repos.d/labwarp-tripleo.repo"),
        &labwarp::render::tripleo_repos::repo_file(labwarp::lab::release::release("zed").unwrap()),
    );
    let out = h.run(None, &prepare);
    assert!(out.status.success(), "{}", show(&out));
    let defaults = std::fs::read_to_string(h.path("defaults.yaml")).unwrap();
    assert_eq!(
        labwarp::plan::steps::container_prepare::prepare_set(&defaults),
        Some(("quay.io/tripleozedcentos9".into(), "current-tripleo".into())),
        "{defaults}"
    );

    // Provisioning before introspection: the nodes are not available yet.
    h.refused(
        Some("undercloud"),
        &provision,
        1,
        &["Node controller-0 is in provision state \"manageable\", expected \"available\""],
    );
    h.ok(&introspect);
    assert_eq!(h.ok(&list), "controller-0 available\ncompute-0 available\n");

    // A deploy before provisioning, and one with an argument TripleO does not have.
    write(&h.path("cp.yaml"), "parameter_defaults: {}\n");
    write(&h.path("net.yaml"), "[]\n");
    let roles = h.ok(&[
        "overcloud",
        "roles",
        "generate",
        "--roles-path",
        "/usr/share/openstack-tripleo-heat-templates/roles",
        "-o",
        &h.p("roles.yaml"),
        "Controller",
    ]);
    assert!(roles.is_empty(), "{roles}");
    let deploy = |env: &[&str]| {
        let mut a: Vec<String> = [
            "overcloud",
            "deploy",
            "--templates",
            "/usr/share/openstack-tripleo-heat-templates",
            "--stack",
            "overcloud",
            "-r",
            &h.p("roles.yaml"),
            "-n",
            &h.p("net.yaml"),
            "--deployed-server",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for e in env {
            a.push("-e".into());
            a.push(e.to_string());
        }
        a
    };
    let as_strs = |v: &[String]| v.iter().map(String::clone).collect::<Vec<_>>();
    let unprovisioned = deploy(&[&h.p("cp.yaml")]);
    let refs: Vec<&str> = unprovisioned.iter().map(String::as_str).collect();
    h.refused(
        Some("undercloud"),
        &refs,
        1,
        &[
            "were not provisioned for stack overcloud",
            "overcloud node provision",
        ],
    );
    let mut bogus = as_strs(&unprovisioned);
    bogus.push("--labwarp-bogus".into());
    let refs: Vec<&str> = bogus.iter().map(String::as_str).collect();
    h.refused(
        Some("undercloud"),
        &refs,
        2,
        &["unrecognized arguments: --labwarp-bogus"],
    );
    let missing = deploy(&[&h.p("no-such-env.yaml")]);
    let refs: Vec<&str> = missing.iter().map(String::as_str).collect();
    h.refused(
        Some("undercloud"),
        &refs,
        1,
        &[
            "Error: The following files were not found: ",
            "no-such-env.yaml",
        ],
    );

    // Provisioned: nodes active, the environment written; not overwritten without --yes.
    let out = h.ok(&provision);
    assert!(out.contains("Nodes deployed successfully"), "{out}");
    assert_eq!(h.ok(&list), "controller-0 active\ncompute-0 active\n");
    let env = std::fs::read_to_string(h.path("deployed.yaml")).unwrap();
    for want in [
        "  ControllerCount: 1\n",
        "  ComputeCount: 1\n",
        "  ComputeHostnameFormat: compute-%index%\n",
        "    compute-0: compute-0\n",
    ] {
        assert!(env.contains(want), "{want:?} not in:\n{env}");
    }
    let no_yes: Vec<&str> = provision
        .iter()
        .copied()
        .filter(|a| *a != "--yes")
        .collect();
    h.refused(
        Some("undercloud"),
        &no_yes,
        1,
        &["Will not overwrite existing file"],
    );

    // The roles data lacks Compute, which was provisioned: Heat would refuse its count.
    let full = deploy(&[&h.p("deployed.yaml"), &h.p("cp.yaml")]);
    let refs: Vec<&str> = full.iter().map(String::as_str).collect();
    h.refused(
        Some("undercloud"),
        &refs,
        1,
        &["The Parameter (ComputeCount) was not defined in template"],
    );
    assert!(
        h.ok(&["overcloud", "status", "--stack", "overcloud"])
            .contains("No deployment was found for overcloud")
    );
    h.ok(&[
        "overcloud",
        "roles",
        "generate",
        "-o",
        &h.p("roles.yaml"),
        "Controller",
        "Compute",
    ]);
    // The control plane's VIP was not provisioned: Heat lacks ControlPlaneVipData.
    h.refused(
        Some("undercloud"),
        &refs,
        1,
        &["The Parameter (ControlPlaneVipData) was not provided"],
    );
    write(&h.path("vips.yaml"), "- network: internal_api\n");
    let vip = |file: &str, out: &str| {
        [
            "overcloud",
            "network",
            "vip",
            "provision",
            "--stack",
            "overcloud",
            "--yes",
            "--output",
            &h.p(out),
            &h.p(file),
        ]
        .map(String::from)
    };
    let bad = vip("vips.yaml", "vips-env.yaml");
    let bad: Vec<&str> = bad.iter().map(String::as_str).collect();
    h.refused(
        Some("undercloud"),
        &bad,
        1,
        &["Network internal_api for Virtual IP not found."],
    );
    write(
        &h.path("vips.yaml"),
        "- network: ctlplane\n  dns_name: overcloud\n",
    );
    let good = vip("vips.yaml", "vips-env.yaml");
    let good: Vec<&str> = good.iter().map(String::as_str).collect();
    h.ok(&good);
    h.ok(&[
        "overcloud",
        "network",
        "provision",
        "--yes",
        "--output",
        &h.p("nets-env.yaml"),
        &h.p("net.yaml"),
    ]);
    let full = deploy(&[
        &h.p("nets-env.yaml"),
        &h.p("vips-env.yaml"),
        &h.p("deployed.yaml"),
        &h.p("cp.yaml"),
    ]);
    let refs: Vec<&str> = full.iter().map(String::as_str).collect();
    let out = h.ok(&refs);
    assert!(out.contains("Overcloud Deployed without error"), "{out}");
    let status = h.ok(&["overcloud", "status", "--stack", "overcloud"]);
    assert!(
        status.contains("| overcloud  | DEPLOY_SUCCESS    |"),
        "{status}"
    );
    assert!(h.path("overcloudrc").is_file());
    let clouds = std::fs::read_to_string(h.path(".config/openstack/clouds.yaml")).unwrap();
    assert!(clouds.contains("  overcloud:\n"), "{clouds}");

    // Roles generate refuses a role TripleO does not ship and a malformed colon name.
    h.refused(
        Some("undercloud"),
        &[
            "overcloud",
            "roles",
            "generate",
            "-o",
            &h.p("r.yaml"),
            "Bogus",
        ],
        1,
        &["Invalid roles requested: Bogus"],
    );
    h.refused(
        Some("undercloud"),
        &[
            "overcloud",
            "roles",
            "generate",
            "-o",
            &h.p("r.yaml"),
            "Controller:Aio",
        ],
        1,
        &["should start with existing role name (Controller)"],
    );
}
