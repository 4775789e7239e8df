//! A tmux session driving a real terminal program (send-keys, capture-pane), killed on drop.
//! Shared by the tests that walk the TUI the way a person does.
#![allow(dead_code)] // each test crate uses its own part of this module

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    pub session: String,
    /// How long `wait_for` polls before failing: only keeps a broken build from hanging the
    /// suite; nothing asserts on how long anything took.
    pub limit: Duration,
}

/// Whether tmux is installed (callers print loudly why they skip when it is not).
pub fn available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

impl Tmux {
    /// A detached `width`×`height` session named `session` running `cmd` (through the
    /// shell) in `dir`.
    pub fn start_sized(session: &str, dir: &Path, cmd: &str, width: u16, height: u16) -> Tmux {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", session])
            .output();
        let ok = Command::new("tmux")
            .args(["new-session", "-d", "-s", session, "-x"])
            .arg(width.to_string())
            .arg("-y")
            .arg(height.to_string())
            .arg("-c")
            .arg(dir)
            .arg(cmd)
            .status()
            .expect("tmux runs")
            .success();
        assert!(ok, "tmux new-session failed");
        Tmux {
            session: session.to_string(),
            limit: Duration::from_secs(120),
        }
    }

    /// A 100×30 session named after this process.
    pub fn start(dir: &Path, cmd: &str) -> Tmux {
        let session = format!("labwarp-e2e-{}", std::process::id());
        Tmux::start_sized(&session, dir, cmd, 100, 30)
    }

    /// Sends tmux key names (`Enter`, `C-n`, `Down`, ...).
    pub fn keys(&self, keys: &[&str]) {
        let ok = Command::new("tmux")
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    /// Types `s` literally.
    pub fn text(&self, s: &str) {
        let ok = Command::new("tmux")
            .args(["send-keys", "-l", "-t", &self.session, s])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until `needle` is on screen and returns the screen.
    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_until(&format!("`{needle}`"), |s| s.contains(needle))
    }

    /// Waits until the screen satisfies `want` (`what` names it in the failure).
    pub fn wait_until(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + self.limit;
        loop {
            let s = self.screen();
            if want(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{what} never appeared; the screen is:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Tmux {
    /// Resizes the session's window (no client is attached: this is the size the program
    /// sees).
    pub fn resize(&self, w: u16, h: u16) {
        let ok = Command::new("tmux")
            .args(["resize-window", "-t", &self.session, "-x"])
            .arg(w.to_string())
            .arg("-y")
            .arg(h.to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux resize-window {w}x{h}");
    }
}

/// Steps of `labwarp --demo` that several tests (and the idle benchmark) walk alike.
impl Tmux {
    /// From the hypervisor form (filled from the demo preset) through the undercloud and
    /// overcloud forms to preflight, with Next (`C-n`) on each.
    pub fn walk_demo_forms(&self) {
        self.wait_for("Hypervisor: the machine the lab runs on");
        self.keys(&["C-n"]);
        self.wait_for("Undercloud: the director VM");
        self.keys(&["C-n"]);
        self.wait_for("Overcloud: node group 1 of");
        self.keys(&["C-n"]);
    }

    /// From preflight to the plan review: the first Next may only warn about the findings,
    /// the second goes on.
    pub fn preflight_to_review(&self) {
        self.wait_for(" checks, ");
        self.keys(&["n"]);
        // Let the screen change before deciding whether a second Next is needed.
        std::thread::sleep(Duration::from_millis(500));
        if !self.screen().contains("Plan: what each step") {
            self.keys(&["n"]);
        }
        self.wait_for("Plan: what each step changes on the host");
    }

    /// The process running in the session's pane.
    pub fn pane_pid(&self) -> u32 {
        let out = Command::new("tmux")
            .args(["list-panes", "-t", &self.session, "-F", "#{pane_pid}"])
            .output()
            .expect("tmux list-panes");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("pane pid")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}
