//! Hypervisor preparation: packages and the stack user.

use crate::host::Cmd;
use crate::lab::DistroFamily;
use crate::plan::ownership::user_comment;
use crate::plan::{Check, HostRole, Level, Resource, Step, StepCtx};
use async_trait::async_trait;
use std::path::PathBuf;

/// Distribution packages (dnf or apt by distro family). Never removed by cleanup: other
/// software may need them.
pub struct Packages {
    pub distro: DistroFamily,
    pub names: Vec<String>,
}

impl Packages {
    /// The hypervisor's packages for a distro family: libvirt, qemu, dnsmasq and what
    /// VirtualBMC's venv builds with, plus the packages of the hypervisor's commands.
    pub fn for_distro(distro: DistroFamily) -> Self {
        let names: &[&str] = match distro {
            DistroFamily::Debian => &[
                "libvirt-daemon",
                "libvirt-daemon-driver-qemu",
                "libvirt-clients",
                "qemu-system-x86",
                "qemu-utils",
                "genisoimage",
                "dnsmasq-base",
                // VirtualBMC's venv: pip builds libvirt-python; ipmitool for its preflight.
                "python3-venv",
                "python3-dev",
                "gcc",
                "pkg-config",
                "libvirt-dev",
                "ipmitool",
            ],
            DistroFamily::Rhel => &[
                "libvirt-daemon-kvm",
                "libvirt-client",
                "qemu-kvm",
                "qemu-img",
                "genisoimage",
                "dnsmasq",
                "python3-devel",
                "gcc",
                "pkgconf-pkg-config",
                "libvirt-devel",
                "ipmitool",
            ],
        };
        let mut names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        // And the package of every command the plan runs on a hypervisor (the one list,
        // scripts/tools.tsv, that preflight checks too).
        let tools = crate::host::tools::needed(&[crate::host::tools::Role::Hypervisor]);
        for p in crate::host::tools::packages(&tools, distro) {
            if !names.iter().any(|n| n == p) {
                names.push(p.to_string());
            }
        }
        Packages { distro, names }
    }

    async fn missing(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Vec<String>> {
        let mut missing = Vec::new();
        for n in &self.names {
            let cmd = match self.distro {
                DistroFamily::Debian => Cmd::new(["dpkg-query", "-W", "-f", "${Status}", n]),
                DistroFamily::Rhel => Cmd::new(["rpm", "-q", n]),
            };
            let out = ctx.probe(HostRole::Virthost, &cmd).await;
            let ok = match (&out, self.distro) {
                (Ok(o), DistroFamily::Debian) => {
                    o.success() && o.stdout_str().contains("install ok installed")
                }
                (Ok(o), DistroFamily::Rhel) => o.success(),
                (Err(_), _) => false,
            };
            if !ok {
                missing.push(n.clone());
            }
        }
        Ok(missing)
    }
}

#[async_trait]
impl Step for Packages {
    fn id(&self) -> &str {
        "packages"
    }
    fn title(&self) -> String {
        format!("packages: {}", self.names.join(" "))
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let missing = self.missing(ctx).await?;
        Ok(if missing.is_empty() {
            Check::done(format!("{} installed", self.names.join(", ")))
        } else {
            Check::todo(format!("not installed: {}", missing.join(", ")))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let missing = self.missing(ctx).await?;
        let mut argv: Vec<String> = match self.distro {
            DistroFamily::Debian => vec![
                "env".into(),
                "DEBIAN_FRONTEND=noninteractive".into(),
                "apt-get".into(),
                "install".into(),
                "-y".into(),
                "--no-install-recommends".into(),
            ],
            DistroFamily::Rhel => vec!["dnf".into(), "install".into(), "-y".into()],
        };
        argv.extend(missing);
        ctx.run_ok(HostRole::Virthost, &Cmd::new(argv).sudo())
            .await?;
        Ok(())
    }
}

/// The unprivileged user that owns the lab (quickstart's `stack`), with passwordless sudo.
/// Created with a comment naming the lab, so cleanup never removes a user it did not make.
pub struct StackUser {
    pub lab: String,
    pub name: String,
}

impl StackUser {
    fn sudoers(&self) -> PathBuf {
        PathBuf::from("/etc/sudoers.d").join(format!("labwarp-{}", self.name))
    }
}

#[async_trait]
impl Step for StackUser {
    fn id(&self) -> &str {
        "stack-user"
    }
    fn title(&self) -> String {
        format!("user {} with passwordless sudo", self.name)
    }
    fn resources(&self) -> Vec<Resource> {
        vec![
            Resource::File {
                host: HostRole::Virthost,
                path: self.sudoers(),
                level: Level::All,
            },
            Resource::User {
                host: HostRole::Virthost,
                name: self.name.clone(),
            },
        ]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let out = ctx
            .probe(
                HostRole::Virthost,
                &Cmd::new(["getent", "passwd", &self.name]),
            )
            .await?;
        if !out.success() {
            return Ok(Check::todo(format!("no user {}", self.name)));
        }
        if !ctx.host(HostRole::Virthost).exists(&self.sudoers()).await? {
            return Ok(Check::todo(format!(
                "user {} exists, {} missing",
                self.name,
                self.sudoers().display()
            )));
        }
        Ok(Check::done(format!(
            "user {} exists with {}",
            self.name,
            self.sudoers().display()
        )))
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let exists = ctx
            .probe(
                HostRole::Virthost,
                &Cmd::new(["getent", "passwd", &self.name]),
            )
            .await?
            .success();
        if !exists {
            ctx.run_ok(
                HostRole::Virthost,
                &Cmd::new([
                    "useradd",
                    "-m",
                    "-s",
                    "/bin/bash",
                    "-c",
                    &user_comment(&self.lab),
                    &self.name,
                ])
                .sudo(),
            )
            .await?;
        }
        ctx.run_ok(
            HostRole::Virthost,
            &Cmd::new(["mkdir", "-p", "-m", "0750", "/etc/sudoers.d"]).sudo(),
        )
        .await?;
        let rule = format!("{} ALL=(root) NOPASSWD:ALL\n", self.name);
        ctx.host(HostRole::Virthost)
            .write_file(&self.sudoers(), rule.as_bytes(), 0o440)
            .await?;
        Ok(())
    }
}
