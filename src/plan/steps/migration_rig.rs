//! Test rig for live migration's readiness (`LABWARP_MIGRATION_RIG=1`, with the network-boot
//! rig of `render::node_boot`): the computes run the tiny test guest, not TripleO, and the
//! NFS server is played by the rig (nfs-ganesha standing in for the kernel NFS server). The
//! probes here are the ones those guests can answer, run over labwarp's own SSH route to the
//! nodes (ProxyJump through the undercloud, every host key pinned, as `labwarp ssh <node>`):
//!
//! - `export-visible`: every compute mounts the share (NFSv4.1) for real, writes a file,
//!   reads the file the compute before it wrote through the same share, and unmounts; the
//!   last one removes the probe files, so the export is left as it was.
//! - `migration-port`: for every pair of computes, a listener is started on the migration port
//!   of one (standing in for nova_migration_target's sshd) and the other connects to it.
//!
//! They log in as root: the tiny guest has no sudo (its deploy user's key is root's too). The
//! real-server probes (`migration::Readiness`) stay what runs on a real lab; the readiness
//! steps this rig cannot answer (names, SELinux, the instances mount, idmapd on the computes,
//! all set by TripleO's deploy) stay unverified, by name.

use super::migration::Transport;
use crate::host::lab::chain;
use crate::host::ssh::{SshHost, SshOptions, SshTarget, TrustPolicy};
use crate::host::{Cmd, Host, shell_quote};
use crate::plan::{Check, Step, StepCtx};
use async_trait::async_trait;

/// Which probe a [`RigReadiness`] step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RigProbe {
    /// A test mount of the share on every compute, a file written on one and read on the next.
    ExportMount,
    /// The migration port reachable compute to compute.
    Port,
}

pub struct RigReadiness {
    pub probe: RigProbe,
    /// The computes' VM names, as state.yaml records their addresses.
    pub computes: Vec<String>,
    /// `server:/path` as in NovaNfsShare (the rig's server, NFSv4 pseudo path).
    pub share: String,
    pub transport: Transport,
}

/// Where a compute mounts the share for the probe.
const MOUNT_POINT: &str = "/tmp/labwarp-nfs-probe";
/// The probe files' prefix on the share.
const PROBE_FILE: &str = ".labwarp-probe-";

/// The script one compute runs for the mount probe: mount, write `mine` (its name and
/// `token`), read `prev` (the compute before it, whose content must be `prev_token`) and remove
/// it, remove its own file too when `last`, unmount whatever happened. Prints what it saw.
pub fn mount_script(
    share: &str,
    me: &str,
    token: &str,
    prev: Option<(&str, &str)>,
    last: bool,
) -> String {
    let mp = MOUNT_POINT;
    let mine = format!("{mp}/{PROBE_FILE}{me}");
    let mut s = format!(
        "set -e\nmkdir -p {mp}\nmount -t nfs4 -o vers=4.1,soft,timeo=100,retrans=2 {share} {mp}\ntrap 'umount {mp}' EXIT\n",
        share = shell_quote(share)
    );
    s.push_str(&format!(
        "echo {} > {mine}\necho wrote {mine}: \"$(cat {mine})\"\n",
        shell_quote(&format!("{me} {token}")),
        mine = shell_quote(&mine)
    ));
    if let Some((p, t)) = prev {
        let theirs = shell_quote(&format!("{mp}/{PROBE_FILE}{p}"));
        s.push_str(&format!(
            "got=$(cat {theirs})\n[ \"$got\" = {want} ] || {{ echo read {theirs}: \"'$got'\", want {want}; exit 1; }}\necho read {theirs}: \"$got\"\nrm -f {theirs}\n",
            want = shell_quote(&format!("{p} {t}"))
        ));
    }
    if last {
        s.push_str(&format!("rm -f {}\n", shell_quote(&mine)));
    }
    s
}

/// A fresh token per check, so a file left by an earlier run never passes for this one.
fn token() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{n:x}")
}

impl RigReadiness {
    /// The SSH route to `node` as root: the hypervisor (when remote), the undercloud, the
    /// node, each at the address state.yaml records, every host key pinned.
    fn node_host(&self, ctx: &StepCtx<'_>, node: &str) -> anyhow::Result<(SshHost, String)> {
        let lab = ctx.lab();
        let addrs = ctx.ctx.store.snapshot().addresses;
        let uc_vm = &lab.undercloud.vm.name;
        let uc_addr = addrs.get(uc_vm).ok_or_else(|| {
            anyhow::anyhow!("state.yaml records no address for the undercloud {uc_vm}")
        })?;
        let node_addr = addrs.get(node).ok_or_else(|| {
            anyhow::anyhow!(
                "state.yaml records no address for {node} (overcloud-deploy/node-addresses)"
            )
        })?;
        let mut hops = Vec::new();
        if let Some(hv) = lab.hypervisors.first()
            && !hv.is_local()
        {
            hops.push(crate::host::lab::hypervisor_target(
                hv,
                &hv.name,
                &hv.ssh_user,
            ));
        }
        hops.push(SshTarget {
            name: uc_vm.clone(),
            host: uc_addr.clone(),
            port: 22,
            user: lab.undercloud.cloud_init.user.clone(),
        });
        hops.push(SshTarget {
            name: node.to_string(),
            host: node_addr.clone(),
            port: 22,
            user: "root".into(),
        });
        let opts = SshOptions::for_workspace(&ctx.ctx.workspace, TrustPolicy::PinnedOnly)?;
        Ok((chain(&hops, &opts)?, node_addr.clone()))
    }

