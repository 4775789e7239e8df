//! Where a lab's snapshots live on the hypervisor, and what is in each: names, the
//! manifest, listing with sizes and ages, deletion, ownership marks, and the recovery of a
//! save that died half-way.

use super::journal::Journal;
use crate::host::Cmd;
use crate::plan::{Ctx, HostRole, Level, Resource};
use crate::workspace::owner::{MARKER_FILE, Owner};
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Version of the manifest's format.
pub const FORMAT: u32 = 1;
pub const MANIFEST: &str = "manifest.json";
/// Prefix of a snapshot being written (hidden, never listed).
pub const PARTIAL: &str = ".partial-";

/// One VM in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmImage {
    pub domain: String,
    /// `running`, `paused` or `shutoff` at the moment of the snapshot.
    pub state: String,
    pub persistent: bool,
    /// The memory image's file name in the snapshot directory, when the VM ran.
    pub memory: Option<String>,
    /// The definition's file name (inactive XML of a persistent domain).
    pub xml: String,
    pub disks: Vec<DiskCopy>,
}

/// One disk of a VM: where it lives, and its copy in the snapshot directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskCopy {
    pub target: String,
    pub source: String,
    pub copy: String,
}

/// What a snapshot holds; written last, so a directory with a manifest is complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub name: String,
    pub lab: String,
    pub lab_id: String,
    /// Unix seconds.
    pub created: u64,
    pub vms: Vec<VmImage>,
    /// Whether `state.yaml`, `known_hosts` and `vbmc-nodes/` are in the directory.
    pub state_file: bool,
    pub known_hosts: bool,
    pub vbmc_entries: bool,
    /// md5 of the undercloud.conf the undercloud in it was installed from, when the run's
    /// own snapshot after the install took it (steps/snapshot.rs retakes it when the wanted
    /// file changes); absent for snapshots saved by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undercloud_conf_md5: Option<String>,
}

/// A snapshot as `snapshot list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    pub name: String,
    pub created: u64,
    pub age_secs: u64,
    pub size_bytes: u64,
    pub vms: Vec<String>,
    pub path: String,
}

/// A snapshot name: 1–64 of `A-Za-z0-9._-`, not starting with `.` or `-` (it becomes a
/// directory name and a command-line word).
pub fn check_name(name: &str) -> anyhow::Result<()> {
    match crate::lab::snapshot_name_problem(name) {
        Some(why) => bail!(why),
        None => Ok(()),
    }
}

/// The lab's snapshot directory on the hypervisor: one per lab, marked with its identity.
pub fn root(ctx: &Ctx) -> PathBuf {
    if ctx.facts.sandbox {
        ctx.facts.sandbox_dir.join("snapshots")
    } else {
        PathBuf::from("/var/lib/labwarp/snapshots").join(&ctx.lab.name)
    }
}

pub(super) fn owner(ctx: &Ctx) -> Owner {
    ctx.facts.owner(&ctx.lab.name)
}

/// Runs a POSIX sh script on the hypervisor with `args` as `$1…` (never spliced into the
/// script), as root; its stdout, or an error with its stderr.
pub(super) async fn sh(ctx: &Ctx, script: &str, args: &[&str]) -> anyhow::Result<String> {
    let mut argv = vec!["sh", "-c", script, "sh"];
    argv.extend_from_slice(args);
    let cmd = Cmd::new(argv).sudo();
    let out = ctx.host(HostRole::Virthost).exec(&cmd).await?;
    if !out.success() {
        bail!(
            "on {}: {} (exit {:?})",
            ctx.host(HostRole::Virthost).name(),
            out.stderr_str().trim(),
            out.code
        );
    }
    Ok(out.stdout_str())
}

