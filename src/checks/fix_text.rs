//! A fix in words, exactly what it will do: its description, each file it writes (with the
//! backup it keeps), each command (quoted as a shell would run it) and the daemon to
//! restart. One text for `labwarp check` and the TUI's preflight, so both show the same.

use super::{Fix, HostView};
use crate::quote::shell_quote;

/// The fix's description, then one line per file write, command and restart.
pub fn lines(fix: &Fix) -> (String, Vec<String>) {
    let mut out = Vec::new();
    if fix.is_manual() {
        out.push("(labwarp cannot apply this one; do it by hand)".into());
    }
    for e in &fix.edits {
        out.push(match &e.backup {
            Some(b) => format!("rewrite {} (backup {})", e.path.display(), b.display()),
            None => format!("write {}", e.path.display()),
        });
    }
    for c in &fix.commands {
        out.push(format!("$ {}", command(c)));
    }
    if let Some(d) = &fix.restart {
        out.push(format!(
            "then restart {d} yourself (running VMs may depend on it)"
        ));
    }
    (fix.description.clone(), out)
}

/// One command line as a shell would run it.
pub fn command(argv: &[String]) -> String {
    argv.iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Like [`lines`], with the lines each file write removes (`- `) and adds (`+ `), read from
/// the host now: the whole change, as the person confirms it.
pub async fn lines_with_changes(view: &HostView<'_>, fix: &Fix) -> Vec<String> {
    let (first, _) = lines(fix);
    let mut out = vec![first];
    if fix.is_manual() {
        out.push("(labwarp cannot apply this one; do it by hand)".into());
    }
    for e in &fix.edits {
        out.push(match &e.backup {
            Some(b) => format!("rewrite {} (backup {})", e.path.display(), b.display()),
            None => format!("write {}", e.path.display()),
        });
        let old = view.read(&e.path).await.content().unwrap_or("").to_string();
        for line in old.lines().filter(|l| !e.content.lines().any(|n| n == *l)) {
            out.push(format!("  - {line}"));
        }
        for line in e.content.lines().filter(|l| !old.lines().any(|o| o == *l)) {
            out.push(format!("  + {line}"));
        }
    }
    let (_, rest) = lines(&Fix {
        edits: Vec::new(),
        ..fix.clone()
    });
    // The manual note is already there; the commands and restart follow the edits.
    out.extend(
        rest.into_iter()
            .filter(|l| !l.starts_with("(labwarp cannot")),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::FileEdit;
    use std::path::PathBuf;

    #[test]
    fn every_write_command_and_restart_is_named_with_quoting() {
        let fix = Fix {
            description: "Set it".into(),
            edits: vec![FileEdit {
                path: PathBuf::from("/etc/x.conf"),
                content: "a = 1\n".into(),
                backup: Some(PathBuf::from("/etc/x.conf.bak")),
                mode: 0o644,
            }],
            commands: vec![vec!["sysctl".into(), "-w".into(), "a b=1".into()]],
            restart: Some("libvirtd".into()),
        };
        let (first, rest) = lines(&fix);
        assert_eq!(first, "Set it");
        assert_eq!(
            rest,
            [
                "rewrite /etc/x.conf (backup /etc/x.conf.bak)",
                "$ sysctl -w 'a b=1'",
                "then restart libvirtd yourself (running VMs may depend on it)"
            ]
        );
        let (_, manual) = lines(&Fix::manual("edit lab.yaml"));
        assert_eq!(manual, ["(labwarp cannot apply this one; do it by hand)"]);
    }
}
