//! User and OS: the account labwarp acts as can use sudo without a password (quickstart's
//! `sudo -n true`), and the distribution family matches the lab's.

use super::{Area, CheckContext, CmdRun, FileRead, Finding, Fix, HostView, Severity};
use crate::lab::DistroFamily;

const AREA: Area = Area::UserOs;

#[derive(Debug, Clone, Default)]
pub struct UserOsFacts {
    pub os_release: FileRead,
    /// `id -un` and `id -u` (one command: `id -un; id -u` is not possible without a shell).
    pub user: CmdRun,
    pub uid: CmdRun,
    /// `sudo -n true`, only when the user is not root.
    pub sudo: CmdRun,
}

pub async fn gather(view: &HostView<'_>, _ctx: &CheckContext) -> UserOsFacts {
    let user = view.sys_cmd(&["id", "-un"]).await;
    let uid = view.sys_cmd(&["id", "-u"]).await;
    let sudo = match uid.ok_stdout().map(str::trim) {
        Some("0") => CmdRun::NotProbed("the user is root".into()),
        Some(_) => view.sys_cmd(&["sudo", "-n", "true"]).await,
        None => CmdRun::NotProbed(format!("user unknown ({})", uid.evidence())),
    };
    UserOsFacts {
        os_release: view.read("/etc/os-release").await,
        user,
        uid,
        sudo,
    }
}

/// `KEY=value` from os-release (quotes removed).
pub fn os_release_field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix('=')?;
        Some(v.trim().trim_matches('"').trim_matches('\'').to_string())
    })
}

/// The family from `ID` and `ID_LIKE`.
pub fn family(os_release: &str) -> Option<DistroFamily> {
    let mut ids: Vec<String> = Vec::new();
    ids.extend(os_release_field(os_release, "ID"));
    if let Some(like) = os_release_field(os_release, "ID_LIKE") {
        ids.extend(like.split_whitespace().map(str::to_string));
    }
    ids.iter().find_map(|id| match id.as_str() {
        "debian" | "ubuntu" => Some(DistroFamily::Debian),
        "rhel" | "centos" | "fedora" | "rocky" | "almalinux" => Some(DistroFamily::Rhel),
        _ => None,
    })
}

fn family_name(f: DistroFamily) -> &'static str {
    match f {
        DistroFamily::Debian => "debian",
        DistroFamily::Rhel => "rhel",
    }
}

pub fn evaluate(facts: &UserOsFacts, ctx: &CheckContext) -> Vec<Finding> {
    let mut out = Vec::new();
    match &facts.os_release {
        FileRead::Content(text) => {
            let pretty = os_release_field(text, "PRETTY_NAME").unwrap_or_else(|| "?".into());
            let ev = text
                .lines()
                .filter(|l| {
                    l.starts_with("ID=")
                        || l.starts_with("ID_LIKE=")
                        || l.starts_with("PRETTY_NAME=")
                })
                .collect::<Vec<_>>()
                .join("\n");
            let ev = format!("/etc/os-release:\n{ev}");
            out.push(match family(text) {
                None => Finding::new(
                    "os.distro",
                    AREA,
                    Severity::Fail,
                    format!("Unsupported distribution {pretty}: labwarp knows the debian and rhel families"),
                    ev,
                ),
                Some(f) if ctx.lab.is_none() => Finding::new(
                    "os.distro",
                    AREA,
                    Severity::Info,
                    format!("{pretty} ({} family)", family_name(f)),
                    ev,
                ),
                Some(f) if f == ctx.hypervisor.distro => Finding::new(
                    "os.distro",
                    AREA,
                    Severity::Ok,
                    format!("{pretty} matches the lab's distro family {}", family_name(f)),
                    ev,
                ),
                Some(f) => Finding::new(
                    "os.distro",
                    AREA,
                    Severity::Warn,
                    format!(
                        "{pretty} is {} family, the lab says {}: package names and services will be wrong",
                        family_name(f),
                        family_name(ctx.hypervisor.distro)
                    ),
                    ev,
                )
                .with_fix(Fix::manual(format!(
                    "Set hypervisors[0].distro: {} in lab.yaml",
                    family_name(f)
                ))),
            });
        }
        other => out.push(Finding::new(
            "os.distro",
            AREA,
            Severity::Warn,
            "Cannot read /etc/os-release",
            format!("{other:?}"),
        )),
    }
    let user = facts
        .user
        .ok_stdout()
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "?".into());
    out.push(match (&facts.uid, &facts.sudo) {
        (CmdRun::NotProbed(why), _) => Finding::new(
            "user.sudo",
            AREA,
            Severity::Info,
            "User and sudo not probed",
            format!("not probed: {why}"),
        ),
        (uid, _) if uid.ok_stdout().map(str::trim) == Some("0") => Finding::new(
            "user.sudo",
            AREA,
            Severity::Ok,
            format!("Runs as {user} (uid 0): no sudo needed"),
            format!("{}\n{}", facts.user.evidence(), uid.evidence()),
        ),
        (_, sudo) if sudo.ok_stdout().is_some() => Finding::new(
            "user.sudo",
            AREA,
            Severity::Ok,
            format!("{user} has passwordless sudo"),
            sudo.evidence(),
        ),
        (_, sudo) => Finding::new(
            "user.sudo",
            AREA,
            Severity::Fail,
            format!("{user} cannot use sudo without a password"),
            sudo.evidence(),
        )
        .with_fix(Fix::manual(format!(
            "As root: echo '{user} ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/{user} && chmod 0440 /etc/sudoers.d/{user}"
        ))),
    });
    out
}
