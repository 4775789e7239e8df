//! What a check reports: a [`Finding`] with the evidence that led to it and, when labwarp
//! knows how, a [`Fix`] (exact commands and whole-file edits) that is safe to run twice.

use serde::Serialize;
use std::fmt;
use std::path::PathBuf;

/// How much a finding matters. `Fail` makes `labwarp check` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Info,
    Warn,
    Fail,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Fail => "FAIL",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The prerequisite family a finding belongs to (one file per family in `src/checks/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Area {
    Virtualization,
    Apparmor,
    QemuConf,
    Libvirt,
    Capacity,
    Images,
    Network,
    UserOs,
}

impl Area {
    pub fn title(self) -> &'static str {
        match self {
            Area::Virtualization => "Virtualisation",
            Area::Apparmor => "AppArmor and file access",
            Area::QemuConf => "qemu.conf",
            Area::Libvirt => "libvirt",
            Area::Capacity => "Capacity",
            Area::Images => "Images",
            Area::Network => "Network",
            Area::UserOs => "User and OS",
        }
    }
}

/// A whole-file replacement: `content` is the complete new file. Before the first write the
/// current file is copied to `backup` (an existing backup is kept: it holds the original).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEdit {
    pub path: PathBuf,
    pub content: String,
    pub backup: Option<PathBuf>,
    /// File mode for a file that does not exist yet.
    pub mode: u32,
}

/// How to repair a finding. Applied only when the user asks (`labwarp check --fix`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    pub description: String,
    /// File edits, applied first, in order.
    pub edits: Vec<FileEdit>,
    /// Commands (argv, run as root through sudo when needed), after the edits, in order.
    pub commands: Vec<Vec<String>>,
    /// A daemon that must be restarted for the change to take effect (labwarp names it and
    /// does not restart it itself: running VMs may depend on it).
    pub restart: Option<String>,
}

impl Fix {
    pub fn manual(description: impl Into<String>) -> Self {
        Fix {
            description: description.into(),
            edits: Vec::new(),
            commands: Vec::new(),
            restart: None,
        }
    }

    /// A fix labwarp cannot apply itself (only advice, e.g. an edit of lab.yaml).
    pub fn is_manual(&self) -> bool {
        self.edits.is_empty() && self.commands.is_empty()
    }
}

/// One result of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable identifier (`kvm.module`, `qemu-conf.user`, `net.overlap.external`).
    pub id: String,
    pub area: Area,
    pub severity: Severity,
    pub title: String,
    /// The exact file content or command output that led to this finding.
    pub evidence: String,
    pub fix: Option<Fix>,
}

impl Finding {
    pub fn new(
        id: impl Into<String>,
        area: Area,
        severity: Severity,
        title: impl Into<String>,
        evidence: impl Into<String>,
    ) -> Self {
        Finding {
            id: id.into(),
            area,
            severity,
            title: title.into(),
            evidence: evidence.into(),
            fix: None,
        }
    }

    pub fn with_fix(mut self, fix: Fix) -> Self {
        self.fix = Some(fix);
        self
    }
}

/// All findings of one run, in check order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub host: String,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Fail)
    }

    pub fn get(&self, id: &str) -> Option<&Finding> {
        self.findings.iter().find(|f| f.id == id)
    }

    pub fn worst(&self) -> Severity {
        self.findings
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Ok)
    }

    /// Findings grouped by area, areas in their fixed order, findings in check order.
    pub fn by_area(&self) -> Vec<(Area, Vec<&Finding>)> {
        let mut areas: Vec<Area> = self.findings.iter().map(|f| f.area).collect();
        areas.sort();
        areas.dedup();
        areas
            .into_iter()
            .map(|a| (a, self.findings.iter().filter(|f| f.area == a).collect()))
            .collect()
    }
}

/// Shortens long evidence (a 2,000-flag cpuinfo line) for display; JSON keeps it whole.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max).collect();
    format!("{head}… ({} more characters)", text.chars().count() - max)
}
