//! Hypervisor configuration the VMs depend on, reusing the preflight checks: qemu.conf's
//! four settings for the chosen mode, AppArmor (profile modes, image paths, traversable
//! directories) and nested KVM. Each step's `check` is "the check's findings pass", its
//! `apply` the findings' fix (`checks::apply_fix`: whole-file edits with a backup kept once,
//! then commands), and its undo restores labwarp's backup (a [`Resource::ConfigBackup`],
//! removed at level `all`).
//!
//! Every step reads the host through a [`HostView`] whose root is `/` on a real hypervisor
//! and a fixture tree in tests: files are read and edited under the root, and only commands
//! that act on files (chmod) are run there; daemon restarts and module reloads are run only
//! against the real `/` and are named in the log otherwise.

use crate::checks::qemu_conf::{self, QEMU_CONF, QEMU_CONF_BACKUP};
use crate::checks::{
    self, CheckContext, CheckOptions, FileRead, Finding, Fix, HostView, QemuMode, Severity,
    apparmor, virtualization,
};
use crate::engine::resource::ABSENT_MARKER;
use crate::host::Cmd;
use crate::plan::{Check, HostRole, Resource, Step, StepCtx};
use async_trait::async_trait;
use std::path::{Path, PathBuf};

/// Where a step looks at the hypervisor: `/`, or a fixture tree standing for it.
#[derive(Debug, Clone)]
pub struct Root {
    pub dir: PathBuf,
    /// The hypervisor is this machine (`address: local`).
    pub local: bool,
}

impl Root {
    pub fn system(local: bool) -> Self {
        Root {
            dir: PathBuf::from("/"),
            local,
        }
    }

    fn view<'a>(&self, ctx: &'a StepCtx<'_>) -> HostView<'a> {
        HostView::rooted(
            ctx.host(HostRole::Virthost).as_ref(),
            self.dir.clone(),
            self.local,
        )
    }

    /// A host path as seen through the root.
    fn path(&self, p: &str) -> PathBuf {
        let mut out = self.dir.clone();
        out.push(p.trim_start_matches('/'));
        out
    }

    fn is_real(&self) -> bool {
        self.dir == Path::new("/")
    }
}

/// The checks' context for this run: the lab with the pool and image cache the plan really
/// uses (the sandbox moves them into the workspace).
fn check_ctx(ctx: &StepCtx<'_>, mode: QemuMode, want_nested: bool) -> CheckContext {
    let mut lab = ctx.lab().clone();
    if let Some(h) = lab.hypervisors.first_mut() {
        h.pool_path = ctx.ctx.facts.pool_dir.clone();
    }
    lab.images.cache_dir = ctx.ctx.facts.image_cache.clone();
    CheckContext::for_lab(
        lab,
        CheckOptions {
            qemu_mode: mode,
            want_nested,
            ..CheckOptions::default()
        },
    )
}

/// A finding fails a step when it is a warning or worse.
fn failing(f: &Finding) -> bool {
    f.severity >= Severity::Warn
}

fn mode_name(mode: QemuMode) -> &'static str {
    match mode {
        QemuMode::Root => "root",
        QemuMode::Distro => "distro",
    }
}

/// Restarts a daemon after its configuration changed: `systemctl restart` on a real root
/// with systemd; otherwise says loudly what the user must do (no systemd: this sandbox).
async fn restart(ctx: &StepCtx<'_>, root: &Root, daemon: &str) -> anyhow::Result<()> {
    if !root.is_real() {
        ctx.info(format!(
            "fixture root {}: not restarting {daemon} (would run: systemctl restart {daemon})",
            root.dir.display()
        ));
        return Ok(());
    }
    let h = ctx.host(HostRole::Virthost);
    if h.exists(Path::new("/run/systemd/system")).await? {
        ctx.run_ok(
            HostRole::Virthost,
            &Cmd::new(["systemctl", "restart", daemon]).sudo(),
        )
        .await?;
        ctx.info(format!(
            "restarted {daemon}: the new settings are in effect"
        ));
    } else {
        ctx.info(format!(
            "WARNING: {} has no systemd, so labwarp cannot restart {daemon}: restart it yourself for the change to take effect",
            h.name()
        ));
    }
    Ok(())
}

