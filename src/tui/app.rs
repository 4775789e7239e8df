//! The app: state, messages in, effects out. `update` is the only place state changes; it
//! does no I/O (effects are requests a driver carries out, answering with messages).

use super::action::Action;
use super::form::Form;
use super::keymap::{self, Scope};
use super::runview::RunView;
use super::screens::{
    cleanup, connect, dashboard, forms, preflight, review, snapshots, troubleshoot, welcome,
};
use super::style::Styles;
use crate::engine::event::{Event, FindingRow};
use crate::lab::Lab;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent};
use ratatui_textarea::TextArea;
use std::path::PathBuf;

pub use super::msg::{
    Confirm, Effect, Found, Msg, Password, ReviewRow, ReviewStage, ReviewTable, Screen, Status,
};

pub struct App {
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

impl App {
    pub fn new(styles: Styles, size: (u16, u16)) -> App {
        let lab = Lab::default();
        let forms = forms::State::new(&lab, &styles);
        App {
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
        self.demo = true;
        vec![Effect::LoadPreset("demo".into())]
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

    /// Replaces the lab (preset chosen, file opened) and rebuilds the forms from it.
    pub fn set_lab(&mut self, lab: Lab, path: PathBuf) {
        // The lab's own theme (a built-in one: no file is read here) unless one was chosen.
        if let Some(name) = lab.theme.as_deref()
            && !self.styles_fixed
            && crate::theme::names().contains(&name)
        {
            self.styles = Styles::load(Some(name), false).0;
        }
        self.forms = forms::State::new(&lab, &self.styles);
        self.lab = lab;
        self.lab_path = path;
        forms::revalidate(self);
    }

    pub fn save_effect(&self) -> Effect {
        Effect::SaveLab {
            lab: Box::new(self.lab.clone()),
            path: self.lab_path.clone(),
        }
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
        forms::current(self)
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
        let effects = self.handle(msg);
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
                self.size = (w, h);
                vec![]
            }
            Msg::Tick(now) => {
                self.now_ms = now;
                // Only live clocks need a redraw on a tick.
                if self.run.running_stage().is_some() && self.screen == Screen::Dashboard {
                    self.dirty = true;
                }
                vec![]
            }
            Msg::Engine(ev) => {
                if let Event::Finding { finding } = &ev {
                    preflight::add_finding(self, finding.clone());
                }
                if self.cleanup.is_running() {
                    self.cleanup.view.apply(ev, self.now_ms);
                } else {
                    let failed_before = self.run.failure.is_some();
                    self.run.apply(ev, self.now_ms);
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
                    return welcome::start_pending(self, p);
                }
                if let Some(w) = warnings.first() {
                    self.warn(w.clone());
                } else {
                    self.say(format!("Lab `{}` loaded", self.lab.name));
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
                review::on_plan(self, r);
                vec![]
            }
            Msg::FixApplied { id, result } => preflight::on_fix(self, id, result),
            Msg::CleanupPreview(r) => {
                cleanup::on_preview(self, r);
                vec![]
            }
            Msg::Snapshots(r) => snapshots::on_reply(self, r),
            Msg::CleanupFinished(r) => {
                cleanup::on_finished(self, r);
                vec![]
            }
            Msg::LogSaved(r) => {
                match r {
                    Ok(p) => self.say(format!("Log saved to {}", p.display())),
                    Err(e) => self.warn(format!("Could not save the log: {e}")),
                }
                vec![]
            }
            Msg::Reach(r) => connect::on_reach(self, r),
            Msg::Bootstrapped(r) => connect::on_bootstrapped(self, r),
            Msg::Shell(argv) => vec![Effect::RunInTerminal(argv)],
            Msg::RemedyPrepared {
                stage,
                step,
                remedy,
                lines,
            } => {
                troubleshoot::on_prepared(self, stage, step, remedy, lines);
                vec![]
            }
            Msg::RemedyApplied {
                stage,
                step,
                result,
            } => troubleshoot::on_remedy(self, stage, step, result),
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
                    && forms::current(self)
                        .and_then(Form::focused)
                        .is_some_and(|f| f.is_multi())
                    && matches!(ev.code, KeyCode::Up | KeyCode::Down | KeyCode::Enter)));
        if !to_editor && let Some(action) = keymap::lookup(&scopes, &ev) {
            return self.on_action(action);
        }
        if in_form {
            return forms::on_input(self, ev);
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
        match self.screen {
            Screen::Welcome => welcome::on_action(self, action),
            Screen::Hypervisor | Screen::Undercloud | Screen::Overcloud => {
                forms::on_action(self, action)
            }
            Screen::Preflight => preflight::on_action(self, action),
            Screen::Review => review::on_action(self, action),
            Screen::Dashboard => dashboard::on_action(self, action),
            Screen::Troubleshoot => troubleshoot::on_action(self, action),
            Screen::Cleanup => cleanup::on_action(self, action),
            Screen::Snapshots => snapshots::on_action(self, action),
            Screen::Connect => connect::on_action(self, action),
        }
    }

    fn on_mouse(&mut self, ev: MouseEvent) -> Vec<Effect> {
        if self.help || self.confirm.is_some() {
            return vec![];
        }
        match self.screen {
            Screen::Welcome => welcome::on_mouse(self, ev),
            Screen::Hypervisor | Screen::Undercloud | Screen::Overcloud => {
                forms::on_mouse(self, ev)
            }
            Screen::Dashboard => dashboard::on_mouse(self, ev),
            Screen::Preflight => preflight::on_mouse(self, ev),
            _ => vec![],
        }
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
