//! Lab validation as the forms see it: the model's problems, keyed by field path.

use crate::lab::Lab;

/// One validation problem, shown beside the field its path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub path: String,
    pub message: String,
    pub fix: Option<String>,
    /// Errors block Next; warnings are only shown.
    pub error: bool,
}

/// Runs the model's validation on the lab as it is now.
pub fn issues(lab: &Lab) -> Vec<Issue> {
    crate::lab::validate(lab)
        .into_iter()
        .map(|p| Issue {
            path: p.path,
            message: p.message,
            fix: if p.fix.is_empty() { None } else { Some(p.fix) },
            error: p.severity == crate::lab::Severity::Error,
        })
        .collect()
}
