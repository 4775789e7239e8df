//! The lab model: types, YAML loading with precise errors, validation, presets.

mod model;

pub use model::*;

use std::path::Path;

/// Parses a lab file on its own (no preset merge yet).
pub fn load_file(path: &Path) -> anyhow::Result<Lab> {
    let text = std::fs::read_to_string(path)?;
    Ok(serde_yaml::from_str(&text)?)
}