pub(super) fn p(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Whether `path` exists on the hypervisor, asked as root (a snapshot directory is 0700
/// root's, and the SSH login need not be root).
pub(super) async fn exists(ctx: &Ctx, path: &Path) -> anyhow::Result<bool> {
    Ok(sh(ctx, "if [ -e \"$1\" ]; then echo yes; fi", &[&p(path)])
        .await?
        .trim()
        == "yes")
}

/// A file on the hypervisor, read as root.
pub(super) async fn read(ctx: &Ctx, path: &Path) -> anyhow::Result<Vec<u8>> {
    let cmd = Cmd::new(["cat", "--", &p(path)]).sudo();
    let out = ctx.host(HostRole::Virthost).exec(&cmd).await?;
    if !out.success() {
        bail!(
            "cannot read {}: {}",
            path.display(),
            out.stderr_str().trim()
        );
    }
    Ok(out.stdout)
}

/// Whether `dir` carries this lab's marker (name and identity).
pub(super) async fn ours(ctx: &Ctx, dir: &Path) -> anyhow::Result<bool> {
    let marker = dir.join(MARKER_FILE);
    if !exists(ctx, &marker).await? {
        return Ok(false);
    }
    let text = read(ctx, &marker).await?;
    Ok(owner(ctx).owns_marker(&String::from_utf8_lossy(&text)))
}

/// Creates `dir` (and the root) with this lab's marker; refuses a root another lab marked.
pub(super) async fn make_marked(ctx: &Ctx, dir: &Path) -> anyhow::Result<()> {
    let root = root(ctx);
    let host = ctx.host(HostRole::Virthost).clone();
    if exists(ctx, &root).await? && !ours(ctx, &root).await? {
        bail!(
            "{} exists but carries no marker of lab {} (this workspace's identity): labwarp will not write snapshots there",
            root.display(),
            ctx.lab.name
        );
    }
    // The root readable (its marker proves whose it is), each snapshot root's alone.
    sh(
        ctx,
        "mkdir -p -m 0755 -- \"$1\" && mkdir -p -m 0700 -- \"$2\"",
        &[&p(&root), &p(dir)],
    )
    .await?;
    let text = owner(ctx).marker_text();
    for d in [&root, &dir.to_path_buf()] {
        host.write_root_file(&d.join(MARKER_FILE), text.as_bytes(), 0o644)
            .await?;
    }
    Ok(())
}

async fn read_manifest(ctx: &Ctx, dir: &Path) -> anyhow::Result<Manifest> {
    let bytes = read(ctx, &dir.join(MANIFEST)).await?;
    serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{}: not a labwarp snapshot manifest",
            dir.join(MANIFEST).display()
        )
    })
}

/// A complete snapshot of this lab: its manifest, after the marker and the lab's identity
/// are checked. `Ok(None)` when there is no such snapshot.
pub(super) async fn open(ctx: &Ctx, name: &str) -> anyhow::Result<Option<Manifest>> {
    check_name(name)?;
    let dir = root(ctx).join(name);
    if !exists(ctx, &dir.join(MANIFEST)).await? {
        return Ok(None);
    }
    if !ours(ctx, &dir).await? {
        bail!(
            "snapshot {name} at {} is not this lab's (no marker of lab {} with this workspace's identity)",
            dir.display(),
            ctx.lab.name
        );
    }
    let m = read_manifest(ctx, &dir).await?;
    if m.lab != ctx.lab.name || m.lab_id != ctx.facts.lab_id {
        bail!(
            "snapshot {name} was taken of lab {} (id {}), not of this lab {} (id {})",
            m.lab,
            m.lab_id,
            ctx.lab.name,
            ctx.facts.lab_id
        );
    }
    Ok(Some(m))
}

/// The manifest of this lab's snapshot `name`, or `None` when there is none: a cheap
/// existence test (no sizes), for the run's own snapshot step and respin.
pub async fn manifest(ctx: &Ctx, name: &str) -> anyhow::Result<Option<Manifest>> {
    open(ctx, name).await
}

/// The lab's complete snapshots, oldest first, with their sizes on disk.
pub async fn list(ctx: &Ctx) -> anyhow::Result<Vec<SnapshotInfo>> {
    let root = root(ctx);
    if !exists(ctx, &root).await? || !ours(ctx, &root).await? {
        return Ok(Vec::new());
    }
    // One line per complete snapshot: its name and size in KiB (sparse files counted by
    // the blocks they use).
    let out = sh(
        ctx,
        "cd \"$1\" || exit 1; for d in *; do [ -f \"$d/manifest.json\" ] || continue; printf '%s\\t%s\\n' \"$d\" \"$(du -sk \"$d\" | cut -f1)\"; done",
        &[&p(&root)],
    )
    .await?;
    let now = crate::engine::state::now();
    let mut v = Vec::new();
    for line in out.lines() {
        let Some((name, kib)) = line.split_once('\t') else {
            continue;
        };
        if check_name(name).is_err() {
            continue;
        }
        // Not this lab's (another identity's leftovers): not listed, never touched.
        let Ok(Some(m)) = open(ctx, name).await else {
            continue;
        };
        v.push(SnapshotInfo {
            name: name.to_string(),
            created: m.created,
            age_secs: now.saturating_sub(m.created),
            size_bytes: kib.trim().parse::<u64>().unwrap_or(0) * 1024,
            vms: m.vms.iter().map(|x| x.domain.clone()).collect(),
            path: p(&root.join(name)),
        });
    }
    v.sort_by_key(|s| s.created);
    Ok(v)
}