/// Applies a fix through the root: file edits via `checks::apply_fix`; `chmod` commands run
/// on the rooted path (they only touch files); other commands only against the real `/`.
async fn apply_rooted(ctx: &StepCtx<'_>, root: &Root, fix: &Fix) -> anyhow::Result<bool> {
    if fix.is_manual() {
        anyhow::bail!("labwarp cannot fix this itself: {}", fix.description);
    }
    let view = root.view(ctx);
    let mut changed = false;
    let mut rest = fix.clone();
    if !root.is_real() {
        let (chmods, others): (Vec<_>, Vec<_>) = fix
            .commands
            .iter()
            .cloned()
            .partition(|c| c.first().map(String::as_str) == Some("chmod"));
        for mut argv in chmods {
            if let Some(last) = argv.last_mut() {
                *last = view
                    .path(Path::new(last.as_str()))
                    .to_string_lossy()
                    .into_owned();
            }
            ctx.run_ok(HostRole::Virthost, &Cmd::new(argv).sudo())
                .await?;
            changed = true;
        }
        rest.commands = others;
    }
    let applied = checks::apply_fix(&view, &rest)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for s in &applied.steps {
        ctx.info(s.clone());
    }
    Ok(changed || applied.changed)
}

/// `/etc/libvirt/qemu.conf`: `user`, `group`, `dynamic_ownership` and `security_driver` as
/// the mode wants them (checks::qemu_conf's line-preserving editor, original kept as
/// `qemu.conf.labwarp.bak`), then the daemon restarted when the file changed.
pub struct QemuConf {
    pub root: Root,
    pub mode: QemuMode,
}

impl QemuConf {
    async fn findings(&self, ctx: &StepCtx<'_>) -> anyhow::Result<(Vec<Finding>, String)> {
        let view = self.root.view(ctx);
        let facts = qemu_conf::gather(&view).await;
        if let FileRead::Error(e) = &facts.file {
            anyhow::bail!("cannot read {QEMU_CONF}: {e}");
        }
        let daemon = facts.daemon().to_string();
        let cctx = check_ctx(ctx, self.mode, true);
        Ok((qemu_conf::evaluate(&facts, &cctx), daemon))
    }
}

