//! Path fields: which characters each may hold and where it may point.
//!
//! A path labwarp creates, exports, writes into or deletes (the storage pool, the image cache,
//! the NFS export, the files it hands to TripleO) must be a plain path: every character one
//! that every format it reaches (exports(5), undercloud.conf, XML, YAML, a shell word) carries
//! as itself, no `.` or `..` component (so the path means what it says without resolving it),
//! and not a system directory (exporting `/etc` read-write with `no_root_squash`, or making
//! `/usr` a storage pool whose volumes cleanup deletes, is never what a lab wants).
//!
//! The workspace and image sources are the user's own files on the machine running labwarp:
//! they only have to be one line (see `fields::path`).

use super::fields::{Bad, Check, bad};

/// Characters a plain path may hold besides ASCII letters and digits.
pub const PLAIN_PATH_PUNCTUATION: &str = "/._-+@,=:";

/// Directories that are never a lab's own: refused as the path itself and for anything below.
const SYSTEM_TREES: &[&str] = &[
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/run", "/sbin", "/sys",
    "/usr",
];

/// Directories refused as the path itself (a lab may live below them).
const SYSTEM_DIRS: &[&str] = &[
    "/",
    "/home",
    "/mnt",
    "/media",
    "/opt",
    "/root",
    "/srv",
    "/tmp",
    "/var",
    "/var/cache",
    "/var/lib",
    "/var/lib/libvirt",
    "/var/log",
    "/var/tmp",
];

/// Trees an NFS export (read-write, `no_root_squash`, to every compute) must stay out of:
/// users' homes and root's.
const EXPORT_FORBIDDEN_TREES: &[&str] = &["/home", "/root", "/var/lib/nova"];

/// The components of a path, lexically normalised: `.` and empty components dropped, `..`
/// removing the one before it. `None` when `..` climbs above the start (`/..`, `a/../..`).
pub fn normalise(value: &str) -> Option<String> {
    let absolute = value.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in value.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    Some(if absolute {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    })
}

/// Only letters, digits and [`PLAIN_PATH_PUNCTUATION`]; one line.
pub fn plain_chars(value: &str) -> Check {
    if value.is_empty() {
        return bad(
            "a path is required",
            "write a path like /var/lib/libvirt/images",
        );
    }
    if let Some(c) = value
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !PLAIN_PATH_PUNCTUATION.contains(*c))
    {
        let what = match c {
            ' ' | '\t' => "a space".to_string(),
            c if c.is_control() => "a control character (line break, tab, escape)".to_string(),
            c => format!("`{c}`"),
        };
        return bad(
            format!(
                "the path holds {what}; the files it is written into (exports, undercloud.conf, \
                 XML, YAML, shell commands) take only letters, digits and `{PLAIN_PATH_PUNCTUATION}`"
            ),
            "rename the directory with letters, digits, `/`, `.`, `_` and `-` only",
        );
    }
    Ok(())
}

/// No `.` or `..` component, no `//`: the path is its own normal form. A `..` that climbs
/// is refused with where it really points; a harmless `./` or `//` gets the normal form as fix.
pub fn normal(value: &str) -> Check {
    let climbs = value.split('/').any(|c| c == "..");
    let Some(norm) = normalise(value) else {
        return bad(
            "`..` climbs above the start of the path",
            "write the directory itself, without `..`",
        );
    };
    let trimmed = value
        .strip_suffix('/')
        .filter(|t| !t.is_empty())
        .unwrap_or(value);
    if climbs {
        return bad(
            format!("`..` leaves the directory it is written under: the path is really {norm}"),
            "write the directory itself, without `..`",
        );
    }
    if norm == "." {
        return bad(
            "the path is the current directory itself",
            "name a directory of its own",
        );
    }
    if trimmed != norm || value.split('/').any(|c| c == ".") {
        return bad(
            "the path holds `.` components or repeated `/`",
            format!("write it as `{norm}`"),
        );
    }
    Ok(())
}

fn within(path: &str, tree: &str) -> bool {
    path == tree || (path.starts_with(tree) && path[tree.len()..].starts_with('/'))
}

/// Not a system directory nor inside a system tree (`path` already normal and absolute).
pub fn not_system(path: &str) -> Check {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    if let Some(tree) = SYSTEM_TREES.iter().find(|t| within(path, t)) {
        let place = if path == *tree {
            format!("{path} belongs")
        } else {
            format!("{path} is inside {tree}, which belongs")
        };
        return bad(
            format!("{place} to the system, not to a lab"),
            "use a directory of the lab's own, outside the system's (/etc, /usr, /proc, ...)",
        );
    }
    if SYSTEM_DIRS.contains(&path) {
        return bad(
            format!("{path} is a system directory, not one of the lab's own"),
            "use a directory of the lab's own below it, e.g. /var/lib/libvirt/images",
        );
    }
    Ok(())
}

/// A plain, normal path: the checks every path labwarp writes, exports or deletes passes.
/// `absolute` for paths on another machine (no working directory to be relative to).
pub fn owned(value: &str, absolute: bool) -> Check {
    plain_chars(value)?;
    if absolute && !value.starts_with('/') {
        return bad(
            "the path must be absolute",
            format!(
                "start it with `/`, e.g. /{}",
                value.trim_start_matches("./")
            ),
        );
    }
    normal(value)?;
    if value.starts_with('/') {
        not_system(value)?;
    }
    Ok(())
}

/// The NFS export: an owned absolute path, outside homes and Nova's own directory (the
/// computes mount the export there).
pub fn export(value: &str) -> Check {
    owned(value, true)?;
    let path = value.strip_suffix('/').unwrap_or(value);
    if let Some(tree) = EXPORT_FORBIDDEN_TREES.iter().find(|t| within(path, t)) {
        return Err(Bad {
            message: format!(
                "{path} is inside {tree}: exported read-write with no_root_squash, every compute's root could write there"
            ),
            fix: "export a directory of its own, e.g. /export/nova".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_resolves_dots_lexically() {
        assert_eq!(normalise("/export/../etc").as_deref(), Some("/etc"));
        assert_eq!(normalise("/a/./b//c/").as_deref(), Some("/a/b/c"));
        assert_eq!(normalise("/.."), None);
        assert_eq!(normalise("a/../.."), None);
        assert_eq!(normalise("a/.."), Some(".".into()));
    }

    #[test]
    fn climbing_and_system_paths_are_refused() {
        assert!(export("/export/nova").is_ok());
        let e = export("/export/nova/../../etc").unwrap_err();
        assert!(e.message.contains("really /etc"), "{e:?}");
        assert!(export("/etc").is_err());
        assert!(export("/home/stack/nova").is_err());
        assert!(export("/").is_err());
        assert!(owned("/var/lib/libvirt/images", true).is_ok());
        assert!(owned("/var/lib/libvirt", true).is_err());
        assert!(owned("/usr/share/x", true).is_err());
        assert!(owned("/export/a\"b", true).is_err());
        assert!(owned("/export/a b", true).is_err());
        assert!(owned("/export/$(id)", true).is_err());
        assert_eq!(
            owned("/export//nova", true).unwrap_err().fix,
            "write it as `/export/nova`"
        );
        // Found by the lab_fields fuzz target: `./` was its own normal form.
        assert!(owned("./", false).is_err());
        assert!(owned(".", false).is_err());
        assert_eq!(
            owned("./cache", false).unwrap_err().fix,
            "write it as `cache`"
        );
        assert!(owned("relative/dir", false).is_ok());
        assert!(owned("relative/dir", true).is_err());
    }
}
