//! Reading and setting a lab field by its problem path (`overcloud.nodes[0].networks[1]`) in a
//! YAML tree: what tests use to plant a value in exactly one field of a preset.

use serde_yaml::Value;

/// Splits `a.b[0].c` into keys (`Ok`) and list indexes (`Err`).
pub fn segments(path: &str) -> Vec<Result<String, usize>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, idx) = match part.split_once('[') {
            Some((k, i)) => (k, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        out.push(Ok(key.to_string()));
        if let Some(i) = idx {
            out.push(Err(i));
        }
    }
    out
}

/// Sets `path` in a YAML tree, creating mappings and growing lists as needed.
pub fn set(v: &mut Value, path: &str, value: Value) {
    let segs = segments(path);
    let mut cur = v;
    for (n, seg) in segs.iter().enumerate() {
        let last = n + 1 == segs.len();
        let next_is_index = matches!(segs.get(n + 1), Some(Err(_)));
        let fresh = || {
            if next_is_index {
                Value::Sequence(Vec::new())
            } else {
                Value::Mapping(Default::default())
            }
        };
        match seg {
            Ok(key) => {
                let m = cur.as_mapping_mut().expect("a mapping on the way");
                if last {
                    m.insert(Value::String(key.clone()), value);
                    return;
                }
                let k = Value::String(key.clone());
                if m.get(&k).is_none_or(Value::is_null) {
                    m.insert(k.clone(), fresh());
                }
                cur = m.get_mut(&k).expect("just inserted");
            }
            Err(i) => {
                let s = cur.as_sequence_mut().expect("a list on the way");
                while s.len() <= *i {
                    s.push(if last { Value::Null } else { fresh() });
                }
                if last {
                    s[*i] = value;
                    return;
                }
                cur = &mut s[*i];
            }
        }
    }
}

/// The lab `preset` written out in full (no `preset:` key, so every list is there to be
/// indexed) with `path` set to `value`.
pub fn lab_with(preset: &str, path: &str, value: Value) -> String {
    let lab = labwarp::lab::load_preset(preset).expect("the preset loads");
    let mut full: Value =
        serde_yaml::from_str(&labwarp::lab::to_yaml(&lab)).expect("to_yaml is YAML");
    if let Some(m) = full.as_mapping_mut() {
        m.remove("preset");
    }
    set(&mut full, path, value);
    serde_yaml::to_string(&full).expect("yaml out")
}

/// Whether a problem path names `field`, an element below it, or the entry holding it.
pub fn names_field(problem_path: &str, field: &str) -> bool {
    let below = |a: &str, b: &str| {
        a == b || a.starts_with(&format!("{b}.")) || a.starts_with(&format!("{b}["))
    };
    !problem_path.is_empty() && (below(problem_path, field) || below(field, problem_path))
}

/// Every text leaf of a YAML tree as (path, value), list indexes written `[i]`.
pub fn text_leaves(v: &Value, prefix: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Mapping(m) => {
            for (k, v) in m {
                let k = k.as_str().unwrap_or_default();
                let p = if prefix.is_empty() {
                    k.to_string()
                } else {
                    format!("{prefix}.{k}")
                };
                text_leaves(v, &p, out);
            }
        }
        Value::Sequence(s) => {
            for (i, v) in s.iter().enumerate() {
                text_leaves(v, &format!("{prefix}[{i}]"), out);
            }
        }
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        _ => {}
    }
}