/// Removes one of the lab's snapshots (refused for anything not proven the lab's).
pub async fn delete(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    if open(ctx, name).await?.is_none() {
        bail!("the lab has no snapshot named {name} (labwarp snapshot list)");
    }
    sh(ctx, "rm -rf -- \"$1\"", &[&p(&root(ctx).join(name))]).await?;
    Ok(())
}

/// Brings back the VMs of every save that died half-way (their memory images are in its
/// partial directory) and removes those directories; returns what it did, in words. Fails
/// while another save runs (its process alive): one snapshot operation at a time.
pub async fn recover(ctx: &Ctx) -> anyhow::Result<Vec<String>> {
    let root = root(ctx);
    if !exists(ctx, &root).await? || !ours(ctx, &root).await? {
        return Ok(Vec::new());
    }
    let out = sh(
        ctx,
        "cd \"$1\" || exit 1; for d in .partial-*; do [ -d \"$d\" ] && printf '%s\\n' \"$d\"; done; exit 0",
        &[&p(&root)],
    )
    .await?;
    let mut said = Vec::new();
    for d in out.lines().filter(|l| l.starts_with(PARTIAL)) {
        let dir = root.join(d);
        let journal = Journal::read(ctx, &dir).await?;
        if journal.alive() {
            bail!(
                "another snapshot save is under way ({d}, labwarp pid {}): wait for it to end",
                journal.pid
            );
        }
        said.extend(journal.bring_back(ctx, &dir).await?);
        sh(ctx, "rm -rf -- \"$1\"", &[&p(&dir)]).await?;
        said.push(format!("removed the unfinished snapshot {d}"));
    }
    Ok(said)
}

/// The lab's snapshot directory as a cleanup candidate (every level removes it, with its
/// content, once its marker proves it the lab's); `None` when there is none.
pub async fn clean_candidate(ctx: &Ctx) -> anyhow::Result<Option<Resource>> {
    let root = root(ctx);
    if !ctx.host(HostRole::Virthost).exists(&root).await? {
        return Ok(None);
    }
    Ok(Some(Resource::Dir {
        host: HostRole::Virthost,
        path: root,
        level: Level::Nodes,
        whole: true,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_words_or_refused_with_the_rule() {
        for ok in [
            "undercloud-installed",
            "s1",
            "before_upgrade.2",
            "snap-20261206-124500",
        ] {
            check_name(ok).unwrap();
        }
        for bad in [
            "",
            ".partial-x",
            "-rf",
            "a/b",
            "..",
            "a b",
            "x;rm",
            &"a".repeat(65),
        ] {
            let e = check_name(bad).unwrap_err().to_string();
            assert!(e.contains("letters, digits"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn a_manifest_reads_back_as_written() {
        let m = Manifest {
            format: FORMAT,
            name: "s1".into(),
            lab: "lab".into(),
            lab_id: "0123456789abcdef".into(),
            created: 1,
            vms: vec![VmImage {
                domain: "lab-undercloud".into(),
                state: "running".into(),
                persistent: true,
                memory: Some("lab-undercloud.mem".into()),
                xml: "lab-undercloud.xml".into(),
                disks: vec![DiskCopy {
                    target: "vda".into(),
                    source: "/pool/lab-undercloud-0.qcow2".into(),
                    copy: "lab-undercloud-vda.disk".into(),
                }],
            }],
            state_file: true,
            known_hosts: true,
            vbmc_entries: false,
            undercloud_conf_md5: Some("d41d8cd98f00b204e9800998ecf8427e".into()),
        };
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Manifest>(&text).unwrap(), m);
        // A manifest written before the install's md5 was recorded still reads, without it.
        let older = text.replace(
            ",\"undercloud_conf_md5\":\"d41d8cd98f00b204e9800998ecf8427e\"",
            "",
        );
        assert_ne!(older, text);
        let back = serde_json::from_str::<Manifest>(&older).unwrap();
        assert_eq!(back.undercloud_conf_md5, None);
        assert_eq!(back.vms, m.vms);
    }
}
