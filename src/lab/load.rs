//! Loading a lab: YAML text → (preset merged) → typed `Lab` → validated.
//!
//! The user's file is first deserialized on its own, straight from the text, so that type
//! errors and unknown keys keep their line and column. Only then is it merged over its preset
//! (as YAML values: mappings merge, lists replace) and deserialized again.

use super::diagnose::from_yaml_error;
use super::error::{LabError, Location, Problem};
use super::merge::deep_merge;
use super::model::Lab;
use super::presets::{preset_text, unknown_preset};
use super::validate::validate;
use serde_yaml::Value;
use std::path::Path;

/// Presets may start from other presets; this bounds the chain (and catches loops early).
const MAX_PRESET_DEPTH: usize = 8;

/// Reads, merges and validates a lab file. Returns the lab when no problem is an error.
pub fn load_path(path: &Path) -> Result<Lab, LabError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        LabError::single(
            &origin,
            None,
            Problem::error(
                "",
                "",
                format!("cannot read the lab file: {e}"),
                "give the path of an existing lab.yaml, or start from a preset (labwarp presets)",
            ),
        )
    })?;
    load_str(&text, &origin)
}

/// Parses, merges and validates lab YAML; `origin` names it in messages (a path or `preset X`).
pub fn load_str(text: &str, origin: &str) -> Result<Lab, LabError> {
    let lab = parse_str(text, origin)?;
    let problems = validate(&lab);
    if problems.iter().any(Problem::is_error) {
        return Err(LabError {
            origin: origin.to_string(),
            location: None,
            problems,
        });
    }
    Ok(lab)
}

/// Loads a preset by name (`demo`, `minimal`, ...), validated.
pub fn load_preset(name: &str) -> Result<Lab, LabError> {
    let origin = format!("preset {name}");
    let text =
        preset_text(name).ok_or_else(|| LabError::single(&origin, None, unknown_preset(name)))?;
    load_str(text, &origin)
}

/// Parses and merges without validating values: for editors that must show a lab that is
/// still wrong (the TUI keeps the user's half-typed values and lists the problems).
pub fn parse_str(text: &str, origin: &str) -> Result<Lab, LabError> {
    let merged = resolve(text, origin, &mut Vec::new())?;
    // Through text, not `from_value`: serde_yaml's text deserializer reads a plain scalar
    // as text where text is expected (`name: 2024`, `nfs_version: 4` are the strings YAML
    // users mean, as they were in the user's file checked alone), and its errors keep the
    // field path. Its line numbers are those of the merged text, so they are left out.
    let merged_text = serde_yaml::to_string(&merged).map_err(|e| {
        let (problem, _) = from_yaml_error(&e, false);
        LabError::single(origin, None, problem)
    })?;
    serde_yaml::from_str::<Lab>(&merged_text).map_err(|e| {
        let (problem, _) = from_yaml_error(&e, false);
        LabError::single(origin, None, problem)
    })
}

/// The lab as YAML, for saving (`preset:` is kept; every other key is written out in full).
pub fn to_yaml(lab: &Lab) -> String {
    // Serializing these plain structs cannot fail (string keys only); keep a visible marker
    // rather than a panic should that ever change.
    serde_yaml::to_string(lab)
        .unwrap_or_else(|e| format!("# labwarp could not write the lab: {e}\n"))
}

/// One file's YAML value with its preset chain merged underneath it.
fn resolve(text: &str, origin: &str, chain: &mut Vec<String>) -> Result<Value, LabError> {
    let value: Value = serde_yaml::from_str(text).map_err(|e| {
        let (mut problem, mut location) = from_yaml_error(&e, true);
        if let Some((key, second)) = duplicate_key(&problem.message, text) {
            // serde_yaml points at the mapping's start; point at the repeated key instead.
            location = Some(second);
            problem.fix = format!(
                "remove one of the two `{key}:` keys (the second is on line {})",
                second.line
            );
        } else if let Some(l) = location.filter(|l| is_tab_at(text, l)) {
            problem.fix = format!(
                "YAML indents with spaces, not tabs: replace the tab at line {} column {}",
                l.line, l.column
            );
        } else if let Some((better, at)) = super::syntax::explain(&problem.message, location, text)
        {
            problem = better;
            location = Some(at);
        }
        LabError::single(origin, location, problem)
    })?;
    let mut value = match value {
        Value::Null => Value::Mapping(Default::default()),
        v => v,
    };
    // Typed check of this file alone: keeps line/column for wrong types and unknown keys.
    let alone: Lab = serde_yaml::from_str(text).map_err(|e| {
        let (problem, location) = from_yaml_error(&e, false);
        LabError::single(origin, location, problem)
    })?;
    // The typed reading took a plain scalar where text is expected as written (`007`,
    // `0x1A`, `4.10`); keep that text, not the number the YAML value made of it.
    if let Ok(typed) = serde_yaml::to_value(&alone) {
        keep_text_as_written(&mut value, &typed);
    }
    if let Some(pw) = &alone.overcloud.vbmc.password
        && let Some(v) = value
            .get_mut("overcloud")
            .and_then(|o| o.get_mut("vbmc"))
            .and_then(|v| v.get_mut("password"))
        && matches!(v, Value::Number(_) | Value::Bool(_))
    {
        // Never serialised, so not in `typed`.
        *v = Value::String(pw.expose().to_string());
    }
    let Some(name) = alone.preset.clone() else {
        return Ok(value);
    };
    let location = key_location(text, "preset");
    if chain.contains(&name) || chain.len() >= MAX_PRESET_DEPTH {
        chain.push(name.clone());
        return Err(LabError::single(
            origin,
            location,
            Problem::error(
                "preset",
                &name,
                format!(
                    "presets start from each other in a loop: {}",
                    chain.join(" → ")
                ),
                "start from a preset that does not lead back to this one",
            ),
        ));
    }
    let base_text = preset_text(&name)
        .ok_or_else(|| LabError::single(origin, location, unknown_preset(&name)))?;
    chain.push(name.clone());
    let mut base = resolve(base_text, &format!("preset {name}"), chain)?;
    deep_merge(&mut base, value);
    Ok(base)
}

