//! Parsing `podman ps -a --format json` into typed containers.
//!
//! Field names follow podman 4.x (`Names`, `State`, `Status`, `StartedAt`, ...). Every field
//! is optional: podman versions differ, and a missing field must not hide the container.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Stopping,
    Exited,
    Stopped,
    Removing,
    Dead,
    Unknown(String),
}

impl ContainerState {
    fn parse(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "created" | "configured" | "initialized" => ContainerState::Created,
            "running" => ContainerState::Running,
            "paused" => ContainerState::Paused,
            "restarting" => ContainerState::Restarting,
            "stopping" => ContainerState::Stopping,
            "exited" => ContainerState::Exited,
            "stopped" => ContainerState::Stopped,
            "removing" => ContainerState::Removing,
            "dead" => ContainerState::Dead,
            other => ContainerState::Unknown(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            ContainerState::Created => "created",
            ContainerState::Running => "running",
            ContainerState::Paused => "paused",
            ContainerState::Restarting => "restarting",
            ContainerState::Stopping => "stopping",
            ContainerState::Exited => "exited",
            ContainerState::Stopped => "stopped",
            ContainerState::Removing => "removing",
            ContainerState::Dead => "dead",
            ContainerState::Unknown(s) => s,
        }
    }
}

/// The result of the container's health check, when it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    fn parse(s: &str) -> Option<Health> {
        match s.trim().to_ascii_lowercase().as_str() {
            "healthy" => Some(Health::Healthy),
            "unhealthy" => Some(Health::Unhealthy),
            "starting" => Some(Health::Starting),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
}

/// One container as `podman ps -a` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Container {
    pub id: String,
    /// The first name (TripleO names: `keystone`, `ironic_conductor`, ...).
    pub name: String,
    pub image: String,
    pub state: ContainerState,
    /// podman's human status text (`Up 3 minutes (healthy)`, `Exited (0) 2 hours ago`).
    pub status: String,
    pub health: Option<Health>,
    /// Unix seconds; `None` when never started.
    pub started_at: Option<i64>,
    pub created_at: Option<i64>,
    /// Unix seconds; `None` unless it exited.
    pub exited_at: Option<i64>,
    pub exit_code: Option<i32>,
    /// Seconds since start, for running containers (relative to the listing time).
    pub uptime_secs: Option<u64>,
    pub command: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct Raw {
    #[serde(rename = "Id")]
    id: Option<String>,
    #[serde(rename = "Names")]
    names: Option<Names>,
    #[serde(rename = "Image")]
    image: Option<String>,
    #[serde(rename = "State")]
    state: Option<serde_json::Value>,
    #[serde(rename = "Status")]
    status: Option<String>,
    #[serde(rename = "Health")]
    health: Option<serde_json::Value>,
    #[serde(rename = "StartedAt")]
    started_at: Option<serde_json::Value>,
    #[serde(rename = "Created")]
    created: Option<serde_json::Value>,
    #[serde(rename = "Exited")]
    exited: Option<bool>,
    #[serde(rename = "ExitedAt")]
    exited_at: Option<serde_json::Value>,
    #[serde(rename = "ExitCode")]
    exit_code: Option<i32>,
    #[serde(rename = "Command")]
    command: Option<Names>,
    #[serde(rename = "Labels")]
    labels: Option<BTreeMap<String, String>>,
}

/// `Names`/`Command` are arrays in podman 4, plain strings in some older versions.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Names {
    List(Vec<String>),
    One(String),
}

impl Names {
    fn into_vec(self) -> Vec<String> {
        match self {
            Names::List(v) => v,
            Names::One(s) => s.split(',').map(|s| s.trim().to_string()).collect(),
        }
    }
}

/// A unix time from a JSON number; podman writes Go's zero time (year 1) or 0 for "never".
fn unix_time(v: &Option<serde_json::Value>) -> Option<i64> {
    let t = v.as_ref()?.as_i64()?;
    (t > 0).then_some(t)
}

/// Health from a `Health` field (a string, or an object with `Status`) or the `(healthy)`
/// suffix podman 4.3 puts in `Status`.
fn health_of(raw: &Raw, status: &str) -> Option<Health> {
    let from_field = raw.health.as_ref().and_then(|h| match h {
        serde_json::Value::String(s) => Health::parse(s),
        serde_json::Value::Object(o) => o
            .get("Status")
            .and_then(|s| s.as_str())
            .and_then(Health::parse),
        _ => None,
    });
    from_field.or_else(|| {
        let open = status.rfind('(')?;
        let close = status[open..].find(')')? + open;
        Health::parse(&status[open + 1..close])
    })
}

