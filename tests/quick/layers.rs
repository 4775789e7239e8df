//! The layers ARCHITECTURE.md draws, enforced: every `crate::` import in `src/` points to a
//! module of a lower layer, and only the UI (`tui`, `theme`) imports the terminal libraries.
//! A planted wrong import is caught (the checker is tested on text as well as on the tree).

use std::path::{Path, PathBuf};

/// Top-level modules from the bottom up; a module may import only modules of a lower rank.
const LAYERS: &[&[&str]] = &[
    &["lab", "quote"],
    &["workspace"],
    &["render", "secrets"],
    &["host"],
    &["virt", "podman"],
    &["engine"],
    &["checks"],
    &["plan"],
    &["run"],
    &["theme"],
    &["tui"],
    &["cli"],
];

/// Crates only the UI layer may import.
const UI_CRATES: &[&str] = &["ratatui", "crossterm", "ratatui_textarea"];
const UI_MODULES: &[&str] = &["tui", "theme"];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level module a file of `src/` belongs to (`src/plan/steps/x.rs` → `plan`).
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_string())
}

/// Code without comments (line comments and doc comments; block comments are not used for
/// code in this crate) and without string literals, so words in prose are not imports.
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = '\0';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if !in_str && c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' && prev != '\'' {
                in_str = !in_str;
                out.push(' ');
            } else if in_str {
                out.push(' ');
            } else {
                out.push(c);
            }
            prev = if prev == '\\' && c == '\\' { '\0' } else { c };
        }
        out.push('\n');
    }
    out
}

/// The top-level modules named after `crate::` in `code`, with the line they are on:
/// `crate::run::x`, and each branch of `crate::{run::x, plan}`.
fn crate_refs(code: &str) -> Vec<(usize, String)> {
    let mut refs = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        // `labwarp_crate::` or `$crate::` are not this crate's paths.
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let line = code[..i].matches('\n').count() + 1;
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            let mut items = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(std::mem::take(&mut item));
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            items.push(item);
            for it in items {
                let name: String = it
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    refs.push((line, name));
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                refs.push((line, name));
            }
        }
    }
    refs
}

/// Every import of `file` (relative to `src/`) against the layers, as messages naming the
/// file, the line and the import.
fn violations(rel: &Path, text: &str) -> Vec<String> {
    let Some(module) = module_of(rel) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let Some(own) = rank(&module) else {
        out.push(format!(
            "src/{}: module `{module}` has no layer: add it to LAYERS in tests/quick/layers.rs and to ARCHITECTURE.md's picture",
            rel.display()
        ));
        return out;
    };
    let code = code_of(text);
    for (line, target) in crate_refs(&code) {
        if target == module {
            continue;
        }
        match rank(&target) {
            Some(r) if r < own => {}
            Some(_) => out.push(format!(
                "src/{}:{line}: `{module}` imports `crate::{target}`, which is not below it (layers, bottom up: {})",
                rel.display(),
                order()
            )),
            // A crate-root item (`crate::SomeType`) or a macro: not a module edge.
            None => {}
        }
    }
    if !UI_MODULES.contains(&module.as_str()) {
        for (i, l) in code.lines().enumerate() {
            for c in UI_CRATES {
                let hit = l.match_indices(c).any(|(at, _)| {
                    let before = l[..at].chars().next_back();
                    let after = l[at + c.len()..].chars().next();
                    !before.is_some_and(|b| b.is_alphanumeric() || b == '_' || b == ':')
                        && after == Some(':')
                });
                if hit {
                    out.push(format!(
                        "src/{}:{}: `{module}` uses `{c}`: only {} may touch the terminal",
                        rel.display(),
                        i + 1,
                        UI_MODULES.join(" and ")
                    ));
                }
            }
        }
    }
    out
}

fn order() -> String {
    LAYERS
        .iter()
        .map(|l| l.join("/"))
        .collect::<Vec<_>>()
        .join(" → ")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_import_points_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    assert!(files.len() > 50, "src/ has {} files?", files.len());
    let mut all = Vec::new();
    let mut edges = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let rel = f.strip_prefix(&src).unwrap();
        edges += crate_refs(&code_of(&text)).len();
        all.extend(violations(rel, &text));
    }
    assert!(
        edges > 500,
        "only {edges} crate:: paths found: is the scanner broken?"
    );
    assert!(
        all.is_empty(),
        "{} imports against the layers:\n{}",
        all.len(),
        all.join("\n")
    );
}

#[test]
fn a_planted_upward_import_is_caught_naming_file_line_and_import() {
    let v = violations(
        Path::new("lab/model.rs"),
        "use std::fmt;\nuse crate::run::state::StateStore;\n",
    );
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        v[0].contains("src/lab/model.rs:2") && v[0].contains("crate::run"),
        "{}",
        v[0]
    );
    // A grouped import, a sideways one (same layer), and an inline path.
    let v = violations(
        Path::new("checks/x.rs"),
        "use crate::{lab::Lab, plan::Facts};\nfn f() { crate::checks::g(); }\n",
    );
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("crate::plan"), "{}", v[0]);
    let v = violations(
        Path::new("render/x.rs"),
        "use crate::secrets::write_secret;\n",
    );
    assert_eq!(v.len(), 1, "same layer is not below: {v:?}");
    let v = violations(
        Path::new("plan/x.rs"),
        "fn f() { let _ = crate::run::cleanup::remove; }\n",
    );
    assert_eq!(v.len(), 1, "{v:?}");
}

