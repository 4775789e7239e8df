//! A section's table: one row per field saying what the form shows for it (label, editor kind,
//! help) and the lab path validation names it by. A table's order is its screen's field order,
//! so each field is listed once, here, and nowhere else.

use super::Kind;

/// What the form shows for one field, and where validation finds it in the lab.
#[derive(Debug)]
pub struct About {
    /// The lab path; for a table row (`networks[i]`, `overcloud.nodes[i]`) the part after it.
    pub path: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

/// One row of a section's table: the field's key and what it is.
#[derive(Debug)]
pub struct Spec<K> {
    pub key: K,
    pub about: About,
}

/// The row of `key` in `table`, if it has one.
pub fn find<K: Copy + PartialEq>(table: &'static [Spec<K>], key: K) -> Option<&'static About> {
    table.iter().find(|s| s.key == key).map(|s| &s.about)
}

pub const fn stepper(min: u64, max: u64, step: u64, unit: &'static str) -> Kind {
    Kind::Stepper {
        min,
        max,
        step,
        unit,
    }
}

/// A section's table: `Key => "path", "Label", kind, "help";` per field, in screen order.
macro_rules! specs {
    ($($key:expr => $path:literal, $label:literal, $kind:expr, $help:literal;)*) => {
        &[$($crate::tui::fields::spec::Spec {
            key: $key,
            about: $crate::tui::fields::spec::About {
                path: $path,
                label: $label,
                kind: $kind,
                help: $help,
            },
        },)*]
    };
}
pub(crate) use specs;
