//! Connection to a remote hypervisor, between its form and the undercloud's: the host key's
//! SHA256 fingerprint, confirmed by the person (typed, or compared and confirmed; never
//! accepted silently; a changed key is refused with both fingerprints), then the password
//! bootstrap that installs the workspace key (as `labwarp ssh --bootstrap` does). The SSH
//! work is the driver's (`host::lab`); this screen only shows and asks.

use crate::host::lab::Reach;
use crate::tui::action::Action;
use crate::tui::msg::{Confirm, Effect, Password, Pending, Screen};
use crate::tui::panes;
use crate::tui::shell::{Request, Shell};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui_textarea::TextArea;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Phase {
    /// Connecting (first contact, after a pin, after the bootstrap).
    #[default]
    Probing,
    /// The driver answered.
    Answer(Reach),
    /// The password went to the driver; the key is being installed.
    Installing,
}

#[derive(Debug, Clone, Default)]
pub struct State {
    pub phase: Phase,
    /// The fingerprint as typed (or pasted) by the person, while a key waits for it.
    pub typed: Option<TextArea<'static>>,
    /// The password for the bootstrap (masked), while the key is not authorized.
    pub password: Option<TextArea<'static>>,
    /// The host's last "key not authorized" answer, to go back to when a password fails.
    pub needs_key: Option<Reach>,
    /// The fingerprint the person confirmed last: a host then offering another key is
    /// said so (it is never pinned).
    pub confirmed: Option<String>,
    /// Opened from the welcome screen's resume, respin or fresh start of a found lab:
    /// what goes on once connected (instead of the undercloud's form).
    pub then: Option<Pending>,
}

/// Opens the screen and asks the driver to connect.
pub fn enter(sh: &mut Shell, st: &mut State) -> Vec<Effect> {
    *st = State::default();
    let mut fx = sh.go(Screen::Connect);
    fx.push(Effect::ProbeHost(Box::new(sh.lab.clone())));
    fx
}

/// Opens the screen for a found lab's start (`then`), which goes on once connected.
/// The lab was just loaded from its file, so nothing is saved on the way.
pub fn enter_then(sh: &mut Shell, st: &mut State, then: Pending) -> Vec<Effect> {
    *st = State {
        then: Some(then),
        ..State::default()
    };
    sh.screen = Screen::Connect;
    vec![Effect::ProbeHost(Box::new(sh.lab.clone()))]
}

const TYPE_HINT: &str = "type or paste SHA256:… (Enter on nothing: compare and confirm)";
const PASSWORD_HINT: &str = "password (used once, not stored)";

fn field(sh: &Shell, placeholder: &str, masked: bool) -> TextArea<'static> {
    let mut ta = TextArea::default();
    ta.set_placeholder_text(placeholder);
    ta.set_style(sh.styles.input_focus);
    ta.set_cursor_line_style(sh.styles.input_focus);
    ta.set_placeholder_style(sh.styles.muted);
    if masked {
        ta.set_mask_char('•');
    }
    ta
}

/// The driver's answer: what to show and which field to open; connected for a found lab's
/// start, that start goes on.
pub fn on_reach(sh: &mut Shell, st: &mut State, reach: Reach) -> Vec<Effect> {
    let connected = matches!(reach, Reach::Connected { .. });
    show(sh, st, reach);
    match st.then.take() {
        Some(p) if connected && sh.screen == Screen::Connect => {
            sh.request(Request::GoPending(p));
            vec![]
        }
        other => {
            st.then = other;
            vec![]
        }
    }
}

fn show(sh: &mut Shell, c: &mut State, reach: Reach) {
    c.typed = None;
    c.password = None;
    match &reach {
        Reach::UnknownKey { fingerprint, .. } => {
            if let Some(fp) = c.confirmed.take().filter(|fp| fp != fingerprint) {
                sh.warn(format!(
                    "The host now offers another key than {fp}: nothing was pinned"
                ));
            }
            c.typed = Some(field(sh, TYPE_HINT, false));
        }
        Reach::NeedsKey { .. } => {
            c.needs_key = Some(reach.clone());
            c.password = Some(field(sh, PASSWORD_HINT, true));
        }
        Reach::Connected { .. } => sh.say("Connected: host key pinned, workspace key accepted"),
        Reach::ChangedKey { .. } | Reach::Failed(_) => {}
    }
    c.phase = Phase::Answer(reach);
}

