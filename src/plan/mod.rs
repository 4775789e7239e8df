//! The plan: stages of idempotent steps, built purely from a [`Lab`] and the [`Facts`] read
//! from the hosts. Nothing here does I/O at build time; steps act only when the runner calls
//! `check`, `apply` or `undo` with a [`StepCtx`] that carries the live hosts.

pub mod ctx;
pub mod job;
pub mod owner;
pub mod resource;
pub mod stages;
pub mod step;
pub mod steps;
pub mod tripleo_stages;

pub use ctx::{Ctx, StepCtx};
pub use resource::{HostRole, Level, Resource};
pub use step::{Check, Drift, DriftCost, Step};

use crate::lab::{DomainType, Lab};
use crate::run::event::{StageInfo, StepInfo};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What preflight read from the hosts (and labwarp decided from it) that shapes the plan.
/// Every such choice is printed by `labwarp plan` and at the start of `labwarp run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// Domain type the VMs get: `kvm` or `qemu`.
    pub domain_type: String,
    /// Why that domain type (the evidence).
    pub domain_type_reason: String,
    /// The undercloud is a sandbox directory on this machine and disks and images live in
    /// `workspace/sandbox`: always with libvirt's in-memory test driver (nothing boots), and
    /// with `LABWARP_SANDBOX=1` on a real libvirt.
    pub sandbox: bool,
    /// The libvirt URI is the in-memory test driver (`test:///default`; its world is saved
    /// in the workspace, see `virt::test_world`).
    pub test_driver: bool,
    /// `workspace/sandbox` (removed at `virthost`).
    pub sandbox_dir: PathBuf,
    /// Home directory of the undercloud's user, where undercloud.conf and rc files go.
    pub undercloud_home: PathBuf,
    /// Directory holding the VM disks (the storage pool's path).
    pub pool_dir: PathBuf,
    /// Directory holding downloaded images.
    pub image_cache: PathBuf,
    /// Run labwarp's stand-in `openstack` (scripts/standin/openstack) instead of TripleO's.
    pub standin_openstack: bool,
    /// VirtualBMC's Python venv on the hypervisor (shared by the labs there; removed at
    /// `all`). `LABWARP_VBMC_VENV` overrides the default `/opt/labwarp-vbmc`.
    #[serde(default)]
    pub vbmc_venv: PathBuf,
    /// This lab's VirtualBMC directory on the hypervisor: vbmcd's config, pid file, log and
    /// one `nodes/<domain>/config` per node (removed at `virthost`).
    #[serde(default)]
    pub vbmc_dir: PathBuf,
    /// Prefix of the undercloud's container names: `<lab>-` in the sandbox (several sandbox
    /// labs share this machine's podman), empty on a real undercloud (TripleO's exact names).
    pub container_prefix: String,
    /// Where the undercloud's containers run: the undercloud itself (TripleO), or, with the
    /// stand-in and `LABWARP_STANDIN_CONTAINERS=hypervisor`, the hypervisor's podman (for an
    /// undercloud image without podman, such as labwarp's tiny test guest).
    pub container_host: HostRole,
    /// The workspace's public key, which cloud-init installs in the undercloud (set by the
    /// session; `None` for a sandbox, which needs no SSH).
    #[serde(default)]
    pub ssh_public_key: Option<String>,
    /// The lab's identity (`workspace/lab-id`, see [`owner`]): with the name, what marks
    /// labwarp's objects (container labels, libvirt metadata, directory markers). Set by
    /// the session; empty when unknown (nothing is then proven ours by a mark).
    #[serde(default)]
    pub lab_id: String,
    /// The choices above, in words, for output.
    pub notes: Vec<String>,
}

impl Facts {
    /// This lab as its marks name it.
    pub fn owner(&self, lab: &str) -> owner::Owner {
        owner::Owner::new(lab, &self.lab_id)
    }
}