#[async_trait]
impl Step for QemuConf {
    fn id(&self) -> &str {
        "qemu-conf"
    }
    fn title(&self) -> String {
        let want = qemu_conf::KEYS
            .iter()
            .map(|k| match qemu_conf::wanted(self.mode, k) {
                qemu_conf::Want::Set(v) => format!("{k} = {}", v.as_string()),
                qemu_conf::Want::Not(v) => format!("{k} != {}", v.as_string()),
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!("{QEMU_CONF} for qemu mode {}: {want}", mode_name(self.mode))
    }
    fn resources(&self) -> Vec<Resource> {
        vec![Resource::ConfigBackup {
            host: HostRole::Virthost,
            path: self.root.path(QEMU_CONF),
            backup: self.root.path(QEMU_CONF_BACKUP),
        }]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let (findings, daemon) = self.findings(ctx).await?;
        let keys: Vec<String> = findings
            .iter()
            .filter(|f| f.id.starts_with("qemu-conf.") && f.id != "qemu-conf.edit")
            .map(|f| f.evidence.clone())
            .collect();
        Ok(match findings.iter().find(|f| f.id == "qemu-conf.edit") {
            None => Check::done(format!(
                "matches mode {}: {}",
                mode_name(self.mode),
                keys.join("; ")
            )),
            Some(f) => Check::todo(format!("{} (then restart {daemon})", f.title)),
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let (findings, daemon) = self.findings(ctx).await?;
        let Some(fix) = findings
            .into_iter()
            .find(|f| f.id == "qemu-conf.edit")
            .and_then(|f| f.fix)
        else {
            return Ok(());
        };
        let view = self.root.view(ctx);
        // A qemu.conf labwarp creates is removed again at `all`: record that it was absent.
        if !view.exists(QEMU_CONF).await && !view.exists(QEMU_CONF_BACKUP).await {
            ctx.host(HostRole::Virthost)
                .write_file(
                    &self.root.path(QEMU_CONF_BACKUP),
                    ABSENT_MARKER.as_bytes(),
                    0o600,
                )
                .await?;
        }
        if apply_rooted(ctx, &self.root, &fix).await? {
            restart(ctx, &self.root, &daemon).await?;
        }
        Ok(())
    }
    async fn undo(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let backup = self.root.path(QEMU_CONF_BACKUP);
        let had_backup = ctx.host(HostRole::Virthost).exists(&backup).await?;
        for r in self.resources() {
            crate::plan::remove::remove(ctx.ctx, &r, &mut |l| ctx.info(l)).await?;
        }
        if had_backup {
            let daemon = qemu_conf::gather(&self.root.view(ctx)).await.daemon();
            restart(ctx, &self.root, daemon).await?;
        }
        Ok(())
    }
}

/// AppArmor and file access for the VMs: the libvirtd / virt-aa-helper profile modes (shown),
/// image paths virt-aa-helper would refuse while it confines guests, directories qemu cannot
/// traverse. Runs after [`QemuConf`], whose `security_driver` decides whether AppArmor
/// confines the guests at all.
pub struct AppArmor {
    pub root: Root,
    pub mode: QemuMode,
}

impl AppArmor {
    async fn findings(&self, ctx: &StepCtx<'_>) -> Vec<Finding> {
        let view = self.root.view(ctx);
        let cctx = check_ctx(ctx, self.mode, true);
        let facts = apparmor::gather(&view, &cctx).await;
        let qemu = qemu_conf::gather(&view).await;
        apparmor::evaluate(&facts, &qemu, &cctx)
    }
}

#[async_trait]
impl Step for AppArmor {
    fn id(&self) -> &str {
        "apparmor"
    }
    fn title(&self) -> String {
        "AppArmor and file access: libvirt profile modes, image paths, traversable directories"
            .into()
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let findings = self.findings(ctx).await;
        let bad: Vec<&Finding> = findings.iter().filter(|f| failing(f)).collect();
        let summary = |fs: &[&Finding]| {
            fs.iter()
                .map(|f| format!("{}: {}", f.id, f.title))
                .collect::<Vec<_>>()
                .join("; ")
        };
        Ok(if bad.is_empty() {
            let all: Vec<&Finding> = findings.iter().collect();
            Check::done(summary(&all))
        } else {
            Check::todo(summary(&bad))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        for f in self.findings(ctx).await.into_iter().filter(failing) {
            match &f.fix {
                Some(fix) => {
                    apply_rooted(ctx, &self.root, fix)
                        .await
                        .map_err(|e| anyhow::anyhow!("{}: {} — {e:#}", f.id, f.title))?;
                }
                None => anyhow::bail!(
                    "{}: {} — labwarp has no fix for this; evidence: {}",
                    f.id,
                    f.title,
                    f.evidence
                ),
            }
        }
        Ok(())
    }
}

/// Files other tools put `options kvm_<vendor> nested=` lines in (quickstart's kvm.conf,
/// oooq-warp's kvm-nested.conf, infrared's dist.conf, tripleo-lab's nested-kvm.conf): the
/// nested fix edits them with a `.labwarp.bak` backup, which cleanup at `all` restores.
const NESTED_FILES: [&str; 4] = [
    virtualization::KVM_CONF,
    "/etc/modprobe.d/kvm-nested.conf",
    "/etc/modprobe.d/dist.conf",
    "/etc/modprobe.d/nested-kvm.conf",
];

/// Nested KVM (quickstart's `nested: true`): `options kvm_<vendor> nested=1` persisted in
/// /etc/modprobe.d/kvm.conf and the module reloaded when its live value differs. Only when
/// the VMs run under KVM: with TCG (domain type qemu, e.g. the KVM verdict here) the nodes
/// get no vmx/svm and nested KVM cannot matter, so the step does nothing and says why.
pub struct NestedKvm {
    pub root: Root,
    /// The plan's facts: kvm or qemu.
    pub domain_type: crate::lab::VirtType,
    pub domain_type_reason: String,
}

impl NestedKvm {
    fn needed(&self) -> bool {
        self.domain_type == crate::lab::VirtType::Kvm
    }

    async fn findings(&self, ctx: &StepCtx<'_>) -> Vec<Finding> {
        let view = self.root.view(ctx);
        let cctx = check_ctx(ctx, QemuMode::default(), true);
        let facts = virtualization::gather(&view, &cctx).await;
        virtualization::evaluate(&facts, &cctx)
            .into_iter()
            .filter(|f| f.id == "kvm.nested" || f.id == "kvm.modprobe")
            .collect()
    }
}

#[async_trait]
impl Step for NestedKvm {
    fn id(&self) -> &str {
        "nested-kvm"
    }
    fn title(&self) -> String {
        if self.needed() {
            format!("nested KVM on ({} with nested=1)", virtualization::KVM_CONF)
        } else {
            "nested KVM: not needed under TCG".into()
        }
    }
    fn resources(&self) -> Vec<Resource> {
        if !self.needed() {
            return Vec::new();
        }
        NESTED_FILES
            .iter()
            .map(|f| Resource::ConfigBackup {
                host: HostRole::Virthost,
                path: self.root.path(f),
                backup: self.root.path(&format!("{f}.labwarp.bak")),
            })
            .collect()
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        if !self.needed() {
            return Ok(Check::done(format!(
                "nested KVM not needed: the VMs use domain type {} ({}), so the nodes get no vmx/svm; nothing to change",
                self.domain_type, self.domain_type_reason
            )));
        }
        let findings = self.findings(ctx).await;
        let bad: Vec<&Finding> = findings.iter().filter(|f| failing(f)).collect();
        let text = |fs: Vec<&Finding>| {
            fs.iter()
                .map(|f| format!("{} ({})", f.title, f.evidence.replace('\n', "; ")))
                .collect::<Vec<_>>()
                .join("; ")
        };
        Ok(if bad.is_empty() {
            Check::done(text(findings.iter().collect()))
        } else {
            Check::todo(text(bad))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        if !self.needed() {
            return Ok(());
        }
        let findings = self.findings(ctx).await;
        let Some(fix) = findings
            .iter()
            .filter(|f| failing(f))
            .find_map(|f| f.fix.clone())
        else {
            if let Some(f) = findings.iter().find(|f| failing(f)) {
                anyhow::bail!("{}: {} — labwarp has no fix for this", f.id, f.title);
            }
            return Ok(());
        };
        // kvm.conf labwarp creates goes again at `all`: record that it was absent.
        let view = self.root.view(ctx);
        let kvm_conf_backup = format!("{}.labwarp.bak", virtualization::KVM_CONF);
        if !view.exists(virtualization::KVM_CONF).await && !view.exists(&kvm_conf_backup).await {
            if let Some(dir) = self.root.path(virtualization::KVM_CONF).parent() {
                let d = dir.to_string_lossy().into_owned();
                ctx.run_ok(
                    HostRole::Virthost,
                    &Cmd::new(["mkdir", "-p", "--", &d]).sudo(),
                )
                .await?;
            }
            ctx.host(HostRole::Virthost)
                .write_file(
                    &self.root.path(&kvm_conf_backup),
                    ABSENT_MARKER.as_bytes(),
                    0o644,
                )
                .await?;
        }
        apply_rooted(ctx, &self.root, &fix).await?;
        if !self.root.is_real() && !fix.commands.is_empty() {
            ctx.info(format!(
                "fixture root {}: the module reload above was not run, so the live nested parameter is unchanged",
                self.root.dir.display()
            ));
        }
        Ok(())
    }
}
