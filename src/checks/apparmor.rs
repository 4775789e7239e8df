//! AppArmor and file access: whether AppArmor confines libvirt, the libvirtd and
//! virt-aa-helper profile modes, TEMPLATE.qemu, image paths virt-aa-helper refuses, and
//! parent directories qemu cannot traverse (missing `o+x`).

use super::qemu_conf::QemuConfFacts;
use super::{Area, CheckContext, CmdRun, FileRead, Finding, Fix, HostView, Severity};
use crate::lab::Lab;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const AREA: Area = Area::Apparmor;
pub const PROFILES: &str = "/sys/kernel/security/apparmor/profiles";
pub const ENABLED: &str = "/sys/module/apparmor/parameters/enabled";
pub const TEMPLATE: &str = "/etc/apparmor.d/libvirt/TEMPLATE.qemu";

/// Path prefixes virt-aa-helper refuses for any disk (libvirt `src/security/virt-aa-helper.c`,
/// `valid_path`): it will not write a profile rule for them, so the guest cannot start.
const RESTRICTED: [&str; 16] = [
    "/bin/",
    "/etc/",
    "/lib",
    "/lost+found/",
    "/proc/",
    "/sbin/",
    "/selinux/",
    "/sys/",
    "/usr/bin/",
    "/usr/lib",
    "/usr/sbin/",
    "/usr/share/",
    "/usr/local/bin/",
    "/usr/local/etc/",
    "/usr/local/lib",
    "/usr/local/sbin/",
];
/// Allowed read-only (kernel, initrd) but refused read-write (disks).
const RESTRICTED_RW: [&str; 4] = ["/boot/", "/vmlinuz", "/initrd", "/initrd.img"];

/// One path qemu must open, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePath {
    pub path: PathBuf,
    /// Kernel and initrd are opened read-only; disks and pools read-write.
    pub readonly: bool,
    /// Where it comes from in lab.yaml (for messages).
    pub field: String,
}

/// `stat` of one directory: octal mode and owner name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirStat {
    pub path: PathBuf,
    pub mode: u32,
    pub owner: String,
}

#[derive(Debug, Clone, Default)]
pub struct AppArmorFacts {
    pub enabled: FileRead,
    pub profiles: FileRead,
    pub template: FileRead,
    pub images: Vec<ImagePath>,
    /// Every existing ancestor directory of the image paths (and the pool directory).
    pub dirs: Vec<DirStat>,
    /// Directories whose stat failed, with the command output.
    pub dir_errors: Vec<(PathBuf, String)>,
}

/// The paths of a lab that qemu opens: the pool, the image cache and local image files.
pub fn image_paths(lab: &Lab, pool: &Path) -> Vec<ImagePath> {
    let mut out = vec![
        ImagePath {
            path: pool.to_path_buf(),
            readonly: false,
            field: "hypervisors[0].pool_path".into(),
        },
        ImagePath {
            path: lab.images.cache_dir.clone(),
            readonly: false,
            field: "images.cache_dir".into(),
        },
    ];
    let local = |src: &str| -> Option<PathBuf> {
        (!src.contains("://") && src.starts_with('/')).then(|| PathBuf::from(src))
    };
    if let Some(p) = local(&lab.images.undercloud.source) {
        out.push(ImagePath {
            path: p,
            readonly: false,
            field: "images.undercloud.source".into(),
        });
    }
    for (field, img) in [
        (
            "images.overcloud_kernel.source",
            &lab.images.overcloud_kernel,
        ),
        (
            "images.overcloud_initrd.source",
            &lab.images.overcloud_initrd,
        ),
    ] {
        if let Some(p) = img.as_ref().and_then(|i| local(&i.source)) {
            out.push(ImagePath {
                path: p,
                readonly: true,
                field: field.into(),
            });
        }
    }
    out
}

/// Every ancestor directory of `p` from `/` down to its parent, plus `p` itself when `is_dir`.
fn ancestors(p: &Path, is_dir: bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = p.ancestors().skip(1).map(Path::to_path_buf).collect();
    v.reverse();
    if is_dir {
        v.push(p.to_path_buf());
    }
    v
}

