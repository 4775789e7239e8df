//! The undercloud-prep stage: what a plain CentOS Stream 9 guest needs before `openstack
//! undercloud install` (what tripleo-quickstart's undercloud-setup and the TripleO docs do
//! by hand): the release's repos, `python3-tripleoclient`, the stack user's sudo, a fully
//! qualified hostname that `/etc/hosts` resolves and time sync (the container images'
//! `ContainerImagePrepare`: `container_prepare.rs`).
//!
//! On a real undercloud each step acts on the system (`/`, as root through `sudo`). Where
//! labwarp's stand-in plays TripleO (the sandbox, the tiny test guest: no dnf, no systemd,
//! a login that is not root), the same files are written for real under a stand-in root
//! directory, and what only a real system can do (`dnf install`, `hostnamectl`,
//! `systemctl enable`) is played there (see `Prep::standin`).

use crate::host::Cmd;
use crate::lab::release::Release;
use crate::plan::{Check, HostRole, Step, StepCtx};
use crate::render::tripleo_repos;
use async_trait::async_trait;
use std::path::{Path, PathBuf};

/// Where the prep steps act.
#[derive(Debug, Clone)]
pub struct Prep {
    /// `/` on a real undercloud; the stand-in's root directory otherwise.
    pub root: PathBuf,
    /// The stand-in plays TripleO: system commands are played under `root`.
    pub standin: bool,
}

