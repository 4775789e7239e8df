//! Formats are escaped or refused per format (SECURITY.md "What each text field accepts").
//!
//! 1. The table in SECURITY.md is the contract: for each text field it says whether a double
//!    quote, a newline, `$(…)` and a space are accepted. The test reads the table and feeds each
//!    payload, appended to the field's example value, through `lab::load_str`: accepted or
//!    refused (naming the field) exactly as written. It also checks that every text field of a
//!    full lab is in the table.
//! 2. Each writer holds on its own: the payloads are planted in every text field of a lab that
//!    is NOT validated (`lab::parse_str`), every artefact is rendered, and each rendered file is
//!    parsed back with a real parser for its format (exports: `render::exports::parse` the way
//!    exportfs splits lines; undercloud.conf: python3 configparser; YAML: serde_yaml; XML:
//!    quick-xml; JSON: serde_json). A writer either refuses the value (naming the field) or its
//!    file has exactly the lines, keys and options of the clean lab, with the value intact.

use crate::common;

use common::labyaml::{lab_with, names_field, text_leaves};
use labwarp::lab;
use serde_yaml::Value;
use std::collections::BTreeSet;
use std::path::Path;

const PRESET: &str = "live-migration";

/// (column name in SECURITY.md, what is appended to the example value)
const PAYLOADS: &[(&str, &str)] = &[
    ("quote", "\"q"),
    ("newline", "\nq"),
    ("$(…)", "$(q)"),
    ("space", " q"),
];

struct Row {
    field: String,
    example: String,
    accepts: Vec<bool>,
}

fn table() -> Vec<Row> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("SECURITY.md"))
        .expect("SECURITY.md");
    let section = text
        .split("## What each text field accepts")
        .nth(1)
        .expect("SECURITY.md has a section `## What each text field accepts`");
    let section = section.split("\n## ").next().unwrap_or_default();
    let mut rows = Vec::new();
    let mut header: Option<Vec<String>> = None;
    for line in section.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<String> = line
            .trim_matches('|')
            .split(" | ")
            .map(|c| c.trim().trim_matches('`').to_string())
            .collect();
        let Some(h) = &header else {
            header = Some(cells);
            continue;
        };
        if cells[0].starts_with("---") {
            continue;
        }
        let col = |name: &str| {
            h.iter()
                .position(|c| c.starts_with(name))
                .unwrap_or_else(|| panic!("column {name} in {h:?}"))
        };
        let accepts = PAYLOADS
            .iter()
            .map(|(name, _)| match cells[col(name)].as_str() {
                "accepted" => true,
                "refused" => false,
                other => panic!("{}: `{other}` is neither accepted nor refused", cells[0]),
            })
            .collect();
        rows.push(Row {
            field: cells[col("field")].clone(),
            example: cells[col("example")].clone(),
            accepts,
        });
    }
    assert!(rows.len() > 40, "only {} rows in the table", rows.len());
    rows
}

