//! /etc/libvirt/qemu.conf parser and editor: parse→render is byte-identical; the edit for a
//! mode touches only the four keys' lines, reaches what the mode wants and is idempotent.
#![no_main]

use labwarp::checks::QemuMode;
use labwarp::checks::qemu_conf::{ConfFile, KEYS, Want, edit_for_mode, wanted};
use libfuzzer_sys::fuzz_target;

fn touches_key(line: &str) -> bool {
    let t = line.trim_start().trim_start_matches('#').trim_start();
    KEYS.iter().any(|k| {
        t.strip_prefix(k)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    assert_eq!(ConfFile::parse(&text).render(), text, "parse→render must be byte-identical");
    for mode in [QemuMode::Root, QemuMode::Distro] {
        let Some(edited) = edit_for_mode(&text, mode) else {
            continue;
        };
        assert_eq!(
            edit_for_mode(&edited, mode),
            None,
            "editing twice changed the file again ({mode:?}):\n{edited}"
        );
        let conf = ConfFile::parse(&edited);
        for key in KEYS {
            let have = conf.get(key).map(|e| e.value);
            match wanted(mode, key) {
                Want::Set(v) => assert_eq!(have, Some(v), "{key} after the edit ({mode:?})"),
                Want::Not(v) => assert_ne!(have, Some(v), "{key} after the edit ({mode:?})"),
            }
        }
        // Lines that are not about the four keys survive unchanged and in order, byte for
        // byte: split on '\n' only (`lines()` would also eat a '\r' before it, and the edit
        // legitimately ends an unterminated last line "x\r" with '\n').
        let keep = |t: &str| -> Vec<String> {
            t.split_terminator('\n')
                .filter(|l| !touches_key(l))
                .map(str::to_string)
                .collect()
        };
        let before = keep(&text);
        let after = keep(&edited);
        assert_eq!(before, after, "the edit changed lines it does not own ({mode:?})");
    }
});
