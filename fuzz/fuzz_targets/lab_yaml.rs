//! lab.yaml (and the presets it names) through the loader and validator: any bytes give a lab
//! or a list of problems, never a panic; every error names its field or location and a fix;
//! a lab that loads writes back (`to_yaml`) to YAML that loads to the same lab (less its
//! VBMC password, which is never written back).
#![no_main]

use labwarp::lab::{load_str, parse_str, to_yaml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The TUI's path: parse without validating (half-typed values are kept).
    let _ = parse_str(&text, "fuzz.yaml");
    match load_str(&text, "fuzz.yaml") {
        Ok(mut lab) => {
            // The VBMC password is never written back (it lives in the workspace).
            lab.overcloud.vbmc.password = None;
            let again = to_yaml(&lab);
            let back = load_str(&again, "fuzz-again.yaml")
                .unwrap_or_else(|e| panic!("a valid lab wrote YAML that does not load: {e}\n{again}"));
            assert_eq!(back, lab, "to_yaml round trip changed the lab:\n{again}");
        }
        Err(e) => {
            let errors: Vec<_> = e.errors().collect();
            assert!(!errors.is_empty(), "an error without a problem: {e}");
            for p in errors {
                assert!(!p.message.is_empty(), "a problem without a message: {p:?}");
                assert!(!p.fix.is_empty(), "a problem without a fix: {p:?}");
            }
        }
    }
});
