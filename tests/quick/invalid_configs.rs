//! Every file in tests/invalid_configs/ is a lab.yaml that must be rejected with exactly the
//! problems written in its sibling `.expected` file (field path, value, message and fix, and
//! for parse errors the line and column). `LABWARP_BLESS=1 cargo test --test quick invalid_configs::`
//! rewrites the `.expected` files after a deliberate change; review the diff.

use labwarp::lab;
use std::fs;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid_configs")
}

fn cases() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir())
        .expect("tests/invalid_configs exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn there_are_at_least_25_cases() {
    assert!(cases().len() >= 25, "only {} cases", cases().len());
}

#[test]
fn each_invalid_config_fails_with_its_exact_error() {
    let bless = std::env::var_os("LABWARP_BLESS").is_some();
    let mut failures = Vec::new();
    for case in cases() {
        let text = fs::read_to_string(&case).expect("readable case");
        // A fixed origin keeps the expected text independent of where the repo lives.
        let err = match lab::load_str(&text, "lab.yaml") {
            Ok(_) => {
                failures.push(format!("{}: was accepted", case.display()));
                continue;
            }
            Err(e) => e,
        };
        assert!(
            err.errors().count() > 0,
            "{}: rejected without an error",
            case.display()
        );
        for p in &err.problems {
            assert!(
                !p.message.is_empty() && !p.fix.is_empty(),
                "{}: {p:?}",
                case.display()
            );
        }
        let actual = format!("{err}\n");
        let expected_path = case.with_extension("expected");
        if bless {
            fs::write(&expected_path, &actual).expect("write .expected");
            continue;
        }
        let expected = fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("missing {}", expected_path.display()));
        if actual != expected {
            failures.push(format!(
                "{}\n  expected: {}\n  actual:   {}",
                case.display(),
                expected.trim_end().replace('\n', "\n            "),
                actual.trim_end().replace('\n', "\n            ")
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The same files through the real binary: exit code 1 and the problem on stdout.
#[test]
fn cli_rejects_each_invalid_config() {
    for case in cases() {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_labwarp"))
            .arg("validate")
            .arg(&case)
            .output()
            .expect("run labwarp");
        assert_eq!(out.status.code(), Some(1), "{}", case.display());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(": error: "), "{}: {stdout}", case.display());
        assert!(stdout.contains("invalid ("), "{}: {stdout}", case.display());
    }
}

/// The secrets a case plants: the value of every `password:` line (quotes and list brackets
/// taken off), when long enough to be told apart from ordinary words.
fn planted_secrets(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("password:"))
        .map(|v| v.trim().trim_matches(|c| "[]'\"".contains(c)).to_string())
        .filter(|v| v.len() >= 8)
        .collect()
}

/// No message of any invalid case shows a secret it planted: not the library's problems
/// (value, message, fix), not `labwarp validate`'s output.
#[test]
fn no_message_of_any_case_shows_a_planted_secret() {
    let mut planted = 0;
    for case in cases() {
        let text = fs::read_to_string(&case).unwrap();
        let secrets = planted_secrets(&text);
        if secrets.is_empty() {
            continue;
        }
        let err = lab::load_str(&text, "lab.yaml").expect_err("an invalid case");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_labwarp"))
            .arg("validate")
            .arg(&case)
            .output()
            .expect("run labwarp");
        let shown = format!(
            "{err}\n{:?}\n{}{}",
            err.problems,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for s in &secrets {
            planted += 1;
            assert!(
                !shown.contains(s.as_str()),
                "{}: the secret {s:?} is shown:\n{shown}",
                case.display()
            );
        }
    }
    assert!(planted >= 3, "only {planted} secrets planted in the cases");
    println!("secrets: {planted} planted in invalid cases, none shown in any message");
}