    /// Runs `script` on `node`: (success, what it printed).
    async fn on(
        &self,
        ctx: &StepCtx<'_>,
        host: &SshHost,
        node: &str,
        script: &str,
    ) -> (bool, String) {
        ctx.info(format!(
            "{node} (ssh through the undercloud)$ {}",
            script.replace('\n', "; ")
        ));
        match host.exec(&Cmd::new(["sh", "-c", script])).await {
            Ok(o) => (
                o.success(),
                format!("{}{}", o.stdout_str(), o.stderr_str())
                    .trim()
                    .replace('\n', "; "),
            ),
            Err(e) => (false, format!("cannot reach {node}: {e}")),
        }
    }

    async fn export_mount(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let mut seen = Vec::new();
        let mut failed = Vec::new();
        let mut prev: Option<(String, String)> = None;
        for (i, c) in self.computes.iter().enumerate() {
            let t = token();
            let script = mount_script(
                &self.share,
                c,
                &t,
                prev.as_ref().map(|(p, t)| (p.as_str(), t.as_str())),
                i + 1 == self.computes.len(),
            );
            let (host, _) = self.node_host(ctx, c)?;
            let (ok, said) = self.on(ctx, &host, c, &script).await;
            host.disconnect().await;
            if ok {
                seen.push(format!("{c} mounted {}: {said}", self.share));
            } else {
                failed.push(format!(
                    "NOT {c} mounts {} and shares files: {said}",
                    self.share
                ));
            }
            prev = Some((c.clone(), t));
        }
        Ok(if failed.is_empty() {
            Check::done(seen.join("; "))
        } else {
            Check::todo(failed.join("; "))
        })
    }

    async fn port(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let port = self.transport.port();
        let mut seen = Vec::new();
        let mut failed = Vec::new();
        for d in &self.computes {
            for c in self.computes.iter().filter(|c| *c != d) {
                let (dh, d_addr) = self.node_host(ctx, d)?;
                // One connection accepted, then closed (`-e true`); stopped after the probe.
                let (started, pid) = self
                    .on(
                        ctx,
                        &dh,
                        d,
                        &format!("nc -l -p {port} -e true </dev/null >/dev/null 2>&1 & echo $!"),
                    )
                    .await;
                let (ch, _) = self.node_host(ctx, c)?;
                let (ok, said) = if started {
                    self.on(
                        ctx,
                        &ch,
                        c,
                        &format!(
                            "nc -w 5 {} {port} </dev/null && echo connected",
                            shell_quote(&d_addr)
                        ),
                    )
                    .await
                } else {
                    (false, format!("no listener started on {d}: {pid}"))
                };
                ch.disconnect().await;
                if started && pid.chars().all(|ch| ch.is_ascii_digit()) && !pid.is_empty() {
                    let _ = self
                        .on(ctx, &dh, d, &format!("kill {pid} 2>/dev/null; true"))
                        .await;
                }
                dh.disconnect().await;
                let what = format!(
                    "{c} reaches {d} ({d_addr}):{port} ({}, a listener standing in for nova_migration_target)",
                    self.transport.name()
                );
                if ok && said.contains("connected") {
                    seen.push(what);
                } else {
                    failed.push(format!("NOT {what}: {said}"));
                }
            }
        }
        Ok(if failed.is_empty() {
            Check::done(seen.join("; "))
        } else {
            Check::todo(failed.join("; "))
        })
    }
}

