//! Themes: named styles for the TUI's roles, loaded from YAML (themes/*.yaml, embedded in
//! the binary, or a file path). A theme names only the roles and keys it changes; the rest
//! come from the built-in default. Bad entries become warnings, never a failure.

pub mod parse;

use ratatui::style::{Color, Modifier, Style};

/// (name, YAML) of the shipped themes; the first is the default.
const THEMES: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.yaml")),
    ("light", include_str!("../../themes/light.yaml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.yaml"),
    ),
];

pub const DEFAULT_THEME: &str = "dark";

/// One `Style` per role the TUI draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// Body text.
    pub normal: Style,
    /// Block and screen titles.
    pub title: Style,
    pub border: Style,
    /// Border of the focused pane or field.
    pub border_focused: Style,
    /// Selected list row or tab.
    pub selection: Style,
    pub ok: Style,
    pub warn: Style,
    pub error: Style,
    /// Secondary text: hints, disabled items, timestamps.
    pub muted: Style,
    /// Highlights that are neither good nor bad (names, numbers).
    pub accent: Style,
    pub status_bar: Style,
    /// Keys in help lines (`q`, `Enter`).
    pub key_hint: Style,
    /// Text typed into a form field.
    pub input: Style,
    /// A form field whose value fails validation.
    pub input_invalid: Style,
}

/// Role names as written in theme files, in declaration order.
pub const ROLES: &[&str] = &[
    "normal",
    "title",
    "border",
    "border_focused",
    "selection",
    "ok",
    "warn",
    "error",
    "muted",
    "accent",
    "status_bar",
    "key_hint",
    "input",
    "input_invalid",
];

const fn fg(c: Color) -> Style {
    Style::new().fg(c)
}

impl Default for Theme {
    /// The built-in dark theme (themes/dark.yaml writes the same values out).
    fn default() -> Self {
        Theme {
            normal: Style::new().fg(Color::Reset).bg(Color::Reset),
            title: fg(Color::Cyan).add_modifier(Modifier::BOLD),
            border: fg(Color::DarkGray),
            border_focused: fg(Color::Cyan),
            selection: fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
            ok: fg(Color::Green),
            warn: fg(Color::Yellow),
            error: fg(Color::LightRed).add_modifier(Modifier::BOLD),
            muted: fg(Color::DarkGray),
            accent: fg(Color::Magenta),
            status_bar: fg(Color::White).bg(Color::DarkGray),
            key_hint: fg(Color::Cyan).add_modifier(Modifier::BOLD),
            input: fg(Color::White),
            input_invalid: fg(Color::LightRed).add_modifier(Modifier::UNDERLINED),
        }
    }
}

impl Theme {
    /// The style of a role by its theme-file name.
    pub fn role(&self, name: &str) -> Option<Style> {
        let mut copy = *self;
        copy.role_mut(name).map(|s| *s)
    }

    pub(crate) fn role_mut(&mut self, name: &str) -> Option<&mut Style> {
        Some(match name {
            "normal" => &mut self.normal,
            "title" => &mut self.title,
            "border" => &mut self.border,
            "border_focused" => &mut self.border_focused,
            "selection" => &mut self.selection,
            "ok" => &mut self.ok,
            "warn" => &mut self.warn,
            "error" => &mut self.error,
            "muted" => &mut self.muted,
            "accent" => &mut self.accent,
            "status_bar" => &mut self.status_bar,
            "key_hint" => &mut self.key_hint,
            "input" => &mut self.input,
            "input_invalid" => &mut self.input_invalid,
            _ => return None,
        })
    }

