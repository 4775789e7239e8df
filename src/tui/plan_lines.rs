//! The review's plan lines: what a step changes, naming each object once (the step's title
//! already names its main object: "directory X" is not followed by "directory X on virthost
//! (now: X missing)"), and long lines wrapped to the pane. Pure: no I/O.

use crate::plan::{HostRole, Resource};

fn host_name(h: &HostRole) -> &'static str {
    match h {
        HostRole::Virthost => "virthost",
        HostRole::Undercloud => "undercloud",
    }
}

/// (kind, name, host) of a resource; the name is what a title would mention.
fn parts(r: &Resource) -> (String, String, Option<&'static str>) {
    match r {
        Resource::Domain { name } => ("domain".into(), name.clone(), None),
        Resource::Network { name } => ("network".into(), name.clone(), None),
        Resource::Pool { name } => ("storage pool".into(), name.clone(), None),
        Resource::Container { host, name } => {
            ("container".into(), name.clone(), Some(host_name(host)))
        }
        Resource::Job { host, name, .. } => ("job".into(), name.clone(), Some(host_name(host))),
        Resource::File { host, path, .. } => (
            "file".into(),
            path.display().to_string(),
            Some(host_name(host)),
        ),
        Resource::Dir { host, path, .. } => (
            "directory".into(),
            path.display().to_string(),
            Some(host_name(host)),
        ),
        Resource::User { host, name } => ("user".into(), name.clone(), Some(host_name(host))),
        other => (String::new(), other.to_string(), None),
    }
}

/// A drifted step's change: the back end's own lines (`~ field: live → wanted (cost)`), one
/// per field; the review marks the step `~` and shows each line.
pub fn drift(drift: &[crate::plan::Drift]) -> String {
    drift
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a step that is not done yet changes: the objects its title does not name (several
/// of one kind counted), where they are, and what its check sees now (without the names
/// already given).
pub fn change(title: &str, resources: &[Resource], saw: &str) -> String {
    let mut named: Vec<String> = Vec::new();
    let mut others: Vec<(String, Vec<String>)> = Vec::new();
    let mut hosts: Vec<&'static str> = Vec::new();
    for r in resources {
        let (kind, name, host) = parts(r);
        if let Some(h) = host
            && !hosts.contains(&h)
        {
            hosts.push(h);
        }
        if title.contains(&name) {
            named.push(name);
            continue;
        }
        match others.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, names)) => names.push(name),
            None => others.push((kind, vec![name])),
        }
    }
    let mut out: Vec<String> = others
        .into_iter()
        .map(|(kind, names)| match (kind.as_str(), names.len()) {
            ("", _) => names.join(", "),
            (_, 1) => format!("{kind} {}", names[0]),
            (_, n) if n > 3 => format!("{n} {kind}s ({}, … {})", names[0], names[n - 1]),
            _ => format!("{kind}s {}", names.join(", ")),
        })
        .collect();
    if hosts.len() == 1 {
        out.push(format!("on {}", hosts[0]));
    }
    let mut head = out.join(" ");
    let now = now_text(saw, title, &named);
    if !now.is_empty() {
        if !head.is_empty() {
            head.push_str(" · ");
        }
        head.push_str(&now);
    }
    head
}

/// The check's words without the objects the line already names ("X missing" → "missing",
/// "no network X" → "missing").
fn now_text(saw: &str, title: &str, named: &[String]) -> String {
    let mut s = saw.trim().to_string();
    let mut stripped = false;
    for n in named {
        if !n.is_empty() && s.contains(n.as_str()) {
            s = s.replace(n.as_str(), "");
            stripped = true;
        }
    }
    // A title's own words ("no pool h2p-pool" under "storage pool h2p-pool at …").
    for w in title.split_whitespace().filter(|w| w.len() > 3) {
        if s.split_whitespace().any(|x| x == w) {
            s = s
                .split_whitespace()
                .filter(|x| *x != w)
                .collect::<Vec<_>>()
                .join(" ");
            stripped = true;
        }
    }
    let rest: Vec<&str> = s
        .split_whitespace()
        .filter(|w| !["no", "network", "pool", "domain", "storage"].contains(w))
        .collect();
    if stripped && (rest.is_empty() || rest == ["missing"]) {
        return "missing".into();
    }
    if s.trim().is_empty() {
        return String::new();
    }
    format!("now: {}", saw.trim())
}

/// `text` in lines of at most `width` characters, broken at spaces (a word longer than a
/// line is cut).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(8);
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split(' ') {
        let mut word = word.to_string();
        loop {
            let used = cur.chars().count();
            let need = word.chars().count() + usize::from(used > 0);
            if used + need <= width {
                if used > 0 {
                    cur.push(' ');
                }
                cur.push_str(&word);
                break;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut cur));
                continue;
            }
            // Longer than a whole line: cut it.
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            lines.push(head);
            if word.is_empty() {
                break;
            }
        }
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Level;
    use std::path::PathBuf;

    fn dir(p: &str) -> Resource {
        Resource::Dir {
            host: HostRole::Virthost,
            path: PathBuf::from(p),
            level: Level::Virthost,
            whole: false,
        }
    }

    #[test]
    fn the_titles_object_is_named_once() {
        let c = change(
            "directory /ws/sandbox",
            &[dir("/ws/sandbox")],
            "/ws/sandbox missing",
        );
        assert_eq!(c, "on virthost · missing");
        let c = change(
            "network lab-external",
            &[Resource::Network {
                name: "lab-external".into(),
            }],
            "no network lab-external",
        );
        assert_eq!(c, "missing");
        let c = change(
            "storage pool lab-pool at /ws/pool",
            &[Resource::Pool {
                name: "lab-pool".into(),
            }],
            "no pool lab-pool",
        );
        assert_eq!(c, "missing");
    }

    #[test]
    fn other_objects_are_listed_and_many_of_a_kind_counted() {
        let mut rs = vec![Resource::Job {
            host: HostRole::Undercloud,
            dir: PathBuf::from("/h/.labwarp-jobs"),
            name: "undercloud-install".into(),
        }];
        for c in ["mysql", "rabbitmq", "keystone", "haproxy"] {
            rs.push(Resource::Container {
                host: HostRole::Undercloud,
                name: format!("lab-{c}"),
            });
        }
        let c = change("openstack undercloud install", &rs, "/h/stackrc missing");
        assert_eq!(
            c,
            "job undercloud-install 4 containers (lab-mysql, … lab-haproxy) on undercloud · now: /h/stackrc missing"
        );
    }

    #[test]
    fn long_text_wraps_at_spaces_and_cuts_long_words() {
        assert_eq!(wrap("aaaa bbbb cc", 9), ["aaaa bbbb", "cc"]);
        assert_eq!(wrap("abcdefghijkl", 8), ["abcdefgh", "ijkl"]);
        assert_eq!(wrap("", 10), [""]);
        for l in wrap(&"word ".repeat(50), 17) {
            assert!(l.chars().count() <= 17, "{l}");
        }
    }
}
