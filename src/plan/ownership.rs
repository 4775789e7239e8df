//! Whether labwarp can prove it made a resource: the rule cleanup removes by, and the
//! runner records by. See `plan::owner` for the marks.
//!
//! Proof is the state file (a resource recorded there was absent when labwarp set out to
//! make it), or a mark with the lab's name *and* identity. A name alone proves nothing:
//! such an object is reported as "looks like the lab's, left alone", with the command
//! that removes it by hand.

use crate::engine::state::State;
use crate::engine::vbmc_layout::VbmcPaths;
use crate::host::{Cmd, HostError, shell_quote};
use crate::plan::job::Job;
use crate::plan::{Ctx, HostRole, Resource};
use crate::workspace::owner::{CONTAINER_ID_LABEL, CONTAINER_LABEL, Owner, marker_path};
use std::path::Path;

/// What labwarp can say about one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// It does not exist.
    Absent,
    /// It exists and is this lab's; the text says how that is known.
    Ours(String),
    /// It exists but labwarp cannot show it made it; the text says why.
    NotOurs(String),
}

/// Comment (GECOS) of a user labwarp created: only such users are ever removed.
pub fn user_comment(lab: &str) -> String {
    format!("labwarp lab {lab}")
}

fn in_state(state: &State, r: &Resource) -> bool {
    state.resources.iter().any(|e| &e.resource == r)
}

/// Resources inside a real undercloud VM go with the VM (its disk is removed at `nodes`).
/// In the sandbox they live on this machine.
pub fn lives_in_undercloud_vm(ctx: &Ctx, r: &Resource) -> bool {
    let role = match r {
        Resource::Container { host, .. }
        | Resource::Job { host, .. }
        | Resource::File { host, .. }
        | Resource::Dir { host, .. }
        | Resource::User { host, .. }
        | Resource::ConfigBackup { host, .. } => *host,
        _ => HostRole::Virthost,
    };
    role == HostRole::Undercloud && !ctx.facts.sandbox
}

/// Whether `r` exists and whether it is this lab's.
pub async fn prove(ctx: &Ctx, state: &State, r: &Resource) -> anyhow::Result<Proof> {
    let owner = ctx.facts.owner(&ctx.lab.name);
    let recorded = in_state(state, r);
    let by_state = || Proof::Ours("recorded in the state file when labwarp made it".into());
    Ok(match r {
        Resource::Container { host, name } => match container_labels(ctx, *host, name).await? {
            None => Proof::Absent,
            Some((lab, id)) => {
                if owner.is(lab.as_deref(), id.as_deref()) {
                    Proof::Ours("labelled with this lab's name and identity".into())
                } else {
                    Proof::NotOurs(match lab {
                        None => {
                            "carries no labwarp label: a name match alone proves nothing".into()
                        }
                        Some(l) if l == owner.lab => format!(
                            "labelled for a lab named {l} of another workspace (identity {})",
                            id.as_deref().unwrap_or("none")
                        ),
                        Some(l) => format!("labelled for lab {l}"),
                    })
                }
            }
        },
        Resource::Domain { name } => {
            if !ctx.libvirt.domain_exists(name).await? {
                return Ok(Proof::Absent);
            }
            let xml = ctx.libvirt.domain_xml(name).await?;
            libvirt_proof(&owner, &xml, recorded)
        }
        Resource::Network { name } => {
            if !ctx
                .libvirt
                .networks()
                .await?
                .iter()
                .any(|n| &n.name == name)
            {
                return Ok(Proof::Absent);
            }
            let xml = ctx.libvirt.network_xml(name).await?;
            libvirt_proof(&owner, &xml, recorded)
        }
        Resource::Pool { name } => {
            let Some(p) = ctx
                .libvirt
                .pools()
                .await?
                .into_iter()
                .find(|p| &p.name == name)
            else {
                return Ok(Proof::Absent);
            };
            if recorded {
                by_state()
            } else if let Some(dir) = &p.target_path
                && marked(ctx, HostRole::Virthost, Path::new(dir), &owner).await?
            {
                Proof::Ours(format!("its directory {dir} carries this lab's marker"))
            } else {
                Proof::NotOurs(
                    "named like the lab's pool, but not in the state file and its directory carries no marker of this lab".into(),
                )
            }
        }
        Resource::Dir { host, path, .. } => {
            // `exists` does not follow links: a dangling link exists too.
            if !ctx.host(*host).exists(path).await? {
                Proof::Absent
            } else if is_link(ctx, *host, path).await {
                Proof::NotOurs("is a symbolic link: labwarp never follows one to delete".into())
            } else if marked(ctx, *host, path, &owner).await? {
                Proof::Ours("carries this lab's marker file".into())
            } else if recorded {
                by_state()
            } else {
                Proof::NotOurs(
                    "existed before labwarp or was made by another lab: no marker of this lab, not in the state file".into(),
                )
            }
        }
        Resource::File { host, path, .. } => {
            if !ctx.host(*host).exists(path).await? {
                Proof::Absent
            } else if recorded {
                by_state()
            } else {
                Proof::NotOurs(
                    "where the lab would put it, but labwarp has no record of making it".into(),
                )
            }
        }
        Resource::Job { host, dir, name } => {
            if Job::new(dir, name).exists(ctx.host(*host).as_ref()).await? {
                Proof::Ours("labwarp's own job files".into())
            } else {
                Proof::Absent
            }
        }
        Resource::User { host, name } => {
            let out = ctx
                .host(*host)
                .exec(&Cmd::new(["getent", "passwd", name]))
                .await?;
            if !out.success() {
                Proof::Absent
            } else if out.stdout_str().contains(&user_comment(&ctx.lab.name)) {
                Proof::Ours(format!(
                    "its comment says `{}`",
                    user_comment(&ctx.lab.name)
                ))
            } else {
                Proof::NotOurs(
                    "an existing user labwarp did not create (no labwarp comment)".into(),
                )
            }
        }
        Resource::ConfigBackup { host, backup, .. } => {
            if ctx.host(*host).exists(backup).await? {
                Proof::Ours("labwarp's own backup file".into())
            } else {
                Proof::Absent
            }
        }
        Resource::VbmcEntry { .. } | Resource::VbmcDaemon { .. } => {
            if !super::remove::exists(ctx, r).await? {
                return Ok(Proof::Absent);
            }
            let dir = VbmcPaths::of(ctx).dir;
            if recorded || marked(ctx, HostRole::Virthost, &dir, &owner).await? {
                Proof::Ours("in this lab's VirtualBMC directory".into())
            } else {
                Proof::NotOurs(format!(
                    "{} carries no marker of this lab (another lab of the same name?)",
                    dir.display()
                ))
            }
        }
        Resource::VbmcVenv { .. } | Resource::FirewallPort { .. } => {
            if super::remove::exists(ctx, r).await? {
                Proof::Ours("carries labwarp's marker".into())
            } else {
                Proof::Absent
            }
        }
    })
}

