//! Deep merge of YAML values: how a lab.yaml overrides the preset it starts from.

use serde_yaml::Value;

/// Merges `over` into `base`: mappings merge key by key (recursively), anything else
/// (scalars, sequences, null) in `over` replaces what `base` had. Lists replace rather than
/// append so that `overcloud.nodes: [...]` in a user file says exactly which groups exist.
pub fn deep_merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(base_map), Value::Mapping(over_map)) => {
            for (key, value) in over_map {
                match base_map.get_mut(&key) {
                    Some(slot) => deep_merge(slot, value),
                    None => {
                        base_map.insert(key, value);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        serde_yaml::from_str(s).expect("test YAML parses")
    }

    #[test]
    fn mappings_merge_and_lists_replace() {
        let mut base = yaml("a: {x: 1, y: 2}\nlist: [1, 2, 3]\nkeep: true");
        deep_merge(&mut base, yaml("a: {y: 5, z: 6}\nlist: [9]\nnew: n"));
        assert_eq!(
            base,
            yaml("a: {x: 1, y: 5, z: 6}\nlist: [9]\nkeep: true\nnew: n")
        );
    }

    #[test]
    fn null_and_scalars_replace_mappings() {
        let mut base = yaml("a: {x: 1}\nb: {y: 2}");
        deep_merge(&mut base, yaml("a: ~\nb: 3"));
        assert_eq!(base, yaml("a: ~\nb: 3"));
    }
}
