//! Property tests: random text, random YAML built from the lab's own keys, and random values
//! put into a valid lab. The loader and validator must never panic, every rejection must say
//! what is wrong and how to fix it, and whatever is accepted must survive a save and reload.

use labwarp::lab::{self, Lab};
use proptest::prelude::*;
use serde_yaml::{Mapping, Value};
use std::sync::LazyLock;

/// Every key that appears anywhere in a full lab (default and presets), computed once:
/// proptest rebuilds recursive strategies for every case.
static VOCABULARY: LazyLock<Vec<String>> = LazyLock::new(vocabulary);

fn vocabulary() -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Mapping(m) => {
                for (k, v) in m {
                    if let Some(k) = k.as_str() {
                        out.push(k.to_string());
                    }
                    walk(v, out);
                }
            }
            Value::Sequence(s) => s.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = vec![
        "preset".to_string(),
        "password".to_string(),
        "mac".to_string(),
    ];
    let mut labs = vec![Lab::default()];
    labs.extend(
        lab::presets()
            .iter()
            .map(|p| lab::load_preset(&p.name).expect("preset loads")),
    );
    for l in labs {
        let v: Value = serde_yaml::from_str(&lab::to_yaml(&l)).expect("own YAML parses");
        walk(&v, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

/// Values chosen to hit the validator's edges as well as plain garbage.
fn scalar() -> impl Strategy<Value = Value> {
    let interesting = prop::sample::select(vec![
        "",
        "0",
        "-1",
        "65535",
        "65536",
        "4294967296",
        "192.168.24.0/24",
        "192.168.24.1",
        "192.168.24.1/24",
        "192.168.23.0/16",
        "10.0.0.0/31",
        "::1",
        "fd00::/64",
        "256.1.1.1",
        "52:54:00:00:00:01",
        "01:00:5e:00:00:01",
        "qemu:///system",
        "qemu+ssh://root@h/system",
        "test:///default",
        "xen:///",
        "nat",
        "isolated",
        "bridged",
        "controller",
        "compute",
        "ceph",
        "custom",
        "rhel",
        "debian",
        "kvm",
        "qemu",
        "auto",
        "minimal",
        "ha",
        "demo",
        "local",
        "undercloud",
        "overcloud",
        "external",
        "brext",
        "brovc",
        "a-very-long-bridge-name",
        "/abs/path",
        "relative/path",
        "https://example.com/x.qcow2",
        "ftp://x",
        "true",
        "~",
        "d41d8cd98f00b204e9800998ecf8427e",
        "UTC",
        "Europe/Paris",
        "é",
        "\t",
        "\n",
    ]);
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        (0u64..70000).prop_map(|n| Value::Number(n.into())),
        any::<f64>().prop_map(|f| Value::Number(f.into())),
        interesting.prop_map(|s| Value::String(s.to_string())),
        "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(/[0-9]{1,2})?".prop_map(Value::String),
        "[a-z0-9:./_-]{0,24}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(&VOCABULARY[..]),
        1 => "[a-z_]{1,12}",
    ]
}

fn yaml_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Sequence),
            prop::collection::vec((key(), inner), 0..6).prop_map(|kv| {
                Value::Mapping(
                    kv.into_iter()
                        .map(|(k, v)| (Value::String(k), v))
                        .collect::<Mapping>(),
                )
            }),
        ]
    })
}

/// Paths (as key/index steps) to every leaf of a YAML value.
#[derive(Debug, Clone)]
enum Step {
    Key(Value),
    Index(usize),
}

