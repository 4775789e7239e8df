//! The nested-KVM fix: quickstart's recipe as exact file edits and module reloads.

use super::modprobe::{is_options_for, nested_on};
use super::{KVM_CONF, MODPROBE_D, Vendor, VirtFacts};
use crate::checks::{FileEdit, FileRead, Fix};
use std::path::PathBuf;

/// Quickstart's nested recipe (roles/parts/kvm), as exact edits: drop every
/// `options kvm_<vendor>` line from every file in /etc/modprobe.d, write
/// `options kvm_<vendor> nested=1|0` into kvm.conf, and reload the module when its live
/// value differs. Returns `None` when nothing needs changing.
pub fn nested_fix(facts: &VirtFacts, vendor: Vendor, want: bool) -> Option<Fix> {
    let module = vendor.module();
    let wanted_line = format!("options {module} nested={}", if want { 1 } else { 0 });
    let mut edits = Vec::new();
    let files = facts.modprobe_d.clone().unwrap_or_default();
    let mut kvm_conf_seen = false;
    for (name, read) in &files {
        let FileRead::Content(text) = read else {
            continue;
        };
        let path = format!("{MODPROBE_D}/{name}");
        let is_kvm_conf = path == KVM_CONF;
        kvm_conf_seen |= is_kvm_conf;
        let mut kept: Vec<&str> = text
            .lines()
            .filter(|l| !is_options_for(l, module))
            .collect();
        if is_kvm_conf {
            kept.push(&wanted_line);
        }
        let mut new = kept.join("\n");
        if !new.is_empty() {
            new.push('\n');
        }
        if new != *text {
            edits.push(FileEdit {
                path: PathBuf::from(&path),
                content: new,
                backup: Some(PathBuf::from(format!("{path}.labwarp.bak"))),
                mode: 0o644,
            });
        }
    }
    if !kvm_conf_seen {
        edits.push(FileEdit {
            path: PathBuf::from(KVM_CONF),
            content: format!("{wanted_line}\n"),
            backup: None,
            mode: 0o644,
        });
    }
    let live = facts
        .nested
        .iter()
        .find(|(m, _)| m == module)
        .and_then(|(_, r)| r.content().map(nested_on));
    let mut commands = Vec::new();
    if live != Some(want) {
        commands.push(vec!["modprobe".into(), "-r".into(), module.into()]);
        commands.push(vec!["modprobe".into(), module.into()]);
    }
    if edits.is_empty() && commands.is_empty() {
        return None;
    }
    Some(Fix {
        description: format!(
            "Persist `{wanted_line}` in {KVM_CONF} (removing every other `options {module}` line from {MODPROBE_D}/*){}. If the reload fails, shut down the running VMs first.",
            if commands.is_empty() {
                String::new()
            } else {
                format!(", then reload {module}")
            }
        ),
        edits,
        commands,
        restart: None,
    })
}
