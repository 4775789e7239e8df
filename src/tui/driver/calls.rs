//! The back-end calls the driver makes for its effects: the review's survey, preflight and
//! its fixes, the hypervisor's host, a lab file loaded.

use crate::checks::{self, CheckContext, CheckOptions, Finding, Fix, HostView};
use crate::engine::event::{Event, FindingRow};
use crate::lab::{self, Lab};
use crate::plan::Resource;
use crate::run::session::Session;
use crate::tui::app::{Msg, ReviewRow, ReviewStage, ReviewTable};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::UnboundedSender;

/// The engine's survey (what `labwarp plan` prints: every step's check, read-only) as the
/// review shows it, with the hypervisor's capacity read through the session's host (the
/// facts the capacity findings judge).
pub(super) async fn survey(s: &Session) -> ReviewTable {
    let v = crate::run::survey::survey(s).await;
    let mut files = Vec::new();
    let stages = v
        .stages
        .iter()
        .map(|st| ReviewStage {
            title: st.title.clone(),
            steps: st
                .steps
                .iter()
                .map(|p| {
                    for r in &p.resources {
                        if let Resource::File { path, .. } = r {
                            files.push(path.display().to_string());
                        }
                    }
                    let (done, change) = match p.status.as_str() {
                        _ if !p.drift.is_empty() => {
                            (false, crate::tui::plan_lines::drift(&p.drift))
                        }
                        "done" => (true, p.saw.clone()),
                        "error" => (false, format!("check failed: {}", p.saw)),
                        _ => (
                            false,
                            crate::tui::plan_lines::change(&p.title, &p.resources, &p.saw),
                        ),
                    };
                    ReviewRow {
                        title: p.title.clone(),
                        change,
                        done,
                    }
                })
                .collect(),
        })
        .collect();
    let local = s.ctx.lab.hypervisors.first().is_some_and(|h| h.is_local());
    let view = HostView::system(s.ctx.virthost.as_ref(), local);
    let cctx = CheckContext::for_lab(s.ctx.lab.clone(), CheckOptions::default());
    ReviewTable {
        stages,
        files,
        capacity: checks::capacity::host_capacity(&view, &cctx).await,
    }
}

/// The lab's workspace as an absolute path (where its key and known_hosts live).
pub(super) fn workspace_of(lab: &Lab) -> Result<PathBuf, String> {
    crate::run::session::workspace_dir(lab, None).map_err(|e| format!("workspace: {e}"))
}

/// The lab's hypervisor, as the engine reaches it: this machine for `address: local`, else
/// over SSH with the workspace key and only pinned host keys (the connection screen pins).
pub(super) async fn hypervisor_host(
    lab: &Lab,
) -> Result<(Arc<dyn crate::host::Host>, bool), String> {
    let hv = lab
        .hypervisors
        .first()
        .ok_or("hypervisors: the lab names no hypervisor")?;
    let ws = workspace_of(lab)?;
    crate::host::lab::hypervisor_host(hv, &ws, crate::host::TrustPolicy::PinnedOnly)
        .await
        .map_err(|e| format!("hypervisors[0] ({}): {e}", hv.address))
}

/// Runs every preflight check for the lab, sending each finding as it is known and keeping
/// the fixes so a later ApplyFix can run exactly what was shown.
pub(super) async fn run_checks(
    lab: Lab,
    deep: bool,
    tx: &UnboundedSender<Msg>,
    fixes: &Mutex<HashMap<String, (Fix, Lab)>>,
) -> Result<usize, String> {
    let (host, local) = hypervisor_host(&lab).await?;
    let view = HostView::system(host.as_ref(), local);
    let options = CheckOptions {
        deep,
        ..CheckOptions::default()
    };
    let ctx = CheckContext::for_lab(lab.clone(), options);
    let report = checks::run(&view, &ctx).await;
    let mut rows = Vec::new();
    for f in &report.findings {
        let fix_text = match &f.fix {
            Some(fix) => Some(
                checks::fix_text::lines_with_changes(&view, fix)
                    .await
                    .join("\n"),
            ),
            None => None,
        };
        rows.push(row(f, fix_text));
    }
    if let Ok(mut map) = fixes.lock() {
        map.clear();
        for f in &report.findings {
            if let Some(fix) = f.fix.as_ref().filter(|x| !x.is_manual()) {
                map.insert(f.id.clone(), (fix.clone(), lab.clone()));
            }
        }
    }
    let n = rows.len();
    for r in rows {
        let _ = tx.send(Msg::Engine(Event::Finding { finding: r }));
    }
    Ok(n)
}

pub(super) fn row(f: &Finding, fix: Option<String>) -> FindingRow {
    FindingRow {
        id: f.id.clone(),
        area: f.area.title().to_string(),
        severity: f.severity.as_str().to_lowercase(),
        title: f.title.clone(),
        evidence: f.evidence.clone(),
        fix,
    }
}

pub(super) async fn apply_fix(lab: &Lab, fix: &Fix) -> Result<String, String> {
    let (host, local) = hypervisor_host(lab).await?;
    let view = HostView::system(host.as_ref(), local);
    let applied = checks::apply_fix(&view, fix)
        .await
        .map_err(|e| e.to_string())?;
    Ok(if applied.changed {
        applied.steps.join("; ")
    } else {
        "nothing to change (already applied)".into()
    })
}

/// Opens a lab file for editing: a lab that parses but does not validate still opens (the
/// forms show its problems); one that does not parse is an error naming line and column.
pub(super) fn load_file(path: &Path) -> Msg {
    let origin = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return Msg::LoadFailed(format!("{origin}: {e}")),
    };
    match lab::parse_str(&text, &origin) {
        Ok(lab) => {
            let warnings = lab::validate(&lab)
                .into_iter()
                .map(|p| format!("{}: {}", p.path, p.message))
                .collect();
            Msg::LabLoaded {
                lab: Box::new(lab),
                path: path.to_path_buf(),
                warnings,
            }
        }
        Err(e) => Msg::LoadFailed(e.to_string()),
    }
}