impl Prep {
    /// `abs` (an absolute system path) under the root.
    pub fn path(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    fn cmd<I, S>(&self, argv: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let c = Cmd::new(argv);
        if self.standin { c } else { c.sudo() }
    }

    /// A file's text on the undercloud, `None` when it is absent.
    async fn read(&self, ctx: &StepCtx<'_>, p: &Path) -> anyhow::Result<Option<String>> {
        let h = ctx.host(HostRole::Undercloud);
        if !h.exists(p).await? {
            return Ok(None);
        }
        Ok(Some(
            String::from_utf8_lossy(&h.read_file(p).await?).into_owned(),
        ))
    }

    /// Writes a file atomically (as root on a real undercloud), its directory made first.
    async fn write(
        &self,
        ctx: &StepCtx<'_>,
        p: &Path,
        text: &str,
        mode: u32,
    ) -> anyhow::Result<()> {
        if let Some(dir) = p.parent() {
            let d = dir.to_string_lossy().into_owned();
            ctx.run_ok(
                HostRole::Undercloud,
                &self.cmd(["mkdir", "-p", "--", d.as_str()]),
            )
            .await?;
        }
        let h = ctx.host(HostRole::Undercloud);
        if self.standin {
            h.write_file(p, text.as_bytes(), mode).await?;
        } else {
            h.write_root_file(p, text.as_bytes(), mode).await?;
            // Written through a temp file and a rename: give it the SELinux label its path
            // has (/etc/hosts is net_conf_t, not the directory's etc_t).
            let path = p.to_string_lossy().into_owned();
            ctx.run_ok(
                HostRole::Undercloud,
                &self.cmd([
                    "sh",
                    "-c",
                    "if command -v restorecon >/dev/null 2>&1; then restorecon -- \"$1\"; fi",
                    "sh",
                    path.as_str(),
                ]),
            )
            .await?;
        }
        ctx.info(format!("wrote {}", p.display()));
        Ok(())
    }
}

/// A whole system file with labwarp's content: the release's repos.
pub struct Repos {
    pub prep: Prep,
    pub release: &'static Release,
}

#[async_trait]
impl Step for Repos {
    fn id(&self) -> &str {
        "repos"
    }
    fn title(&self) -> String {
        format!(
            "enable TripleO {}'s repos ({})",
            self.release.name,
            self.prep.path(tripleo_repos::REPO_FILE).display()
        )
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let p = self.prep.path(tripleo_repos::REPO_FILE);
        Ok(match self.prep.read(ctx, &p).await? {
            Some(t) if t == tripleo_repos::repo_file(self.release) => Check::done(format!(
                "{} enables {}",
                p.display(),
                self.release.trunk_url()
            )),
            Some(_) => Check::todo(format!("{} names other repos", p.display())),
            None => Check::todo(format!("{} missing", p.display())),
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let p = self.prep.path(tripleo_repos::REPO_FILE);
        self.prep
            .write(ctx, &p, &tripleo_repos::repo_file(self.release), 0o644)
            .await
    }
}

/// `python3-tripleoclient` from those repos: the `openstack` command with TripleO's
/// plugins. (Where the stand-in plays TripleO, the stand-in `openstack` is uploaded by a
/// `PutFile` step of the same id instead.)
pub struct Tripleoclient;

pub const TRIPLEOCLIENT: &str = "python3-tripleoclient";

#[async_trait]
impl Step for Tripleoclient {
    fn id(&self) -> &str {
        "tripleoclient"
    }
    fn title(&self) -> String {
        format!("dnf install {TRIPLEOCLIENT}")
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let rpm = ctx
            .probe(
                HostRole::Undercloud,
                &Cmd::new(["rpm", "-q", TRIPLEOCLIENT]),
            )
            .await?;
        if !rpm.success() {
            return Ok(Check::todo(format!("{TRIPLEOCLIENT} is not installed")));
        }
        Ok(match openstack_path(ctx).await? {
            Some(p) => Check::done(format!(
                "{} installed; openstack is {p}",
                rpm.stdout_str().trim()
            )),
            None => Check::todo(format!(
                "{TRIPLEOCLIENT} installed, but no `openstack` on PATH"
            )),
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        ctx.run_ok(
            HostRole::Undercloud,
            &Cmd::new(["dnf", "install", "-y", TRIPLEOCLIENT]).sudo(),
        )
        .await?;
        Ok(())
    }
}

/// Where `openstack` is on the undercloud's PATH, if anywhere.
pub async fn openstack_path(ctx: &StepCtx<'_>) -> anyhow::Result<Option<String>> {
    let out = ctx
        .probe(
            HostRole::Undercloud,
            &Cmd::new(["sh", "-c", "command -v openstack"]),
        )
        .await?;
    let p = out.stdout_str().trim().to_string();
    Ok((out.success() && !p.is_empty()).then_some(p))
}

/// The stack user's passwordless sudo, in `/etc/sudoers.d/<user>`: written beside it as a
/// dot file (sudo skips those), judged by `visudo -c`, then renamed into place, so a bad
/// file never reaches sudo.
pub struct StackSudo {
    pub prep: Prep,
    pub user: String,
}

#[async_trait]
impl Step for StackSudo {
    fn id(&self) -> &str {
        "stack-sudo"
    }
    fn title(&self) -> String {
        format!(
            "passwordless sudo for {} ({}, checked by visudo -c)",
            self.user,
            self.prep
                .path(&tripleo_repos::sudoers_path(&self.user))
                .display()
        )
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let p = self.prep.path(&tripleo_repos::sudoers_path(&self.user));
        let want = tripleo_repos::sudoers(&self.user);
        let have = if self.prep.standin {
            self.prep.read(ctx, &p).await?
        } else {
            // /etc/sudoers.d is root's alone (0750): read as root.
            let path = p.to_string_lossy().into_owned();
            let out = ctx
                .probe(
                    HostRole::Undercloud,
                    &self.prep.cmd(["cat", "--", path.as_str()]),
                )
                .await?;
            out.success().then(|| out.stdout_str())
        };
        Ok(match have {
            Some(t) if t == want => {
                Check::done(format!("{} grants {} sudo", p.display(), self.user))
            }
            Some(_) => Check::todo(format!("{} differs from labwarp's", p.display())),
            None => Check::todo(format!("{} missing", p.display())),
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let text = tripleo_repos::sudoers(&self.user);
        let p = self.prep.path(&tripleo_repos::sudoers_path(&self.user));
        if self.prep.standin {
            // The stand-in's undercloud may have no sudo at all (the tiny guest): the same
            // content is judged by the hypervisor's visudo, read from stdin.
            ctx.run_ok(
                HostRole::Virthost,
                &Cmd::new(["visudo", "-c", "-f", "-"]).stdin(text.clone().into_bytes()),
            )
            .await?;
            return self.prep.write(ctx, &p, &text, 0o440).await;
        }
        let staged = p.with_file_name(format!(".labwarp-{}.new", self.user));
        self.prep.write(ctx, &staged, &text, 0o440).await?;
        let staged_s = staged.to_string_lossy().into_owned();
        let check = ctx
            .run(
                HostRole::Undercloud,
                &self.prep.cmd(["visudo", "-c", "-f", staged_s.as_str()]),
            )
            .await?;
        if !check.success() {
            let _ = ctx
                .run(
                    HostRole::Undercloud,
                    &self.prep.cmd(["rm", "-f", "--", staged_s.as_str()]),
                )
                .await;
            anyhow::bail!(
                "visudo -c refused labwarp's sudoers entry for {} ({}): {}; it was not put in place. Fix: check undercloud.cloud_init.user",
                self.user,
                p.display(),
                check.stderr_str().trim()
            );
        }
        let dest = p.to_string_lossy().into_owned();
        ctx.run_ok(
            HostRole::Undercloud,
            &self
                .prep
                .cmd(["mv", "-f", "--", staged_s.as_str(), dest.as_str()]),
        )
        .await?;
        Ok(())
    }
}

/// The undercloud's hostname: undercloud.conf's `undercloud_hostname`, static and transient
/// alike (TripleO's preflight, `utils.check_hostname`, refuses anything else).
pub struct Hostname {
    pub prep: Prep,
    pub fqdn: String,
}

#[async_trait]
impl Step for Hostname {
    fn id(&self) -> &str {
        "hostname"
    }
    fn title(&self) -> String {
        format!(
            "hostname {} (undercloud.conf's undercloud_hostname)",
            self.fqdn
        )
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        if self.prep.standin {
            // Played: the file hostnamectl writes.
            let p = self.prep.path("/etc/hostname");
            return Ok(match self.prep.read(ctx, &p).await? {
                Some(t) if t.trim() == self.fqdn => {
                    Check::done(format!("{} holds {}", p.display(), self.fqdn))
                }
                other => Check::todo(format!(
                    "{} holds {}",
                    p.display(),
                    other
                        .map(|t| t.trim().to_string())
                        .unwrap_or_else(|| "nothing".into())
                )),
            });
        }
        let mut seen = Vec::new();
        for kind in ["--static", "--transient"] {
            let out = ctx
                .probe(HostRole::Undercloud, &Cmd::new(["hostnamectl", kind]))
                .await?;
            seen.push(out.stdout_str().trim().to_string());
        }
        Ok(if seen.iter().all(|h| *h == self.fqdn) {
            Check::done(format!("static and transient hostname {}", self.fqdn))
        } else {
            Check::todo(format!("static {:?}, transient {:?}", seen[0], seen[1]))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        if self.prep.standin {
            let p = self.prep.path("/etc/hostname");
            return self
                .prep
                .write(ctx, &p, &format!("{}\n", self.fqdn), 0o644)
                .await;
        }
        ctx.run_ok(
            HostRole::Undercloud,
            &self
                .prep
                .cmd(["hostnamectl", "set-hostname", self.fqdn.as_str()]),
        )
        .await?;
        Ok(())
    }
}

/// `/etc/hosts` resolves the hostname (TripleO's preflight looks for it on a line that is
/// not a comment; RabbitMQ needs it): `127.0.0.1 FQDN SHORT`, as that preflight adds.
pub struct EtcHosts {
    pub prep: Prep,
    pub fqdn: String,
}

impl EtcHosts {
    fn listed(&self, hosts: &str) -> bool {
        hosts.lines().any(|l| {
            !l.trim_start().starts_with('#')
                && l.split('#')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .any(|w| w == self.fqdn)
        })
    }
}

#[async_trait]
impl Step for EtcHosts {
    fn id(&self) -> &str {
        "etc-hosts"
    }
    fn title(&self) -> String {
        format!(
            "{} resolves {}",
            self.prep.path("/etc/hosts").display(),
            self.fqdn
        )
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let p = self.prep.path("/etc/hosts");
        let text = self.prep.read(ctx, &p).await?.unwrap_or_default();
        Ok(if self.listed(&text) {
            Check::done(format!("{} lists {}", p.display(), self.fqdn))
        } else {
            Check::todo(format!("{} does not list {}", p.display(), self.fqdn))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let p = self.prep.path("/etc/hosts");
        let mut text = self.prep.read(ctx, &p).await?.unwrap_or_default();
        if self.listed(&text) {
            return Ok(());
        }
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        let short = self.fqdn.split('.').next().unwrap_or(&self.fqdn);
        text.push_str(&format!(
            "127.0.0.1 {} {short} # labwarp: undercloud_hostname\n",
            self.fqdn
        ));
        self.prep.write(ctx, &p, &text, 0o644).await
    }
}

/// Time sync: chronyd installed, enabled and running (TripleO's services, keystone tokens
/// and ironic's IPMI sessions go wrong with a clock that drifts).
pub struct TimeSync {
    pub prep: Prep,
}

/// The link `systemctl enable chronyd` makes (what the stand-in plays).
const CHRONYD_WANTS: &str = "/etc/systemd/system/multi-user.target.wants/chronyd.service";
const CHRONYD_UNIT: &str = "/usr/lib/systemd/system/chronyd.service";

#[async_trait]
impl Step for TimeSync {
    fn id(&self) -> &str {
        "time-sync"
    }
    fn title(&self) -> String {
        "time sync: chronyd enabled and running".into()
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        if self.prep.standin {
            let link = self.prep.path(CHRONYD_WANTS);
            return Ok(if ctx.host(HostRole::Undercloud).exists(&link).await? {
                Check::done(format!(
                    "{} exists (played: systemctl enable)",
                    link.display()
                ))
            } else {
                Check::todo(format!("{} missing", link.display()))
            });
        }
        let mut seen = Vec::new();
        for verb in ["is-enabled", "is-active"] {
            let out = ctx
                .probe(
                    HostRole::Undercloud,
                    &Cmd::new(["systemctl", verb, "chronyd"]),
                )
                .await?;
            seen.push(out.stdout_str().trim().to_string());
        }
        Ok(if seen[0] == "enabled" && seen[1] == "active" {
            Check::done("chronyd enabled and active")
        } else {
            Check::todo(format!("chronyd: {} / {}", seen[0], seen[1]))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        if self.prep.standin {
            let link = self.prep.path(CHRONYD_WANTS);
            let l = link.to_string_lossy().into_owned();
            let dir = link
                .parent()
                .map(|d| d.to_string_lossy().into_owned())
                .unwrap_or_default();
            ctx.run_ok(
                HostRole::Undercloud,
                &self.prep.cmd(["mkdir", "-p", "--", dir.as_str()]),
            )
            .await?;
            ctx.run_ok(
                HostRole::Undercloud,
                &self.prep.cmd(["ln", "-sfn", CHRONYD_UNIT, l.as_str()]),
            )
            .await?;
            return Ok(());
        }
        ctx.run_ok(
            HostRole::Undercloud,
            &self.prep.cmd(["dnf", "install", "-y", "chrony"]),
        )
        .await?;
        ctx.run_ok(
            HostRole::Undercloud,
            &self.prep.cmd(["systemctl", "enable", "--now", "chronyd"]),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etc_hosts_counts_only_uncommented_words() {
        let s = EtcHosts {
            prep: Prep {
                root: "/".into(),
                standin: false,
            },
            fqdn: "undercloud.localdomain".into(),
        };
        assert!(!s.listed("# 127.0.0.1 undercloud.localdomain\n"));
        assert!(!s.listed("127.0.0.1 localhost # undercloud.localdomain\n"));
        assert!(!s.listed("127.0.0.1 undercloud.localdomain.x\n"));
        assert!(s.listed("127.0.0.1 localhost\n10.0.0.1 undercloud.localdomain undercloud\n"));
    }
}
