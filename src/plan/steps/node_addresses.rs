//! `node-addresses` (last step of the overcloud deploy): each overcloud node's address on the
//! provisioning network, learnt where a real lab keeps it — the DHCP leases the undercloud
//! handed out on that network (neutron's dnsmasq lease files under `/var/lib/neutron/dhcp`
//! on a TripleO undercloud; busybox udhcpd's on the tiny test undercloud), matched by the
//! node's MAC — recorded in `state.yaml` under `addresses`, its SSH host key pinned from its
//! serial console, and `ssh.config`/the inventory rewritten with it. `labwarp ssh <node>`,
//! `labwarp vms` and the dashboard read it from there.
//!
//! With the network-boot test rig (`render::node_boot`) there is no ironic, so the apply does
//! its PXE part: puts the deploy kernel and ramdisk and one iPXE config per node on the
//! undercloud's HTTP boot server, powers each node on with `ipmitool power on` from the
//! undercloud through its BMC (the same probe as `bmc-reachable`), then waits for the leases.

use super::files::file_size;
use super::undercloud::{SshFiles, wait};
use super::vbmc::reach::{ask_from_undercloud, bmc_password};
use crate::checks::vbmc::Power;
use crate::host::known_hosts::{KnownHosts, Verdict};
use crate::host::{Cmd, console_keys};
use crate::plan::{Check, HostRole, Step, StepCtx};
use crate::render::node_boot;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Prints the DHCP leases and reservations the undercloud knows, one per line (a MAC and an
/// IPv4 among the words): neutron's per-network `leases` (dnsmasq's format) and `host`
/// (`mac,name,ip`) files, readable by root only on a TripleO undercloud (hence `sudo -n`,
/// which the tiny test undercloud lacks: then as the login user), and busybox udhcpd's.
const LEASES: &str = "N='cat /var/lib/neutron/dhcp/*/leases /var/lib/neutron/dhcp/*/host'; sudo -n sh -c \"$N\" 2>/dev/null || sh -c \"$N\" 2>/dev/null; dumpleases -f /var/lib/misc/udhcpd.leases 2>/dev/null; true";

/// Prints a console log (`$1`) from byte `$2` on; all of it when the log is now shorter than
/// that (virtlogd rotated it).
const CONSOLE_FROM: &str = "s=$(wc -c < \"$1\") || exit 1; [ \"$s\" -ge \"$2\" ] || set -- \"$1\" 0; tail -c +$(($2 + 1)) -- \"$1\"";

/// One overcloud node as this step needs it.
#[derive(Debug, Clone)]
pub struct NodeRef {
    pub name: String,
    pub domain: String,
    /// MAC of its provisioning NIC (its first).
    pub mac: String,
    pub bmc_port: u16,
    /// Its serial console log on the hypervisor.
    pub console: PathBuf,
}

pub struct NodeAddresses {
    pub nodes: Vec<NodeRef>,
    pub bmc_address: String,
    pub bmc_user: String,
    /// The network-boot test rig: labwarp plays ironic's PXE part and powers the nodes on.
    pub netboot: Option<Netboot>,
    pub timeout: Duration,
}

/// What the rig puts on the undercloud's HTTP boot server (`render::node_boot`).
#[derive(Debug, Clone)]
pub struct Netboot {
    /// The lab's direct-boot kernel and initrd on the hypervisor (the pool's copies).
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// The undercloud's address on the provisioning network (its local_ip).
    pub server: String,
    /// The nodes' deploy user and the key it accepts.
    pub user: String,
    pub public_key: Option<String>,
}

/// `mac → address` from lease lines of any of these formats (dnsmasq: `expiry mac ip host id`;
/// neutron's hosts file: `mac,name,ip`; dumpleases: `mac ip host expires`); the header and
/// anything else is skipped.
pub fn parse_leases(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let words: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
            .collect();
        let mac = words.iter().find(|w| is_mac(w));
        let ip = words
            .iter()
            .find(|w| w.parse::<std::net::Ipv4Addr>().is_ok());
        if let (Some(m), Some(i)) = (mac, ip) {
            out.insert(m.to_ascii_lowercase(), i.to_string());
        }
    }
    out
}

