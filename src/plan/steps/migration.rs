//! Nova live migration on NFS shared storage: the export on the NFS server (before the
//! deploy, whose `NovaNfsShare` the computes mount), and readiness checks run on the
//! computes after the deploy (hostnames resolve each other, the migration port is
//! reachable between computes, the shared instances path is the NFS mount).

use crate::host::{Cmd, shell_quote};
use crate::plan::{Check, HostRole, Level, Resource, Step, StepCtx};
use async_trait::async_trait;
use std::path::{Path, PathBuf};

/// Where `exportfs` keeps the kernel's export table (nfs-utils on Debian and RHEL alike).
pub const ETAB: &str = "/var/lib/nfs/etab";
/// Where Nova keeps instances on a compute (TripleO mounts `NovaNfsShare` there).
pub const INSTANCES: &str = "/var/lib/nova/instances";

/// One export in `/etc/exports.d/labwarp-<lab>.exports` on the NFS server, re-read with
/// `exportfs -ra`. The file is labwarp's alone, so removing it and re-exporting undoes it.
pub struct NfsExport {
    pub role: HostRole,
    pub lab: String,
    /// `/etc/exports.d` (inside the sandbox undercloud's directory in a sandbox).
    pub exports_dir: PathBuf,
    pub export_path: PathBuf,
    /// Who may mount: the ctlplane subnet the computes are on.
    pub clients: String,
    /// `exportfs -ra` after a change. `false` in a sandbox, whose "undercloud" is a
    /// directory on this machine: labwarp then does not touch this machine's NFS exports.
    pub exportfs: bool,
}

/// Export options Nova's shared instances directory needs: written as root by the computes'
/// nova and qemu (hence no_root_squash), synchronous.
pub const EXPORT_OPTIONS: &str = "rw,sync,no_root_squash,no_subtree_check";

impl NfsExport {
    pub fn file(&self) -> PathBuf {
        self.exports_dir
            .join(format!("labwarp-{}.exports", self.lab))
    }

    /// The exports file: a comment and one exports(5) line, from `render::exports` (which
    /// escapes the path and refuses one that could end its line or climb out).
    pub fn content(&self) -> anyhow::Result<String> {
        let line = crate::render::exports::line(
            "overcloud.live_migration.export_path",
            &self.export_path.to_string_lossy(),
            &self.clients,
            EXPORT_OPTIONS,
        )?;
        Ok(format!(
            "{}{line}",
            crate::render::exports::comment(&format!(
                "labwarp lab {}: Nova live migration share (NovaNfsShare)",
                self.lab
            ))
        ))
    }

    /// Whether the kernel's export table (`/var/lib/nfs/etab`) lists the path for the clients.
    async fn exported(&self, ctx: &StepCtx<'_>) -> anyhow::Result<bool> {
        let h = ctx.host(self.role);
        if !h.exists(Path::new(ETAB)).await? {
            return Ok(false);
        }
        let etab = String::from_utf8_lossy(&h.read_file(Path::new(ETAB)).await?).into_owned();
        let want = self.export_path.to_string_lossy();
        Ok(etab.lines().any(|l| {
            let mut it = l.split('\t');
            it.next() == Some(want.as_ref())
                && it
                    .next()
                    .is_some_and(|c| c.starts_with(&format!("{}(", self.clients)))
        }))
    }