/// Parses podman's JSON array. `now` (unix seconds) is used for uptimes.
pub fn parse_ps(json: &str, now: i64) -> Result<Vec<Container>, serde_json::Error> {
    let trimmed = json.trim();
    // podman prints nothing at all (not `[]`) in some versions when there are no containers.
    if trimmed.is_empty() || trimmed == "null" {
        return Ok(Vec::new());
    }
    let raws: Vec<Raw> = serde_json::from_str(trimmed)?;
    let mut out: Vec<Container> = raws
        .into_iter()
        .map(|raw| {
            let status = raw.status.clone().unwrap_or_default();
            let state = match &raw.state {
                Some(serde_json::Value::String(s)) => ContainerState::parse(s),
                // Very old podman: numeric state; the text status still tells.
                _ if status.starts_with("Up") => ContainerState::Running,
                _ if status.starts_with("Exited") => ContainerState::Exited,
                _ => ContainerState::Unknown(String::new()),
            };
            let started_at = unix_time(&raw.started_at);
            let exited = raw.exited.unwrap_or(state == ContainerState::Exited);
            let uptime_secs = match (&state, started_at) {
                (ContainerState::Running, Some(t)) => Some(u64::try_from(now - t).unwrap_or(0)),
                _ => None,
            };
            let health = health_of(&raw, &status);
            Container {
                id: raw.id.unwrap_or_default(),
                name: raw
                    .names
                    .map(Names::into_vec)
                    .and_then(|v| v.into_iter().next())
                    .unwrap_or_default(),
                image: raw.image.unwrap_or_default(),
                health,
                started_at,
                created_at: unix_time(&raw.created),
                exited_at: if exited {
                    unix_time(&raw.exited_at)
                } else {
                    None
                },
                exit_code: if exited { raw.exit_code } else { None },
                uptime_secs,
                command: raw.command.map(Names::into_vec).unwrap_or_default(),
                labels: raw.labels.unwrap_or_default(),
                state,
                status,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Formats an uptime for a table cell: `42s`, `7m`, `3h12m`, `2d4h`.
pub fn format_uptime(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, (secs / 3600) % 24, (secs / 60) % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h{m:02}m"),
        (d, h, _) => format!("{d}d{h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from podman 4.3.1 on this machine (trimmed), plus an exited container.
    const PS: &str = r#"[
  {"AutoRemove":false,"Command":["/bin/sh","-c","sleep 300"],"CreatedAt":"1 minute ago",
   "Exited":false,"ExitedAt":-62135596800,"ExitCode":0,
   "Id":"1fe3d52ffcf640b768b99377d5b9d9aa5ec4ff49437738e52b6e819e0b293b5f",
   "Image":"localhost/bb:latest","Labels":null,"Names":["keystone"],"Pid":3794,
   "StartedAt":1795688242,"State":"running","Status":"Up 1 minute ago (healthy)",
   "Created":1795688241},
  {"Id":"ab12","Image":"localhost/bb:latest","Names":["ironic_conductor"],
   "State":"exited","Status":"Exited (137) 5 seconds ago","Exited":true,
   "ExitedAt":1795688300,"ExitCode":137,"StartedAt":1795688250,"Created":1795688249,
   "Labels":{"config_id":"tripleo_step4"}}
]"#;

    #[test]
    fn parses_running_and_exited() {
        let cs = parse_ps(PS, 1795688302).unwrap();
        assert_eq!(cs.len(), 2);
        let ic = &cs[0];
        assert_eq!(ic.name, "ironic_conductor");
        assert_eq!(ic.state, ContainerState::Exited);
        assert_eq!(ic.exit_code, Some(137));
        assert_eq!(ic.exited_at, Some(1795688300));
        assert_eq!(ic.uptime_secs, None);
        assert_eq!(ic.health, None);
        assert_eq!(
            ic.labels.get("config_id").map(String::as_str),
            Some("tripleo_step4")
        );
        let ks = &cs[1];
        assert_eq!(ks.name, "keystone");
        assert_eq!(ks.state, ContainerState::Running);
        assert_eq!(ks.health, Some(Health::Healthy));
        assert_eq!(ks.uptime_secs, Some(60));
        assert_eq!(ks.exited_at, None);
        assert_eq!(ks.exit_code, None);
        assert_eq!(ks.command, ["/bin/sh", "-c", "sleep 300"]);
        assert_eq!(ks.image, "localhost/bb:latest");
    }

    #[test]
    fn tolerates_missing_fields_and_other_shapes() {
        let cs = parse_ps(
            r#"[{"Names":"nova_compute","Status":"Up 2 hours (unhealthy)"},
                {"Names":["x"],"State":"running","Health":{"Status":"starting"}},
                {}]"#,
            0,
        )
        .unwrap();
        assert_eq!(cs.len(), 3);
        let nc = cs.iter().find(|c| c.name == "nova_compute").unwrap();
        assert_eq!(nc.state, ContainerState::Running);
        assert_eq!(nc.health, Some(Health::Unhealthy));
        assert_eq!(nc.uptime_secs, None);
        let x = cs.iter().find(|c| c.name == "x").unwrap();
        assert_eq!(x.health, Some(Health::Starting));
        assert!(parse_ps("", 0).unwrap().is_empty());
        assert!(parse_ps("[]", 0).unwrap().is_empty());
        assert!(parse_ps("not json", 0).is_err());
    }

    #[test]
    fn uptime_text() {
        assert_eq!(format_uptime(42), "42s");
        assert_eq!(format_uptime(7 * 60 + 5), "7m");
        assert_eq!(format_uptime(3 * 3600 + 12 * 60), "3h12m");
        assert_eq!(format_uptime(2 * 86_400 + 4 * 3600 + 5), "2d4h");
    }
}