impl Facts {
    /// Decides the facts that need no probing: from the lab and the workspace alone.
    /// `LABWARP_OPENSTACK_STANDIN=1` forces the stand-in on a real hypervisor (tests).
    pub fn decide(lab: &Lab, workspace: &Path) -> Facts {
        let hv = lab.hypervisors.first().cloned().unwrap_or_default();
        let test_driver = hv.libvirt_uri.starts_with("test:");
        // LABWARP_SANDBOX=1: a sandbox undercloud on a real libvirt (tests, trials).
        let sandbox = test_driver || std::env::var("LABWARP_SANDBOX").is_ok_and(|v| v == "1");
        let standin_env = std::env::var("LABWARP_OPENSTACK_STANDIN").is_ok_and(|v| v == "1");
        let mut notes = Vec::new();
        let (domain_type, reason) = if test_driver {
            (
                "qemu".to_string(),
                format!(
                    "{} is libvirt's in-memory test driver: nothing boots",
                    hv.libvirt_uri
                ),
            )
        } else {
            match hv.domain_type {
                DomainType::Kvm => ("kvm".into(), "lab.yaml asks for kvm".into()),
                DomainType::Qemu => ("qemu".into(), "lab.yaml asks for qemu (TCG)".into()),
                DomainType::Auto => (
                    "qemu".into(),
                    "domain_type auto: TCG unless preflight proves KVM usable (labwarp check --deep)"
                        .into(),
                ),
            }
        };
        let user = &lab.undercloud.cloud_init.user;
        let sandbox_dir = workspace.join("sandbox");
        let (undercloud_home, pool_dir, image_cache) = if sandbox {
            if test_driver {
                notes.push(format!(
                    "sandbox: {} keeps VMs in memory and boots nothing",
                    hv.libvirt_uri
                ));
            }
            notes.push(format!(
                "sandbox: the undercloud is the directory {} on this machine; disks and images live in {}",
                sandbox_dir.join("undercloud").display(),
                sandbox_dir.display()
            ));
            (
                sandbox_dir.join("undercloud").join("home").join(user),
                sandbox_dir.join("pool"),
                sandbox_dir.join("images"),
            )
        } else {
            (
                PathBuf::from("/home").join(user),
                hv.pool_path.clone(),
                lab.images.cache_dir.clone(),
            )
        };
        if !test_driver {
            notes.push(
                "hypervisor: qemu.conf in mode root (oooq-warp's recipe, `labwarp check`'s default): user/group root, dynamic_ownership 0, security_driver none; the original is kept as qemu.conf.labwarp.bak and restored by `clean --level all`"
                    .into(),
            );
        }
        if let Some(r) = crate::lab::release::release(&lab.tripleo.release) {
            notes.push(format!(
                "TripleO {} (tripleo.release): container images from {}; networks, VIPs and nodes provisioned before `overcloud deploy`, every command after the undercloud install with OS_CLOUD=undercloud",
                r.name, r.namespace
            ));
        }
        let standin_openstack = sandbox || standin_env;
        if standin_openstack {
            notes.push(
                "TripleO cannot run here: labwarp's stand-in `openstack` (scripts/standin/openstack) is uploaded and run instead; it starts real podman containers named as TripleO's"
                    .into(),
            );
        }
        // The stand-in on an undercloud without podman: its containers run on the
        // hypervisor, shared with other labs there, hence the lab prefix.
        let containers_on_hypervisor = !sandbox
            && standin_openstack
            && std::env::var("LABWARP_STANDIN_CONTAINERS").is_ok_and(|v| v == "hypervisor");
        let container_host = if containers_on_hypervisor {
            notes.push(format!(
                "LABWARP_STANDIN_CONTAINERS=hypervisor: the stand-in runs the install on the undercloud, but the undercloud's containers run in the hypervisor's podman, named {}-<TripleO name> (the undercloud image has no podman)",
                lab.name
            ));
            HostRole::Virthost
        } else {
            HostRole::Undercloud
        };
        let container_prefix = if containers_on_hypervisor {
            format!("{}-", lab.name)
        } else if sandbox {
            notes.push(format!(
                "sandbox: the undercloud's containers are named {}-<TripleO name> (e.g. {}-keystone), as they share this machine's podman",
                lab.name, lab.name
            ));
            format!("{}-", lab.name)
        } else {
            String::new()
        };
        let vbmc_venv = std::env::var_os("LABWARP_VBMC_VENV")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(crate::plan::steps::vbmc::DEFAULT_VENV));
        // Per lab, so two labs' daemons and entries never meet.
        let vbmc_dir = if sandbox {
            sandbox_dir.join("vbmc")
        } else {
            PathBuf::from(crate::plan::steps::vbmc::STATE_ROOT).join(&lab.name)
        };
        Facts {
            vbmc_venv,
            vbmc_dir,
            test_driver,
            sandbox_dir,
            container_prefix,
            container_host,
            ssh_public_key: None,
            lab_id: String::new(),
            domain_type,
            domain_type_reason: reason,
            sandbox,
            undercloud_home,
            pool_dir,
            image_cache,
            standin_openstack,
            notes,
        }
    }
}

