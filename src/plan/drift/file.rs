//! A rendered file's content: rewritten in place, with a short summary of the difference
//! (lines added and removed, where the first change is). Never the lines themselves: a
//! rendered file may hold a password.

use crate::plan::{Drift, DriftCost};
use similar::{ChangeTag, TextDiff};

/// The drift of a file whose content is `live` against `wanted`; `None` when identical.
pub fn drift(live: &[u8], wanted: &[u8]) -> Option<Drift> {
    if live == wanted {
        return None;
    }
    let (Ok(l), Ok(w)) = (std::str::from_utf8(live), std::str::from_utf8(wanted)) else {
        return Some(Drift::new(
            "content",
            format!("{} bytes", live.len()),
            format!("{} bytes (binary, rewritten)", wanted.len()),
            DriftCost::Live,
        ));
    };
    let diff = TextDiff::from_lines(l, w);
    let (mut added, mut removed, mut first) = (0usize, 0usize, None);
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Insert => added += 1,
            ChangeTag::Delete => removed += 1,
            ChangeTag::Equal => continue,
        }
        if first.is_none() {
            first = change.old_index().or(change.new_index()).map(|i| i + 1);
        }
    }
    let at = first
        .map(|n| format!(", first at line {n}"))
        .unwrap_or_default();
    Some(Drift::new(
        "content",
        format!("{} lines", l.lines().count()),
        format!(
            "{} lines (+{added} −{removed}{at}; rewritten)",
            w.lines().count()
        ),
        DriftCost::Live,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_line_is_summarised_without_its_text() {
        let live = b"a=1\nsecret=hunter2\nc=3\n";
        let want = b"a=1\nsecret=swordfish\nc=3\nd=4\n";
        let d = drift(live, want).unwrap();
        assert_eq!(
            d.to_string(),
            "~ content: 3 lines → 4 lines (+2 −1, first at line 2; rewritten) (applied live)"
        );
        assert!(!d.to_string().contains("hunter2") && !d.to_string().contains("swordfish"));
        assert_eq!(drift(want, want), None);
        assert!(drift(&[0xff, 0], b"x").unwrap().wanted.contains("binary"));
    }
}
