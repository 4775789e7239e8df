//! What kind of editor a field is and the value it carries between the form and the lab:
//! the fields' tables name them, the form edits them.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Line,
    /// One item per line (keys, nameservers, files).
    Multi,
    /// Shown masked; never logged.
    Secret,
    Select(&'static [&'static str]),
    Stepper {
        min: u64,
        max: u64,
        step: u64,
        unit: &'static str,
    },
}

/// A value moving between a field and the lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Lines(Vec<String>),
    Number(u64),
}
