//! /etc/libvirt/qemu.conf: a line-preserving editor for libvirt's `key = value` format and the
//! four settings that decide whether qemu can open the lab's images (`user`, `group`,
//! `dynamic_ownership`, `security_driver`), reported against the chosen [`QemuMode`].

use super::{Area, CheckContext, FileEdit, FileRead, Finding, Fix, HostView, QemuMode, Severity};
use std::path::PathBuf;

const AREA: Area = Area::QemuConf;
pub const QEMU_CONF: &str = "/etc/libvirt/qemu.conf";
pub const QEMU_CONF_BACKUP: &str = "/etc/libvirt/qemu.conf.labwarp.bak";
/// The keys labwarp reads and edits; every other line is left byte-identical.
pub const KEYS: [&str; 4] = ["user", "group", "dynamic_ownership", "security_driver"];

/// A value as libvirt's config parser sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfValue {
    Str(String),
    Int(i64),
}

impl ConfValue {
    fn render(&self) -> String {
        match self {
            ConfValue::Str(s) => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
            ConfValue::Int(i) => i.to_string(),
        }
    }

    fn parse(raw: &str) -> ConfValue {
        let raw = raw.trim();
        if let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            ConfValue::Str(inner.replace("\\\"", "\"").replace("\\\\", "\\"))
        } else if let Ok(i) = raw.parse() {
            ConfValue::Int(i)
        } else {
            ConfValue::Str(raw.to_string())
        }
    }

    pub fn as_string(&self) -> String {
        match self {
            ConfValue::Str(s) => s.clone(),
            ConfValue::Int(i) => i.to_string(),
        }
    }
}

/// An active `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number.
    pub line_no: usize,
    pub line: String,
    pub value: ConfValue,
}

/// A libvirt config file held as its lines; edits touch only the lines of the keys edited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfFile {
    lines: Vec<String>,
    trailing_newline: bool,
}

/// Splits an active line into (indent, key, raw value, trailing comment).
fn split_entry(line: &str) -> Option<(&str, &str, &str, &str)> {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') {
        return None;
    }
    let indent = &line[..line.len() - trimmed.len()];
    let (key, rest) = trimmed.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    // The value ends at a `#` outside double quotes.
    let mut in_quotes = false;
    let mut end = rest.len();
    let mut prev = ' ';
    for (i, c) in rest.char_indices() {
        match c {
            '"' if prev != '\\' => in_quotes = !in_quotes,
            '#' if !in_quotes => {
                end = i;
                break;
            }
            _ => {}
        }
        prev = c;
    }
    Some((indent, key, rest[..end].trim(), &rest[end..]))
}

impl ConfFile {
    pub fn parse(text: &str) -> ConfFile {
        let trailing_newline = text.ends_with('\n');
        let body = text.strip_suffix('\n').unwrap_or(text);
        let lines = if text.is_empty() {
            Vec::new()
        } else {
            body.split('\n').map(str::to_string).collect()
        };
        ConfFile {
            lines,
            trailing_newline,
        }
    }

    pub fn render(&self) -> String {
        let mut s = self.lines.join("\n");
        if self.trailing_newline {
            s.push('\n');
        }
        s
    }

    /// The last active entry for `key` (libvirt keeps the last assignment).
    pub fn get(&self, key: &str) -> Option<Entry> {
        self.lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                let (_, k, v, _) = split_entry(l)?;
                (k == key).then(|| Entry {
                    line_no: i + 1,
                    line: l.clone(),
                    value: ConfValue::parse(v),
                })
            })
            .next_back()
    }

    /// Sets `key` on every active line that assigns it (indent and trailing comment kept), or
    /// appends `key = value` when no active line does.
    pub fn set(&mut self, key: &str, value: &ConfValue) {
        let mut found = false;
        for line in &mut self.lines {
            if let Some((indent, k, _, comment)) = split_entry(line)
                && k == key
            {
                let comment = if comment.is_empty() {
                    String::new()
                } else {
                    format!(" {comment}")
                };
                *line = format!("{indent}{key} = {}{comment}", value.render());
                found = true;
            }
        }
        if !found {
            self.lines.push(format!("{key} = {}", value.render()));
            self.trailing_newline = true;
        }
    }

    /// Comments out every active line for `key` (libvirt then uses its built-in default).
    pub fn unset(&mut self, key: &str) {
        for line in &mut self.lines {
            if split_entry(line).is_some_and(|(_, k, _, _)| k == key) {
                *line = format!("#{line}");
            }
        }
    }
}

/// What a mode wants for one key: a value to set, or libvirt's default (line commented out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    Set(ConfValue),
    /// Any value but this one (the line is commented out when it has it).
    Not(ConfValue),
}

pub fn wanted(mode: QemuMode, key: &str) -> Want {
    match (mode, key) {
        (QemuMode::Root, "user") | (QemuMode::Root, "group") => {
            Want::Set(ConfValue::Str("root".into()))
        }
        (QemuMode::Root, "dynamic_ownership") => Want::Set(ConfValue::Int(0)),
        (QemuMode::Root, _) => Want::Set(ConfValue::Str("none".into())),
        (QemuMode::Distro, "user") | (QemuMode::Distro, "group") => {
            Want::Not(ConfValue::Str("root".into()))
        }
        (QemuMode::Distro, "dynamic_ownership") => Want::Not(ConfValue::Int(0)),
        (QemuMode::Distro, _) => Want::Not(ConfValue::Str("none".into())),
    }
}