/// Names one step of a plan: `stage/step`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StepKey {
    pub stage: String,
    pub step: String,
}

impl StepKey {
    pub fn new(stage: impl Into<String>, step: impl Into<String>) -> Self {
        StepKey {
            stage: stage.into(),
            step: step.into(),
        }
    }
}

impl fmt::Display for StepKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.stage, self.step)
    }
}

/// A step placed in its stage, with the steps (of the same stage) it must wait for.
#[derive(Clone)]
pub struct PlannedStep {
    pub step: Arc<dyn Step>,
    /// Ids of steps in the same stage that must be done first. Steps of earlier stages the
    /// stage depends on are implied by [`Stage::after`].
    pub after: Vec<String>,
}

/// A group of steps shown as one line of progress (`hypervisor`, `undercloud-vm`, ...).
#[derive(Clone)]
pub struct Stage {
    pub id: String,
    pub title: String,
    /// Stages whose every step must be done before any step of this one starts.
    pub after: Vec<String>,
    pub steps: Vec<PlannedStep>,
}

impl Stage {
    pub fn new(id: &str, title: &str, after: &[&str]) -> Self {
        Stage {
            id: id.into(),
            title: title.into(),
            after: after.iter().map(|s| s.to_string()).collect(),
            steps: Vec::new(),
        }
    }

    /// Adds a step that waits for the previous step of this stage (the common case).
    pub fn then(mut self, step: impl Step + 'static) -> Self {
        let after = self
            .steps
            .last()
            .map(|p| vec![p.step.id().to_string()])
            .unwrap_or_default();
        self.steps.push(PlannedStep {
            step: Arc::new(step),
            after,
        });
        self
    }

    /// Adds a step that waits only for the named steps of this stage (empty: none), so it
    /// can run in parallel with its siblings (node VMs, for instance).
    pub fn with_after(mut self, step: impl Step + 'static, after: &[&str]) -> Self {
        self.steps.push(PlannedStep {
            step: Arc::new(step),
            after: after.iter().map(|s| s.to_string()).collect(),
        });
        self
    }

    pub fn info(&self) -> StageInfo {
        StageInfo {
            id: self.id.clone(),
            title: self.title.clone(),
            steps: self
                .steps
                .iter()
                .map(|p| StepInfo {
                    id: p.step.id().to_string(),
                    title: p.step.title(),
                })
                .collect(),
        }
    }
}

/// The whole plan, in order.
pub type Plan = Vec<Stage>;

/// Problems in a plan's shape (caught before anything runs).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("stage `{0}` appears twice in the plan")]
    DuplicateStage(String),
    #[error("step `{0}` appears twice in the plan")]
    DuplicateStep(StepKey),
    #[error(
        "stage `{stage}` waits for stage `{missing}`, which is not in the plan (or comes later)"
    )]
    UnknownStage { stage: String, missing: String },
    #[error("step `{step}` waits for `{missing}`, which is not an earlier step of its stage")]
    UnknownStep { step: StepKey, missing: String },
    #[error("no stage named `{0}` in the plan (known: {1})")]
    NoSuchStage(String, String),
}

