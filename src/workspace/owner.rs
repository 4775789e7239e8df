//! Proof of ownership: how labwarp marks what it makes, so that cleanup removes only what
//! it can show it made.
//!
//! A lab is known by its name *and* its identity: a random id generated once per
//! workspace (`workspace/lab-id`). Two labs of the same name built from two workspaces
//! (two demo directories, say) therefore never claim each other's objects. The marks:
//! - containers carry the labels [`CONTAINER_LABEL`] (the name) and [`CONTAINER_ID_LABEL`];
//! - libvirt domains and networks carry `<labwarp:vm|network lab=… id=…>` in `<metadata>`;
//! - a directory labwarp created holds a [`MARKER_FILE`] naming the lab and its id
//!   (a directory that existed before is never marked, and never removed).
//!
//! Files carry no mark: only the state file proves them (see `run::cleanup`).

use std::path::{Path, PathBuf};

/// Label every container labwarp starts carries (`labwarp.lab=<lab name>`).
pub const CONTAINER_LABEL: &str = "labwarp.lab";
/// Label with the lab's identity (`labwarp.lab-id=<id>`).
pub const CONTAINER_ID_LABEL: &str = "labwarp.lab-id";
/// The file labwarp writes into each directory it creates.
pub const MARKER_FILE: &str = ".labwarp-owner";
/// Where the lab's identity lives in its workspace.
pub const ID_FILE: &str = "lab-id";

/// A lab as its marks name it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Owner {
    pub lab: String,
    pub id: String,
}

impl Owner {
    pub fn new(lab: &str, id: &str) -> Owner {
        Owner {
            lab: lab.to_string(),
            id: id.to_string(),
        }
    }

    /// Whether a mark reading (`lab`, `id`) is this lab's. An empty own id (a lab whose
    /// identity is not known, e.g. `labwarp export`) matches nothing.
    pub fn is(&self, lab: Option<&str>, id: Option<&str>) -> bool {
        !self.id.is_empty() && lab == Some(self.lab.as_str()) && id == Some(self.id.as_str())
    }

    /// Content of a directory's marker file.
    pub fn marker_text(&self) -> String {
        format!(
            "# This directory was created by labwarp for lab {} (id {}).\n# `labwarp clean` removes it once it holds nothing labwarp did not make.\nlab={}\nid={}\n",
            self.lab, self.id, self.lab, self.id
        )
    }

    /// Whether a marker file's content names this lab.
    pub fn owns_marker(&self, text: &str) -> bool {
        let (lab, id) = parse_marker(text);
        self.is(lab.as_deref(), id.as_deref())
    }
}

/// `(lab, id)` from a marker file's `lab=`/`id=` lines.
pub fn parse_marker(text: &str) -> (Option<String>, Option<String>) {
    let mut lab = None;
    let mut id = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("lab=") {
            lab = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("id=") {
            id = Some(v.trim().to_string());
        }
    }
    (lab, id)
}

/// The marker file of a directory.
pub fn marker_path(dir: &Path) -> PathBuf {
    dir.join(MARKER_FILE)
}

/// Whether `s` looks like an id labwarp generated (16 to 64 lowercase hex digits).
pub fn valid_id(s: &str) -> bool {
    (16..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A new random identity (128 bits, hex).
pub fn new_id() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let a: u64 = rng.random();
    let b: u64 = rng.random();
    format!("{a:016x}{b:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_names_its_lab_and_identity_and_nothing_else_matches() {
        let me = Owner::new("demo", &new_id());
        assert!(me.owns_marker(&me.marker_text()));
        // Same name, another workspace: not ours.
        let twin = Owner::new("demo", &new_id());
        assert!(!me.owns_marker(&twin.marker_text()));
        assert!(!me.owns_marker("lab=demo\n"));
        assert!(!me.owns_marker(""));
        // No identity known: nothing is ours.
        let unknown = Owner::new("demo", "");
        assert!(!unknown.owns_marker(&unknown.marker_text()));
    }

    #[test]
    fn ids_are_hex_and_distinct() {
        let (a, b) = (new_id(), new_id());
        assert!(valid_id(&a) && valid_id(&b), "{a} {b}");
        assert_ne!(a, b);
        assert!(!valid_id("not-hex-at-all-xyz"));
        assert!(!valid_id("abc"));
    }
}
