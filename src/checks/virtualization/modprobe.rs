//! Reading the nested-KVM setting: `options kvm_intel|kvm_amd` lines in /etc/modprobe.d and the
//! live `nested` module parameter.

use super::MODPROBE_D;
use crate::checks::FileRead;

/// An `options` line of modprobe.d that sets parameters of `module` (`kvm_intel` and
/// `kvm-intel` are the same module to modprobe).
pub(super) fn is_options_for(line: &str, module: &str) -> bool {
    let mut words = line.split_whitespace();
    words.next() == Some("options") && words.next().is_some_and(|m| m.replace('-', "_") == module)
}

/// Every `options kvm_intel|kvm_amd` line in modprobe.d as `file:line: text`.
pub(super) fn modprobe_option_lines(files: &[(String, FileRead)]) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    for (name, read) in files {
        if let FileRead::Content(text) = read {
            for (i, line) in text.lines().enumerate() {
                if is_options_for(line, "kvm_intel") || is_options_for(line, "kvm_amd") {
                    out.push((format!("{MODPROBE_D}/{name}"), i + 1, line.to_string()));
                }
            }
        }
    }
    out
}

/// The live `nested` parameter (/sys/module/kvm_*/parameters/nested) reads as on:
/// `Y` from kvm_intel, `1` from kvm_amd.
pub(super) fn nested_on(value: &str) -> bool {
    matches!(value.trim(), "Y" | "y" | "1")
}