fn is_mac(w: &str) -> bool {
    let parts: Vec<&str> = w.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

impl NodeAddresses {
    async fn leases(&self, ctx: &StepCtx<'_>) -> anyhow::Result<BTreeMap<String, String>> {
        let out = ctx
            .probe(
                HostRole::Undercloud,
                &Cmd::new(["sh", "-c", LEASES]).timeout(Duration::from_secs(30)),
            )
            .await?;
        Ok(parse_leases(&out.stdout_str()))
    }

    /// Each node's leased address (None: no lease yet).
    fn matched(&self, leases: &BTreeMap<String, String>) -> Vec<(&NodeRef, Option<String>)> {
        self.nodes
            .iter()
            .map(|n| (n, leases.get(&n.mac.to_ascii_lowercase()).cloned()))
            .collect()
    }

    fn known_hosts(ctx: &StepCtx<'_>) -> KnownHosts {
        KnownHosts::new(ctx.ctx.workspace.join("known_hosts"))
    }

    /// Ironic's PXE part, played under the rig: the deploy kernel and ramdisk (copied from
    /// the hypervisor when the undercloud's differ in size) and each node's iPXE config.
    async fn put_boot_files(&self, ctx: &StepCtx<'_>, nb: &Netboot) -> anyhow::Result<()> {
        let dir = std::path::Path::new(node_boot::HTTPBOOT_DIR);
        let size = |role, path: &std::path::Path| {
            let p = path.to_string_lossy().into_owned();
            async move {
                let o = ctx
                    .probe(role, &Cmd::new(["sh", "-c", "wc -c < \"$1\"", "sh", &p]))
                    .await
                    .ok()?;
                o.success()
                    .then(|| o.stdout_str().trim().parse::<u64>().ok())
                    .flatten()
            }
        };
        for (src, name) in [(&nb.kernel, "agent.kernel"), (&nb.initrd, "agent.ramdisk")] {
            let dest = dir.join(name);
            let want = size(HostRole::Virthost, src).await;
            if want.is_some() && want == size(HostRole::Undercloud, &dest).await {
                continue;
            }
            let data = ctx.host(HostRole::Virthost).read_file(src).await?;
            ctx.info(format!(
                "{} → undercloud {} ({} bytes; ironic's image upload, played by the test rig)",
                src.display(),
                dest.display(),
                data.len()
            ));
            ctx.host(HostRole::Undercloud)
                .write_file(&dest, &data, 0o644)
                .await?;
        }
        for n in &self.nodes {
            let line = node_boot::cmdline(&n.name, &nb.user, nb.public_key.as_deref());
            let cfg = node_boot::ipxe_config(&nb.server, &line);
            ctx.host(HostRole::Undercloud)
                .write_file(
                    &dir.join(node_boot::config_name(&n.mac)),
                    cfg.as_bytes(),
                    0o644,
                )
                .await?;
        }
        Ok(())
    }

    /// The keys of the last block on `n`'s console printed after byte `from` of its log (0:
    /// the whole log). The log is appended to across boots, so a node powered on by this
    /// step is read from where its log ended before: the block of an earlier boot is not
    /// this boot's (a redeployed node has new keys, and pinning the old ones also took a
    /// node still in its network boot for one up).
    async fn console_keys(
        ctx: &StepCtx<'_>,
        n: &NodeRef,
        from: u64,
    ) -> Option<Vec<russh::keys::PublicKey>> {
        let path = n.console.to_string_lossy().into_owned();
        let from = from.to_string();
        let out = ctx
            .probe(
                HostRole::Virthost,
                &Cmd::new(["sh", "-c", CONSOLE_FROM, "sh", path.as_str(), from.as_str()]).sudo(),
            )
            .await
            .ok()?;
        if !out.success() {
            return None;
        }
        console_keys::last_block(&out.stdout_str()).filter(|k| !k.is_empty())
    }
}

#[async_trait]
impl Step for NodeAddresses {
    fn id(&self) -> &str {
        "node-addresses"
    }
    fn title(&self) -> String {
        "learn each node's address from the undercloud's DHCP leases, pin its SSH host key".into()
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let leases = self.leases(ctx).await?;
        let recorded = ctx.ctx.store.snapshot().addresses;
        let kh = Self::known_hosts(ctx);
        let mut seen = Vec::new();
        let mut todo = Vec::new();
        for (n, lease) in self.matched(&leases) {
            match lease {
                None => todo.push(format!(
                    "{}: no DHCP lease for {} on the undercloud",
                    n.name, n.mac
                )),
                Some(ip) if recorded.get(&n.name) != Some(&ip) => todo.push(format!(
                    "{}: leased {ip}, state.yaml records {}",
                    n.name,
                    recorded
                        .get(&n.name)
                        .map(String::as_str)
                        .unwrap_or("nothing")
                )),
                Some(ip) if kh.pinned(&ip, 22)?.is_empty() => {
                    todo.push(format!("{}: no host key pinned for {ip}", n.name))
                }
                Some(ip) => {
                    // A node whose console shows other keys than the pinned ones (re-created
                    // with a new disk) would refuse `labwarp ssh`; one still booting shows none.
                    let stale = match Self::console_keys(ctx, n, 0).await {
                        Some(keys) => keys
                            .iter()
                            .any(|k| !matches!(kh.check(&ip, 22, k), Ok(Verdict::Trusted))),
                        None => false,
                    };
                    if stale {
                        todo.push(format!(
                            "{}: its console shows a host key not pinned for {ip}",
                            n.name
                        ));
                    } else {
                        seen.push(format!("{} {ip}", n.name));
                    }
                }
            }
        }
        if !todo.is_empty() && self.netboot.is_none() && leases.is_empty() {
            // A real undercloud whose lease files labwarp does not find: claim nothing.
            return Ok(Check::unverified(format!(
                "the undercloud lists no DHCP lease (`{LEASES}`), so labwarp cannot learn the nodes' addresses there; find them with `openstack baremetal node list` and metalsmith on the undercloud"
            )));
        }
        Ok(if todo.is_empty() {
            Check::done(format!("leased by the undercloud: {}", seen.join(", ")))
        } else {
            Check::todo(todo.join("; "))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let leases = self.leases(ctx).await?;
        // Where each node's console log ended before this step powered it on.
        let mut since: BTreeMap<String, u64> = BTreeMap::new();
        if let Some(nb) = &self.netboot {
            self.put_boot_files(ctx, nb).await?;
            let off: Vec<(String, u16)> = self
                .matched(&leases)
                .into_iter()
                .filter(|(_, l)| l.is_none())
                .map(|(n, _)| (n.name.clone(), n.bmc_port))
                .collect();
            if !off.is_empty() {
                for n in self
                    .nodes
                    .iter()
                    .filter(|n| off.iter().any(|(o, _)| *o == n.name))
                {
                    let len = file_size(ctx, HostRole::Virthost, &n.console, true).await;
                    since.insert(n.name.clone(), len.unwrap_or(0));
                }
                let password = bmc_password(ctx.lab(), &ctx.ctx.workspace)?;
                // Off first: a node still running from before (kept across a respin of the
                // undercloud) has no lease here and must boot again from this undercloud.
                // Powering off a node that is off is a no-op for VirtualBMC.
                for a in ask_from_undercloud(
                    ctx.host(HostRole::Undercloud).as_ref(),
                    &self.bmc_address,
                    &self.bmc_user,
                    &password,
                    &off,
                    Power::Off,
                )
                .await
                {
                    ctx.info(format!("ipmitool power off: {}", a.describe()));
                }
                let answers = ask_from_undercloud(
                    ctx.host(HostRole::Undercloud).as_ref(),
                    &self.bmc_address,
                    &self.bmc_user,
                    &password,
                    &off,
                    Power::On,
                )
                .await;
                for a in &answers {
                    ctx.info(format!("ipmitool power on: {}", a.describe()));
                }
                if let Some(bad) = answers.iter().find(|a| !a.ok) {
                    anyhow::bail!("cannot power the node on: {}", bad.describe());
                }
            }
        }
        ctx.info(format!(
            "waiting up to {} s for a DHCP lease of every node on the undercloud",
            self.timeout.as_secs()
        ));
        let all = wait(ctx, self.timeout, || async {
            let l = self.leases(ctx).await.ok()?;
            let m: Vec<(String, String)> = self
                .matched(&l)
                .into_iter()
                .map(|(n, ip)| Some((n.name.clone(), ip?)))
                .collect::<Option<_>>()?;
            Some(m)
        })
        .await;
        let Some(all) = all else {
            let l = self.leases(ctx).await.unwrap_or_default();
            let missing: Vec<String> = self
                .matched(&l)
                .into_iter()
                .filter(|(_, ip)| ip.is_none())
                .map(|(n, _)| format!("{} ({})", n.name, n.mac))
                .collect();
            anyhow::bail!(
                "no DHCP lease on the undercloud within {} s for {}: the node did not boot or its DHCP request did not reach the provisioning network's DHCP server (see its console log)",
                self.timeout.as_secs(),
                missing.join(", ")
            );
        };
        ctx.ctx.store.update(|s| {
            for (name, ip) in &all {
                s.addresses.insert(name.clone(), ip.clone());
            }
        })?;
        for (n, (_, ip)) in self.nodes.iter().zip(&all) {
            ctx.info(format!("{}: {ip} (DHCP lease for {})", n.name, n.mac));
            let from = since.get(&n.name).copied().unwrap_or(0);
            let keys = wait(ctx, self.timeout, || Self::console_keys(ctx, n, from))
                .await
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{} printed no `{}` block on its console ({}) within {} s",
                        n.domain,
                        console_keys::BEGIN,
                        n.console.display(),
                        self.timeout.as_secs()
                    )
                })?;
            let dropped = Self::known_hosts(ctx).replace(ip, 22, &keys)?;
            for k in &keys {
                ctx.info(format!(
                    "pinned {} {} for {ip} (from {}'s console)",
                    k.algorithm().as_str(),
                    crate::host::keys::fingerprint(k),
                    n.name
                ));
            }
            if !dropped.is_empty() {
                ctx.info(format!(
                    "replaced the earlier pin(s) {} of {ip}",
                    dropped.join(", ")
                ));
            }
        }
        // ssh.config and the inventory now name the nodes' addresses too.
        SshFiles.apply(ctx).await
    }
}