pub async fn gather(view: &HostView<'_>, ctx: &CheckContext) -> AppArmorFacts {
    let images = ctx
        .lab
        .as_ref()
        .map(|lab| image_paths(lab, &ctx.hypervisor.pool_path))
        .unwrap_or_else(|| {
            vec![ImagePath {
                path: ctx.hypervisor.pool_path.clone(),
                readonly: false,
                field: "pool_path".into(),
            }]
        });
    let mut wanted = BTreeSet::new();
    for (i, img) in images.iter().enumerate() {
        // The pool and the cache are directories; image sources are files.
        wanted.extend(ancestors(&img.path, i < 2));
    }
    let mut dirs = Vec::new();
    let mut dir_errors = Vec::new();
    for d in wanted {
        if !view.exists(&d).await {
            continue;
        }
        let rooted = view.path(&d).to_string_lossy().into_owned();
        let run = view
            .fs_cmd(&[
                "stat".into(),
                "-L".into(),
                "-c".into(),
                "%a %U".into(),
                rooted,
            ])
            .await;
        match run.ok_stdout().and_then(parse_stat) {
            Some((mode, owner)) => dirs.push(DirStat {
                path: d,
                mode,
                owner,
            }),
            None => dir_errors.push((d, run.evidence())),
        }
    }
    AppArmorFacts {
        enabled: view.read(ENABLED).await,
        profiles: view.read(PROFILES).await,
        template: view.read(TEMPLATE).await,
        images,
        dirs,
        dir_errors,
    }
}

fn parse_stat(out: &str) -> Option<(u32, String)> {
    let (mode, owner) = out.trim().split_once(' ')?;
    Some((u32::from_str_radix(mode, 8).ok()?, owner.to_string()))
}

/// (profile name, mode) pairs from /sys/kernel/security/apparmor/profiles.
pub fn parse_profiles(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim_end();
            let open = l.rfind(" (")?;
            let mode = l[open + 2..].strip_suffix(')')?;
            Some((l[..open].to_string(), mode.to_string()))
        })
        .collect()
}

/// Whether virt-aa-helper refuses the path (see [`RESTRICTED`]).
pub fn aa_denies(path: &Path, readonly: bool) -> bool {
    let s = path.to_string_lossy();
    let hit = |list: &[&str]| list.iter().any(|p| s.starts_with(p));
    hit(&RESTRICTED) || (!readonly && hit(&RESTRICTED_RW))
}