#[async_trait]
impl Step for RigReadiness {
    fn id(&self) -> &str {
        match self.probe {
            RigProbe::ExportMount => "export-visible",
            RigProbe::Port => "migration-port",
        }
    }
    fn title(&self) -> String {
        match self.probe {
            RigProbe::ExportMount => format!(
                "every compute mounts {} and shares a file (test rig: a real NFSv4 mount)",
                self.share
            ),
            RigProbe::Port => format!(
                "migration port {} reachable between computes (test rig: a listener on each)",
                self.transport.port()
            ),
        }
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let addrs = ctx.ctx.store.snapshot().addresses;
        let missing: Vec<&String> = self
            .computes
            .iter()
            .filter(|c| !addrs.contains_key(*c))
            .collect();
        if !missing.is_empty() {
            return Ok(Check::todo(format!(
                "no address recorded for {} yet (overcloud-deploy/node-addresses)",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if self.computes.len() < 2 && self.probe == RigProbe::Port {
            return Ok(Check::unverified(format!(
                "the lab has {} compute(s): no pair to migrate between",
                self.computes.len()
            )));
        }
        match self.probe {
            RigProbe::ExportMount => self.export_mount(ctx).await,
            RigProbe::Port => self.port(ctx).await,
        }
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let c = self.check(ctx).await?;
        let hint = match self.probe {
            RigProbe::ExportMount => {
                "check that the rig's NFS server runs and exports the path to the computes' subnet (NFSv4), and that the tiny guest has the nfsv4 module"
            }
            RigProbe::Port => "check the computes reach each other on the provisioning network",
        };
        anyhow::bail!("{}; {hint}", c.saw)
    }
}

/// The rig's probe for a readiness step, where the rig can answer it (`rig`); `None` keeps
/// the real-server probe.
pub fn rig_probe(rig: bool, r: &super::migration::Readiness) -> Option<RigReadiness> {
    use super::migration::ReadyKind;
    let probe = match r.kind {
        ReadyKind::ExportVisible => RigProbe::ExportMount,
        ReadyKind::Port => RigProbe::Port,
        _ => return None,
    };
    rig.then(|| RigReadiness {
        probe,
        computes: r.computes.clone(),
        share: r.share.clone(),
        transport: r.transport,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mount probe's script against a real shell, with `mount`/`umount` as functions over
    /// a plain directory: the second compute reads the first's file and removes both.
    #[test]
    fn the_mount_script_shares_a_file_and_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let share = d.path().join("share");
        std::fs::create_dir(&share).unwrap();
        let mp = d.path().join("mp");
        let fake = format!(
            "mount() {{ ln -sfn {} {}; }}\numount() {{ rm -f {}; }}\n",
            share.display(),
            mp.display(),
            mp.display()
        );
        let run = |script: String| {
            let s = script
                .replace(MOUNT_POINT, &mp.to_string_lossy())
                .replace(&format!("mkdir -p {}\n", mp.display()), "");
            std::process::Command::new("sh")
                .args(["-c", &format!("{fake}{s}")])
                .output()
                .unwrap()
        };
        let o = run(mount_script(
            "srv:/export/nova",
            "compute-0",
            "t0",
            None,
            false,
        ));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
        assert_eq!(
            std::fs::read_to_string(share.join(".labwarp-probe-compute-0")).unwrap(),
            "compute-0 t0\n"
        );
        // A stale token is refused.
        let o = run(mount_script(
            "srv:/export/nova",
            "compute-1",
            "t1",
            Some(("compute-0", "old")),
            true,
        ));
        assert!(!o.status.success());
        let o = run(mount_script(
            "srv:/export/nova",
            "compute-1",
            "t1",
            Some(("compute-0", "t0")),
            true,
        ));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
        let said = String::from_utf8_lossy(&o.stdout);
        let want = format!(
            "read {}/.labwarp-probe-compute-0: compute-0 t0",
            mp.display()
        );
        assert!(said.contains(&want), "{said}");
        assert_eq!(
            std::fs::read_dir(&share).unwrap().count(),
            0,
            "probe files left"
        );
    }

    /// Only export-visible and migration-port have a rig probe, and only under the rig; the
    /// rest keep the real-server probe (which says UNVERIFIED after the stand-in's deploy).
    #[test]
    fn the_rig_replaces_only_the_probes_its_guests_can_answer() {
        use super::super::migration::{Readiness, ReadyKind};
        for kind in ReadyKind::IN_ORDER {
            let r = Readiness {
                kind,
                computes: vec!["compute-0".into(), "compute-1".into()],
                transport: Transport::Ssh,
                share: "192.168.24.254:/export/nova".into(),
                standin: true,
                overcloudrc: "/home/stack/overcloudrc".into(),
            };
            assert!(rig_probe(false, &r).is_none(), "{kind:?} without the rig");
            let want = match kind {
                ReadyKind::ExportVisible => Some(("export-visible", RigProbe::ExportMount)),
                ReadyKind::Port => Some(("migration-port", RigProbe::Port)),
                _ => None,
            };
            let got = rig_probe(true, &r);
            assert_eq!(got.as_ref().map(|g| (g.id(), g.probe)), want, "{kind:?}");
            // The same step id as the real probe: the plan, the state and the report agree.
            if let Some(g) = got {
                assert_eq!(g.id(), r.id());
                assert_eq!(g.computes, r.computes);
            }
        }
    }
}