    async fn exportfs(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let found = ctx
            .probe(self.role, &Cmd::new(["sh", "-c", "command -v exportfs"]))
            .await?
            .success();
        if !found {
            anyhow::bail!(
                "overcloud.live_migration.nfs_server: {} has no exportfs; install nfs-utils (RHEL) or nfs-kernel-server (Debian) there and run again",
                ctx.host(self.role).name()
            );
        }
        ctx.run_ok(self.role, &Cmd::new(["exportfs", "-ra"]).sudo())
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Step for NfsExport {
    fn id(&self) -> &str {
        "nfs-export"
    }
    fn title(&self) -> String {
        format!(
            "NFS export {} to {} ({})",
            self.export_path.display(),
            self.clients,
            self.file().display()
        )
    }
    fn resources(&self) -> Vec<Resource> {
        vec![
            Resource::File {
                host: self.role,
                path: self.file(),
                level: Level::Nodes,
            },
            Resource::Dir {
                host: self.role,
                path: self.export_path.clone(),
                level: Level::Nodes,
                whole: false,
            },
        ]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let h = ctx.host(self.role);
        let file = self.file();
        if !h.exists(&file).await? || h.read_file(&file).await? != self.content()?.as_bytes() {
            return Ok(Check::todo(format!(
                "{} missing or different on {}",
                file.display(),
                h.name()
            )));
        }
        if !h.exists(&self.export_path).await? {
            return Ok(Check::todo(format!(
                "{} missing on {}",
                self.export_path.display(),
                h.name()
            )));
        }
        if !self.exportfs {
            return Ok(Check::done(format!(
                "{} and {} present on {}; exportfs not run: the sandbox undercloud is a directory on this machine, whose NFS exports labwarp leaves alone",
                file.display(),
                self.export_path.display(),
                h.name()
            )));
        }
        Ok(if self.exported(ctx).await? {
            Check::done(format!(
                "{} exported to {} on {} ({ETAB})",
                self.export_path.display(),
                self.clients,
                h.name()
            ))
        } else {
            Check::todo(format!(
                "{} written but not in {ETAB} on {}: exportfs -ra needed",
                file.display(),
                h.name()
            ))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        // The share is the lab's (marked when labwarp creates it); /etc/exports.d is not.
        super::files::make_own_dir(ctx, self.role, &self.export_path, None).await?;
        let d = self.exports_dir.to_string_lossy().into_owned();
        ctx.run_ok(self.role, &Cmd::new(["mkdir", "-p", "--", &d]).sudo())
            .await?;
        ctx.host(self.role)
            .write_file(&self.file(), self.content()?.as_bytes(), 0o644)
            .await?;
        if self.exportfs {
            self.exportfs(ctx).await?;
        }
        Ok(())
    }
    async fn undo(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        for r in self.resources() {
            crate::plan::remove::remove(ctx.ctx, &r, &mut |l| ctx.info(l)).await?;
        }
        if self.exportfs {
            // The file is gone: re-reading the exports drops the export from the kernel.
            self.exportfs(ctx).await?;
        }
        Ok(())
    }
}

/// An NFS server labwarp does not manage (a node or an address): the export must exist
/// already; the check asks the server with `showmount -e` from the undercloud.
pub struct RemoteNfsExport {
    pub server: String,
    pub export_path: String,
    pub clients: String,
    /// The test rig plays the server (`LABWARP_MIGRATION_RIG=1`): an NFSv4-only server with
    /// no MOUNT protocol for `showmount`, on an undercloud with no `showmount`.
    pub rig: bool,
}

#[async_trait]
impl Step for RemoteNfsExport {
    fn id(&self) -> &str {
        "nfs-export"
    }
    fn title(&self) -> String {
        format!(
            "NFS export {}:{} (a server labwarp does not manage)",
            self.server, self.export_path
        )
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        if self.rig {
            return Ok(Check::unverified(format!(
                "{}:{} is served by the test rig (nfs-ganesha, NFSv4 only, standing in for the kernel NFS server), which answers no `showmount -e`, and the tiny undercloud has no showmount: the export is checked by the computes' real test mounts (live-migration-ready/export-visible)",
                self.server, self.export_path
            )));
        }
        let out = ctx
            .probe(
                HostRole::Undercloud,
                &Cmd::new(["showmount", "-e", "--no-headers", self.server.as_str()]),
            )
            .await?;
        let listed = out.success()
            && out
                .stdout_str()
                .lines()
                .any(|l| l.split_whitespace().next() == Some(self.export_path.as_str()));
        Ok(if listed {
            Check::done(format!(
                "showmount -e {} on {} lists {}",
                self.server,
                ctx.host(HostRole::Undercloud).name(),
                self.export_path
            ))
        } else {
            Check::todo(format!(
                "showmount -e {} on {} does not list {}: {}",
                self.server,
                ctx.host(HostRole::Undercloud).name(),
                self.export_path,
                out.stderr_str().trim()
            ))
        })
    }
    async fn apply(&self, _: &StepCtx<'_>) -> anyhow::Result<()> {
        anyhow::bail!(
            "overcloud.live_migration.nfs_server: labwarp exports only from the undercloud; on {} export {} to {} ({}), or set nfs_server: undercloud",
            self.server,
            self.export_path,
            self.clients,
            EXPORT_OPTIONS
        )
    }
}

/// How libvirt on one compute reaches another for a live migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TripleO's default: libvirt over SSH to the nova_migration_target container's sshd,
    /// `MigrationSshPort` 2022.
    Ssh,
    /// libvirtd's TCP listener (16509).
    Tcp,
    /// libvirtd's TLS listener (16514).
    Tls,
}

impl Transport {
    pub fn port(self) -> u16 {
        match self {
            Transport::Ssh => crate::render::MIGRATION_SSH_PORT,
            Transport::Tcp => 16509,
            Transport::Tls => 16514,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Transport::Ssh => "ssh (MigrationSshPort)",
            Transport::Tcp => "libvirt tcp",
            Transport::Tls => "libvirt tls",
        }
    }
}

/// Which readiness check a [`Readiness`] step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyKind {
    /// Every compute resolves every other compute's hostname (live migration uses names).
    Resolve,
    /// Every compute reaches every other compute's migration port.
    Port,
    /// The instances directory on every compute is the NFS share.
    SharedPath,
    /// Every compute sees the export (`showmount -e` against the NFS server).
    ExportVisible,
    /// SELinux lets QEMU use NFS on every compute (`virt_use_nfs` on, or SELinux off).
    VirtUseNfs,
}

impl ReadyKind {
    /// Every kind, in the order the plan lists them.
    pub const IN_ORDER: [ReadyKind; 5] = [
        ReadyKind::Resolve,
        ReadyKind::Port,
        ReadyKind::ExportVisible,
        ReadyKind::VirtUseNfs,
        ReadyKind::SharedPath,
    ];
}

/// A readiness check run on each compute after the deploy, over SSH from the undercloud
/// (`tripleo-admin`, TripleO's deploy user, with the undercloud's own keys and known hosts).
pub struct Readiness {
    pub kind: ReadyKind,
    /// The computes' overcloud hostnames: their VM names (`compute-0`, ...), the baremetal
    /// deployment's hostname format.
    pub computes: Vec<String>,
    pub transport: Transport,
    /// `server:/path` as in NovaNfsShare.
    pub share: String,
    /// The deploy was labwarp's stand-in: TripleO configured nothing on the computes.
    pub standin: bool,
    /// `~/overcloudrc` on the undercloud: written by the deploy, so its absence means the
    /// overcloud is not deployed yet.
    pub overcloudrc: PathBuf,
}

/// TripleO's SSH user on the overcloud nodes (Wallaby and later; `heat-admin` before).
pub const NODE_USER: &str = "tripleo-admin";

impl Readiness {
    /// (compute, shell command run there, what it checks) for every probe of this kind.
    pub fn probes(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for c in &self.computes {
            match self.kind {
                ReadyKind::Resolve => {
                    for d in self.computes.iter().filter(|d| *d != c) {
                        out.push((
                            c.clone(),
                            format!("getent hosts {}", shell_quote(d)),
                            format!("{c} resolves {d}"),
                        ));
                    }
                }
                ReadyKind::Port => {
                    let port = self.transport.port();
                    for d in self.computes.iter().filter(|d| *d != c) {
                        out.push((
                            c.clone(),
                            format!(
                                "timeout 5 bash -c {}",
                                shell_quote(&format!("</dev/tcp/{d}/{port}"))
                            ),
                            format!("{c} reaches {d}:{port} ({})", self.transport.name()),
                        ));
                    }
                }
                ReadyKind::SharedPath => out.push((
                    c.clone(),
                    format!("findmnt -n -o SOURCE,FSTYPE -T {INSTANCES}"),
                    format!("{INSTANCES} on {c} is {}", self.share),
                )),
                ReadyKind::ExportVisible => {
                    let (server, path) = self.share.split_once(':').unwrap_or((&self.share, ""));
                    out.push((
                        c.clone(),
                        format!("showmount -e {}", shell_quote(server)),
                        format!("{c} sees {path} exported by {server}"),
                    ));
                }
                ReadyKind::VirtUseNfs => out.push((
                    c.clone(),
                    "if [ \"$(getenforce 2>/dev/null)\" = Disabled ]; then echo disabled; else getsebool virt_use_nfs; fi".into(),
                    format!("SELinux lets QEMU use NFS on {c} (virt_use_nfs)"),
                )),
            }
        }
        out
    }

    /// Whether a probe's output shows what it checks.
    pub fn passed(&self, stdout: &str) -> bool {
        match self.kind {
            ReadyKind::SharedPath => {
                let mut w = stdout.split_whitespace();
                w.next() == Some(self.share.as_str())
                    && w.next().is_some_and(|t| t.starts_with("nfs"))
            }
            ReadyKind::ExportVisible => {
                let path = self.share.split_once(':').map(|(_, p)| p).unwrap_or("");
                stdout
                    .lines()
                    .any(|l| l.split_whitespace().next() == Some(path))
            }
            ReadyKind::VirtUseNfs => {
                let t = stdout.trim();
                t == "disabled" || t.ends_with("--> on")
            }
            _ => true,
        }
    }
}

#[async_trait]
impl Step for Readiness {
    fn id(&self) -> &str {
        match self.kind {
            ReadyKind::Resolve => "computes-resolve",
            ReadyKind::Port => "migration-port",
            ReadyKind::SharedPath => "shared-path",
            ReadyKind::ExportVisible => "export-visible",
            ReadyKind::VirtUseNfs => "virt-use-nfs",
        }
    }
    fn title(&self) -> String {
        match self.kind {
            ReadyKind::Resolve => {
                format!("computes resolve each other: {}", self.computes.join(", "))
            }
            ReadyKind::Port => format!(
                "migration port {} ({}) reachable between computes",
                self.transport.port(),
                self.transport.name()
            ),
            ReadyKind::SharedPath => {
                format!("{INSTANCES} mounted from {} on every compute", self.share)
            }
            ReadyKind::ExportVisible => {
                format!("every compute sees the export {}", self.share)
            }
            ReadyKind::VirtUseNfs => "SELinux virt_use_nfs on every compute".into(),
        }
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        if let Some(todo) = not_deployed_yet(ctx, &self.overcloudrc).await? {
            return Ok(todo);
        }
        let uc = ctx.host(HostRole::Undercloud).name().to_string();
        let probes = self.probes();
        if self.standin {
            // Nothing runs on the computes: say what would be checked, claim nothing.
            let would: Vec<String> = probes
                .iter()
                .map(|(c, cmd, _)| format!("ssh {NODE_USER}@{c} {cmd}"))
                .collect();
            return Ok(Check::unverified(format!(
                "the overcloud was deployed by labwarp's stand-in on {uc}, so TripleO configured nothing on {} (no nova, libvirt, NFS mount or SELinux setting of theirs: the VMs never booted, or run the test rig's tiny guest) and there is nothing of theirs to check. On a real undercloud this step runs from {uc}: {}",
                self.computes.join(", "),
                would.join("; ")
            )));
        }
        let mut seen = Vec::new();
        let mut failed = Vec::new();
        for (c, cmd, what) in probes {
            let out = ctx
                .probe(
                    HostRole::Undercloud,
                    &Cmd::new([
                        "ssh",
                        "-o",
                        "BatchMode=yes",
                        "-o",
                        "ConnectTimeout=10",
                        &format!("{NODE_USER}@{c}"),
                        &cmd,
                    ]),
                )
                .await?;
            let stdout = out.stdout_str();
            let ok = out.success() && self.passed(&stdout);
            let line = format!(
                "on {c} (ssh from {uc}): `{cmd}` → {}",
                if out.success() {
                    stdout.trim().to_string()
                } else {
                    format!(
                        "exit {}: {}",
                        out.code
                            .map(|c| c.to_string())
                            .unwrap_or_else(|| "signal".into()),
                        out.stderr_str().trim()
                    )
                }
            );
            if ok {
                seen.push(line);
            } else {
                failed.push(format!("NOT {what}: {line}"));
            }
        }
        Ok(if failed.is_empty() {
            Check::done(seen.join("; "))
        } else {
            Check::todo(failed.join("; "))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let c = self.check(ctx).await?;
        let hint = match self.kind {
            ReadyKind::Resolve => {
                "live migration needs hostnames: check /etc/hosts on the computes (TripleO writes it during the deploy)"
            }
            ReadyKind::Port => {
                "open the migration port between the computes (firewall, the nova_migration_target container)"
            }
            ReadyKind::SharedPath => {
                "check NovaNfsShare in the deploy's environment files and the NFS export (nfs-export step)"
            }
            ReadyKind::ExportVisible => {
                "check that the NFS server runs (nfs-server step), its firewall lets NFS, rpc-bind and mountd in, and the export lists the computes' subnet"
            }
            ReadyKind::VirtUseNfs => {
                "TripleO sets virt_use_nfs when NovaNfsEnabled is true: check the deploy's environment files (`setsebool -P virt_use_nfs on` on a compute fixes it by hand)"
            }
        };
        anyhow::bail!("{}; {hint}", c.saw)
    }
}

/// `to do` while the overcloud is not deployed (no overcloudrc on the undercloud): what the
/// readiness steps on the computes say before the deploy.
pub(super) async fn not_deployed_yet(
    ctx: &StepCtx<'_>,
    overcloudrc: &Path,
) -> anyhow::Result<Option<Check>> {
    let uc = ctx.host(HostRole::Undercloud);
    Ok((!uc.exists(overcloudrc).await?).then(|| {
        Check::todo(format!(
            "the overcloud is not deployed yet ({} missing on {})",
            overcloudrc.display(),
            uc.name()
        ))
    }))
}
