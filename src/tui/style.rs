//! The styles every screen draws with, derived from a theme (`themes/*.yaml`, partial
//! overrides merged by the theme module). With `NO_COLOR` set, the theme's colourless
//! variant is used: emphasis by modifiers only.

use crate::theme::Theme;
use ratatui::style::{Modifier, Style};

#[derive(Debug, Clone, PartialEq)]
pub struct Styles {
    pub base: Style,
    pub title: Style,
    pub border: Style,
    pub border_focus: Style,
    pub selected: Style,
    pub muted: Style,
    pub key: Style,
    pub ok: Style,
    pub warn: Style,
    pub error: Style,
    pub running: Style,
    pub bar: Style,
    pub input: Style,
    pub input_focus: Style,
    pub input_invalid: Style,
    pub cursor: Style,
    pub highlight: Style,
}

impl Default for Styles {
    fn default() -> Self {
        Styles::from_theme(&Theme::default())
    }
}

impl Styles {
    pub fn from_theme(t: &Theme) -> Self {
        Styles {
            base: t.normal,
            title: t.title,
            border: t.border,
            border_focus: t.border_focused,
            selected: t.selection,
            muted: t.muted,
            key: t.key_hint,
            ok: t.ok,
            warn: t.warn,
            error: t.error,
            running: t.accent,
            bar: t.status_bar,
            // Fields are underlined so an empty one is still visible without colour.
            input: t.input.add_modifier(Modifier::UNDERLINED),
            input_focus: t.input.add_modifier(Modifier::UNDERLINED | Modifier::BOLD),
            input_invalid: t.input_invalid,
            cursor: Style::new().add_modifier(Modifier::REVERSED),
            highlight: t.warn.add_modifier(Modifier::REVERSED),
        }
    }

    /// Styles for `--theme NAME` (or the lab's theme), honouring `NO_COLOR`; theme warnings
    /// (a bad entry is a warning naming the key, never a crash) are returned for the status bar.
    pub fn load(name: Option<&str>, no_color: bool) -> (Styles, Vec<String>) {
        if no_color {
            return (Styles::from_theme(&Theme::no_color()), Vec::new());
        }
        let (theme, warnings) = crate::theme::load(name.unwrap_or(crate::theme::DEFAULT_THEME));
        (Styles::from_theme(&theme), warnings)
    }
}
