//! IANA time zone names (canonical zones and their `backward` links), for checking that a
//! timezone exists without depending on the host's /usr/share/zoneinfo. The list
//! (`zones.txt`, one per line, sorted) was generated from tzdata version 2025b (python3
//! `zoneinfo.available_timezones()`); regenerate when tzdata adds a zone.
//! A zone newer than this list can still be used with `overrides: [timezone]`.

use std::sync::LazyLock;

/// The zone names, sorted (binary search).
pub static ZONES: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| include_str!("zones.txt").lines().collect());
