//! The NFS server behind live migration, on the host that exports the share (the undercloud
//! by default, as crucible served it from one host): the server and rpcbind installed and
//! running, NFS let through its firewall, and NFSv4's idmapd domain set (server and clients
//! must agree on it, or every file shows as `nobody`). An undercloud is an EL host with
//! systemd (CentOS Stream, RHEL): the commands are its.

use crate::host::{Cmd, shell_quote};
use crate::plan::{Check, HostRole, Step, StepCtx};
use async_trait::async_trait;

/// The services NFSv4 with mountd needs through firewalld (crucible's list: nfs, mountd,
/// rpc-bind).
pub const FIREWALL_SERVICES: &[&str] = &["nfs", "mountd", "rpc-bind"];

async fn sh(
    ctx: &StepCtx<'_>,
    role: HostRole,
    script: &str,
    args: &[&str],
) -> anyhow::Result<(bool, String)> {
    let mut argv = vec!["sh".to_string(), "-c".into(), script.into(), "sh".into()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let out = ctx.probe(role, &Cmd::new(argv).sudo()).await?;
    Ok((
        out.success(),
        format!("{}{}", out.stdout_str(), out.stderr_str())
            .trim()
            .to_string(),
    ))
}

/// `nfs-utils` installed, `rpcbind` and `nfs-server` enabled and running.
pub struct NfsServer {
    pub role: HostRole,
}

#[async_trait]
impl Step for NfsServer {
    fn id(&self) -> &str {
        "nfs-server"
    }
    fn title(&self) -> String {
        "NFS server (nfs-utils; rpcbind and nfs-server enabled and running)".into()
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let (ok, said) = sh(
            ctx,
            self.role,
            "for u in rpcbind nfs-server; do printf '%s ' \"$u\"; systemctl is-active \"$u\" || exit 1; done",
            &[],
        )
        .await?;
        Ok(if ok {
            Check::done(said.replace('\n', "; "))
        } else {
            Check::todo(format!("not running: {}", said.replace('\n', "; ")))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        ctx.run_ok(
            self.role,
            &Cmd::new(["dnf", "install", "-y", "nfs-utils"]).sudo(),
        )
        .await?;
        ctx.run_ok(
            self.role,
            &Cmd::new(["systemctl", "enable", "--now", "rpcbind", "nfs-server"]).sudo(),
        )
        .await?;
        Ok(())
    }
}

/// NFS, mountd and rpc-bind allowed by firewalld, when firewalld runs (permanent and live).
pub struct NfsFirewall {
    pub role: HostRole,
}

#[async_trait]
impl Step for NfsFirewall {
    fn id(&self) -> &str {
        "nfs-firewall"
    }
    fn title(&self) -> String {
        format!("firewalld lets {} in", FIREWALL_SERVICES.join(", "))
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let (running, _) = sh(ctx, self.role, "firewall-cmd --state >/dev/null 2>&1", &[]).await?;
        if !running {
            return Ok(Check::done("firewalld is not running: nothing filters NFS"));
        }
        let (_, listed) = sh(ctx, self.role, "firewall-cmd --list-services", &[]).await?;
        let have: Vec<&str> = listed.split_whitespace().collect();
        let missing: Vec<&str> = FIREWALL_SERVICES
            .iter()
            .copied()
            .filter(|s| !have.contains(s))
            .collect();
        Ok(if missing.is_empty() {
            Check::done(format!("firewalld allows {}", FIREWALL_SERVICES.join(", ")))
        } else {
            Check::todo(format!("firewalld does not allow {}", missing.join(", ")))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        for permanent in [true, false] {
            let mut argv = vec!["firewall-cmd".to_string()];
            if permanent {
                argv.push("--permanent".into());
            }
            argv.extend(
                FIREWALL_SERVICES
                    .iter()
                    .map(|s| format!("--add-service={s}")),
            );
            ctx.run_ok(self.role, &Cmd::new(argv).sudo()).await?;
        }
        Ok(())
    }
}

/// `Domain = DOMAIN` in `/etc/idmapd.conf`'s `[General]` section.
pub struct IdmapdDomain {
    pub role: HostRole,
    pub domain: String,
}

/// The lab's NFSv4 idmapd domain: the undercloud's DNS domain (`undercloud.localdomain` →
/// `localdomain`), which TripleO's nodes share.
pub fn idmapd_domain(undercloud_hostname: &str) -> String {
    undercloud_hostname
        .split_once('.')
        .map(|(_, d)| d.to_string())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "localdomain".into())
}

/// Prints the `Domain` set under `[General]` in `/etc/idmapd.conf` (nothing when unset).
pub(crate) const GET_DOMAIN: &str = "awk '/^\\[/ { g = ($0 ~ /^\\[General\\]/) } g && /^[ \\t]*Domain[ \\t]*=/ { sub(/^[^=]*=[ \\t]*/, \"\"); print }' /etc/idmapd.conf 2>/dev/null";

/// Sets `Domain` under `[General]` (replacing a `Domain` or `#Domain` line there, else
/// adding one after the section header, else adding the section), idempotently.
pub(crate) const SET_DOMAIN: &str = r#"f=/etc/idmapd.conf; d=$1
[ -f "$f" ] || printf '[General]\n' > "$f"
awk -v d="$d" '
  /^\[/ { if (ingen && !done) { print "Domain = " d; done = 1 } ingen = ($0 ~ /^\[General\]/) ; print; next }
  ingen && /^[#;]?[ \t]*Domain[ \t]*=/ { if (!done) { print "Domain = " d; done = 1 } ; next }
  { print }
  END { if (!done) { if (!ingen) print "[General]"; print "Domain = " d } }
' "$f" > "$f.labwarp-tmp" && cat "$f.labwarp-tmp" > "$f" && rm -f "$f.labwarp-tmp"
"#;

#[async_trait]
impl Step for IdmapdDomain {
    fn id(&self) -> &str {
        "nfs-idmapd"
    }
    fn title(&self) -> String {
        format!("NFSv4 idmapd domain {}", self.domain)
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let (_, said) = sh(ctx, self.role, GET_DOMAIN, &[]).await?;
        Ok(
            if said.lines().last().map(str::trim) == Some(self.domain.as_str()) {
                Check::done(format!("/etc/idmapd.conf: Domain = {}", self.domain))
            } else {
                Check::todo(format!(
                    "/etc/idmapd.conf: Domain is {} (want {})",
                    if said.is_empty() {
                        "unset".into()
                    } else {
                        shell_quote(&said)
                    },
                    self.domain
                ))
            },
        )
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let (ok, said) = sh(ctx, self.role, SET_DOMAIN, &[&self.domain]).await?;
        if !ok {
            anyhow::bail!("could not set the idmapd domain in /etc/idmapd.conf: {said}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_domain_is_the_undercloud_hosts_dns_domain() {
        assert_eq!(idmapd_domain("undercloud.localdomain"), "localdomain");
        assert_eq!(idmapd_domain("uc.lab.example.org"), "lab.example.org");
        assert_eq!(idmapd_domain("undercloud"), "localdomain");
    }

    /// The editing script against real files with this machine's sh and awk: every shape
    /// of idmapd.conf (the distro's commented default, a set domain, no section, no file)
    /// ends with exactly one `Domain = X` under `[General]`, and a second run changes nothing.
    #[test]
    fn the_domain_is_set_in_general_whatever_the_file_looks_like() {
        for (name, before) in [
            (
                "distro default",
                "[General]\n#Verbosity = 0\n# Domain = local.domain.edu\n\n[Mapping]\nNobody-User = nobody\n",
            ),
            (
                "another domain",
                "[General]\nDomain = other.org\n[Mapping]\n",
            ),
            ("no General", "[Mapping]\nNobody-User = nobody\n"),
            ("empty", ""),
        ] {
            let d = tempfile::tempdir().unwrap();
            let f = d.path().join("idmapd.conf");
            std::fs::write(&f, before).unwrap();
            let script = SET_DOMAIN.replace("/etc/idmapd.conf", &f.to_string_lossy());
            let run = || {
                let o = std::process::Command::new("sh")
                    .args(["-c", &script, "sh", "lab.test"])
                    .output()
                    .unwrap();
                assert!(
                    o.status.success(),
                    "{name}: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                std::fs::read_to_string(&f).unwrap()
            };
            let once = run();
            assert_eq!(run(), once, "{name}: not idempotent");
            let domains: Vec<&str> = once.lines().filter(|l| l.contains("Domain")).collect();
            assert_eq!(domains, vec!["Domain = lab.test"], "{name}:\n{once}");
            let general = once.find("[General]").expect("a [General] section");
            assert!(
                once.find("Domain = lab.test").unwrap() > general,
                "{name}:\n{once}"
            );
            if let Some(m) = once.find("[Mapping]") {
                assert!(
                    !(general < m && once.find("Domain = lab.test").unwrap() > m),
                    "{name}: Domain landed in [Mapping]:\n{once}"
                );
            }
        }
    }
}