/// `deploy` followed by this step when it is planned (see [`planned`]).
pub fn then_in(
    deploy: crate::plan::Stage,
    lab: &crate::lab::Lab,
    facts: &crate::plan::Facts,
    rctx: &crate::render::RenderContext,
) -> anyhow::Result<crate::plan::Stage> {
    Ok(match planned(lab, facts, rctx)? {
        Some(step) => deploy.then(step),
        None => deploy,
    })
}

/// The step for this lab, when its nodes boot: a real TripleO deploy, or the stand-in with
/// the direct-boot rig. Not planned where nothing boots (sandbox, test driver, the stand-in
/// without the rig: nodes defined but never started).
pub fn planned(
    lab: &crate::lab::Lab,
    facts: &crate::plan::Facts,
    rctx: &crate::render::RenderContext,
) -> anyhow::Result<Option<NodeAddresses>> {
    if facts.sandbox || facts.test_driver || (facts.standin_openstack && !facts.nodes_netboot) {
        return Ok(None);
    }
    let nodes = crate::render::lab_vms(lab)?
        .into_iter()
        .filter(|v| v.role != crate::render::VmRole::Undercloud)
        .filter_map(|v| {
            let port = lab
                .nodes()
                .into_iter()
                .find(|n| n.name == v.name)?
                .vbmc_port;
            Some(NodeRef {
                console: rctx.console_log_path(&v.domain),
                mac: v.nics.first()?.mac.clone(),
                name: v.name,
                domain: v.domain,
                bmc_port: port,
            })
        })
        .collect();
    Ok(Some(NodeAddresses {
        nodes,
        bmc_address: lab.overcloud.vbmc.address.clone(),
        bmc_user: lab.overcloud.vbmc.username.clone(),
        netboot: facts
            .nodes_netboot
            .then_some(rctx.undercloud_kernel.as_ref())
            .flatten()
            .map(|k| Netboot {
                kernel: k.kernel.clone(),
                initrd: k.initrd.clone(),
                server: lab
                    .undercloud
                    .conf
                    .local_ip
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                user: rctx.overcloud_user.clone(),
                public_key: rctx.ssh_public_key.clone(),
            }),
        timeout: Duration::from_secs(300),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, args: &[&str]) -> String {
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    }

    #[test]
    fn a_node_powered_on_is_read_from_where_its_console_log_ended() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("node console.log");
        let path = log.to_str().unwrap();
        let block = |k: &str| {
            format!(
                "{}\nssh-ed25519 {k} root@n\n{}\n",
                console_keys::BEGIN,
                console_keys::END
            )
        };
        let earlier = format!("boot 1\n{}", block("AAAAold"));
        std::fs::write(&log, &earlier).unwrap();
        // Where it ended, as `files::file_size` measures it.
        let len = sh("stat -c %s -- \"$1\"", &[path]);
        assert_eq!(len.trim(), earlier.len().to_string());
        // Powered on: nothing of this boot yet, so no block (the earlier boot's is not it).
        let from = len.trim();
        assert_eq!(sh(CONSOLE_FROM, &[path, from]), "");
        let this_boot = format!("boot 2\n{}", block("AAAAnew"));
        std::fs::write(&log, format!("{earlier}{this_boot}")).unwrap();
        assert_eq!(sh(CONSOLE_FROM, &[path, from]), this_boot);
        // Rotated by virtlogd (now shorter than where it ended): read whole.
        std::fs::write(&log, "b").unwrap();
        assert_eq!(sh(CONSOLE_FROM, &[path, from]), "b");
        assert_eq!(sh(CONSOLE_FROM, &[path, "0"]), "b");
    }

    #[test]
    fn leases_of_dnsmasq_and_udhcpd_alike() {
        let dnsmasq = "1733500000 52:54:00:AA:bb:01 192.168.24.7 compute-0 01:52:54:00:aa:bb:01\n";
        let udhcpd = "Mac Address       IP Address      Host Name           Expires in\n52:54:00:aa:bb:02 192.168.24.8    controller-0        9 days 23:59:58\n";
        let hosts = "fa:16:3e:00:00:03,host-192-168-24-9.localdomain,192.168.24.9\n";
        let l = parse_leases(&format!("{dnsmasq}{udhcpd}{hosts}"));
        assert_eq!(
            l.get("fa:16:3e:00:00:03").map(String::as_str),
            Some("192.168.24.9")
        );
        assert_eq!(
            l.get("52:54:00:aa:bb:01").map(String::as_str),
            Some("192.168.24.7")
        );
        assert_eq!(
            l.get("52:54:00:aa:bb:02").map(String::as_str),
            Some("192.168.24.8")
        );
        assert_eq!(l.len(), 3);
        assert!(parse_leases("garbage 1.2.3 52:54:00\n").is_empty());
    }
}