pub fn on_bootstrapped(sh: &mut Shell, st: &mut State, r: Result<(), String>) -> Vec<Effect> {
    match r {
        Ok(()) => {
            sh.say("Key installed; connecting with it…");
            st.phase = Phase::Probing;
            vec![Effect::ProbeHost(Box::new(sh.lab.clone()))]
        }
        Err(e) => {
            sh.warn(format!("The key was not installed: {e}"));
            // Back to the password, as the host answered before the attempt.
            match st.needs_key.clone() {
                Some(reach) => on_reach_keep_status(sh, st, reach),
                None => st.phase = Phase::Answer(Reach::Failed(e)),
            }
            vec![]
        }
    }
}

fn on_reach_keep_status(sh: &mut Shell, st: &mut State, reach: Reach) {
    let status = sh.status.take();
    show(sh, st, reach);
    sh.status = status;
}

/// A fingerprint as people write it: `SHA256:` optional, surrounding space ignored.
fn same_fingerprint(typed: &str, offered: &str) -> bool {
    let t = typed.trim();
    let t = t.strip_prefix("SHA256:").unwrap_or(t);
    !t.is_empty() && offered.strip_prefix("SHA256:").unwrap_or(offered) == t
}

pub fn on_action(sh: &mut Shell, st: &mut State, action: Action) -> Vec<Effect> {
    let phase = st.phase.clone();
    match (phase, action) {
        (Phase::Answer(Reach::UnknownKey { addr, fingerprint }), Action::Confirm) => {
            let typed = st
                .typed
                .as_ref()
                .map(|t| t.lines().join(""))
                .unwrap_or_default();
            if typed.trim().is_empty() {
                sh.confirm = Some(Confirm {
                    title: "Pin this host key?".into(),
                    body: vec![
                        format!("{addr} offers the host key"),
                        format!("  {fingerprint}"),
                        String::new(),
                        "Compare it with what the host itself says:".into(),
                        "  ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub".into(),
                        "Confirm only if they are the same.".into(),
                    ],
                    on_yes: pin(sh, st, &fingerprint),
                });
                return vec![];
            }
            if !same_fingerprint(&typed, &fingerprint) {
                sh.warn(format!(
                    "{} does not match the key {addr} offers: nothing pinned",
                    typed.trim()
                ));
                st.typed = Some(field(sh, TYPE_HINT, false));
                return vec![];
            }
            vec![pin(sh, st, &fingerprint)]
        }
        (Phase::Answer(Reach::NeedsKey { .. }), Action::Confirm) => {
            let Some(ta) = st.password.take() else {
                return vec![];
            };
            let pw = Password::new(ta.lines().join(""));
            drop(ta);
            if pw.is_empty() {
                st.password = Some(field(sh, PASSWORD_HINT, true));
                sh.warn("Type the password (or Esc to go back)");
                return vec![];
            }
            st.phase = Phase::Installing;
            vec![Effect::Bootstrap {
                lab: Box::new(sh.lab.clone()),
                password: pw,
            }]
        }
        (Phase::Answer(Reach::Connected { .. }), Action::Confirm | Action::NextScreen) => {
            sh.go(Screen::Undercloud)
        }
        (Phase::Answer(_), Action::NextScreen) => {
            sh.warn("Connect to the hypervisor first (the host key and the workspace key)");
            vec![]
        }
        (Phase::Answer(_), Action::Rerun) => {
            let then = st.then.take();
            *st = State {
                then,
                ..State::default()
            };
            vec![Effect::ProbeHost(Box::new(sh.lab.clone()))]
        }
        (_, Action::Back | Action::Cancel) if st.then.is_some() => {
            // A found lab's start: back where it was chosen.
            *st = State::default();
            sh.go(Screen::Welcome)
        }
        (_, Action::Back | Action::Cancel) => {
            *st = State::default();
            sh.go(Screen::Hypervisor)
        }
        _ => vec![],
    }
}

fn pin(sh: &Shell, st: &mut State, fingerprint: &str) -> Effect {
    st.confirmed = Some(fingerprint.to_string());
    Effect::PinHostKey {
        lab: Box::new(sh.lab.clone()),
        fingerprint: fingerprint.to_string(),
    }
}

