//! `nfs-idmapd-computes` (live-migration-ready): NFSv4's idmapd `Domain` on every compute,
//! the same as the NFS server's (`nfs-idmapd`), or every file of the shared instances
//! directory shows as `nobody` there and libvirt cannot migrate. Run over SSH from the
//! undercloud as TripleO's deploy user, as the readiness probes are; after a stand-in deploy
//! nothing of TripleO runs on the computes, so the check says it verified nothing.

use super::migration::{NODE_USER, not_deployed_yet};
use super::nfs_server::{GET_DOMAIN, SET_DOMAIN};
use crate::host::{Cmd, shell_quote};
use crate::plan::{Check, HostRole, Step, StepCtx};
use async_trait::async_trait;
use std::path::PathBuf;

pub struct ComputesIdmapd {
    /// The computes' overcloud hostnames.
    pub computes: Vec<String>,
    /// The server's domain (`nfs_server::idmapd_domain`).
    pub domain: String,
    /// The deploy was the stand-in's: TripleO configured nothing on the computes.
    pub standin: bool,
    /// `~/overcloudrc` on the undercloud: its absence means not deployed yet.
    pub overcloudrc: PathBuf,
}

/// The command the undercloud runs to reach `compute` as the deploy user: `remote` is one
/// shell command line for the compute's shell.
fn on_compute(compute: &str, remote: &str) -> Cmd {
    Cmd::new([
        "ssh",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
        &format!("{NODE_USER}@{compute}"),
        remote,
    ])
}

/// `sudo sh -c SCRIPT sh ARGS…` as one remote command line, every word quoted.
pub fn sudo_sh(script: &str, args: &[&str]) -> String {
    let mut words = vec![
        "sudo".to_string(),
        "sh".into(),
        "-c".into(),
        shell_quote(script),
        "sh".into(),
    ];
    words.extend(args.iter().map(|a| shell_quote(a)));
    words.join(" ")
}

impl ComputesIdmapd {
    /// The step for a lab with live migration: the domain the server side sets.
    pub fn for_lab(
        lab: &crate::lab::Lab,
        facts: &crate::plan::Facts,
        computes: Vec<String>,
    ) -> ComputesIdmapd {
        ComputesIdmapd {
            computes,
            domain: super::nfs_server::idmapd_domain(&lab.undercloud.conf.undercloud_hostname),
            standin: facts.standin_openstack,
            overcloudrc: facts.undercloud_home.join("overcloudrc"),
        }
    }

    /// (compute, the domain it has, or why it could not be read).
    async fn domains(
        &self,
        ctx: &StepCtx<'_>,
    ) -> anyhow::Result<Vec<(String, Result<String, String>)>> {
        let mut out = Vec::new();
        for c in &self.computes {
            let o = ctx
                .probe(
                    HostRole::Undercloud,
                    &on_compute(c, &sudo_sh(GET_DOMAIN, &[])),
                )
                .await?;
            let said = if o.success() {
                Ok(o.stdout_str()
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
                    .to_string())
            } else {
                Err(format!(
                    "exit {}: {}",
                    o.code
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "signal".into()),
                    o.stderr_str().trim()
                ))
            };
            out.push((c.clone(), said));
        }
        Ok(out)
    }
}

#[async_trait]
impl Step for ComputesIdmapd {
    fn id(&self) -> &str {
        "nfs-idmapd-computes"
    }
    fn title(&self) -> String {
        format!("NFSv4 idmapd domain {} on every compute", self.domain)
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        if let Some(todo) = not_deployed_yet(ctx, &self.overcloudrc).await? {
            return Ok(todo);
        }
        let uc = ctx.host(HostRole::Undercloud).name().to_string();
        if self.standin {
            let would: Vec<String> = self
                .computes
                .iter()
                .map(|c| format!("ssh {NODE_USER}@{c} {}", sudo_sh(GET_DOMAIN, &[])))
                .collect();
            return Ok(Check::unverified(format!(
                "the overcloud was deployed by labwarp's stand-in on {uc}, so TripleO configured nothing on {} and there is no /etc/idmapd.conf of theirs to check. On a real undercloud this step runs from {uc}: {}",
                self.computes.join(", "),
                would.join("; ")
            )));
        }
        let mut wrong = Vec::new();
        for (c, d) in self.domains(ctx).await? {
            match d {
                Ok(d) if d == self.domain => {}
                Ok(d) => wrong.push(format!(
                    "{c}: Domain is {}",
                    if d.is_empty() {
                        "unset".into()
                    } else {
                        shell_quote(&d)
                    }
                )),
                Err(e) => wrong.push(format!("{c}: cannot read /etc/idmapd.conf ({e})")),
            }
        }
        Ok(if wrong.is_empty() {
            Check::done(format!(
                "/etc/idmapd.conf: Domain = {} on {}",
                self.domain,
                self.computes.join(", ")
            ))
        } else {
            Check::todo(format!(
                "want Domain = {}: {}",
                self.domain,
                wrong.join("; ")
            ))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        if self.standin {
            anyhow::bail!("nothing to set on computes deployed by the stand-in");
        }
        for (c, d) in self.domains(ctx).await? {
            if d.as_deref() == Ok(self.domain.as_str()) {
                continue;
            }
            let o = ctx
                .probe(
                    HostRole::Undercloud,
                    &on_compute(&c, &sudo_sh(SET_DOMAIN, &[&self.domain])),
                )
                .await?;
            if !o.success() {
                anyhow::bail!(
                    "could not set the idmapd domain on {c}: {}",
                    o.stderr_str().trim()
                );
            }
            ctx.info(format!("{c}: /etc/idmapd.conf Domain = {}", self.domain));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The remote command line, parsed by a real shell as the compute's sshd would, runs the
    /// same script with the same argument.
    #[test]
    fn the_remote_command_line_survives_the_remote_shell() {
        let line = sudo_sh(SET_DOMAIN, &["lab's.domain"]).replacen("sudo ", "", 1);
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("idmapd.conf");
        std::fs::write(&f, "[General]\n#Domain = x\n").unwrap();
        let line = line.replace("/etc/idmapd.conf", &f.to_string_lossy());
        let o = std::process::Command::new("sh")
            .args(["-c", &line])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "[General]\nDomain = lab's.domain\n"
        );
    }
}