fn satisfied(want: &Want, have: Option<&ConfValue>) -> bool {
    match (want, have) {
        (Want::Set(v), Some(h)) => v == h,
        (Want::Set(_), None) => false,
        (Want::Not(v), Some(h)) => v != h,
        (Want::Not(_), None) => true,
    }
}

/// The edited file for `mode`, or `None` when it already matches. Only the four keys change.
pub fn edit_for_mode(text: &str, mode: QemuMode) -> Option<String> {
    let mut conf = ConfFile::parse(text);
    for key in KEYS {
        let want = wanted(mode, key);
        let have = conf.get(key).map(|e| e.value);
        if satisfied(&want, have.as_ref()) {
            continue;
        }
        match want {
            Want::Set(v) => conf.set(key, &v),
            Want::Not(_) => conf.unset(key),
        }
    }
    let new = conf.render();
    (new != text).then_some(new)
}

#[derive(Debug, Clone, Default)]
pub struct QemuConfFacts {
    pub file: FileRead,
    /// The modular daemon (virtqemud) is in use rather than monolithic libvirtd.
    pub modular: bool,
}

impl QemuConfFacts {
    /// The user qemu runs as (`None`: libvirt's built-in default, a non-root user).
    pub fn effective_user(&self) -> Option<String> {
        self.file
            .content()
            .and_then(|t| ConfFile::parse(t).get("user"))
            .map(|e| e.value.as_string())
    }

    /// The security driver in qemu.conf (`None`: libvirt picks AppArmor/SELinux if active).
    pub fn security_driver(&self) -> Option<String> {
        self.file
            .content()
            .and_then(|t| ConfFile::parse(t).get("security_driver"))
            .map(|e| e.value.as_string())
    }

    pub fn daemon(&self) -> &'static str {
        if self.modular {
            "virtqemud"
        } else {
            "libvirtd"
        }
    }
}

pub async fn gather(view: &HostView<'_>) -> QemuConfFacts {
    let file = view.read(QEMU_CONF).await;
    // Modular daemons: virtqemud has its own config and socket; libvirtd is the monolith.
    let modular = view.exists("/run/libvirt/virtqemud-sock").await
        && !view.exists("/run/libvirt/libvirt-sock").await;
    QemuConfFacts { file, modular }
}

fn default_note(key: &str) -> &'static str {
    match key {
        "user" | "group" => {
            "libvirt's built-in non-root user (libvirt-qemu on Debian, qemu on RHEL)"
        }
        "dynamic_ownership" => "1",
        _ => "the active LSM (apparmor or selinux), else none",
    }
}

pub fn evaluate(facts: &QemuConfFacts, ctx: &CheckContext) -> Vec<Finding> {
    let mode = ctx.options.qemu_mode;
    let mode_name = match mode {
        QemuMode::Root => "root",
        QemuMode::Distro => "distro",
    };
    let text = match &facts.file {
        FileRead::Content(t) => t.clone(),
        FileRead::Missing => String::new(),
        FileRead::Error(e) => {
            return vec![Finding::new(
                "qemu-conf.file",
                AREA,
                Severity::Warn,
                format!("Cannot read {QEMU_CONF}"),
                e.clone(),
            )];
        }
    };
    let mut out = Vec::new();
    if facts.file == FileRead::Missing {
        out.push(Finding::new(
            "qemu-conf.file",
            AREA,
            Severity::Warn,
            format!("{QEMU_CONF} does not exist (is libvirt's qemu driver installed?)"),
            format!("{QEMU_CONF}: not found"),
        ));
    }
    let conf = ConfFile::parse(&text);
    for key in KEYS {
        let want = wanted(mode, key);
        let entry = conf.get(key);
        let evidence = match &entry {
            Some(e) => format!("{QEMU_CONF}:{}: {}", e.line_no, e.line),
            None => format!(
                "{QEMU_CONF}: no active `{key}` line (default: {})",
                default_note(key)
            ),
        };
        let ok = satisfied(&want, entry.as_ref().map(|e| &e.value));
        let wanted_text = match &want {
            Want::Set(v) => format!("{key} = {}", v.render()),
            Want::Not(v) => format!("{key} not {} (libvirt's default)", v.render()),
        };
        out.push(Finding::new(
            format!("qemu-conf.{key}"),
            AREA,
            if ok { Severity::Ok } else { Severity::Warn },
            if ok {
                format!("{key} matches mode {mode_name}")
            } else {
                format!("{key} does not match mode {mode_name}: want {wanted_text}")
            },
            evidence,
        ));
    }
    if let Some(new) = edit_for_mode(&text, mode) {
        let changed: Vec<&str> = KEYS
            .into_iter()
            .filter(|k| !satisfied(&wanted(mode, k), conf.get(k).map(|e| e.value).as_ref()))
            .collect();
        out.push(
            Finding::new(
                "qemu-conf.edit",
                AREA,
                Severity::Warn,
                format!(
                    "{QEMU_CONF} needs {} changed for mode {mode_name}",
                    changed.join(", ")
                ),
                format!("keys differing: {}", changed.join(", ")),
            )
            .with_fix(Fix {
                description: format!(
                    "Edit only {} in {QEMU_CONF} (comments and other lines kept; original saved as {QEMU_CONF_BACKUP}), then restart {}",
                    changed.join(", "),
                    facts.daemon()
                ),
                edits: vec![FileEdit {
                    path: PathBuf::from(QEMU_CONF),
                    content: new,
                    backup: (facts.file != FileRead::Missing)
                        .then(|| PathBuf::from(QEMU_CONF_BACKUP)),
                    mode: 0o600,
                }],
                commands: Vec::new(),
                restart: Some(facts.daemon().to_string()),
            }),
        );
    }
    out
}