/// Where `user` holds a number or boolean and the typed reading of the same file a string,
/// puts the string (the scalar as written) in `user`.
fn keep_text_as_written(user: &mut Value, typed: &Value) {
    match (user, typed) {
        (Value::Mapping(u), Value::Mapping(t)) => {
            for (k, v) in u.iter_mut() {
                if let Some(tv) = t.get(k) {
                    keep_text_as_written(v, tv);
                }
            }
        }
        (Value::Sequence(u), Value::Sequence(t)) => {
            for (v, tv) in u.iter_mut().zip(t) {
                keep_text_as_written(v, tv);
            }
        }
        (leaf @ (Value::Number(_) | Value::Bool(_)), Value::String(s)) => {
            *leaf = Value::String(s.clone());
        }
        _ => {}
    }
}

/// For `duplicate entry with key "K"`: the key and where it appears the second time.
fn duplicate_key(message: &str, text: &str) -> Option<(String, Location)> {
    let key = message
        .split_once("duplicate entry with key \"")?
        .1
        .split('"')
        .next()?
        .to_string();
    let mut hits = text.lines().enumerate().filter_map(|(i, line)| {
        let indent = line.len() - line.trim_start_matches([' ', '-']).len();
        let rest = line[indent..].strip_prefix(key.as_str())?;
        rest.trim_start().starts_with(':').then_some(Location {
            line: i + 1,
            column: indent + 1,
        })
    });
    hits.next()?;
    let second = hits.next()?;
    Some((key, second))
}

fn is_tab_at(text: &str, l: &Location) -> bool {
    text.lines()
        .nth(l.line.saturating_sub(1))
        .and_then(|line| line.chars().nth(l.column.saturating_sub(1)))
        == Some('\t')
}

/// Line and column of a top-level `key:` (serde reports none for a value we reject later).
fn key_location(text: &str, key: &str) -> Option<Location> {
    text.lines().enumerate().find_map(|(i, line)| {
        let rest = line.strip_prefix(key)?;
        rest.trim_start().starts_with(':').then_some(Location {
            line: i + 1,
            column: 1,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_file_overrides_preset() {
        let lab = load_str(
            "preset: minimal\nname: mine\novercloud:\n  vbmc:\n    base_port: 7000\n",
            "t",
        )
        .expect("loads");
        assert_eq!(lab.name, "mine");
        assert_eq!(lab.preset.as_deref(), Some("minimal"));
        assert_eq!(lab.overcloud.vbmc.base_port, 7000);
        // untouched keys come from the preset
        assert_eq!(lab.overcloud.vbmc.username, "admin");
        assert_eq!(lab.overcloud.nodes.len(), 2);
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let err = load_str("name: [oops\n", "t").unwrap_err();
        let loc = err.location.expect("location");
        assert_eq!(loc.line, 2);
        assert!(err.problems[0].message.starts_with("invalid YAML"));
    }

    #[test]
    fn unknown_key_has_path_and_suggestion() {
        let err = load_str(
            "overcloud:\n  nodes:\n    - role: compute\n      memry_mib: 4096\n",
            "t",
        )
        .unwrap_err();
        let p = &err.problems[0];
        assert_eq!(p.path, "overcloud.nodes[0].memry_mib");
        assert_eq!(p.fix, "did you mean `memory_mib`?");
        assert_eq!(err.location.map(|l| l.line), Some(4));
    }

    #[test]
    fn unknown_preset_is_located() {
        let err = load_str("name: x\npreset: minimall\n", "t").unwrap_err();
        assert_eq!(err.problems[0].path, "preset");
        assert!(err.problems[0].fix.starts_with("did you mean `minimal`?"));
        assert_eq!(err.location.map(|l| l.line), Some(2));
    }

    #[test]
    fn numbers_where_text_is_expected_are_their_text() {
        let lab = load_str(
            "preset: live-migration\nname: 007\novercloud:\n  live_migration:\n    nfs_version: 4.0\n  vbmc:\n    password: 0123456789\n  nodes:\n    - {role: controller, name: 0x1A}\n    - {role: compute, count: 2}\n",
            "t",
        )
        .expect("loads");
        // As written, not the number YAML makes of it.
        assert_eq!(lab.name, "007");
        assert_eq!(lab.overcloud.live_migration.nfs_version, "4.0");
        assert_eq!(lab.overcloud.nodes[0].name, "0x1A");
        assert_eq!(
            lab.overcloud.vbmc.password.as_ref().map(|p| p.expose()),
            Some("0123456789")
        );
        // A wrong one keeps its path (it had none, and printed a password in clear).
        let err = load_str(
            "preset: demo\novercloud:\n  vbmc:\n    password: [12345678]\n",
            "t",
        )
        .unwrap_err();
        assert_eq!(err.problems[0].path, "overcloud.vbmc.password");
        assert!(!err.to_string().contains("12345678"), "{err}");
    }

    #[test]
    fn to_yaml_round_trips() {
        let lab = load_preset("ha").expect("preset loads");
        let again = load_str(&to_yaml(&lab), "saved").expect("saved lab loads");
        assert_eq!(lab, again);
    }
}
