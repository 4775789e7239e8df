//! `workspace/state.yaml`: what labwarp created and how far each step got.
//!
//! Every resource is recorded *before* it is made ("creating") and again after ("created"),
//! so a run killed in between still leaves a trace cleanup will follow. Writes are atomic:
//! a temp file in the same directory, fsync, rename over the old file, fsync the directory.

use super::resource::Resource;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceStatus {
    /// About to be made (or being made when the run stopped).
    Creating,
    Created,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceEntry {
    #[serde(flatten)]
    pub resource: Resource,
    pub status: ResourceStatus,
    /// The step (`stage/step`) that made it.
    pub step: String,
    /// Unix time of the last change.
    pub at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    Running,
    Done,
    Failed,
    /// Its check could not be carried out (see `plan::Check::unverified`).
    Unverified,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub status: StepStatus,
    pub at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub started: u64,
    #[serde(default)]
    pub finished: Option<u64>,
    #[serde(default)]
    pub ok: Option<bool>,
    #[serde(default)]
    pub cancelled: bool,
    /// Process id of the runner, so `status` can tell a run that died from one in progress.
    pub pid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct State {
    /// The lab's name (cleanup discovers resources by this prefix).
    pub lab: String,
    /// The libvirt URI the resources were made on.
    pub libvirt_uri: String,
    pub resources: Vec<ResourceEntry>,
    /// `stage/step` → last outcome.
    pub steps: BTreeMap<String, StepRecord>,
    pub last_run: Option<RunRecord>,
    /// Addresses learnt from the live lab, by VM name in the lab (`undercloud`,
    /// `controller-0`): what `labwarp ssh`, `status`, the TUI and ssh.config use.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub addresses: BTreeMap<String, String>,
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl State {
    pub fn record_resource(&mut self, r: &Resource, status: ResourceStatus, step: &str) {
        let at = now();
        match self.resources.iter_mut().find(|e| &e.resource == r) {
            Some(e) => {
                e.status = status;
                e.step = step.to_string();
                e.at = at;
            }
            None => self.resources.push(ResourceEntry {
                resource: r.clone(),
                status,
                step: step.to_string(),
                at,
            }),
        }
    }

    pub fn forget_resource(&mut self, r: &Resource) {
        self.resources.retain(|e| &e.resource != r);
    }

    pub fn record_step(&mut self, key: &str, status: StepStatus, error: Option<String>) {
        self.steps.insert(
            key.to_string(),
            StepRecord {
                status,
                at: now(),
                error,
            },
        );
    }
}

/// Loads a state file; a missing file is an empty state, a corrupt one an error naming it.
pub fn load(path: &Path) -> anyhow::Result<State> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_yaml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}: not a labwarp state file ({e}); move it aside to start over",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
        Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
    }
}

/// Writes `data` to `path` atomically and durably, mode 0600, making the parent directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    crate::workspace::write_atomic_mkdir(path, data, 0o600)
}

/// The state file of one workspace, shared by the steps of a run. Every change is written
/// through before the call returns.
pub struct StateStore {
    path: PathBuf,
    state: Mutex<State>,
}

impl StateStore {
    pub fn open(path: PathBuf) -> anyhow::Result<Self> {
        let state = load(&path)?;
        Ok(StateStore {
            path,
            state: Mutex::new(state),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn snapshot(&self) -> State {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic in another thread while holding the lock leaves a usable State.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies `f` and writes the result (under the lock, so writes never interleave).
    pub fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> anyhow::Result<R> {
        let mut st = self.lock();
        let r = f(&mut st);
        let text = serde_yaml::to_string(&*st)?;
        write_atomic(&self.path, text.as_bytes())
            .map_err(|e| anyhow::anyhow!("{}: cannot write state: {e}", self.path.display()))?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::resource::{HostRole, Level};

    #[test]
    fn records_survive_a_reload_and_leave_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.yaml");
        let store = StateStore::open(path.clone()).unwrap();
        let r = Resource::Dir {
            host: HostRole::Virthost,
            path: "/x".into(),
            level: Level::Virthost,
            whole: false,
        };
        store
            .update(|s| s.record_resource(&r, ResourceStatus::Creating, "a/b"))
            .unwrap();
        assert_eq!(
            load(&path).unwrap().resources[0].status,
            ResourceStatus::Creating
        );
        store
            .update(|s| {
                s.record_resource(&r, ResourceStatus::Created, "a/b");
                s.record_step("a/b", StepStatus::Done, None);
            })
            .unwrap();
        let back = load(&path).unwrap();
        assert_eq!(back.resources.len(), 1);
        assert_eq!(back.resources[0].status, ResourceStatus::Created);
        assert_eq!(back.steps["a/b"].status, StepStatus::Done);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["state.yaml".to_string()]);
        store.update(|s| s.forget_resource(&r)).unwrap();
        assert!(load(&path).unwrap().resources.is_empty());
    }

    #[test]
    fn a_corrupt_state_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.yaml");
        std::fs::write(&path, "resources: [[[").unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(
            e.contains("state.yaml") && e.contains("move it aside"),
            "{e}"
        );
        assert_eq!(
            load(&dir.path().join("none.yaml")).unwrap(),
            State::default()
        );
    }
}
