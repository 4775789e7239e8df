//! What flows through the app: the screens, the messages `App::update` takes (keys, engine
//! events, the driver's answers) and the effects it asks the driver to carry out, with the
//! small values they carry.

use crate::engine::event::Event;
use crate::engine::resource::Level;
use crate::lab::Lab;
use ratatui::crossterm::event::{KeyEvent, MouseEvent};
use std::path::PathBuf;

/// What a found lab's start does once it is loaded (and its hypervisor reachable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    Resume,
    Respin,
    /// Clean the old lab up first (guided cleanup), then start anew.
    Fresh,
}

/// The wizard's screens, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Welcome,
    Hypervisor,
    /// A remote hypervisor's host key and workspace key (between its form and the next).
    Connect,
    Undercloud,
    Overcloud,
    Preflight,
    Review,
    Dashboard,
    Troubleshoot,
    Cleanup,
    Snapshots,
}

impl Screen {
    pub const STEPS: [Screen; 7] = [
        Screen::Welcome,
        Screen::Hypervisor,
        Screen::Undercloud,
        Screen::Overcloud,
        Screen::Preflight,
        Screen::Review,
        Screen::Dashboard,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Welcome => "Welcome",
            Screen::Hypervisor => "Hypervisor",
            Screen::Connect => "Connect",
            Screen::Undercloud => "Undercloud",
            Screen::Overcloud => "Overcloud",
            Screen::Preflight => "Preflight",
            Screen::Review => "Review",
            Screen::Dashboard => "Run",
            Screen::Troubleshoot => "Troubleshoot",
            Screen::Cleanup => "Cleanup",
            Screen::Snapshots => "Snapshots",
        }
    }

    pub fn next(self) -> Screen {
        match self {
            Screen::Welcome => Screen::Hypervisor,
            Screen::Hypervisor | Screen::Connect => Screen::Undercloud,
            Screen::Undercloud => Screen::Overcloud,
            Screen::Overcloud => Screen::Preflight,
            Screen::Preflight => Screen::Review,
            Screen::Review => Screen::Dashboard,
            Screen::Dashboard | Screen::Troubleshoot => Screen::Troubleshoot,
            Screen::Cleanup | Screen::Snapshots => self,
        }
    }

    pub fn prev(self) -> Screen {
        match self {
            Screen::Welcome | Screen::Hypervisor => Screen::Welcome,
            Screen::Undercloud | Screen::Connect => Screen::Hypervisor,
            Screen::Overcloud => Screen::Undercloud,
            Screen::Preflight => Screen::Overcloud,
            Screen::Review => Screen::Preflight,
            Screen::Dashboard | Screen::Troubleshoot | Screen::Cleanup | Screen::Snapshots => {
                Screen::Dashboard
            }
        }
    }
}

/// A row of the review table: one step with the change it will make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewRow {
    pub title: String,
    /// What it changes on the live host; empty when already done.
    pub change: String,
    pub done: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewStage {
    pub title: String,
    pub steps: Vec<ReviewRow>,
}

/// The review screen's table: the engine's survey (`run::survey::PlanView`, what `labwarp
/// plan` prints) turned into rows, with the files a run writes and the host's capacity.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReviewTable {
    pub stages: Vec<ReviewStage>,
    pub files: Vec<String>,
    /// The host's capacity: (vCPUs, MiB, GiB free in the pool), when known.
    pub capacity: Option<(u64, u64, u64)>,
}

/// A lab found in the workspace at start (resume, respin or fresh).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub lab_path: PathBuf,
    pub name: String,
    /// A state file exists: a run was started.
    pub has_state: bool,
}

