//! The keymap as data: every binding names its keys, the action and a description. The same
//! table drives key handling, the `?` help overlay and the status bar, so they cannot drift.

use super::action::Action;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Where a binding applies. The app asks for the scopes active right now, most specific first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    /// Not typing into a text field: plain letters are free for commands.
    Command,
    Welcome,
    Form,
    /// The focused field is a select or a stepper.
    Choice,
    Overcloud,
    /// The hypervisor form's network table.
    Networks,
    Preflight,
    Review,
    Dashboard,
    LogPane,
    ContainerPane,
    Troubleshoot,
    Cleanup,
    Snapshots,
    /// The connection screen of a remote hypervisor.
    Connect,
    Confirm,
    Prompt,
}

impl Scope {
    pub fn title(self) -> &'static str {
        match self {
            Scope::Global | Scope::Command => "Everywhere",
            Scope::Welcome => "Welcome",
            Scope::Form => "Forms",
            Scope::Choice => "Select and number fields",
            Scope::Overcloud => "Node groups",
            Scope::Networks => "Networks",
            Scope::Preflight => "Preflight",
            Scope::Review => "Review",
            Scope::Dashboard => "Run dashboard",
            Scope::LogPane => "Log pane",
            Scope::ContainerPane => "Podman pane",
            Scope::Troubleshoot => "Troubleshooting",
            Scope::Cleanup => "Cleanup",
            Scope::Snapshots => "Snapshots",
            Scope::Connect => "Connect to the hypervisor",
            Scope::Confirm => "Confirmation",
            Scope::Prompt => "Prompt",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chord {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

const fn k(code: KeyCode) -> Chord {
    Chord {
        code,
        mods: KeyModifiers::NONE,
    }
}
const fn c(ch: char) -> Chord {
    k(KeyCode::Char(ch))
}
const fn ctrl(ch: char) -> Chord {
    Chord {
        code: KeyCode::Char(ch),
        mods: KeyModifiers::CONTROL,
    }
}

impl Chord {
    /// Shift is part of the character itself (`G`, `?`), and BackTab already implies it.
    pub fn matches(&self, ev: &KeyEvent) -> bool {
        let strip = |m: KeyModifiers| m.difference(KeyModifiers::SHIFT);
        let code_eq = match (self.code, ev.code) {
            (KeyCode::Char(a), KeyCode::Char(b)) => a == b,
            (a, b) => a == b,
        };
        code_eq && strip(self.mods) == strip(ev.modifiers)
    }

    pub fn label(&self) -> String {
        let key = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(ch) => ch.to_string(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "S-Tab".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        if self.mods.contains(KeyModifiers::CONTROL) {
            format!("C-{key}")
        } else {
            key
        }
    }
}

pub struct Binding {
    pub scope: Scope,
    pub keys: &'static [Chord],
    pub action: Action,
    pub desc: &'static str,
    /// Shown in the status bar (the rest only in the help overlay).
    pub bar: bool,
}

const fn b(
    scope: Scope,
    keys: &'static [Chord],
    action: Action,
    desc: &'static str,
    bar: bool,
) -> Binding {
    Binding {
        scope,
        keys,
        action,
        desc,
        bar,
    }
}

use Action as A;
use KeyCode as K;
use Scope as S;

/// The whole keymap. Order matters only within a scope (first match wins).
pub static KEYMAP: &[Binding] = &[
    b(
        S::Global,
        &[ctrl('c')],
        A::Quit,
        "quit (cancels a run)",
        false,
    ),
    b(S::Global, &[k(K::F(1))], A::Help, "help: all keys", false),
    b(S::Command, &[c('?')], A::Help, "help", true),
    b(S::Command, &[c('q')], A::Quit, "quit", true),
    // Confirmation popups and prompts come first when open.
    b(
        S::Confirm,
        &[c('y'), k(K::Enter)],
        A::Confirm,
        "confirm",
        true,
    ),
    b(S::Confirm, &[c('n'), k(K::Esc)], A::Cancel, "cancel", true),
    b(S::Prompt, &[k(K::Enter)], A::Confirm, "accept", true),
    b(S::Prompt, &[k(K::Esc)], A::Cancel, "cancel", true),
    // Welcome
    b(
        S::Welcome,
        &[k(K::Up), c('k')],
        A::Up,
        "previous choice",
        false,
    ),
    b(
        S::Welcome,
        &[k(K::Down), c('j')],
        A::Down,
        "next choice",
        false,
    ),
    b(
        S::Welcome,
        &[k(K::Enter), c('l')],
        A::Select,
        "choose",
        true,
    ),
    // Forms
    b(
        S::Form,
        &[k(K::Tab), k(K::Down)],
        A::NextField,
        "next field",
        true,
    ),
    b(
        S::Form,
        &[k(K::BackTab), k(K::Up)],
        A::PrevField,
        "previous field",
        false,
    ),
    b(
        S::Form,
        &[ctrl('n'), k(K::F(2))],
        A::NextScreen,
        "next screen",
        true,
    ),
    b(S::Form, &[k(K::Esc)], A::Back, "back (keeps input)", true),
    b(
        S::Choice,
        &[k(K::Right), c('l'), c('+')],
        A::Increment,
        "next value / +",
        true,
    ),
    b(
        S::Choice,
        &[k(K::Left), c('h'), c('-')],
        A::Decrement,
        "previous value / -",
        false,
    ),
    b(
        S::Overcloud,
        &[ctrl('a')],
        A::AddGroup,
        "add node group",
        true,
    ),
    b(
        S::Overcloud,
        &[ctrl('x')],
        A::RemoveGroup,
        "remove node group",
        false,
    ),
    b(
        S::Overcloud,
        &[k(K::PageDown)],
        A::NextGroup,
        "next node group",
        false,
    ),
    b(
        S::Overcloud,
        &[k(K::PageUp)],
        A::PrevGroup,
        "previous node group",
        false,
    ),
    b(
        S::Networks,
        &[ctrl('a')],
        A::AddNetwork,
        "add network",
        true,
    ),
    b(
        S::Networks,
        &[ctrl('x')],
        A::RemoveNetwork,
        "remove network",
        false,
    ),
    b(
        S::Networks,
        &[k(K::PageDown)],
        A::NextNetwork,
        "next network",
        false,
    ),
    b(
        S::Networks,
        &[k(K::PageUp)],
        A::PrevNetwork,
        "previous network",
        false,
    ),
    // Preflight
    b(
        S::Preflight,
        &[k(K::Up), c('k')],
        A::Up,
        "previous finding",
        false,
    ),
    b(
        S::Preflight,
        &[k(K::Down), c('j')],
        A::Down,
        "next finding",
        false,
    ),
    b(
        S::Preflight,
        &[c('f'), k(K::Enter)],
        A::ApplyFix,
        "apply the fix",
        true,
    ),
    b(S::Preflight, &[c('r')], A::Rerun, "re-run checks", true),
    b(
        S::Preflight,
        &[c('d')],
        A::DeepCheck,
        "deep check: boot a probe guest (KVM for sure)",
        false,
    ),
    b(
        S::Preflight,
        &[ctrl('n'), c('n')],
        A::NextScreen,
        "review the plan",
        true,
    ),
    b(S::Preflight, &[k(K::Esc)], A::Back, "back", false),
    // Connect (a text field may have the keyboard: no plain letters here)
    b(
        S::Connect,
        &[k(K::Enter)],
        A::Confirm,
        "pin the key / install the key / go on",
        true,
    ),
    b(
        S::Connect,
        &[ctrl('n'), k(K::F(2))],
        A::NextScreen,
        "next screen",
        true,
    ),
    b(S::Connect, &[k(K::F(5))], A::Rerun, "connect again", true),
    b(
        S::Connect,
        &[k(K::Esc)],
        A::Back,
        "back to the address",
        true,
    ),
    // Review
    b(S::Review, &[k(K::Up), c('k')], A::Up, "scroll up", false),
    b(
        S::Review,
        &[k(K::Down), c('j')],
        A::Down,
        "scroll down",
        false,
    ),
    b(
        S::Review,
        &[c('s'), k(K::Enter)],
        A::StartRun,
        "start the run",
        true,
    ),
    b(S::Review, &[k(K::Esc)], A::Back, "back", true),
    // Dashboard (pane specific bindings come before these)
    b(
        S::Dashboard,
        &[k(K::Tab)],
        A::NextPane,
        "focus next pane",
        true,
    ),
    b(S::Dashboard, &[c('z')], A::ZoomPane, "zoom pane", true),
    b(
        S::Dashboard,
        &[c('+'), c('=')],
        A::GrowPane,
        "grow pane",
        false,
    ),
    b(S::Dashboard, &[c('-')], A::ShrinkPane, "shrink pane", false),
    b(S::Dashboard, &[k(K::Up), c('k')], A::Up, "up", false),
    b(S::Dashboard, &[k(K::Down), c('j')], A::Down, "down", false),
    b(
        S::Dashboard,
        &[c('t')],
        A::Troubleshoot,
        "troubleshoot failure",
        false,
    ),
    b(S::Dashboard, &[c('c')], A::Cleanup, "guided cleanup", true),
    b(S::Dashboard, &[c('p')], A::Snapshots, "snapshots", true),
    b(
        S::LogPane,
        &[k(K::PageUp), ctrl('u')],
        A::PageUp,
        "page up",
        false,
    ),
    b(
        S::LogPane,
        &[k(K::PageDown), ctrl('d')],
        A::PageDown,
        "page down",
        false,
    ),
    b(
        S::LogPane,
        &[c('g'), k(K::Home)],
        A::Top,
        "first line",
        false,
    ),
    b(
        S::LogPane,
        &[c('G'), k(K::End)],
        A::Bottom,
        "last line + follow",
        false,
    ),
    b(
        S::LogPane,
        &[c('f')],
        A::ToggleFollow,
        "follow on/off",
        true,
    ),
    b(S::LogPane, &[c('w')], A::ToggleWrap, "wrap on/off", false),
    b(S::LogPane, &[c('/')], A::Search, "search", true),
    b(S::LogPane, &[c('n')], A::SearchNext, "next match", false),
    b(
        S::LogPane,
        &[c('N')],
        A::SearchPrev,
        "previous match",
        false,
    ),
    b(
        S::LogPane,
        &[c('S'), ctrl('s')],
        A::SaveLog,
        "save log to file",
        false,
    ),
    b(
        S::ContainerPane,
        &[c('l')],
        A::ContainerLogs,
        "container logs",
        true,
    ),
    b(
        S::ContainerPane,
        &[c('R')],
        A::ContainerRestart,
        "restart container",
        false,
    ),
    b(
        S::ContainerPane,
        &[c('s')],
        A::ContainerShell,
        "shell in container",
        true,
    ),
    // Troubleshooting
    b(
        S::Troubleshoot,
        &[c('f')],
        A::ApplyFix,
        "apply the fix, then retry",
        true,
    ),
    b(S::Troubleshoot, &[c('r')], A::Retry, "retry the step", true),
    b(
        S::Troubleshoot,
        &[k(K::Up), c('k')],
        A::Up,
        "scroll up",
        false,
    ),
    b(
        S::Troubleshoot,
        &[k(K::Down), c('j')],
        A::Down,
        "scroll down",
        false,
    ),
    b(
        S::Troubleshoot,
        &[c('c')],
        A::Cleanup,
        "guided cleanup",
        true,
    ),
    b(
        S::Troubleshoot,
        &[k(K::Esc)],
        A::Back,
        "back to dashboard",
        true,
    ),
    // Cleanup
    b(
        S::Cleanup,
        &[k(K::Left), k(K::Up)],
        A::Up,
        "less to remove",
        false,
    ),
    b(
        S::Cleanup,
        &[k(K::Right), k(K::Down)],
        A::Down,
        "more to remove",
        false,
    ),
    b(S::Cleanup, &[k(K::Enter)], A::Confirm, "confirm", true),
    b(S::Cleanup, &[k(K::Esc)], A::Back, "back", true),
    // Snapshots
    b(S::Snapshots, &[k(K::Up), c('k')], A::Up, "up", false),
    b(S::Snapshots, &[k(K::Down), c('j')], A::Down, "down", false),
    b(S::Snapshots, &[c('s')], A::SnapshotSave, "save", true),
    b(S::Snapshots, &[c('r')], A::SnapshotRestore, "restore", true),
    b(S::Snapshots, &[c('d')], A::SnapshotDelete, "delete", true),
    b(
        S::Snapshots,
        &[c('o')],
        A::RespinOvercloud,
        "respin overcloud",
        true,
    ),
    b(
        S::Snapshots,
        &[c('u')],
        A::RespinUndercloud,
        "respin undercloud",
        true,
    ),
    b(S::Snapshots, &[k(K::Esc)], A::Back, "back", true),
];

/// First binding of the given scopes (in order) that matches the key.
pub fn lookup(scopes: &[Scope], ev: &KeyEvent) -> Option<Action> {
    scopes.iter().find_map(|scope| {
        KEYMAP
            .iter()
            .filter(|bd| bd.scope == *scope)
            .find(|bd| bd.keys.iter().any(|ch| ch.matches(ev)))
            .map(|bd| bd.action)
    })
}

/// Bindings of the given scopes, in the order the help overlay lists them.
pub fn bindings(scopes: &[Scope]) -> impl Iterator<Item = &'static Binding> + '_ {
    scopes
        .iter()
        .flat_map(|scope| KEYMAP.iter().filter(move |bd| bd.scope == *scope))
}

pub fn keys_label(bd: &Binding) -> String {
    bd.keys
        .iter()
        .map(Chord::label)
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_is_bound_twice_in_one_scope() {
        for (i, a) in KEYMAP.iter().enumerate() {
            for bd in &KEYMAP[i + 1..] {
                if bd.scope == a.scope {
                    for key in a.keys {
                        assert!(
                            !bd.keys.contains(key),
                            "{:?} bound twice in {:?}",
                            key,
                            a.scope
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn shifted_chars_match_and_ctrl_does_not_alias() {
        let g = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(lookup(&[Scope::LogPane], &g), Some(Action::Bottom));
        let ctrl_s = KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL);
        assert_eq!(lookup(&[Scope::ContainerPane], &ctrl_s), None);
        assert_eq!(lookup(&[Scope::LogPane], &ctrl_s), Some(Action::SaveLog));
    }
}
