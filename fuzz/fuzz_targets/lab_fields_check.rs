//! The check behind the `lab_fields` fuzz target, shared with `tests/quick/fuzz_lab_fields.rs`
//! (which runs it on the committed corpus with the stable toolchain).
//!
//! The first byte picks a path or secret field of the `live-migration` preset, the rest is
//! its value (lossy UTF-8). Then:
//! - loading never panics, and every error has a message and a fix;
//! - a path field that is accepted is plain and normal: no `.`/`..` component, no repeated
//!   `/`, only letters, digits and `/._-+@,=:` (the workspace, the user's own local path, is
//!   only one line);
//! - an accepted NFS export path renders to exactly one exports(5) line of that path;
//! - the VirtualBMC password never shows in any problem: it appears no more often than in
//!   the problems of the same lab with a different password of the same shape.

use labwarp::lab::{self, load_preset, load_str, to_yaml};
use labwarp::render::exports;
use serde_yaml::Value;

/// (field, whether it is a path labwarp writes/exports/deletes or reads on a remote host)
pub const FIELDS: &[(&str, bool)] = &[
    ("overcloud.live_migration.export_path", true),
    ("hypervisors.0.pool_path", true),
    ("images.cache_dir", true),
    ("undercloud.conf.container_images_file", true),
    ("overcloud.deploy.templates", true),
    ("workspace", false),
    ("overcloud.vbmc.password", false),
];

fn set(v: &mut Value, path: &str, value: Value) {
    let mut cur = v;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if let Ok(n) = part.parse::<usize>() {
            cur = &mut cur.as_sequence_mut().expect("a list")[n];
            continue;
        }
        let m = cur.as_mapping_mut().expect("a mapping");
        if last {
            m.insert(Value::String((*part).into()), value);
            return;
        }
        let key = Value::String((*part).into());
        if m.get(&key).is_none_or(Value::is_null) {
            m.insert(key.clone(), Value::Mapping(Default::default()));
        }
        cur = m.get_mut(&key).expect("just inserted");
    }
}

/// The preset written out in full with `field` set to `value`.
pub fn lab_text(field: &str, value: &str) -> String {
    let base = load_preset("live-migration").expect("the preset loads");
    let mut v: Value = serde_yaml::from_str(&to_yaml(&base)).expect("to_yaml is YAML");
    if let Some(m) = v.as_mapping_mut() {
        m.remove("preset");
    }
    set(&mut v, field, Value::String(value.into()));
    serde_yaml::to_string(&v).expect("YAML out")
}

fn shown(e: &lab::LabError) -> String {
    format!("{e}\n{:?}", e.problems)
}

/// Same length and kinds of characters, different characters.
fn other_secret(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'a'..='y' | 'A'..='Y' | '0'..='8' => char::from_u32(c as u32 + 1).unwrap_or(c),
            'z' => 'a',
            'Z' => 'A',
            '9' => '0',
            c => c,
        })
        .collect()
}

pub fn check(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let (field, owned_path) = FIELDS[pick as usize % FIELDS.len()];
    let value = String::from_utf8_lossy(rest).into_owned();
    let text = lab_text(field, &value);
    match load_str(&text, "fuzz.yaml") {
        Ok(l) => {
            if owned_path {
                assert!(
                    value.split('/').all(|c| c != ".." && c != "."),
                    "{field}: accepted a `.`/`..` component: {value:?}"
                );
                assert!(
                    !value.trim_end_matches('/').contains("//"),
                    "{field}: accepted `//`: {value:?}"
                );
                assert!(
                    value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "/._-+@,=:".contains(c)),
                    "{field}: accepted a character its formats cannot carry: {value:?}"
                );
            }
            if field.ends_with("export_path") {
                let line = exports::line(
                    field,
                    &l.overcloud.live_migration.export_path,
                    &l.undercloud.conf.subnet.cidr,
                    "rw,sync,no_root_squash",
                )
                .unwrap_or_else(|e| panic!("an accepted export path is refused: {e}"));
                let parsed = exports::parse(&line);
                assert_eq!(parsed.len(), 1, "{line}");
                assert_eq!(
                    parsed[0].as_ref().map(|e| e.path.as_str()),
                    Some(value.as_str()),
                    "{line}"
                );
            }
        }
        Err(e) => {
            for p in e.errors() {
                assert!(!p.message.is_empty() && !p.fix.is_empty(), "{p:?}");
            }
            if field.ends_with("password") && value.chars().count() >= 4 {
                let other = other_secret(&value);
                let baseline = match load_str(&lab_text(field, &other), "fuzz.yaml") {
                    Ok(_) => String::new(),
                    Err(e) => shown(&e),
                };
                let real = shown(&e);
                assert!(
                    real.matches(value.as_str()).count()
                        <= baseline.matches(value.as_str()).count(),
                    "the password {value:?} is shown:\n{real}"
                );
            }
        }
    }
}
