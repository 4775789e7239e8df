//! The lab model: types, YAML loading with precise errors, preset merge, validation.
//!
//! Loading: `load_path` / `load_str` / `load_preset` give a validated `Lab` or a `LabError`
//! listing every problem. Editors use `parse_str` (no validation) and `validate`.

pub(crate) mod diagnose;
mod error;
mod load;
mod merge;
mod model;
mod presets;
pub mod release;
mod snapshots;
mod syntax;
pub mod tripleo;
mod validate;
mod virt_type;

pub use diagnose::suggest;
pub use error::{LabError, Location, Problem, Severity};
pub use load::{load_path, load_preset, load_str, parse_str, to_yaml};
pub use merge::deep_merge;
pub use model::*;
pub use presets::{PresetInfo, preset_names, preset_text, presets};
pub use snapshots::{RESPIN_DEFAULT, SnapshotSettings, snapshot_name_problem};
pub use validate::validate;
pub use virt_type::VirtType;

/// The themes labwarp ships (`themes/*.yaml`): the model validates `theme:` against these
/// names without depending on the UI's theme module, which checks it ships exactly these.
pub const SHIPPED_THEMES: &[&str] = &["dark", "light", "high-contrast"];

use std::path::Path;

/// Former name of [`load_path`], kept for callers written against the skeleton.
pub fn load_file(path: &Path) -> anyhow::Result<Lab> {
    Ok(load_path(path)?)
}