#[test]
fn security_md_lists_what_each_field_accepts_and_validation_agrees() {
    let rows = table();
    let mut wrong = Vec::new();
    // LABWARP_BLESS=1 prints the verdict columns as validation has them, to review and paste.
    let bless = std::env::var_os("LABWARP_BLESS").is_some();
    for row in &rows {
        if bless {
            let cols: Vec<&str> = PAYLOADS
                .iter()
                .map(|(_, payload)| {
                    let value = format!("{}{payload}", row.example);
                    let text = lab_with(PRESET, &row.field, Value::String(value));
                    if lab::load_str(&text, "t").is_ok() {
                        "accepted"
                    } else {
                        "refused"
                    }
                })
                .collect();
            println!("BLESS|{}|{}", row.field, cols.join("|"));
        }
        // The example itself must be valid, else the test proves nothing.
        let clean = lab_with(PRESET, &row.field, Value::String(row.example.clone()));
        if let Err(e) = lab::load_str(&clean, "t") {
            wrong.push(format!(
                "{}: the example {:?} is refused: {e}",
                row.field, row.example
            ));
            continue;
        }
        for ((name, payload), want) in PAYLOADS.iter().zip(&row.accepts) {
            let value = format!("{}{payload}", row.example);
            let text = lab_with(PRESET, &row.field, Value::String(value.clone()));
            match (lab::load_str(&text, "t"), want) {
                (Ok(_), true) => {}
                (Err(e), false) => {
                    if !e.errors().any(|p| names_field(&p.path, &row.field)) {
                        wrong.push(format!(
                            "{} {name}: refused without naming it: {e}",
                            row.field
                        ));
                    }
                }
                (Ok(_), false) => wrong.push(format!(
                    "{} {name}: SECURITY.md says refused, validation accepts {value:?}",
                    row.field
                )),
                (Err(e), true) => wrong.push(format!(
                    "{} {name}: SECURITY.md says accepted, validation refuses {value:?}: {e}",
                    row.field
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));

    // Every text field of a full lab is in the table (lists by their first element).
    let listed: BTreeSet<&str> = rows.iter().map(|r| r.field.as_str()).collect();
    let mut full: Value =
        serde_yaml::from_str(&lab::to_yaml(&lab::load_preset(PRESET).unwrap())).unwrap();
    for extra in [
        "networks[1].host_nic",
        "undercloud.vm.nics[0].mac",
        "images.undercloud.md5",
        "images.undercloud.md5_url",
        "undercloud.cloud_init.ssh_authorized_keys[0]",
        "undercloud.cloud_init.packages[0]",
        "overcloud.deploy.environment_files[0]",
        "theme",
    ] {
        common::labyaml::set(&mut full, extra, Value::String("x".into()));
    }
    let mut leaves = Vec::new();
    text_leaves(&full, "", &mut leaves);
    let missing: BTreeSet<String> = leaves
        .iter()
        .map(|(p, _)| first_elements(p))
        .filter(|p| p != "preset" && !listed.contains(p.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "text fields missing from SECURITY.md: {missing:?}"
    );
    println!(
        "field formats (validation): {} fields × {} payloads agree with SECURITY.md",
        rows.len(),
        PAYLOADS.len()
    );
}

/// `networks[1].dhcp.start` → `networks[0].dhcp.start`: the table lists a list's first element.
fn first_elements(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..i]);
        out.push_str("[0]");
        rest = &rest[i..];
        rest = &rest[rest.find(']').map_or(rest.len(), |j| j + 1)..];
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------------
// 2. The writers on their own: an unvalidated lab with a payload in one field, every artefact
//    rendered and parsed back.

use labwarp::plan::HostRole;
use labwarp::plan::steps::migration::NfsExport;
use labwarp::render::{self, Artefact, RenderContext};
use std::path::PathBuf;

/// The payloads the writers get: the table's plus a few that target one format each.
const WRITER_PAYLOADS: &[&str] = &[
    "\"q",
    "\nq",
    "$(q)",
    " q",
    "\r\nkey = injected",
    "\" *(rw,no_root_squash)",
    "</name><evil/>",
    "'; x: [1]",
    "\n  injected: true",
    "${HOME}",
    "#comment",
];

/// The shape of a YAML or JSON tree: entries per mapping and per list, and each scalar's kind.
/// A value that added a key, an item or a document would change it.
fn tree_shape(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) => format!(
            "{{{}}}",
            m.values().map(tree_shape).collect::<Vec<_>>().join(",")
        ),
        serde_json::Value::Array(a) => {
            format!(
                "[{}]",
                a.iter().map(tree_shape).collect::<Vec<_>>().join(",")
            )
        }
        serde_json::Value::String(_) => "s".into(),
        serde_json::Value::Number(_) => "n".into(),
        serde_json::Value::Bool(_) => "b".into(),
        serde_json::Value::Null => "0".into(),
    }
}

/// XML: every element and attribute name, in order (text and attribute values left out).
fn xml_shape(text: &str) -> Result<String, String> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(text);
    let mut out = String::new();
    loop {
        match r.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) | Event::Empty(e) => {
                out.push('<');
                out.push_str(e.name().as_ref());
                for a in e.attributes() {
                    let a = a.map_err(|e| e.to_string())?;
                    out.push(' ');
                    out.push_str(a.key.as_ref());
                }
                out.push('>');
            }
            Event::End(e) => {
                out.push_str("</");
                out.push_str(e.name().as_ref());
                out.push('>');
            }
            Event::Eof => return Ok(out),
            _ => {}
        }
    }
}

