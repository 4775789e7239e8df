//! Fault injection for tests: make a step fail, pause or abort at a named point.
//!
//! `LABWARP_FAULT="STAGE/STEP@POINT=ACTION[,...]"`, where POINT is `before-check` (reached
//! by every step the runner starts), `before-apply`, `after-apply` (reached by every step
//! it applies) or a point a step names itself, and ACTION is:
//! - `fail`: the step fails with "injected failure";
//! - `pause`: writes `<workspace>/fault-paused-<STAGE>_<STEP>@<POINT>` (holding the pid) and
//!   waits forever, so a test can `kill -9` the runner at a known place without timing
//!   guesses (one file per point: parallel steps may pause at once);
//! - `hold`: writes the same file and waits until the test removes it, then carries on (so
//!   a test can change the world at a known place, e.g. restart libvirtd, and let the run
//!   continue);
//! - `abort`: the process aborts on the spot (no cleanup, like `kill -9`).
//!
//! Unset in normal use; the variable is read once per process.

use std::path::Path;
use std::sync::OnceLock;

pub const ENV: &str = "LABWARP_FAULT";
/// Prefix of the files `pause` writes in the workspace.
pub const PAUSED_PREFIX: &str = "fault-paused-";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Fail,
    Pause,
    Hold,
    Abort,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub key: String,
    pub point: String,
    pub action: Action,
}

/// Parses the variable's value; malformed entries are reported, not ignored silently.
pub fn parse(spec: &str) -> Result<Vec<Fault>, String> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (lhs, action) = item
                .rsplit_once('=')
                .ok_or_else(|| format!("{ENV}: `{item}` lacks `=ACTION`"))?;
            let (key, point) = lhs
                .split_once('@')
                .ok_or_else(|| format!("{ENV}: `{item}` lacks `@POINT`"))?;
            let action = match action {
                "fail" => Action::Fail,
                "pause" => Action::Pause,
                "hold" => Action::Hold,
                "abort" => Action::Abort,
                a => {
                    return Err(format!(
                        "{ENV}: unknown action `{a}` (fail, pause, hold, abort)"
                    ));
                }
            };
            Ok(Fault {
                key: key.to_string(),
                point: point.to_string(),
                action,
            })
        })
        .collect()
}

fn faults() -> &'static [Fault] {
    static F: OnceLock<Vec<Fault>> = OnceLock::new();
    F.get_or_init(|| match std::env::var(ENV) {
        Ok(v) => parse(&v).unwrap_or_else(|e| {
            eprintln!("labwarp: ignoring fault injection: {e}");
            Vec::new()
        }),
        Err(_) => Vec::new(),
    })
}

/// Called by the runner (and by steps at their own points). Returns an error for `fail`;
/// never returns for `pause` and `abort`.
pub async fn point(workspace: &Path, key: &str, point: &str) -> anyhow::Result<()> {
    let Some(f) = faults().iter().find(|f| f.key == key && f.point == point) else {
        return Ok(());
    };
    match f.action {
        Action::Fail => anyhow::bail!("injected failure at {key}@{point}"),
        Action::Abort => std::process::abort(),
        Action::Pause | Action::Hold => {
            let note = format!("{}\n", std::process::id());
            let file = workspace.join(format!("{PAUSED_PREFIX}{}@{point}", key.replace('/', "_")));
            let _ = crate::workspace::write_atomic_mkdir(&file, note.as_bytes(), 0o600);
            if f.action == Action::Pause {
                std::future::pending::<()>().await;
            }
            // Polled: the test's signal is the file going away.
            while file.exists() {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_and_rejects_bad_ones() {
        let f = parse("a/b@before-apply=fail, c/d@mid=pause, e/f@x=hold").unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(f[2].action, Action::Hold);
        assert_eq!(f[1].key, "c/d");
        assert_eq!(f[1].point, "mid");
        assert_eq!(f[1].action, Action::Pause);
        assert!(parse("a/b=fail").unwrap_err().contains("@POINT"));
        assert!(parse("a/b@x=explode").unwrap_err().contains("explode"));
    }
}
