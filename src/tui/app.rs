//! The app: state, messages in, effects out. `update` is the only place state changes; it
//! does no I/O (effects are requests a driver carries out, answering with messages).

use super::action::Action;
use super::form::Form;
use super::keymap::{self, Scope};
use super::runview::RunView;
use super::screens::{
    cleanup, connect, dashboard, forms, preflight, review, snapshots, troubleshoot, welcome,
};
use super::shell::{Request, Shell};
use super::style::Styles;
use crate::engine::event::{Event, FindingRow};
use crate::lab::Lab;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent};
use ratatui_textarea::TextArea;
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;

pub use super::msg::{
    Confirm, Effect, Found, Msg, Password, Pending, ReviewRow, ReviewStage, ReviewTable, Screen,
    Status,
};

/// The whole state: the [`Shell`] every screen shares, and each screen's own state. Screens
/// are called with the shell and the pieces they need (never the App); what they ask of
/// other screens' state comes back as [`Request`]s, carried out here.
pub struct App {
    pub shell: Shell,
    pub welcome: welcome::State,
    pub forms: forms::State,
    pub findings: Vec<FindingRow>,
    pub preflight: preflight::State,
    pub review: review::State,
    pub run: RunView,
    pub dash: dashboard::State,
    pub trouble: troubleshoot::State,
    pub cleanup: cleanup::State,
    pub snapshots: snapshots::State,
    pub connect: connect::State,
}

/// `app.screen`, `app.lab`, `app.say(…)`: the shell's fields and methods read as the App's.
impl Deref for App {
    type Target = Shell;
    fn deref(&self) -> &Shell {
        &self.shell
    }
}

impl DerefMut for App {
    fn deref_mut(&mut self) -> &mut Shell {
        &mut self.shell
    }
}

impl App {
    pub fn new(styles: Styles, size: (u16, u16)) -> App {
        let shell = Shell::new(styles, size);
        let forms = forms::State::new(&shell.lab, &shell.styles);
        App {
            shell,
            welcome: welcome::State::default(),
            forms,
            findings: Vec::new(),
            preflight: preflight::State::default(),
            review: review::State::default(),
            run: RunView::default(),
            dash: dashboard::State::default(),
            trouble: troubleshoot::State::default(),
            cleanup: cleanup::State::default(),
            snapshots: snapshots::State::default(),
            connect: connect::State::default(),
        }
    }

    /// `--demo`: start from the demo preset straight away.
    pub fn start_demo(&mut self) -> Vec<Effect> {
        self.shell.demo = true;
        vec![Effect::LoadPreset("demo".into())]
    }

    /// Replaces the lab (preset chosen, file opened) and rebuilds the forms from it.
    pub fn set_lab(&mut self, lab: Lab, path: PathBuf) {
        let sh = &mut self.shell;
        // The lab's own theme (a built-in one: no file is read here) unless one was chosen.
        if let Some(name) = lab.theme.as_deref()
            && !sh.styles_fixed
            && crate::theme::names().contains(&name)
        {
            sh.styles = Styles::load(Some(name), false).0;
        }
        self.forms = forms::State::new(&lab, &sh.styles);
        sh.lab = lab;
        sh.lab_path = path;
        forms::revalidate(sh, &mut self.forms);
    }

    /// The form of the screen shown now, if it is one of the three forms.
    pub fn current_form(&self) -> Option<&Form> {
        forms::current(self.shell.screen, &self.forms)
    }