#[test]
fn prose_and_strings_are_not_imports_and_downward_ones_pass() {
    let text = "//! see crate::tui for the screens\nconst S: &str = \"crate::run\";\nuse crate::lab::Lab;\nuse crate::engine::event::Event;\n";
    assert!(violations(Path::new("plan/x.rs"), text).is_empty());
}

#[test]
fn the_terminal_libraries_stay_in_the_ui() {
    let v = violations(
        Path::new("cli/ssh.rs"),
        "use ratatui::crossterm::terminal;\n",
    );
    assert!(
        v.iter()
            .any(|m| m.contains("ratatui") && m.contains("cli/ssh.rs:1")),
        "{v:?}"
    );
    assert!(
        violations(
            Path::new("tui/raw_terminal.rs"),
            "use ratatui::crossterm::terminal;\n"
        )
        .is_empty()
    );
    let v = violations(Path::new("newthing/mod.rs"), "");
    assert!(v[0].contains("has no layer"), "{v:?}");
}

/// Inside the TUI, the dependency runs one way: `app` (and `view`, which draws it) call the
/// screens, and a screen gets the `Shell`, its own state and the pieces it needs passed in.
/// A screen that imports the App, the chrome, the driver, the terminal loop or another
/// screen, or names `App` at all, is named here with its line.
fn screen_violations(rel: &Path, text: &str) -> Vec<String> {
    const ABOVE: &[&str] = &["app", "view", "driver", "terminal", "screens"];
    let own = rel.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    let code = code_of(text);
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let at = format!("src/{}:{}", rel.display(), n + 1);
        for (i, _) in line.match_indices("crate::tui::") {
            let rest = &line[i + "crate::tui::".len()..];
            let module = ident(rest);
            if rest.starts_with('{') {
                out.push(format!(
                    "{at}: a grouped `crate::tui::{{…}}` import: name each module"
                ));
            } else if module == "screens" {
                let other = ident(rest.strip_prefix("screens::").unwrap_or_default());
                if other != own {
                    out.push(format!(
                        "{at}: imports another screen `crate::tui::screens::{other}`"
                    ));
                }
            } else if ABOVE.contains(&module.as_str()) {
                out.push(format!(
                    "{at}: imports `crate::tui::{module}`, which calls the screens"
                ));
            }
        }
        for (i, _) in line.match_indices("super::") {
            let other = ident(&line[i + "super::".len()..]);
            if !other.is_empty() {
                out.push(format!("{at}: imports another screen `super::{other}`"));
            }
        }
        let words = line.split(|c: char| !(c.is_alphanumeric() || c == '_'));
        if words.into_iter().any(|w| w == "App") {
            out.push(format!(
                "{at}: names `App`: pass the Shell and the state it needs"
            ));
        }
    }
    out
}

#[test]
fn screens_get_what_they_need_and_never_the_app() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tui/screens");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    files.sort();
    assert!(
        files.len() >= 9,
        "src/tui/screens has {} files?",
        files.len()
    );
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let all: Vec<String> = files
        .iter()
        .flat_map(|f| {
            let rel = f.strip_prefix(&src).unwrap();
            screen_violations(rel, &std::fs::read_to_string(f).unwrap())
        })
        .collect();
    assert!(all.is_empty(), "screens reaching up:\n{}", all.join("\n"));
}

#[test]
fn a_screen_reaching_for_the_app_or_another_screen_is_caught() {
    let rel = Path::new("tui/screens/review.rs");
    let planted = "use crate::tui::shell::Shell;\nuse crate::tui::app::App;\nfn f(a: &mut App) { super::dashboard::g(); crate::tui::screens::cleanup::h(); }\n";
    let v = screen_violations(rel, planted);
    assert_eq!(v.len(), 5, "{v:?}");
    assert!(
        v[0].contains("review.rs:2") && v[0].contains("crate::tui::app"),
        "{v:?}"
    );
    assert!(v.iter().any(|m| m.contains("super::dashboard")), "{v:?}");
    assert!(v.iter().any(|m| m.contains("screens::cleanup")), "{v:?}");
    // Its own module, the shell, prose and strings pass.
    let fine = "//! unlike the App\nuse crate::tui::shell::Shell;\nuse crate::tui::screens::review::State;\nconst S: &str = \"crate::tui::app\";\n";
    assert!(screen_violations(rel, fine).is_empty());
}

/// Small modules with one job: no file of `src/` grows past this many lines (issue 19).
const MAX_LINES: usize = 600;

fn too_long(files: &[(String, String)]) -> Vec<String> {
    files
        .iter()
        .filter(|(_, text)| text.lines().count() > MAX_LINES)
        .map(|(name, text)| {
            format!(
                "src/{name}: {} lines (at most {MAX_LINES}: split it by job)",
                text.lines().count()
            )
        })
        .collect()
}

#[test]
fn no_file_of_src_is_over_600_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let files: Vec<(String, String)> = paths
        .iter()
        .map(|p| {
            (
                p.strip_prefix(&src).unwrap().display().to_string(),
                std::fs::read_to_string(p).unwrap(),
            )
        })
        .collect();
    assert!(files.len() > 50, "src/ has {} files?", files.len());
    let long = too_long(&files);
    assert!(long.is_empty(), "{}", long.join("\n"));
    // The check itself catches a long file.
    let planted = [("big.rs".to_string(), "x\n".repeat(MAX_LINES + 1))];
    assert_eq!(
        too_long(&planted),
        vec![format!(
            "src/big.rs: {} lines (at most 600: split it by job)",
            MAX_LINES + 1
        )]
    );
}