    /// A theme without any colour, for NO_COLOR terminals: roles stay distinguishable by
    /// modifiers alone (bold titles, reversed selection and status bar, underlined errors).
    pub fn no_color() -> Theme {
        let plain = Style::new();
        Theme {
            normal: plain,
            title: plain.add_modifier(Modifier::BOLD),
            border: plain,
            border_focused: plain.add_modifier(Modifier::BOLD),
            selection: plain.add_modifier(Modifier::REVERSED),
            ok: plain,
            warn: plain.add_modifier(Modifier::BOLD),
            error: plain.add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            muted: plain.add_modifier(Modifier::DIM),
            accent: plain.add_modifier(Modifier::ITALIC),
            status_bar: plain.add_modifier(Modifier::REVERSED),
            key_hint: plain.add_modifier(Modifier::BOLD),
            input: plain,
            input_invalid: plain.add_modifier(Modifier::UNDERLINED),
        }
    }
}

/// True when the user asked for no colour (https://no-color.org: NO_COLOR set and not empty).
pub fn no_color_requested() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Names of the shipped themes.
pub fn names() -> Vec<&'static str> {
    THEMES.iter().map(|(n, _)| *n).collect()
}

/// Name and one-line description of each shipped theme.
pub fn list() -> Vec<(&'static str, String)> {
    THEMES
        .iter()
        .map(|(n, text)| (*n, parse::description(text)))
        .collect()
}

/// Loads a shipped theme by name, or a theme file when `name` is a path (contains `/` or
/// ends in `.yaml`/`.yml`). Never fails: problems come back as warnings and the default
/// fills in whatever could not be read.
pub fn load(name: &str) -> (Theme, Vec<String>) {
    if let Some((_, text)) = THEMES.iter().find(|(n, _)| *n == name) {
        return parse::parse(text, name);
    }
    let looks_like_path = name.contains('/') || name.ends_with(".yaml") || name.ends_with(".yml");
    if looks_like_path {
        return match std::fs::read_to_string(name) {
            Ok(text) => parse::parse(&text, name),
            Err(e) => (
                Theme::default(),
                vec![format!(
                    "theme {name}: cannot read the file ({e}); using the default theme"
                )],
            ),
        };
    }
    let names = names();
    let hint = match crate::lab::diagnose::suggest(name, names.iter().copied()) {
        Some(s) => format!("did you mean `{s}`? "),
        None => String::new(),
    };
    (
        Theme::default(),
        vec![format!(
            "theme `{name}` does not exist; {hint}themes: {}; using the default theme",
            names.join(", ")
        )],
    )
}

/// `load`, then `Theme::no_color()` instead when NO_COLOR is set (the warnings are kept).
pub fn load_for_terminal(name: &str) -> (Theme, Vec<String>) {
    let (theme, warnings) = load(name);
    if no_color_requested() {
        (Theme::no_color(), warnings)
    } else {
        (theme, warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ships_exactly_the_themes_the_model_validates_against() {
        assert_eq!(names(), crate::lab::SHIPPED_THEMES);
    }

    #[test]
    fn shipped_themes_load_without_warnings() {
        for name in names() {
            let (_, warnings) = load(name);
            assert!(warnings.is_empty(), "{name}: {warnings:?}");
        }
    }

    #[test]
    fn dark_file_matches_builtin_default() {
        assert_eq!(load("dark").0, Theme::default());
    }

    #[test]
    fn themes_differ() {
        assert_ne!(load("light").0, Theme::default());
        assert_ne!(load("high-contrast").0, load("light").0);
    }

    #[test]
    fn every_role_is_addressable() {
        let t = Theme::default();
        for role in ROLES {
            assert!(t.role(role).is_some(), "{role}");
        }
    }

    #[test]
    fn unknown_theme_warns_with_suggestion() {
        let (t, w) = load("hight-contrast");
        assert_eq!(t, Theme::default());
        assert!(w[0].contains("did you mean `high-contrast`?"), "{w:?}");
    }

    #[test]
    fn no_color_has_no_colours() {
        let t = Theme::no_color();
        for role in ROLES {
            let s = t.role(role).unwrap();
            assert_eq!((s.fg, s.bg), (None, None), "{role}");
        }
    }
}
