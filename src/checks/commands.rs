//! Commands: every external command the lab's plan will run on the hypervisor is installed
//! (`command -v`), each missing one named with its package for the host's distribution
//! family, from the one list `scripts/tools.tsv` (`host::tools`). Issue 15: the demo on a
//! fresh machine failed mid-run on a missing `genisoimage` that preflight never looked for.

use super::user_os;
use super::{Area, CheckContext, CmdRun, Finding, Fix, HostView, Severity};
use crate::host::tools::{self, Role, Tool};
use crate::lab::DistroFamily;
use std::path::PathBuf;

const AREA: Area = Area::UserOs;

/// What one host has of the commands its roles need.
#[derive(Debug, Clone, Default)]
pub struct CommandsFacts {
    /// The host's name (the hypervisor's in lab.yaml).
    pub host: String,
    /// What the plan does there (which rows of the table apply).
    pub roles: Vec<Role>,
    /// The family whose package names the fix uses (os-release, else lab.yaml's `distro`).
    pub distro: DistroFamily,
    /// `command -v` of each needed command, one line each: `NAME PATH`, `NAME -` when
    /// missing, `NAME dynamic PATH` for a busybox that is not the static one.
    pub probe: CmdRun,
}

/// The roles the lab's plan gives the (first) hypervisor: the test driver's or a real
/// hypervisor's commands, plus the container stack where the stand-in starts the
/// undercloud's containers there (the sandbox undercloud is this machine).
pub fn hypervisor_roles(ctx: &CheckContext, local: bool) -> Vec<Role> {
    let Some(lab) = &ctx.lab else {
        return vec![Role::Hypervisor];
    };
    let ws = if lab.workspace.is_absolute() {
        lab.workspace.clone()
    } else {
        std::env::current_dir()
            .map(|d| d.join(&lab.workspace))
            .unwrap_or_else(|_| PathBuf::from(&lab.workspace))
    };
    let facts = crate::engine::facts::Facts::decide(lab, &ws);
    let mut roles = vec![if facts.test_driver {
        Role::TestDriver
    } else {
        Role::Hypervisor
    }];
    let containers_here = facts.standin_openstack
        && (facts.container_host == crate::engine::resource::HostRole::Virthost
            || (facts.sandbox && local));
    if containers_here {
        roles.push(Role::Containers);
    }
    roles
}

/// The probe: one shell loop over the needed commands.
const PROBE: &str = r#"for c do if p=$(command -v "$c"); then if [ "$c" = busybox ] && ldd "$p" >/dev/null 2>&1; then echo "$c dynamic $p"; else echo "$c $p"; fi; else echo "$c -"; fi; done"#;

pub async fn gather(view: &HostView<'_>, ctx: &CheckContext) -> CommandsFacts {
    let roles = hypervisor_roles(ctx, view.is_local());
    let distro = view
        .read("/etc/os-release")
        .await
        .content()
        .and_then(user_os::family)
        .unwrap_or(ctx.hypervisor.distro);
    let needed = tools::needed(&roles);
    let mut argv = vec!["sh", "-c", PROBE, "sh"];
    argv.extend(needed.iter().map(|t| t.command));
    CommandsFacts {
        host: ctx.hypervisor.name.clone(),
        roles,
        distro,
        probe: view.sys_cmd(&argv).await,
    }
}

/// A needed command that is absent (or unusable), with why.
struct Missing {
    tool: Tool,
    why: &'static str,
}

fn missing(facts: &CommandsFacts, stdout: &str) -> Vec<Missing> {
    let needed = tools::needed(&facts.roles);
    let mut out = Vec::new();
    for t in needed {
        let line = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(t.command));
        let second = line.and_then(|l| l.split_whitespace().nth(1));
        let why = match second {
            None | Some("-") => "not installed",
            Some("dynamic") => "dynamically linked (the stand-in's image needs the static one)",
            Some(_) => continue,
        };
        out.push(Missing { tool: t, why });
    }
    out
}

