//! Problems found in a lab file and the error `load_*` returns when any of them is fatal.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The lab cannot be used as written.
    Error,
    /// Usable, but probably not what the user wants (undersized VM, very large plan...).
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One thing wrong with a lab: which field, what it holds, why it is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Field path as written in lab.yaml: `overcloud.nodes[1].memory_mib`; empty for the
    /// whole file (a syntax error before any key).
    pub path: String,
    /// The offending value as the user wrote it (`""` for an empty string; secrets masked).
    pub value: String,
    pub message: String,
    pub fix: String,
    pub severity: Severity,
}

/// Longest value a problem shows, in characters: a longer one is cut (a 100 KB value is
/// not printed back whole).
pub const VALUE_SHOWN_MAX: usize = 80;
/// Longest word of a message or fix shown whole (values quoted inside them).
const WORD_SHOWN_MAX: usize = 120;

/// Control characters written as escapes (`\n`, `\u{1b}`), so that a value never breaks a
/// line of the report nor reaches the terminal as an escape sequence.
fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `s` cut to `max` characters, saying how long it was.
pub fn cut(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        s.to_string()
    } else {
        format!(
            "{}… ({n} characters)",
            s.chars().take(max).collect::<String>()
        )
    }
}

/// A message or fix as shown: controls escaped, each over-long word cut.
fn shown_text(s: &str) -> String {
    escape_controls(s)
        .split(' ')
        .map(|w| cut(w, WORD_SHOWN_MAX))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Problem {
    /// A problem; the value is cut to [`VALUE_SHOWN_MAX`] characters and control characters
    /// in every part are escaped.
    pub fn error(
        path: impl Into<String>,
        value: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        let value: String = value.into();
        let n = value.chars().count();
        let escaped = escape_controls(&value);
        let value = if n > VALUE_SHOWN_MAX {
            format!(
                "{}… ({n} characters)",
                escaped.chars().take(VALUE_SHOWN_MAX).collect::<String>()
            )
        } else {
            escaped
        };
        Problem {
            path: shown_text(&path.into()),
            value,
            message: shown_text(&message.into()),
            fix: shown_text(&fix.into()),
            severity: Severity::Error,
        }
    }

    /// Replaces every occurrence of `secret` in the problem's text by `***`.
    ///
    /// Secrets shorter than 4 characters are left alone (masking every `a` would garble the
    /// message and hide nothing).
    pub fn mask(&mut self, secret: &str) {
        if secret.chars().count() < 4 {
            return;
        }
        for part in [&mut self.value, &mut self.message, &mut self.fix] {
            if part.contains(secret) {
                *part = part.replace(secret, "***");
            }
        }
    }

    pub fn warning(
        path: impl Into<String>,
        value: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Problem {
            severity: Severity::Warning,
            ..Problem::error(path, value, message, fix)
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// True when this problem is about `prefix` or a field inside it (`networks[0]` matches
    /// `networks[0].cidr` but not `networks[01]`): what a form uses to place messages.
    pub fn concerns(&self, prefix: &str) -> bool {
        match self.path.strip_prefix(prefix) {
            Some(rest) => rest.is_empty() || rest.starts_with('.') || rest.starts_with('['),
            None => false,
        }
    }
}

/// `path: message (value: v) — fix: f`; the parts that are empty are left out.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if !self.value.is_empty() {
            write!(f, " (value: {})", self.value)?;
        }
        if !self.fix.is_empty() {
            write!(f, " — fix: {}", self.fix)?;
        }
        Ok(())
    }
}

/// 1-based line and column in the lab file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// Why a lab could not be loaded: every problem found (warnings included), and for YAML
/// syntax, type and unknown-key errors, where in the file the first problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabError {
    /// File path or `preset NAME` or whatever the caller passed as origin.
    pub origin: String,
    /// Location of `problems[0]` when the parser knows it.
    pub location: Option<Location>,
    pub problems: Vec<Problem>,
}

impl LabError {
    pub fn single(origin: &str, location: Option<Location>, problem: Problem) -> Self {
        LabError {
            origin: origin.to_string(),
            location,
            problems: vec![problem],
        }
    }

    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.is_error())
    }
}

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(&self.origin)?;
            if let (0, Some(loc)) = (i, self.location) {
                write!(f, ":{}:{}", loc.line, loc.column)?;
            }
            write!(f, ": {}: {p}", p.severity)?;
        }
        Ok(())
    }
}

impl std::error::Error for LabError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_100_kb_value_is_cut_and_controls_are_escaped() {
        let big = "x".repeat(100 * 1024);
        let p = Problem::error("name", big.as_str(), format!("bad {big}"), "fix\nit");
        let shown = p.to_string();
        assert!(shown.len() < 600, "{} bytes shown", shown.len());
        assert!(shown.contains("(102400 characters)"), "{shown}");
        assert!(!shown.contains('\n'), "{shown}");
        let p = Problem::error("x", "\u{1b}]0;pwned\u{7}", "m", "f");
        assert!(!p.to_string().contains('\u{1b}'), "{p}");
    }

    #[test]
    fn mask_hides_a_secret_everywhere_but_leaves_short_ones() {
        let mut p = Problem::error("p", "hunter22", "not hunter22", "use hunter22x");
        p.mask("hunter22");
        assert_eq!(p.to_string(), "p: not *** (value: ***) — fix: use ***x");
        let mut p = Problem::error("p", "a", "a message", "f");
        p.mask("a");
        assert_eq!(p.message, "a message");
    }
}
