//! A disk's size: a larger one is grown in place (the guest sees it at once, its
//! filesystem is the guest's to grow); a smaller one is refused (shrinking a qcow2 under a
//! filesystem loses data).

use crate::plan::{Drift, DriftCost};

const GIB: u64 = 1 << 30;

fn gib(bytes: u64) -> String {
    if bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else {
        format!("{:.2} GiB", bytes as f64 / GIB as f64)
    }
}

/// The drift of a disk whose virtual size is `live` bytes against `wanted` bytes.
/// `recreate`: the command that makes the disk anew.
pub fn drift(path: &str, live: u64, wanted: u64, recreate: &str) -> Option<Drift> {
    match live.cmp(&wanted) {
        std::cmp::Ordering::Equal => None,
        std::cmp::Ordering::Less => {
            Some(Drift::new("size", gib(live), gib(wanted), DriftCost::Live))
        }
        std::cmp::Ordering::Greater => Some(Drift::recreate(
            "size",
            gib(live),
            gib(wanted),
            format!("a disk is never shrunk in place; {path} and everything on it is lost"),
            recreate,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grow_is_live_shrink_is_refused_equal_is_nothing() {
        assert_eq!(drift("/d", 10 * GIB, 10 * GIB, "c"), None);
        assert_eq!(
            drift("/d", GIB, 2 * GIB, "c").unwrap().to_string(),
            "~ size: 1 GiB → 2 GiB (applied live)"
        );
        let s = drift("/d", 3 * GIB, 2 * GIB, "labwarp run --fresh nodes").unwrap();
        assert_eq!(s.cost, DriftCost::Recreate);
        assert!(s.to_string().contains("`labwarp run --fresh nodes`"), "{s}");
        assert_eq!(
            drift("/d", GIB + GIB / 2, GIB, "c").unwrap().live,
            "1.50 GiB"
        );
    }
}
