//! A remedy's change to lab.yaml: made on the file's own YAML (what else it says is kept:
//! a `preset:` line, overrides, other settings; its leading comment block too), checked by
//! loading and validating the result like any lab file, then written atomically.

use crate::lab::Lab;
use serde_yaml::{Mapping, Value};
use std::path::Path;

/// The file's text with `change` made to its YAML, and checked: it must load and validate.
/// `change` edits the file's own mapping; `lab` is the lab as the change leaves it (what the
/// caller shows), compared with what the new text loads as for the changed fields.
pub fn edited(
    file: &Path,
    change: impl FnOnce(&mut Mapping) -> anyhow::Result<()>,
) -> anyhow::Result<(String, Lab)> {
    let origin = file.display().to_string();
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read the lab file {origin}: {e}"))?;
    let mut v: Value =
        serde_yaml::from_str(&text).map_err(|e| anyhow::anyhow!("{origin} does not parse: {e}"))?;
    let Some(map) = v.as_mapping_mut() else {
        anyhow::bail!("{origin} is not a YAML mapping");
    };
    change(map)?;
    let body = serde_yaml::to_string(&v)?;
    let header: String = text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let out = format!("{header}{body}");
    let lab = crate::lab::load_str(&out, &origin).map_err(|e| {
        anyhow::anyhow!("the changed lab would not validate, so it is not written: {e}")
    })?;
    Ok((out, lab))
}

/// `map[key]` as a mapping, made (empty) when absent or not a mapping.
pub fn child<'a>(map: &'a mut Mapping, key: &str) -> &'a mut Mapping {
    let k = Value::from(key);
    if !map.get(&k).is_some_and(Value::is_mapping) {
        map.insert(k.clone(), Value::Mapping(Mapping::new()));
    }
    map.get_mut(&k)
        .and_then(Value::as_mapping_mut)
        .expect("inserted as a mapping just above")
}

/// Writes the new text in place of the file, atomically (a crash leaves the old or the new).
pub fn write(file: &Path, text: &str) -> anyhow::Result<()> {
    crate::run::state::write_atomic(file, text.as_bytes())
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_keeps_the_rest_of_the_file_and_must_validate() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("lab.yaml");
        std::fs::write(&f, "# my lab\npreset: demo\nname: keepme\n").unwrap();
        let (text, lab) = edited(&f, |m| {
            child(child(m, "overcloud"), "vbmc").insert("base_port".into(), 7000.into());
            Ok(())
        })
        .unwrap();
        assert!(text.starts_with("# my lab\n"), "{text}");
        assert!(
            text.contains("preset: demo") && text.contains("name: keepme"),
            "{text}"
        );
        assert_eq!(
            (lab.name.as_str(), lab.overcloud.vbmc.base_port),
            ("keepme", 7000)
        );
        // A change that does not validate is refused, the file untouched.
        let e = edited(&f, |m| {
            child(child(m, "overcloud"), "vbmc").insert("base_port".into(), 0.into());
            Ok(())
        })
        .unwrap_err();
        assert!(e.to_string().contains("would not validate"), "{e}");
        assert!(
            std::fs::read_to_string(&f)
                .unwrap()
                .ends_with("name: keepme\n")
        );
    }
}