fn leaves(v: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match v {
        Value::Mapping(m) => {
            for (k, v) in m {
                prefix.push(Step::Key(k.clone()));
                leaves(v, prefix, out);
                prefix.pop();
            }
        }
        Value::Sequence(s) => {
            for (i, v) in s.iter().enumerate() {
                prefix.push(Step::Index(i));
                leaves(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
    out.push(prefix.clone());
}

fn set(v: &mut Value, path: &[Step], new: Value) {
    let Some((first, rest)) = path.split_first() else {
        *v = new;
        return;
    };
    let child = match (first, v) {
        (Step::Key(k), Value::Mapping(m)) => m.get_mut(k),
        (Step::Index(i), Value::Sequence(s)) => s.get_mut(*i),
        _ => None,
    };
    if let Some(c) = child {
        set(c, rest, new);
    }
}

/// The contract every outcome of `load_str` must keep.
fn check_outcome(text: &str) -> Result<(), TestCaseError> {
    match lab::load_str(text, "lab.yaml") {
        Err(e) => {
            prop_assert!(e.errors().count() > 0, "rejected without an error: {e:?}");
            for p in &e.problems {
                prop_assert!(!p.message.trim().is_empty(), "empty message: {p:?}");
                prop_assert!(!p.fix.trim().is_empty(), "empty fix: {p:?}");
            }
            prop_assert!(!e.to_string().is_empty());
        }
        Ok(l) => {
            prop_assert!(lab::validate(&l).iter().all(|p| !p.is_error()));
            let again = lab::load_str(&lab::to_yaml(&l), "saved");
            prop_assert!(again.is_ok(), "accepted lab does not reload: {again:?}");
            prop_assert_eq!(again.ok(), Some(l));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check_outcome(&text)?;
    }

    #[test]
    fn yaml_looking_text_never_panics(text in "[a-z_:\\[\\]{}\\-# \n\t'\"0-9./]{0,200}") {
        check_outcome(&text)?;
    }

    #[test]
    fn random_yaml_from_lab_keys_never_panics(
        root in prop::collection::vec((key(), yaml_value()), 0..8),
        preset in prop::option::of(prop::sample::select(vec!["minimal", "demo", "ha", "nope"])),
    ) {
        let mut m: Mapping = root.into_iter().map(|(k, v)| (Value::String(k), v)).collect();
        if let Some(p) = preset {
            m.insert(Value::String("preset".into()), Value::String(p.into()));
        }
        let text = serde_yaml::to_string(&Value::Mapping(m)).expect("serialise");
        check_outcome(&text)?;
    }

    #[test]
    fn random_values_in_a_valid_lab(
        preset in prop::sample::select(vec!["demo", "minimal", "ha", "live-migration", "kayobe-aio"]),
        edits in prop::collection::vec((any::<prop::sample::Index>(), scalar()), 1..5),
    ) {
        let base = lab::load_preset(preset).expect("preset loads");
        let mut v: Value = serde_yaml::from_str(&lab::to_yaml(&base)).expect("parses");
        for (idx, new) in edits {
            let mut all = Vec::new();
            leaves(&v, &mut Vec::new(), &mut all);
            let path = idx.get(&all).clone();
            set(&mut v, &path, new);
        }
        let text = serde_yaml::to_string(&v).expect("serialise");
        check_outcome(&text)?;
        // The typed lab (when it parses) validates with exact, explained problems.
        if let Ok(l) = lab::parse_str(&text, "lab.yaml") {
            for p in lab::validate(&l) {
                prop_assert!(!p.path.is_empty(), "{p:?}");
                prop_assert!(!p.message.is_empty() && !p.fix.is_empty(), "{p:?}");
            }
        }
    }

    #[test]
    fn big_counts_and_sizes_are_rejected_not_expanded(
        count in any::<u32>(), memory in any::<u64>(), vcpus in any::<u32>(), port in any::<u16>(),
    ) {
        let mut l = lab::load_preset("minimal").expect("preset loads");
        l.overcloud.nodes[0].count = count;
        l.overcloud.nodes[0].memory_mib = memory;
        l.overcloud.nodes[0].vcpus = vcpus;
        l.overcloud.vbmc.base_port = port;
        for p in lab::validate(&l) {
            prop_assert!(!p.message.is_empty() && !p.fix.is_empty(), "{p:?}");
        }
    }
}
