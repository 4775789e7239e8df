//! Theme files: any bytes give a theme (the default fills in what cannot be read) and warnings
//! that name the file, never a panic.
#![no_main]

use labwarp::theme::parse::{description, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = description(&text);
    let (_theme, warnings) = parse(&text, "fuzz.yaml");
    for w in warnings {
        assert!(w.starts_with("theme fuzz.yaml: "), "a warning that does not name the file: {w}");
    }
});
