//! Reading a theme file over the default theme, turning every bad entry into a warning.

use super::{ROLES, Theme};
use crate::lab::diagnose::suggest;
use ratatui::style::{Color, Modifier, Style};
use serde_yaml::Value;
use std::str::FromStr;

const KEYS: &[&str] = &["fg", "bg", "modifiers"];
const MODIFIERS: &[(&str, Modifier)] = &[
    ("bold", Modifier::BOLD),
    ("dim", Modifier::DIM),
    ("italic", Modifier::ITALIC),
    ("underlined", Modifier::UNDERLINED),
    ("slow_blink", Modifier::SLOW_BLINK),
    ("rapid_blink", Modifier::RAPID_BLINK),
    ("reversed", Modifier::REVERSED),
    ("hidden", Modifier::HIDDEN),
    ("crossed_out", Modifier::CROSSED_OUT),
];

fn did_you_mean<'a>(word: &str, options: impl IntoIterator<Item = &'a str>) -> String {
    match suggest(word, options) {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub fn description(text: &str) -> String {
    serde_yaml::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("description")?.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Applies `text` over the default theme. `origin` prefixes each warning.
pub fn parse(text: &str, origin: &str) -> (Theme, Vec<String>) {
    let mut theme = Theme::default();
    let mut warnings = Vec::new();
    let mut warn = |key: &str, msg: String| warnings.push(format!("theme {origin}: {key}: {msg}"));
    let root = match serde_yaml::from_str::<Value>(text) {
        Ok(Value::Mapping(m)) => m,
        Ok(Value::Null) => return (theme, warnings),
        Ok(_) => {
            warn("(file)", "expected `role: {fg: ..., bg: ..., modifiers: [...]}` lines; using the default theme".into());
            return (theme, warnings);
        }
        Err(e) => {
            warn(
                "(file)",
                format!("invalid YAML ({e}); using the default theme"),
            );
            return (theme, warnings);
        }
    };
    for (key, value) in root {
        let Some(role) = key.as_str() else {
            warn(
                &format!("{key:?}"),
                "role names are words like `border`; entry ignored".into(),
            );
            continue;
        };
        if role == "description" {
            continue;
        }
        let Some(slot) = theme.role_mut(role) else {
            warn(
                role,
                format!(
                    "unknown role{}; entry ignored",
                    did_you_mean(role, ROLES.iter().copied())
                ),
            );
            continue;
        };
        let Value::Mapping(entries) = value else {
            warn(
                role,
                "expected `{fg: ..., bg: ..., modifiers: [...]}`; entry ignored".into(),
            );
            continue;
        };
        let mut style = *slot;
        for (k, v) in entries {
            let k = k.as_str().unwrap_or_default().to_string();
            let path = format!("{role}.{k}");
            match k.as_str() {
                "fg" | "bg" => match as_text(&v).map(|s| (Color::from_str(&s), s)) {
                    Some((Ok(c), _)) if k == "fg" => style = style.fg(c),
                    Some((Ok(c), _)) => style = style.bg(c),
                    Some((Err(_), s)) => warn(
                        &path,
                        format!(
                            "`{s}` is not a colour (use a name like cyan, 0-255, or #rrggbb); kept the default"
                        ),
                    ),
                    None => warn(&path, "expected a colour; kept the default".into()),
                },
                "modifiers" => match modifiers(&v) {
                    Ok(m) => {
                        style = Style {
                            add_modifier: m,
                            sub_modifier: Modifier::empty(),
                            ..style
                        }
                    }
                    Err(msg) => warn(&path, msg),
                },
                other => warn(
                    &path,
                    format!(
                        "unknown key{}; ignored",
                        did_you_mean(other, KEYS.iter().copied())
                    ),
                ),
            }
        }
        *slot = style;
    }
    (theme, warnings)
}

fn modifiers(v: &Value) -> Result<Modifier, String> {
    let items: Vec<&Value> = match v {
        Value::Sequence(s) => s.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    };
    let mut out = Modifier::empty();
    for item in items {
        let word = item.as_str().unwrap_or_default();
        match MODIFIERS.iter().find(|(n, _)| *n == word) {
            Some((_, m)) => out |= *m,
            None => {
                return Err(format!(
                    "`{word}` is not a modifier{}; kept the default",
                    did_you_mean(word, MODIFIERS.iter().map(|(n, _)| *n))
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_override_keeps_the_rest() {
        let (t, w) = parse("border: {fg: red}\n", "t");
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(t.border.fg, Some(Color::Red));
        let d = Theme::default();
        assert_eq!(t.title, d.title);
        assert_eq!(t.border.add_modifier, d.border.add_modifier);
    }

    #[test]
    fn bad_entries_warn_and_keep_defaults() {
        let (t, w) = parse(
            "bordr: {fg: red}\ntitle: {fg: grene, bg: \"#12345\", modifiers: [bold, blink]}\nok: 3\nerror: {colour: red}\n",
            "t",
        );
        assert_eq!(t, Theme::default());
        assert_eq!(w.len(), 6, "{w:#?}");
        assert!(w[0].contains("bordr: unknown role (did you mean `border`?)"));
        assert!(w[1].contains("title.fg: `grene` is not a colour"));
        assert!(w[2].contains("title.bg: `#12345` is not a colour"));
        assert!(w[3].contains("title.modifiers: `blink` is not a modifier"));
        assert!(w[4].contains("ok: expected"));
        assert!(w[5].contains("error.colour: unknown key"));
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            "[",
            "- a",
            "\"",
            "normal: [1, 2]",
            "? [a]\n: b",
            "normal: {fg: \"#ééé\"}",
        ] {
            let (_, w) = parse(text, "t");
            assert!(!w.is_empty(), "{text}");
        }
    }
}