    /// The text editor that takes typed characters right now, if any.
    pub fn text_target(&mut self) -> Option<&mut TextArea<'static>> {
        if self.confirm.is_some() || self.help {
            return None;
        }
        match self.screen {
            Screen::Welcome => self.welcome.prompt.as_mut(),
            Screen::Hypervisor | Screen::Undercloud | Screen::Overcloud => None,
            Screen::Dashboard => self.dash.search_prompt.as_mut(),
            Screen::Cleanup => self.cleanup.typed.as_mut(),
            Screen::Connect => self
                .connect
                .typed
                .as_mut()
                .or(self.connect.password.as_mut()),
            _ => None,
        }
    }

    /// A text editor has the keyboard: printable keys are text, not commands.
    pub fn is_typing(&self) -> bool {
        if self.confirm.is_some() || self.help {
            return false;
        }
        match self.screen {
            Screen::Welcome => self.welcome.prompt.is_some(),
            Screen::Hypervisor | Screen::Undercloud | Screen::Overcloud => {
                self.form_has_text_focus()
            }
            Screen::Dashboard => self.dash.search_prompt.is_some(),
            Screen::Cleanup => self.cleanup.typed.is_some(),
            Screen::Connect => self.connect.typed.is_some() || self.connect.password.is_some(),
            _ => false,
        }
    }

    fn form_has_text_focus(&self) -> bool {
        self.current_form()
            .and_then(Form::focused)
            .is_some_and(|f| f.is_text())
    }

    /// Keymap scopes active now, most specific first.
    pub fn scopes(&self) -> Vec<Scope> {
        let mut scopes = Vec::new();
        if self.confirm.is_some() {
            return vec![Scope::Confirm, Scope::Global];
        }
        let prompt = match self.screen {
            Screen::Welcome => self.welcome.prompt.is_some(),
            Screen::Dashboard => self.dash.search_prompt.is_some(),
            _ => false,
        };
        if prompt {
            return vec![Scope::Prompt, Scope::Global];
        }
        match self.screen {
            Screen::Welcome => scopes.push(Scope::Welcome),
            Screen::Hypervisor | Screen::Undercloud | Screen::Overcloud => {
                if self.screen == Screen::Overcloud {
                    scopes.push(Scope::Overcloud);
                }
                if self.screen == Screen::Hypervisor {
                    scopes.push(Scope::Networks);
                }
                if !self.form_has_text_focus() {
                    scopes.push(Scope::Choice);
                }
                scopes.push(Scope::Form);
            }
            Screen::Preflight => scopes.push(Scope::Preflight),
            Screen::Review => scopes.push(Scope::Review),
            Screen::Dashboard => {
                match self.dash.focus {
                    dashboard::Pane::Logs => scopes.push(Scope::LogPane),
                    dashboard::Pane::Podman => scopes.push(Scope::ContainerPane),
                    _ => {}
                }
                scopes.push(Scope::Dashboard);
            }
            Screen::Troubleshoot => scopes.push(Scope::Troubleshoot),
            Screen::Cleanup => scopes.push(Scope::Cleanup),
            Screen::Snapshots => scopes.push(Scope::Snapshots),
            Screen::Connect => scopes.push(Scope::Connect),
        }
        if !self.is_typing() {
            scopes.push(Scope::Command);
        }
        scopes.push(Scope::Global);
        scopes
    }

    /// Handles one message; returns the effects to carry out.
    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        let tick = matches!(msg, Msg::Tick(_));
        let mut effects = self.handle(msg);
        self.carry_out(&mut effects);
        if !tick {
            self.dirty = true;
        }
        effects
    }

    fn handle(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Key(ev) => self.on_key(ev),
            Msg::Mouse(ev) => self.on_mouse(ev),
            Msg::Resize(w, h) => {
                self.shell.size = (w, h);
                vec![]
            }
            Msg::Tick(now) => {
                self.shell.now_ms = now;
                // Only live clocks need a redraw on a tick.
                if self.run.running_stage().is_some() && self.shell.screen == Screen::Dashboard {
                    self.shell.dirty = true;
                }
                vec![]
            }
            Msg::Engine(ev) => {
                if let Event::Finding { finding } = &ev {
                    preflight::add_finding(&mut self.findings, finding.clone());
                }
                if self.cleanup.is_running() {
                    self.cleanup.view.apply(ev, self.shell.now_ms);
                } else {
                    let failed_before = self.run.failure.is_some();
                    self.run.apply(ev, self.shell.now_ms);
                    if !failed_before && self.run.failure.is_some() {
                        self.warn("A step failed: press t to troubleshoot");
                    }
                }
                vec![]
            }
            Msg::Presets(p) => {
                self.welcome.presets = p;
                vec![]
            }
            Msg::Found(found) => {
                self.welcome.found = Some(found);
                vec![]
            }
            Msg::LabLoaded {
                lab,
                path,
                warnings,
            } => {
                self.set_lab(*lab, path);
                self.screen = Screen::Hypervisor;
                if let Some(p) = self.welcome.pending.take() {
                    return self.start_pending(p);
                }
                if let Some(w) = warnings.first() {
                    self.warn(w.clone());
                } else {
                    let text = format!("Lab `{}` loaded", self.shell.lab.name);
                    self.say(text);
                }
                vec![]
            }
            Msg::LoadFailed(e) => {
                self.warn(e);
                vec![]
            }
            Msg::Saved(r) => {
                match r {
                    Ok(p) => self.say(format!("Saved {}", p.display())),
                    Err(e) => self.warn(format!("Could not save the lab: {e}")),
                }
                vec![]
            }
            Msg::ChecksDone(r) => {
                self.preflight.running = false;
                self.preflight.error = r.err();
                vec![]
            }
            Msg::Plan(r) => {
                review::on_plan(&mut self.review, r);
                vec![]
            }
            Msg::FixApplied { id, result } => preflight::on_fix(
                &mut self.shell,
                &mut self.preflight,
                &mut self.findings,
                id,
                result,
            ),
            Msg::CleanupPreview(r) => {
                cleanup::on_preview(&self.shell, &mut self.cleanup, r);
                vec![]
            }
            Msg::Snapshots(r) => snapshots::on_reply(&mut self.shell, &mut self.snapshots, r),
            Msg::CleanupFinished(r) => {
                cleanup::on_finished(&mut self.cleanup, r);
                vec![]
            }
            Msg::LogSaved(r) => {
                match r {
                    Ok(p) => self.say(format!("Log saved to {}", p.display())),
                    Err(e) => self.warn(format!("Could not save the log: {e}")),
                }
                vec![]
            }
            Msg::Reach(r) => connect::on_reach(&mut self.shell, &mut self.connect, r),
            Msg::Bootstrapped(r) => connect::on_bootstrapped(&mut self.shell, &mut self.connect, r),
            Msg::Shell(argv) => vec![Effect::RunInTerminal(argv)],
            Msg::RemedyPrepared {
                stage,
                step,
                remedy,
                lines,
            } => {
                troubleshoot::on_prepared(&mut self.shell, &self.run, stage, step, remedy, lines);
                vec![]
            }
            Msg::RemedyApplied {
                stage,
                step,
                result,
            } => troubleshoot::on_remedy(&mut self.shell, &mut self.run, stage, step, result),
            Msg::Notice(n) => {
                self.say(n);
                vec![]
            }
        }
    }

    fn on_key(&mut self, ev: KeyEvent) -> Vec<Effect> {
        if ev.kind == ratatui::crossterm::event::KeyEventKind::Release {
            return vec![];
        }
        if self.help {
            // Any key closes help; Ctrl-C still quits.
            self.help = false;
            if keymap::lookup(&[Scope::Global], &ev) == Some(Action::Quit) {
                return self.quit_effects();
            }
            return vec![];
        }
        self.status = None;
        let scopes = self.scopes();
        let printable = matches!(ev.code, KeyCode::Char(_))
            && !ev
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
        let typing = self.is_typing();
        let in_form = matches!(
            self.screen,
            Screen::Hypervisor | Screen::Undercloud | Screen::Overcloud
        );
        // While typing, printable keys (and a multi-line field's own movement keys) belong to
        // the editor, not the keymap.
        let to_editor = typing
            && (printable
                || (in_form
                    && self
                        .current_form()
                        .and_then(Form::focused)
                        .is_some_and(|f| f.is_multi())
                    && matches!(ev.code, KeyCode::Up | KeyCode::Down | KeyCode::Enter)));
        if !to_editor && let Some(action) = keymap::lookup(&scopes, &ev) {
            return self.on_action(action);
        }
        if in_form {
            return forms::on_input(&mut self.shell, &mut self.forms, ev);
        }
        if let Some(ta) = self.text_target() {
            ta.input(ev);
        }
        vec![]
    }

    fn quit_effects(&mut self) -> Vec<Effect> {
        self.quit = true;
        let mut fx = Vec::new();
        if self.run.started && self.run.finished.is_none() {
            fx.push(Effect::CancelRun);
        }
        fx.push(Effect::Quit);
        fx
    }

    pub fn on_action(&mut self, action: Action) -> Vec<Effect> {
        let mut fx = self.dispatch(action);
        self.carry_out(&mut fx);
        fx
    }

    /// The action to the global handlers, the confirmation popup, or the screen shown.
    fn dispatch(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Quit => return self.quit_effects(),
            Action::Help => {
                self.help = true;
                return vec![];
            }
            _ => {}
        }
        if self.confirm.is_some() {
            return match action {
                Action::Confirm => self
                    .confirm
                    .take()
                    .map(|c| vec![c.on_yes])
                    .unwrap_or_default(),
                _ => {
                    self.confirm = None;
                    vec![]
                }
            };
        }
        let sh = &mut self.shell;
        match sh.screen {
            Screen::Welcome => welcome::on_action(sh, &mut self.welcome, action),
            Screen::Hypervisor | Screen::Undercloud | Screen::Overcloud => {
                forms::on_action(sh, &mut self.forms, action)
            }
            Screen::Preflight => {
                preflight::on_action(sh, &mut self.preflight, &mut self.findings, action)
            }
            Screen::Review => review::on_action(sh, &mut self.review, action),
            Screen::Dashboard => dashboard::on_action(sh, &mut self.dash, &self.run, action),
            Screen::Troubleshoot => {
                troubleshoot::on_action(sh, &mut self.trouble, &mut self.run, action)
            }
            Screen::Cleanup => cleanup::on_action(sh, &mut self.cleanup, self.run.started, action),
            Screen::Snapshots => snapshots::on_action(sh, &mut self.snapshots, action),
            Screen::Connect => connect::on_action(sh, &mut self.connect, action),
        }
    }

    fn on_mouse(&mut self, ev: MouseEvent) -> Vec<Effect> {
        if self.help || self.confirm.is_some() {
            return vec![];
        }
        let sh = &mut self.shell;
        match sh.screen {
            Screen::Welcome => welcome::on_mouse(sh, &mut self.welcome, ev),
            Screen::Hypervisor | Screen::Undercloud | Screen::Overcloud => {
                forms::on_mouse(sh, &mut self.forms, ev)
            }
            Screen::Dashboard => dashboard::on_mouse(sh, &mut self.dash, &self.run, ev),
            Screen::Preflight => {
                preflight::on_mouse(sh, &mut self.preflight, &mut self.findings, ev)
            }
            _ => vec![],
        }
    }

    /// Carries out what the screens asked of state that is not theirs, in order; the effects
    /// it needs go after the screen's own.
    fn carry_out(&mut self, fx: &mut Vec<Effect>) {
        while !self.shell.requests.is_empty() {
            match self.shell.requests.remove(0) {
                Request::FreshRun => {
                    self.run = RunView::default();
                    self.dash = dashboard::State::default();
                }
                Request::FreshCleanup => self.cleanup = cleanup::State::default(),
                Request::EnterConnect => {
                    fx.extend(connect::enter(&mut self.shell, &mut self.connect));
                }
                Request::StartChecks => fx.extend(preflight::start_checks(
                    &self.shell,
                    &mut self.preflight,
                    &mut self.findings,
                )),
                Request::RequestPlan => {
                    fx.extend(review::request_plan(&self.shell, &mut self.review));
                }
                Request::OpenSnapshots => {
                    fx.extend(snapshots::open(&mut self.shell, &mut self.snapshots));
                }
                Request::GoPending(p) => fx.extend(self.go_pending(p)),
            }
        }
    }

    /// The found lab is loaded: resume or respin its run, or clean it up first (fresh). A
    /// lab on a remote hypervisor goes through the connection screen first (its host key
    /// shown and confirmed, the workspace key bootstrapped) when it is not reachable yet;
    /// once connected the chosen start goes on by itself.
    fn start_pending(&mut self, p: Pending) -> Vec<Effect> {
        if self.shell.is_remote() {
            return connect::enter_then(&mut self.shell, &mut self.connect, p);
        }
        self.go_pending(p)
    }

    /// What the chosen start does once the hypervisor is reachable.
    fn go_pending(&mut self, p: Pending) -> Vec<Effect> {
        if p == Pending::Fresh {
            self.cleanup = cleanup::State::default();
            self.shell.screen = Screen::Cleanup;
            return vec![];
        }
        if p == Pending::Respin {
            return snapshots::respin_now(
                &mut self.shell,
                &mut self.snapshots,
                crate::run::respin::Respin::Overcloud,
            );
        }
        self.run = RunView::default();
        self.dash = dashboard::State::default();
        self.shell.screen = Screen::Dashboard;
        vec![Effect::StartRun {
            lab: Box::new(self.shell.lab.clone()),
            resume: p == Pending::Resume,
        }]
    }
}