pub fn evaluate(facts: &CommandsFacts, _ctx: &CheckContext) -> Vec<Finding> {
    let id = format!("commands.{}", facts.host);
    let roles: Vec<&str> = facts.roles.iter().map(|r| r.name()).collect();
    let Some(stdout) = facts.probe.ok_stdout() else {
        return vec![Finding::new(
            id,
            AREA,
            Severity::Info,
            format!("{}: commands the plan runs not checked", facts.host),
            facts.probe.evidence(),
        )];
    };
    let missing = missing(facts, stdout);
    let needed: Vec<&str> = tools::needed(&facts.roles)
        .iter()
        .map(|t| t.command)
        .collect();
    let evidence = format!(
        "the plan runs these as {} (scripts/tools.tsv)\n$ command -v {}\n{}",
        roles.join(", "),
        needed.join(" "),
        stdout.trim_end()
    );
    if missing.is_empty() {
        return vec![Finding::new(
            id,
            AREA,
            Severity::Ok,
            format!("{}: every command the plan runs is installed", facts.host),
            evidence,
        )];
    }
    // A real hypervisor's packages step installs its rows; nothing installs the others.
    let installed_by_plan =
        |t: &Tool| facts.roles.contains(&Role::Hypervisor) && t.roles.contains(&Role::Hypervisor);
    let severity = if missing.iter().all(|m| installed_by_plan(&m.tool)) {
        Severity::Warn
    } else {
        Severity::Fail
    };
    let named: Vec<String> = missing
        .iter()
        .map(|m| {
            format!(
                "{} ({}: {})",
                m.tool.command,
                m.why,
                m.tool.package(facts.distro)
            )
        })
        .collect();
    let tools: Vec<Tool> = missing.iter().map(|m| m.tool.clone()).collect();
    let packages = tools::packages(&tools, facts.distro);
    let mut description = format!("install {}", packages.join(" "));
    if severity == Severity::Warn {
        description.push_str(" (the hypervisor stage's packages step would install them too)");
    }
    let mut commands = Vec::new();
    if facts.distro == DistroFamily::Debian {
        // A fresh machine may have no package lists yet.
        commands.push(vec!["apt-get".to_string(), "update".into()]);
    }
    commands.push(tools::install_argv(facts.distro, &packages));
    vec![
        Finding::new(
            id,
            AREA,
            severity,
            format!("{}: missing {}", facts.host, named.join(", ")),
            evidence,
        )
        .with_fix(Fix {
            description,
            edits: Vec::new(),
            commands,
            restart: None,
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(roles: Vec<Role>, stdout: &str) -> CommandsFacts {
        CommandsFacts {
            host: "demo".into(),
            roles,
            distro: DistroFamily::Debian,
            probe: CmdRun::Ran {
                shown: "sh -c …".into(),
                code: Some(0),
                stdout: stdout.into(),
                stderr: String::new(),
            },
        }
    }

    fn ctx() -> CheckContext {
        CheckContext::local(Default::default())
    }

    #[test]
    fn a_missing_iso_tool_on_the_demo_fails_and_names_its_package() {
        let f = facts(
            tools::DEMO.to_vec(),
            "genisoimage -\nqemu-img /usr/bin/qemu-img\nvisudo /usr/sbin/visudo\npodman /usr/bin/podman\nrunc /usr/bin/runc\nbusybox dynamic /bin/busybox\n",
        );
        let out = evaluate(&f, &ctx());
        assert_eq!(out.len(), 1);
        let x = &out[0];
        assert_eq!(x.id, "commands.demo");
        assert_eq!(x.severity, Severity::Fail);
        assert!(
            x.title.contains("genisoimage (not installed: genisoimage)"),
            "{}",
            x.title
        );
        assert!(
            x.title.contains("busybox (dynamically linked"),
            "{}",
            x.title
        );
        let fix = x.fix.as_ref().unwrap();
        assert_eq!(
            fix.commands,
            vec![
                vec!["apt-get".to_string(), "update".into()],
                tools::install_argv(DistroFamily::Debian, &["genisoimage", "busybox-static"])
            ]
        );
        assert!(x.evidence.contains("genisoimage -"), "{}", x.evidence);
    }

    #[test]
    fn el_hosts_get_dnf_and_el_package_names() {
        let mut f = facts(vec![Role::Hypervisor], "qemu-img -\n");
        f.distro = DistroFamily::Rhel;
        let x = &evaluate(&f, &ctx())[0];
        // The hypervisor stage installs its own rows: a warning, not a failure.
        assert_eq!(x.severity, Severity::Warn);
        let cmd = &x.fix.as_ref().unwrap().commands[0];
        assert_eq!(cmd[..3], ["dnf", "install", "-y"]);
        assert!(cmd.contains(&"qemu-img".to_string()) && cmd.contains(&"curl".to_string()));
    }

    #[test]
    fn all_present_is_ok_and_not_probed_is_info() {
        let lines: String = tools::needed(tools::DEMO)
            .iter()
            .map(|t| format!("{} /usr/bin/{}\n", t.command, t.command))
            .collect();
        let x = &evaluate(&facts(tools::DEMO.to_vec(), &lines), &ctx())[0];
        assert_eq!(x.severity, Severity::Ok, "{}", x.title);
        let mut f = facts(vec![Role::Hypervisor], "");
        f.probe = CmdRun::NotProbed("fixture root".into());
        let x = &evaluate(&f, &ctx())[0];
        assert_eq!(x.severity, Severity::Info);
        assert!(x.evidence.contains("fixture root"));
    }

    #[test]
    fn the_demo_lab_needs_the_demo_rows_on_this_machine() {
        let lab = crate::lab::load_preset("demo").unwrap();
        let ctx = CheckContext::for_lab(lab, Default::default());
        assert_eq!(hypervisor_roles(&ctx, true), tools::DEMO);
    }
}