pub fn evaluate(facts: &AppArmorFacts, qemu: &QemuConfFacts, _ctx: &CheckContext) -> Vec<Finding> {
    let mut out = Vec::new();
    let enabled = facts
        .enabled
        .content()
        .is_some_and(|v| v.trim() == "Y" || v.trim() == "1");
    let profiles = facts
        .profiles
        .content()
        .map(parse_profiles)
        .unwrap_or_default();
    let enabled_ev = match &facts.enabled {
        FileRead::Content(v) => format!("{ENABLED}: {}", v.trim()),
        FileRead::Missing => format!("{ENABLED}: not found (AppArmor not built in or not loaded)"),
        FileRead::Error(e) => format!("{ENABLED}: {e}"),
    };
    let driver = qemu.security_driver();
    // libvirt uses AppArmor for guests when it is enabled and qemu.conf does not say "none".
    let confines_guests = enabled && driver.as_deref() != Some("none");
    out.push(Finding::new(
        "apparmor.enabled",
        AREA,
        Severity::Info,
        match (enabled, confines_guests) {
            (false, _) => "AppArmor is not enabled: it confines nothing".to_string(),
            (true, true) => "AppArmor is enabled and confines the guests (security_driver is not \"none\")".to_string(),
            (true, false) => "AppArmor is enabled, but qemu.conf has security_driver = \"none\": guests are not confined".to_string(),
        },
        enabled_ev,
    ));
    if !enabled {
        // Nothing else about AppArmor matters; directory traversal still does.
        out.extend(traverse_finding(facts, qemu));
        return out;
    }
    let profile_ev = |names: &[&str]| -> (Option<String>, String) {
        let hit = profiles.iter().find(|(n, _)| names.contains(&n.as_str()));
        match hit {
            Some((n, m)) => (Some(m.clone()), format!("{PROFILES}: {n} ({m})")),
            None => (
                None,
                format!("{PROFILES}: no profile named {}", names.join(" or ")),
            ),
        }
    };
    for (id, names, what) in [
        (
            "apparmor.libvirtd",
            &["libvirtd", "/usr/sbin/libvirtd"][..],
            "libvirtd",
        ),
        (
            "apparmor.virt-aa-helper",
            &["virt-aa-helper", "/usr/lib/libvirt/virt-aa-helper"][..],
            "virt-aa-helper",
        ),
    ] {
        let (mode, ev) = profile_ev(names);
        out.push(Finding::new(
            id,
            AREA,
            Severity::Info,
            match mode {
                Some(m) => format!("{what} profile loaded in {m} mode"),
                None => format!("{what} profile not loaded"),
            },
            ev,
        ));
    }
    out.push(match &facts.template {
        FileRead::Content(t) => Finding::new(
            "apparmor.template",
            AREA,
            Severity::Ok,
            format!("{TEMPLATE} present"),
            format!("{TEMPLATE}:\n{}", t.trim_end()),
        ),
        other => Finding::new(
            "apparmor.template",
            AREA,
            if confines_guests {
                Severity::Warn
            } else {
                Severity::Info
            },
            format!("{TEMPLATE} missing: virt-aa-helper cannot create guest profiles"),
            match other {
                FileRead::Error(e) => e.clone(),
                _ => format!("{TEMPLATE}: not found"),
            },
        ),
    });
    let denied: Vec<&ImagePath> = facts
        .images
        .iter()
        .filter(|i| aa_denies(&i.path, i.readonly))
        .collect();
    let listing = facts
        .images
        .iter()
        .map(|i| {
            format!(
                "{} ({}, {}): {}",
                i.path.display(),
                i.field,
                if i.readonly {
                    "read-only"
                } else {
                    "read-write"
                },
                if aa_denies(&i.path, i.readonly) {
                    "refused by virt-aa-helper"
                } else {
                    "allowed"
                }
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    out.push(if denied.is_empty() {
        Finding::new(
            "apparmor.image-paths",
            AREA,
            Severity::Ok,
            "No image path is in a directory virt-aa-helper refuses",
            listing,
        )
    } else if !confines_guests {
        Finding::new(
            "apparmor.image-paths",
            AREA,
            Severity::Info,
            "Some image paths would be refused by virt-aa-helper, but guests are not confined (security_driver = \"none\")",
            listing,
        )
    } else {
        Finding::new(
            "apparmor.image-paths",
            AREA,
            Severity::Fail,
            format!(
                "virt-aa-helper refuses {}: guests using them will not start",
                denied
                    .iter()
                    .map(|i| i.path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            listing,
        )
        .with_fix(Fix::manual(format!(
            "Move the images out of system directories (e.g. under /var/lib/libvirt/images) and update {} in lab.yaml, or use qemu mode root (security_driver = \"none\")",
            denied.iter().map(|i| i.field.as_str()).collect::<Vec<_>>().join(", ")
        )))
    });
    out.extend(traverse_finding(facts, qemu));
    out
}

/// Directories on the way to the images that "others" cannot traverse.
fn traverse_finding(facts: &AppArmorFacts, qemu: &QemuConfFacts) -> Option<Finding> {
    if facts.dirs.is_empty() && facts.dir_errors.is_empty() {
        return None;
    }
    let qemu_user = qemu.effective_user();
    let as_root = qemu_user.as_deref() == Some("root");
    let blocked: Vec<&DirStat> = facts
        .dirs
        .iter()
        .filter(|d| d.mode & 0o001 == 0 && Some(&d.owner) != qemu_user.as_ref())
        .collect();
    let mut ev: Vec<String> = facts
        .dirs
        .iter()
        .map(|d| format!("{:o} {} {}", d.mode, d.owner, d.path.display()))
        .collect();
    ev.extend(
        facts
            .dir_errors
            .iter()
            .map(|(p, e)| format!("{}: {e}", p.display())),
    );
    let who = qemu_user
        .clone()
        .unwrap_or_else(|| "libvirt's default non-root qemu user".into());
    Some(if blocked.is_empty() {
        Finding::new(
            "fs.traverse",
            AREA,
            Severity::Ok,
            "Every directory on the way to the images is traversable (o+x)",
            ev.join("\n"),
        )
    } else {
        let names: Vec<String> = blocked
            .iter()
            .map(|d| d.path.display().to_string())
            .collect();
        let f = Finding::new(
            "fs.traverse",
            AREA,
            if as_root {
                Severity::Info
            } else {
                Severity::Warn
            },
            format!(
                "{} not traversable by others (o+x missing){}",
                names.join(", "),
                if as_root {
                    ": qemu runs as root, so this only matters if you switch to a non-root qemu user".to_string()
                } else {
                    format!(": qemu ({who}) cannot reach the images")
                }
            ),
            ev.join("\n"),
        );
        f.with_fix(Fix {
            description: format!("Let others traverse {}", names.join(", ")),
            edits: Vec::new(),
            commands: names
                .iter()
                .map(|n| vec!["chmod".to_string(), "o+x".to_string(), n.clone()])
                .collect(),
            restart: None,
        })
    })
}

/// The result of `stat` on one directory (exposed for tests of the parser).
pub fn parse_stat_line(out: &CmdRun) -> Option<(u32, String)> {
    out.ok_stdout().and_then(parse_stat)
}
