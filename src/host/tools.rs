//! The one list of external commands labwarp's plans run beyond a minimal Debian, and the
//! package of each per distribution family: `scripts/tools.tsv`, read here at build time and
//! by `scripts/run` / `scripts/setup-host.sh` with a small shell loop. Preflight checks the
//! rows a plan needs on each host (`checks::commands`), the hypervisor's packages step
//! installs the hypervisor's rows, and the troubleshoot screen names the package of a
//! command that could not start. Pure data: no I/O here.

use crate::lab::DistroFamily;

/// The data file, shared with the scripts.
pub const TSV: &str = include_str!("../../scripts/tools.tsv");

/// Where a plan runs a command (the last column of `tools.tsv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// The hypervisor of a lab on a real libvirt.
    Hypervisor,
    /// The hypervisor of a lab on libvirt's test driver (the demo).
    TestDriver,
    /// Where the stand-in `openstack` starts the undercloud's containers.
    Containers,
    /// The undercloud when live migration is enabled (the NFS export).
    NfsServer,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Hypervisor => "hypervisor",
            Role::TestDriver => "test-driver",
            Role::Containers => "containers",
            Role::NfsServer => "nfs-server",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        [
            Role::Hypervisor,
            Role::TestDriver,
            Role::Containers,
            Role::NfsServer,
        ]
        .into_iter()
        .find(|r| r.name() == s)
    }
}

/// The roles of the demo's one machine: `scripts/run` installs the rows with these.
pub const DEMO: &[Role] = &[Role::TestDriver, Role::Containers];

/// One row of `tools.tsv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    pub command: &'static str,
    pub debian: &'static str,
    pub el: &'static str,
    pub roles: Vec<Role>,
}

impl Tool {
    /// The package providing the command on a distribution family.
    pub fn package(&self, distro: DistroFamily) -> &'static str {
        match distro {
            DistroFamily::Debian => self.debian,
            DistroFamily::Rhel => self.el,
        }
    }

    pub fn used_in(&self, roles: &[Role]) -> bool {
        self.roles.iter().any(|r| roles.contains(r))
    }
}

/// Parses the table; a malformed row is an error naming its line (a unit test keeps the
/// shipped file well-formed, so [`all`] can rely on it).
pub fn parse(text: &'static str) -> Result<Vec<Tool>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&'static str> = line.split_whitespace().collect();
        let [command, debian, el, roles] = cols[..] else {
            return Err(format!(
                "tools.tsv line {}: want 4 columns (command, debian, el, where), got {}",
                i + 1,
                cols.len()
            ));
        };
        let roles = roles
            .split(',')
            .map(|r| {
                Role::parse(r)
                    .ok_or_else(|| format!("tools.tsv line {}: unknown role {r:?}", i + 1))
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Tool {
            command,
            debian,
            el,
            roles,
        });
    }
    Ok(out)
}

/// Every row of the shipped table.
pub fn all() -> Vec<Tool> {
    parse(TSV).unwrap_or_else(|e| panic!("scripts/tools.tsv is malformed: {e}"))
}

/// The rows used in any of `roles`, in table order.
pub fn needed(roles: &[Role]) -> Vec<Tool> {
    all().into_iter().filter(|t| t.used_in(roles)).collect()
}

/// The row for a command, if labwarp knows it.
pub fn lookup(command: &str) -> Option<Tool> {
    all().into_iter().find(|t| t.command == command)
}

/// The distinct packages of `tools` on a distribution family, in order.
pub fn packages(tools: &[Tool], distro: DistroFamily) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for t in tools {
        let p = t.package(distro);
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// The command that installs `packages` (argv, run as root).
pub fn install_argv(distro: DistroFamily, packages: &[&str]) -> Vec<String> {
    let mut argv: Vec<String> = match distro {
        DistroFamily::Debian => [
            "env",
            "DEBIAN_FRONTEND=noninteractive",
            "apt-get",
            "install",
            "-y",
            "--no-install-recommends",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        DistroFamily::Rhel => ["dnf", "install", "-y"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    argv.extend(packages.iter().map(|p| p.to_string()));
    argv
}

/// The program a failed start names: Host errors read "cannot start `sudo -n genisoimage
/// -quiet …`: …" locally and "sh: 1: genisoimage: not found" / "bash: genisoimage: command
/// not found" through a remote shell. Wrappers (`sudo -n`, `env VAR=…`) are skipped.
pub fn missing_command(text: &str) -> Option<String> {
    if let Some(rest) = text.split("cannot start `").nth(1) {
        let shown = rest.split('`').next().unwrap_or_default();
        for w in shown.split_whitespace() {
            let w = w.trim_matches('\'');
            match w {
                "sudo" | "env" | "-n" | "--" => continue,
                _ if w.contains('=') => continue,
                _ => return Some(basename(w).to_string()),
            }
        }
    }
    for line in text.lines() {
        for suffix in [": command not found", ": not found"] {
            if let Some(head) = line.trim_end().strip_suffix(suffix) {
                let name = head.rsplit(": ").next().unwrap_or(head).trim();
                if !name.is_empty() && !name.contains(' ') {
                    return Some(basename(name).to_string());
                }
            }
        }
    }
    None
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_parses_and_names_each_command_once() {
        let all = parse(TSV).unwrap();
        assert!(all.len() >= 10, "{all:?}");
        let mut names: Vec<_> = all.iter().map(|t| t.command).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len(), "a command listed twice");
        assert!(all.iter().all(|t| !t.roles.is_empty()));
    }

    #[test]
    fn the_demo_needs_the_iso_tool_qemu_img_and_the_container_stack() {
        let demo: Vec<_> = needed(DEMO).into_iter().map(|t| t.command).collect();
        for c in ["genisoimage", "qemu-img", "podman", "runc", "busybox"] {
            assert!(demo.contains(&c), "{c} missing from {demo:?}");
        }
        assert!(!demo.contains(&"ipmitool"), "{demo:?}");
        assert_eq!(
            lookup("busybox").unwrap().package(DistroFamily::Debian),
            "busybox-static"
        );
    }

    #[test]
    fn a_malformed_row_is_an_error_with_its_line() {
        let e = parse("# c\ngenisoimage genisoimage\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        let e = parse("x x x moon\n").unwrap_err();
        assert!(e.contains("unknown role"), "{e}");
    }

    #[test]
    fn the_missing_program_is_read_from_local_and_remote_errors() {
        assert_eq!(
            missing_command(
                "cannot start `sudo -n genisoimage -quiet -output /x.iso`: No such file or directory (os error 2)"
            )
            .as_deref(),
            Some("genisoimage")
        );
        assert_eq!(
            missing_command(
                "cannot start `env DEBIAN_FRONTEND=noninteractive /usr/bin/apt-get install`: x"
            )
            .as_deref(),
            Some("apt-get")
        );
        assert_eq!(
            missing_command("exit status 127\nsh: 1: qemu-img: not found").as_deref(),
            Some("qemu-img")
        );
        assert_eq!(
            missing_command("bash: ipmitool: command not found").as_deref(),
            Some("ipmitool")
        );
        assert_eq!(missing_command("exit status 3"), None);
    }

    #[test]
    fn install_commands_per_family() {
        let t = needed(&[Role::Containers]);
        let p = packages(&t, DistroFamily::Rhel);
        assert_eq!(
            install_argv(DistroFamily::Rhel, &p),
            ["dnf", "install", "-y", "podman", "runc", "busybox"]
        );
        assert!(
            install_argv(DistroFamily::Debian, &["procps"])
                .ends_with(&["--no-install-recommends".to_string(), "procps".to_string()])
        );
    }
}
