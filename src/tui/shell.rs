//! What every screen may see and change: the current screen, the lab, styles, the status
//! line, the confirmation popup. A screen gets the `Shell` and its own state, never the
//! whole `App`; what it wants done to state that is not its own it asks for with a
//! [`Request`], which the App carries out once the screen has returned.

use super::msg::{Confirm, Effect, Pending, Screen, Status};
use super::style::Styles;
use crate::lab::Lab;
use std::path::PathBuf;

/// A change a screen asks for outside its own state, carried out by the App, in order,
/// once the screen's function has returned (its effects come after the screen's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A run starts now: the run view and the dashboard begin empty.
    FreshRun,
    /// The cleanup screen starts fresh.
    FreshCleanup,
    /// Open the connection screen (a remote hypervisor's form was left with Next).
    EnterConnect,
    /// The preflight checks start (their findings so far forgotten).
    StartChecks,
    /// The review screen asks the engine for the plan.
    RequestPlan,
    /// Open the snapshots screen and list them.
    OpenSnapshots,
    /// A found lab's chosen start goes on (the hypervisor is reachable now).
    GoPending(Pending),
}

pub struct Shell {
    pub screen: Screen,
    pub lab: Lab,
    /// Where lab.yaml is saved.
    pub lab_path: PathBuf,
    pub styles: Styles,
    pub size: (u16, u16),
    pub now_ms: u64,
    pub help: bool,
    pub status: Option<Status>,
    pub confirm: Option<Confirm>,
    /// Set by `update` when something visible changed; the loop redraws and clears it.
    pub dirty: bool,
    pub quit: bool,
    /// `--demo`: the whole journey on libvirt's test driver.
    pub demo: bool,
    /// `--theme` or NO_COLOR chose the styles: a lab's `theme:` does not override them.
    pub styles_fixed: bool,
    /// What the screen that ran last asked of the App (see [`Request`]).
    pub requests: Vec<Request>,
}

impl Shell {
    pub fn new(styles: Styles, size: (u16, u16)) -> Shell {
        let lab = Lab::default();
        Shell {
            screen: Screen::Welcome,
            lab_path: crate::workspace::lab_file(&lab.workspace),
            lab,
            styles,
            size,
            now_ms: 0,
            help: false,
            status: None,
            confirm: None,
            dirty: true,
            quit: false,
            demo: false,
            styles_fixed: false,
            requests: Vec::new(),
        }
    }

    pub fn say(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            error: false,
        });
    }

    pub fn warn(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            error: true,
        });
    }

    /// Asks the App for a change outside the calling screen's state.
    pub fn request(&mut self, r: Request) {
        self.requests.push(r);
    }

    pub fn save_effect(&self) -> Effect {
        Effect::SaveLab {
            lab: Box::new(self.lab.clone()),
            path: self.lab_path.clone(),
        }
    }

    /// Whether the lab's hypervisor is reached over SSH (what the engine's session decides).
    pub fn is_remote(&self) -> bool {
        self.lab.hypervisors.first().is_some_and(|h| !h.is_local())
    }

    /// Moves to another screen, saving the lab when a form is left.
    pub fn go(&mut self, to: Screen) -> Vec<Effect> {
        let mut fx = Vec::new();
        if matches!(
            self.screen,
            Screen::Hypervisor | Screen::Undercloud | Screen::Overcloud
        ) && to != self.screen
        {
            fx.push(self.save_effect());
        }
        self.screen = to;
        self.status = None;
        fx
    }
}
