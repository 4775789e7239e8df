//! Path and secret fields of a lab with fuzz bytes: accepted paths are plain and normal and
//! an accepted NFS export renders to one export of that path; a password never shows in a
//! problem. The check itself is `lab_fields_check.rs` (also run by `tests/quick/fuzz_lab_fields.rs`).
#![no_main]

#[path = "lab_fields_check.rs"]
mod lab_fields_check;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lab_fields_check::check(data);
});