/// A domain's or network's proof from its XML: labwarp's metadata with this lab's name and
/// identity; or the state file, when the metadata names this lab without an identity
/// (made before identities) or is missing.
fn libvirt_proof(owner: &Owner, xml: &str, recorded: bool) -> Proof {
    let Ok(tree) = crate::virt::xml::parse(xml) else {
        return Proof::NotOurs("its XML could not be read".into());
    };
    let lab = crate::virt::xml::labwarp_lab(&tree);
    let id = crate::virt::xml::labwarp_id(&tree);
    if owner.is(lab.as_deref(), id.as_deref()) {
        return Proof::Ours("its libvirt metadata names this lab and its identity".into());
    }
    match (lab, id) {
        (Some(l), Some(i)) => Proof::NotOurs(format!(
            "its libvirt metadata names lab {l} with identity {i}: another workspace's"
        )),
        (l, None) if recorded && l.as_deref().is_none_or(|l| l == owner.lab) => {
            Proof::Ours("recorded in the state file when labwarp made it".into())
        }
        _ => Proof::NotOurs(
            "named like the lab's, but carries no labwarp metadata of this lab and is not in the state file".into(),
        ),
    }
}

/// `(lab label, id label)` of a container, `None` when there is no such container (or
/// no podman on that host).
async fn container_labels(
    ctx: &Ctx,
    role: HostRole,
    name: &str,
) -> anyhow::Result<Option<(Option<String>, Option<String>)>> {
    let cmd = Cmd::new(["podman", "container", "inspect", "--", name]).sudo();
    let out = match ctx.host(role).exec(&cmd).await {
        Ok(o) => o,
        Err(HostError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if !out.success() {
        return Ok(None);
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let labels = &v[0]["Config"]["Labels"];
    let get = |k: &str| labels[k].as_str().map(str::to_string);
    Ok(Some((get(CONTAINER_LABEL), get(CONTAINER_ID_LABEL))))
}

/// Whether `dir` holds this lab's marker file.
pub async fn marked(ctx: &Ctx, role: HostRole, dir: &Path, owner: &Owner) -> anyhow::Result<bool> {
    let h = ctx.host(role);
    let m = marker_path(dir);
    if is_link(ctx, role, &m).await || !h.exists(&m).await? {
        return Ok(false);
    }
    let text = h.read_file(&m).await?;
    Ok(owner.owns_marker(&String::from_utf8_lossy(&text)))
}

/// Whether `path` is a symbolic link on that host.
pub async fn is_link(ctx: &Ctx, role: HostRole, path: &Path) -> bool {
    let p = path.to_string_lossy().into_owned();
    matches!(ctx.host(role).exec(&Cmd::new(["test", "-L", &p])).await, Ok(o) if o.success())
}

/// The command that removes `r` by hand, for what labwarp leaves alone.
pub fn by_hand(ctx: &Ctx, r: &Resource) -> Option<String> {
    let uri = ctx
        .lab
        .hypervisors
        .first()
        .map(|h| h.libvirt_uri.clone())
        .unwrap_or_default();
    let q = |s: &str| shell_quote(s);
    let p = |p: &Path| shell_quote(&p.to_string_lossy());
    Some(match r {
        Resource::Domain { name } => format!(
            "virsh -c {} destroy {n}; virsh -c {} undefine {n}",
            q(&uri),
            q(&uri),
            n = q(name)
        ),
        Resource::Network { name } => format!(
            "virsh -c {} net-destroy {n}; virsh -c {} net-undefine {n}",
            q(&uri),
            q(&uri),
            n = q(name)
        ),
        Resource::Pool { name } => format!(
            "virsh -c {} pool-destroy {n}; virsh -c {} pool-undefine {n}",
            q(&uri),
            q(&uri),
            n = q(name)
        ),
        Resource::Container { name, .. } => format!("podman rm -f {}", q(name)),
        Resource::File { path, .. } => format!("rm -f -- {}", p(path)),
        Resource::Dir { path, .. } => format!(
            "ls -la {d}   # then, if nothing there is needed: rm -r -- {d}",
            d = p(path)
        ),
        _ => return None,
    })
}