#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// Clock tick: milliseconds since the app started.
    Tick(u64),
    Engine(Event),
    Presets(Vec<(String, String)>),
    Found(Found),
    LabLoaded {
        lab: Box<Lab>,
        path: PathBuf,
        warnings: Vec<String>,
    },
    LoadFailed(String),
    Saved(Result<PathBuf, String>),
    /// Preflight finished: how many findings, or why it could not run.
    ChecksDone(Result<usize, String>),
    Plan(Result<ReviewTable, String>),
    FixApplied {
        id: String,
        result: Result<String, String>,
    },
    CleanupPreview(Result<CleanupPreview, String>),
    /// Cleanup done: how many items were removed and what failed (with why).
    CleanupFinished(Result<(usize, Vec<String>), String>),
    LogSaved(Result<PathBuf, String>),
    /// How the remote hypervisor answered over SSH (connection screen).
    Reach(crate::host::lab::Reach),
    /// The password bootstrap finished (the key is installed), or why not.
    Bootstrapped(Result<(), String>),
    /// A troubleshooting fix with preflight findings was read on the hypervisor: exactly
    /// what it will change (empty: nothing to change), or why it could not be read.
    RemedyPrepared {
        stage: String,
        step: String,
        remedy: crate::run::signatures::Remedy,
        lines: Result<Vec<String>, String>,
    },
    /// A troubleshooting fix ran (what it did; the lab when it changed lab.yaml), or why not.
    RemedyApplied {
        stage: String,
        step: String,
        result: Result<crate::run::remedies::Applied, String>,
    },
    /// A shell the back end built (container shell): hand it the terminal.
    Shell(Vec<String>),
    /// Something the driver wants the user to know (container restarted, shell ended...).
    Notice(String),
    Snapshots(SnapshotReply),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    LoadPreset(String),
    LoadFile(PathBuf),
    /// Write lab.yaml atomically.
    SaveLab {
        lab: Box<Lab>,
        path: PathBuf,
    },
    /// Connect to the lab's remote hypervisor with pinned keys only and say how it went.
    ProbeHost(Box<Lab>),
    /// Pin exactly this host key (the one the person confirmed), then connect.
    PinHostKey {
        lab: Box<Lab>,
        fingerprint: String,
    },
    /// Log in once with the password to install the workspace key.
    Bootstrap {
        lab: Box<Lab>,
        password: Password,
    },
    RunChecks(Box<Lab>),
    /// The checks with `--deep`: a probe guest booted with type='kvm' on the hypervisor
    /// (up to 90 s) for a definite KVM answer.
    RunDeepChecks(Box<Lab>),
    ApplyFix {
        id: String,
    },
    MakePlan(Box<Lab>),
    StartRun {
        lab: Box<Lab>,
        resume: bool,
    },
    CancelRun,
    RetryStep {
        stage: String,
        step: String,
    },
    SaveLog {
        path: PathBuf,
        lines: Vec<String>,
    },
    ContainerLogs {
        name: String,
    },
    ContainerRestart {
        name: String,
    },
    /// Hand the terminal to `podman exec -it NAME` and take it back after.
    ContainerShell {
        name: String,
    },
    /// Hand the terminal to this argv (built by the back end) and take it back after.
    RunInTerminal(Vec<String>),
    /// Read what a diagnosed failure's fix would change now (`lab_file`: where a lab.yaml
    /// change goes).
    PrepareRemedy {
        stage: String,
        step: String,
        remedy: crate::run::signatures::Remedy,
        lab_file: PathBuf,
    },
    /// Run a diagnosed failure's fix (confirmed by the person) on its host.
    ApplyRemedy {
        stage: String,
        step: String,
        remedy: crate::run::signatures::Remedy,
    },
    CleanupDryRun {
        lab: Box<Lab>,
        level: Level,
    },
    StartCleanup {
        lab: Box<Lab>,
        level: Level,
    },
    /// A snapshot operation of the lab (`plan::snapshot`), for the snapshots screen.
    Snapshot {
        lab: Box<Lab>,
        op: SnapshotOp,
    },
    Quit,
}

/// A typed password on its way to the driver: shown nowhere (its `Debug` is a mask), wiped
/// when dropped, and never stored.
#[derive(Clone)]
pub struct Password(zeroize::Zeroizing<String>);

impl Password {
    pub fn new(text: String) -> Password {
        Password(zeroize::Zeroizing::new(text))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The password, for the one login that uses it.
    pub fn take(self) -> zeroize::Zeroizing<String> {
        self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(•••)")
    }
}

impl PartialEq for Password {
    fn eq(&self, other: &Self) -> bool {
        *self.0 == *other.0
    }
}

/// A yes/no popup that states exactly what will happen.
#[derive(Debug, Clone)]
pub struct Confirm {
    pub title: String,
    pub body: Vec<String>,
    pub on_yes: Effect,
}

#[derive(Debug, Clone)]
pub struct Status {
    pub text: String,
    pub error: bool,
}

/// A cleanup's dry run: what the level removes, and what is left alone (not proven this
/// lab's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupPreview {
    pub remove: Vec<String>,
    pub kept: Vec<String>,
}

/// One snapshot as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRow {
    pub name: String,
    pub size: String,
    pub age: String,
    pub vms: usize,
}

/// What the snapshots screen asks the back end to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotOp {
    List,
    Save(String),
    Restore(String),
    Delete(String),
    /// `labwarp run --respin`: the lab put back, then the run builds what is missing.
    Respin(crate::run::respin::Respin),
}

/// What comes back to the snapshots screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotReply {
    /// The driver started an operation (what it does, in words).
    Busy(String),
    Listed(Result<Vec<SnapshotRow>, String>),
    /// An operation ended: what it said, or why it failed.
    Done(Result<String, String>),
    /// A respin's preparation ended; on success the run starts.
    Respun(Result<String, String>),
}