pub fn draw(sh: &Shell, c: &State, frame: &mut Frame, area: Rect) {
    let s = &sh.styles;
    let hv = sh.lab.hypervisors.first();
    let who = hv
        .map(|h| format!("{}@{}:{}", h.ssh_user, h.address, h.ssh_port))
        .unwrap_or_default();
    let [top, input] = Layout::vertical([Constraint::Min(4), Constraint::Length(3)]).areas(area);
    let block = panes::pane(sh, format!(" Connect to the hypervisor {who} "), true);
    let inner = block.inner(top);
    frame.render_widget(block, top);
    let key = |k: &str, d: &str| {
        vec![
            Span::styled(k.to_string(), s.key),
            Span::styled(format!(" {d}"), s.muted),
        ]
    };
    let mut lines: Vec<Line> = Vec::new();
    if let Some(then) = c.then {
        let what = match then {
            Pending::Resume => "resume",
            Pending::Respin => "respin",
            Pending::Fresh => "clean up, then rebuild",
        };
        lines.push(Line::from(Span::styled(
            format!(
                "Lab `{}` runs on this hypervisor: once connected, labwarp goes on to {what} it (Esc: back).",
                sh.lab.name
            ),
            s.muted,
        )));
    }
    let mut prompt: Option<(&str, &TextArea)> = None;
    match &c.phase {
        Phase::Probing => lines.push(Line::from(Span::styled(
            "connecting over SSH (workspace key, pinned host keys only)…",
            s.muted,
        ))),
        Phase::Installing => lines.push(Line::from(Span::styled(
            "logging in once with the password to install the workspace key…",
            s.muted,
        ))),
        Phase::Answer(Reach::UnknownKey { addr, fingerprint }) => {
            lines.push(Line::from(Span::styled(
                format!("The host key of {addr} is not pinned yet. It offers:"),
                s.warn,
            )));
            lines.push(Line::from(Span::styled(
                format!("  {fingerprint}"),
                s.title,
            )));
            lines.push(Line::default());
            lines.push(Line::from(Span::styled(
                "On the hypervisor, `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` prints its \
                 fingerprint. Type it below (or press Enter on an empty field to compare and \
                 confirm). Only this exact key is pinned, in the workspace's known_hosts.",
                s.base,
            )));
            if let Some(t) = &c.typed {
                prompt = Some((" Fingerprint ", t));
            }
        }
        Phase::Answer(Reach::ChangedKey {
            addr,
            pinned,
            offered,
        }) => {
            lines.push(Line::from(Span::styled(
                format!("REFUSED: {addr} offers a different host key than the one pinned."),
                s.error,
            )));
            lines.push(Line::from(vec![
                Span::styled("  pinned:  ", s.muted),
                Span::styled(pinned.clone(), s.base),
            ]));
            lines.push(Line::from(vec![
                Span::styled("  offered: ", s.muted),
                Span::styled(offered.clone(), s.error),
            ]));
            lines.push(Line::default());
            let ws = crate::workspace::known_hosts(&sh.lab.workspace);
            lines.push(Line::from(Span::styled(
                format!(
                    "Someone may be in the middle. If the host was really reinstalled, remove its \
                     pin by hand (ssh-keygen -R '{addr}' -f {}) and connect again.",
                    ws.display()
                ),
                s.base,
            )));
            lines.push(Line::from(key("F5", "connect again · Esc back")));
        }
        Phase::Answer(Reach::NeedsKey { user, addr }) => {
            lines.push(Line::from(Span::styled(
                format!(
                    "Host key pinned. The workspace key is not authorized for {user} on {addr}."
                ),
                s.warn,
            )));
            lines.push(Line::from(Span::styled(
                format!(
                    "Type {user}'s password once: labwarp logs in with it and appends the \
                     workspace key to ~/.ssh/authorized_keys. The password is not stored or \
                     logged; later connections use the key."
                ),
                s.base,
            )));
            if let Some(t) = &c.password {
                prompt = Some((" Password ", t));
            }
        }
        Phase::Answer(Reach::Connected { user, addr }) => {
            lines.push(Line::from(Span::styled(
                format!("Connected to {addr} as {user}: host key pinned, workspace key accepted."),
                s.ok,
            )));
            lines.push(Line::from(Span::styled(
                "Preflight, the run, the dashboard and cleanup use this connection.",
                s.muted,
            )));
            lines.push(Line::from(key("Enter/C-n", "next: the undercloud")));
        }
        Phase::Answer(Reach::Failed(e)) => {
            lines.push(Line::from(Span::styled(
                format!("Cannot connect: {e}"),
                s.error,
            )));
            lines.push(Line::from(key(
                "F5",
                "connect again · Esc back to the address",
            )));
        }
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
    if let Some((title, ta)) = prompt {
        let block = panes::pane(sh, title, true);
        let inner = block.inner(input);
        frame.render_widget(block, input);
        frame.render_widget(ta, inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_compare_with_or_without_prefix_and_never_empty() {
        assert!(same_fingerprint(" SHA256:abc ", "SHA256:abc"));
        assert!(same_fingerprint("abc", "SHA256:abc"));
        assert!(!same_fingerprint("abd", "SHA256:abc"));
        assert!(!same_fingerprint("ABC", "SHA256:abc"));
        assert!(!same_fingerprint("", "SHA256:"));
    }
}
