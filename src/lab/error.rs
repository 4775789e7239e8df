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

impl Problem {
    pub fn error(
        path: impl Into<String>,
        value: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Problem {
            path: path.into(),
            value: value.into(),
            message: message.into(),
            fix: fix.into(),
            severity: Severity::Error,
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
