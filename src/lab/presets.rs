//! Presets: complete labs shipped inside the binary (presets/*.yaml via include_str!), so
//! `labwarp validate --preset ha` works from any directory.

use super::diagnose::suggest;
use super::error::Problem;

/// (name, YAML text) of every preset, in the order `labwarp presets` lists them.
const PRESETS: &[(&str, &str)] = &[
    ("demo", include_str!("../../presets/demo.yaml")),
    ("minimal", include_str!("../../presets/minimal.yaml")),
    ("ha", include_str!("../../presets/ha.yaml")),
    (
        "live-migration",
        include_str!("../../presets/live-migration.yaml"),
    ),
    ("kayobe-aio", include_str!("../../presets/kayobe-aio.yaml")),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetInfo {
    pub name: String,
    /// The preset file's `description:` (one line).
    pub description: String,
}

/// Every preset with its one-line description.
pub fn presets() -> Vec<PresetInfo> {
    PRESETS
        .iter()
        .map(|(name, text)| PresetInfo {
            name: name.to_string(),
            description: description_of(text),
        })
        .collect()
}

/// Reads `description:` without building the whole lab (a broken preset still lists).
fn description_of(text: &str) -> String {
    serde_yaml::from_str::<serde_yaml::Value>(text)
        .ok()
        .and_then(|v| v.get("description")?.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The YAML text of a preset.
pub fn preset_text(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

pub fn preset_names() -> impl Iterator<Item = &'static str> {
    PRESETS.iter().map(|(n, _)| *n)
}

/// The problem reported for `preset: NAME` when no such preset exists.
pub fn unknown_preset(name: &str) -> Problem {
    let names: Vec<&str> = preset_names().collect();
    let fix = match suggest(name, names.iter().copied()) {
        Some(s) => format!("did you mean `{s}`? (presets: {})", names.join(", ")),
        None => format!("use one of: {}", names.join(", ")),
    };
    Problem::error("preset", name, "unknown preset", fix)
}