/// ssh_config: each line's keyword and number of arguments (`"…"` is one argument).
fn ssh_config_shape(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| {
            let l = l.trim();
            let (key, rest) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            let (mut args, mut quoted, mut word) = (0, false, false);
            for c in rest.chars() {
                match c {
                    '"' => {
                        quoted = !quoted;
                        word = true;
                    }
                    c if c.is_whitespace() && !quoted => {
                        if word {
                            args += 1;
                        }
                        word = false;
                    }
                    _ => word = true,
                }
            }
            if word {
                args += 1;
            }
            format!("{key}/{args}")
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// Shapes of every artefact but undercloud.conf (INI goes to python3 configparser in a batch).
fn shapes(arts: &[Artefact]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for a in arts {
        let name = a.path.to_string_lossy();
        let shape = if name.ends_with(".xml") {
            xml_shape(&a.contents)?
        } else if name.ends_with(".json") {
            let v: serde_json::Value =
                serde_json::from_str(&a.contents).map_err(|e| e.to_string())?;
            tree_shape(&v)
        } else if name.ends_with("ssh.config") {
            ssh_config_shape(&a.contents)
        } else if name.ends_with("undercloud.conf") {
            String::new()
        } else {
            // user-data, meta-data, inventory.yaml, nova-nfs.yaml: one YAML document each.
            if name.ends_with("user-data") && !a.contents.starts_with("#cloud-config\n") {
                return Err("user-data lost its #cloud-config first line".into());
            }
            let v: serde_json::Value =
                serde_yaml::from_str(&a.contents).map_err(|e| format!("{name}: {e}"))?;
            tree_shape(&v)
        };
        out.push((name.into_owned(), shape));
    }
    Ok(out)
}

/// Each undercloud.conf as python3's configparser reads it: sections and their keys, and
/// whether any value spans lines (interpolation off: only the structure is compared).
fn ini_shapes(texts: &[String]) -> Vec<String> {
    let script = r#"
import configparser, json, sys
out = []
for text in json.load(sys.stdin):
    p = configparser.ConfigParser(interpolation=None, strict=True)
    try:
        p.read_string(text)
        shape = {s: sorted(p[s].keys()) for s in p.sections()}
        shape["DEFAULT"] = sorted(p.defaults().keys())
        multi = any("\n" in v for s in p.sections() for v in p[s].values())
        out.append(json.dumps(shape, sort_keys=True) + (" MULTILINE" if multi else ""))
    except Exception as e:
        out.append("ERROR " + type(e).__name__)
print(json.dumps(out))
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(serde_json::to_string(texts).unwrap().as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python3 printed JSON")
}

fn context(lab: &lab::Lab) -> RenderContext {
    let mut ctx = RenderContext::for_lab(lab, Path::new("/srv/ws"));
    ctx.vbmc_password = Some(lab::Secret("pw".into()));
    ctx
}

fn nfs_export(lab: &lab::Lab) -> NfsExport {
    NfsExport {
        role: HostRole::Undercloud,
        lab: lab.name.clone(),
        exports_dir: PathBuf::from("/etc/exports.d"),
        export_path: PathBuf::from(&lab.overcloud.live_migration.export_path),
        clients: lab.undercloud.conf.subnet.cidr.clone(),
        exportfs: true,
    }
}

fn undercloud_conf(arts: &[Artefact]) -> String {
    arts.iter()
        .find(|a| a.path.ends_with("undercloud.conf"))
        .map(|a| a.contents.clone())
        .unwrap_or_default()
}

#[test]
fn every_writer_escapes_or_refuses_each_payload() {
    // (case, its undercloud.conf, the clean example's undercloud.conf)
    let mut confs: Vec<(String, String, String)> = Vec::new();
    let (mut refused, mut rendered, mut exports_checked) = (0, 0, 0);
    let mut wrong = Vec::new();
    for row in table() {
        // The field's example, valid: the shapes every payload's files must keep.
        let clean_lab = lab::parse_str(
            &lab_with(PRESET, &row.field, Value::String(row.example.clone())),
            "t",
        )
        .unwrap();
        let clean = render::render_all(&clean_lab, &context(&clean_lab))
            .unwrap_or_else(|e| panic!("{}: the example does not render: {e}", row.field));
        let clean_shapes = shapes(&clean).expect("the example's files parse");
        for payload in WRITER_PAYLOADS {
            let value = format!("{}{payload}", row.example);
            let text = lab_with(PRESET, &row.field, Value::String(value.clone()));
            // Not validated: the writers must hold without validation's help.
            let Ok(l) = lab::parse_str(&text, "t") else {
                continue;
            };
            let case = format!("{} = {value:?}", row.field);
            // exports(5): exactly one export, of this path, for the subnet, with the options.
            if let Ok(file) = nfs_export(&l).content() {
                exports_checked += 1;
                let want = render::exports::Export {
                    path: l.overcloud.live_migration.export_path.clone(),
                    clients: l.undercloud.conf.subnet.cidr.clone(),
                    options: "rw,sync,no_root_squash,no_subtree_check"
                        .split(',')
                        .map(String::from)
                        .collect(),
                };
                if render::exports::parse(&file) != vec![Some(want)] {
                    wrong.push(format!("{case}: exports file\n{file}"));
                }
            }
            let Ok(arts) = render::render_all(&l, &context(&l)) else {
                refused += 1;
                continue;
            };
            rendered += 1;
            match shapes(&arts) {
                Err(e) => wrong.push(format!("{case}: a file does not parse: {e}")),
                Ok(s) if s.len() != clean_shapes.len() => wrong.push(format!(
                    "{case}: {} files, not {}",
                    s.len(),
                    clean_shapes.len()
                )),
                Ok(s) => {
                    for ((file, got), (_, want)) in s.iter().zip(&clean_shapes) {
                        if got != want {
                            wrong.push(format!("{case}: {file} changed shape:\n{got}\n{want}"));
                        }
                    }
                }
            }
            confs.push((case, undercloud_conf(&arts), undercloud_conf(&clean)));
        }
    }
    let texts: Vec<String> = confs
        .iter()
        .flat_map(|(_, got, want)| [got.clone(), want.clone()])
        .collect();
    let ini = ini_shapes(&texts);
    for (i, (case, got, _)) in confs.iter().enumerate() {
        let (g, w) = (&ini[2 * i], &ini[2 * i + 1]);
        assert!(
            !w.starts_with("ERROR"),
            "{case}: the clean undercloud.conf: {w}"
        );
        if g != w {
            wrong.push(format!(
                "{case}: undercloud.conf changed: {g}\nvs {w}\n{got}"
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    assert!(exports_checked > 0 && rendered > 0 && refused > 0);
    println!(
        "field formats (writers): {} payloads in each field: {rendered} labs rendered, every file parsed back with the example's lines, keys and options (exports {exports_checked}, configparser {}), {refused} refused by a writer",
        WRITER_PAYLOADS.len(),
        confs.len()
    );
}
