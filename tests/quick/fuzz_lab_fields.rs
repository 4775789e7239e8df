//! The `lab_fields` fuzz target's check (fuzz/fuzz_targets/lab_fields_check.rs) on its
//! committed corpus and on every hostile value for every field, with the stable toolchain:
//! the check compiles and holds here, whatever `scripts/fuzz` later finds.

use crate::common;

#[path = "../../fuzz/fuzz_targets/lab_fields_check.rs"]
mod lab_fields_check;

use std::path::Path;

#[test]
fn the_lab_fields_fuzz_check_holds_on_its_corpus_and_hostile_values() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/lab_fields");
    let mut runs = 0;
    for entry in std::fs::read_dir(dir).expect("the corpus") {
        lab_fields_check::check(&std::fs::read(entry.unwrap().path()).unwrap());
        runs += 1;
    }
    let canary = tempfile::tempdir().unwrap().path().join("CANARY");
    for (i, _) in lab_fields_check::FIELDS.iter().enumerate() {
        for v in common::hostile::values(&canary) {
            let mut data = vec![i as u8];
            data.extend_from_slice(v.as_bytes());
            lab_fields_check::check(&data);
            runs += 1;
        }
    }
    assert!(!canary.exists());
    assert!(runs > 100, "{runs}");
    println!("fuzz check lab_fields: {runs} inputs (corpus and hostile values), all hold");
}
