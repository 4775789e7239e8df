//! Fixes are checked by applying them. Every error of every case in tests/invalid_configs/
//! whose fix gives a value (`use \`V\``, `write \`V\``, `did you mean \`V\`?`, an example
//! `e.g. V` or `like V`), a reordering (`put \`X\` first`) or a removal (`remove PATH`) is
//! applied by machine to the lab; the error must be gone, and a case with one error must then
//! validate. Fixes worded as advice without a value are counted, not applied
//! (`LABWARP_PRINT_ADVICE=1 ... -- --nocapture` lists them).
//!
//! Installer rules (`(rule R; ...)` in the message) must also yield to `overrides: [R]`:
//! the lab then loads, with the problem as a warning.

use crate::common;

use common::labyaml::{segments, set};
use labwarp::lab::{self, Problem};
use serde_yaml::Value;
use std::fs;
use std::path::{Path, PathBuf};

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid_configs");
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The first backticked word of `s` after `prefix`.
fn quoted_after<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    s.strip_prefix(prefix)?.strip_prefix('`')?.split('`').next()
}

/// The value at `path` in a YAML tree.
fn get_mut<'a>(v: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    let mut cur = v;
    for seg in segments(path) {
        cur = match seg {
            Ok(k) => cur.as_mapping_mut()?.get_mut(k.as_str())?,
            Err(i) => cur.as_sequence_mut()?.get_mut(i)?,
        };
    }
    Some(cur)
}

/// `a.b[2]` → (`a.b`, Err(2)); `a.b.c` → (`a.b`, Ok("c")).
fn split_last(path: &str) -> (String, Result<String, usize>) {
    if let Some(stripped) = path.strip_suffix(']')
        && let Some((head, idx)) = stripped.rsplit_once('[')
    {
        return (head.to_string(), Err(idx.parse().unwrap()));
    }
    match path.rsplit_once('.') {
        Some((head, key)) => (head.to_string(), Ok(key.to_string())),
        None => (String::new(), Ok(path.to_string())),
    }
}

/// The lab with `p`'s fix applied, as YAML; `None` when the fix is advice without a value.
fn apply(full: &Value, p: &Problem) -> Option<Value> {
    let mut v = full.clone();
    let fix = p.fix.as_str();
    if let Some(x) = quoted_after(fix, "put ").filter(|_| fix.contains("` first")) {
        let (list, _) = split_last(&p.path);
        let items = get_mut(&mut v, &list)?.as_sequence_mut()?;
        let x = Value::String(x.to_string());
        items.retain(|i| *i != x);
        items.insert(0, x);
        return Some(v);
    }
    if let Some(path) = fix.strip_prefix("remove ") {
        let path = path.split([' ', ':', ',']).next()?;
        let (parent, last) = split_last(path);
        let parent = if parent.is_empty() {
            &mut v
        } else {
            get_mut(&mut v, &parent)?
        };
        match last {
            Ok(key) => {
                parent.as_mapping_mut()?.remove(key.as_str())?;
            }
            // `remove hypervisors[1] and any after it`
            Err(i) => parent.as_sequence_mut()?.truncate(i),
        }
        return Some(v);
    }
    // An example (`e.g. V` or `e.g. \`key: V\``) is a value too: applied, it must validate.
    let last_key = p.path.rsplit('.').next().unwrap_or_default();
    let example = fix
        .split_once("e.g. ")
        .or_else(|| fix.split_once(" like "))
        .map(|(_, rest)| match rest.strip_prefix('`') {
            Some(q) => {
                let q = q.split('`').next().unwrap_or_default();
                q.strip_prefix(last_key)
                    .and_then(|r| r.strip_prefix(": "))
                    .unwrap_or(q)
            }
            None => rest.split([' ', ',', ')']).next().unwrap_or_default(),
        });
    let value = quoted_after(fix, "use ")
        .or_else(|| quoted_after(fix, "write "))
        .or_else(|| quoted_after(fix, "did you mean "))
        .or(example.filter(|e| !e.is_empty()))?;
    let value: Value = serde_yaml::from_str(value).unwrap_or(Value::String(value.into()));
    set(&mut v, &p.path, value);
    Some(v)
}

#[test]
fn every_fix_with_a_value_is_applied_and_the_lab_then_validates() {
    let (mut applied, mut advice, mut unparsed) = (0, 0, 0);
    let mut wrong = Vec::new();
    for case in cases() {
        let text = fs::read_to_string(&case).unwrap();
        let err = lab::load_str(&text, "t").expect_err("an invalid case");
        // Parse errors (syntax, unknown keys) have no lab to apply a fix to.
        let Ok(parsed) = lab::parse_str(&text, "t") else {
            unparsed += 1;
            continue;
        };
        let mut full: Value = serde_yaml::from_str(&lab::to_yaml(&parsed)).unwrap();
        full.as_mapping_mut().unwrap().remove("preset");
        // to_yaml never writes a password: keep the case's own.
        if let Some(pw) = &parsed.overcloud.vbmc.password {
            set(
                &mut full,
                "overcloud.vbmc.password",
                Value::String(pw.expose().into()),
            );
        }
        let errors: Vec<&Problem> = err.errors().collect();
        for p in &errors {
            let Some(fixed) = apply(&full, p) else {
                advice += 1;
                if std::env::var_os("LABWARP_PRINT_ADVICE").is_some() {
                    println!("ADVICE {}: {}", p.path, p.fix);
                }
                continue;
            };
            applied += 1;
            let name = case.file_name().unwrap().to_string_lossy();
            let yaml = serde_yaml::to_string(&fixed).unwrap();
            match lab::load_str(&yaml, "fixed") {
                Ok(_) => {}
                Err(e) if errors.len() == 1 => wrong.push(format!(
                    "{name}: applying `{}` to {} does not validate:\n{e}",
                    p.fix, p.path
                )),
                Err(e) => {
                    if e.errors()
                        .any(|q| q.path == p.path && q.message == p.message)
                    {
                        wrong.push(format!("{name}: `{}` does not fix {}:\n{e}", p.fix, p.path));
                    }
                }
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n\n"));
    assert!(applied >= 15, "only {applied} fixes applied");
    println!(
        "fixes: {applied} applied by machine and re-validated, {advice} worded as advice, {unparsed} cases are parse errors"
    );
}

#[test]
fn each_installer_rule_yields_to_its_override() {
    let mut overridden = 0;
    for case in cases() {
        let text = fs::read_to_string(&case).unwrap();
        let Err(err) = lab::load_str(&text, "t") else {
            continue;
        };
        let rules: Vec<String> = err
            .errors()
            .filter_map(|p| p.message.split("(rule ").nth(1))
            .filter_map(|r| r.split(';').next())
            .map(str::to_string)
            .collect();
        if rules.is_empty() || rules.len() != err.errors().count() {
            continue;
        }
        let with = format!("{text}\noverrides: [{}]\n", rules.join(", "));
        let lab = lab::load_str(&with, "t").unwrap_or_else(|e| {
            panic!(
                "{}: overrides {rules:?} do not let it load:\n{e}",
                case.display()
            )
        });
        let warnings = lab::validate(&lab);
        for r in &rules {
            assert!(
                warnings
                    .iter()
                    .any(|w| !w.is_error() && w.message.contains(&format!("overrides: [{r}]"))),
                "{}: no warning says {r} is overridden: {warnings:?}",
                case.display()
            );
            overridden += 1;
        }
    }
    assert!(overridden >= 10, "only {overridden} rules overridden");
    println!("installer rules: {overridden} errors become warnings with their override");
}