/// Checks that every dependency names an earlier stage or an earlier step of the same stage,
/// so the graph has no cycles by construction.
pub fn validate(plan: &Plan) -> Result<(), PlanError> {
    let mut stages_seen: Vec<&str> = Vec::new();
    for stage in plan {
        if stages_seen.contains(&stage.id.as_str()) {
            return Err(PlanError::DuplicateStage(stage.id.clone()));
        }
        for a in &stage.after {
            if !stages_seen.contains(&a.as_str()) {
                return Err(PlanError::UnknownStage {
                    stage: stage.id.clone(),
                    missing: a.clone(),
                });
            }
        }
        let mut steps_seen: Vec<&str> = Vec::new();
        for p in &stage.steps {
            let key = StepKey::new(&stage.id, p.step.id());
            if steps_seen.contains(&p.step.id()) {
                return Err(PlanError::DuplicateStep(key));
            }
            for a in &p.after {
                if !steps_seen.contains(&a.as_str()) {
                    return Err(PlanError::UnknownStep {
                        step: key,
                        missing: a.clone(),
                    });
                }
            }
            steps_seen.push(p.step.id());
        }
        stages_seen.push(&stage.id);
    }
    Ok(())
}

/// Which stages a run covers: everything, from one stage on, or one stage only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Selection {
    #[default]
    All,
    From(String),
    Only(String),
}

impl Selection {
    /// Whether each stage of `plan` is selected; an unknown stage name is an error naming
    /// the stages that exist.
    pub fn mask(&self, plan: &Plan) -> Result<Vec<bool>, PlanError> {
        let find = |name: &str| {
            plan.iter().position(|s| s.id == name).ok_or_else(|| {
                PlanError::NoSuchStage(
                    name.to_string(),
                    plan.iter()
                        .map(|s| s.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            })
        };
        Ok(match self {
            Selection::All => vec![true; plan.len()],
            Selection::From(s) => {
                let i = find(s)?;
                (0..plan.len()).map(|j| j >= i).collect()
            }
            Selection::Only(s) => {
                let i = find(s)?;
                (0..plan.len()).map(|j| j == i).collect()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;

    struct Noop(&'static str);

    #[async_trait]
    impl Step for Noop {
        fn id(&self) -> &str {
            self.0
        }
        fn title(&self) -> String {
            format!("noop {}", self.0)
        }
        async fn check(&self, _: &StepCtx<'_>) -> anyhow::Result<Check> {
            Ok(Check::done("always"))
        }
        async fn apply(&self, _: &StepCtx<'_>) -> anyhow::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn then_chains_and_with_after_runs_in_parallel() {
        let s = Stage::new("a", "A", &[])
            .then(Noop("one"))
            .then(Noop("two"))
            .with_after(Noop("three"), &["one"]);
        assert_eq!(s.steps[0].after, Vec::<String>::new());
        assert_eq!(s.steps[1].after, vec!["one".to_string()]);
        assert_eq!(s.steps[2].after, vec!["one".to_string()]);
        assert_eq!(validate(&vec![s]), Ok(()));
    }

    #[test]
    fn validate_rejects_forward_and_unknown_dependencies() {
        let a = Stage::new("a", "A", &["b"]).then(Noop("x"));
        let b = Stage::new("b", "B", &[]).then(Noop("y"));
        assert_eq!(
            validate(&vec![a, b.clone()]),
            Err(PlanError::UnknownStage {
                stage: "a".into(),
                missing: "b".into()
            })
        );
        let c = Stage::new("c", "C", &[]).with_after(Noop("z"), &["later"]);
        assert!(matches!(
            validate(&vec![c]),
            Err(PlanError::UnknownStep { .. })
        ));
        assert_eq!(
            validate(&vec![b.clone(), b]),
            Err(PlanError::DuplicateStage("b".into()))
        );
    }

    #[test]
    fn selection_masks_and_names_known_stages() {
        let plan = vec![
            Stage::new("a", "A", &[]),
            Stage::new("b", "B", &["a"]),
            Stage::new("c", "C", &["b"]),
        ];
        assert_eq!(
            Selection::From("b".into()).mask(&plan).unwrap(),
            vec![false, true, true]
        );
        assert_eq!(
            Selection::Only("b".into()).mask(&plan).unwrap(),
            vec![false, true, false]
        );
        let err = Selection::Only("zz".into()).mask(&plan).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no stage named `zz` in the plan (known: a, b, c)"
        );
    }
}
