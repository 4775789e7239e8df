//! How a preflight finding reads on screen (preflight's list, troubleshoot's related
//! findings): ok, a warning, or failing, from the severity the checks gave it.

use crate::engine::event::FindingRow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

pub fn level(f: &FindingRow) -> Level {
    match f.severity.to_ascii_lowercase().as_str() {
        "ok" | "pass" | "passed" | "info" => Level::Ok,
        "warn" | "warning" => Level::Warn,
        _ => Level::Fail,
    }
}
