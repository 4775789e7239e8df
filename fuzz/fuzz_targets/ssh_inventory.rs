//! ssh.config and the Ansible inventory rendered from a preset whose user-set strings
//! (names, addresses, users, workspace path...) come from the fuzzer. Either rendering refuses
//! the value (an error naming the field) or the output parses back with the value intact and
//! every host still pins its host key: no value can add a line, an option or a word.
#![no_main]

use labwarp::lab::{load_preset, preset_names};
use labwarp::render::{RenderContext, inventory, ssh_config};
use libfuzzer_sys::fuzz_target;
use serde_yaml::Value;
use std::path::PathBuf;

/// Length-prefixed fields: one byte of length, then that many bytes (lossy UTF-8).
fn fields(data: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        let n = (n as usize).min(tail.len());
        out.push(String::from_utf8_lossy(&tail[..n]).into_owned());
        rest = &tail[n..];
    }
    out
}

/// POSIX shell word splitting (what Ansible's shlex does with ansible_ssh_common_args).
fn shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' => words.extend(cur.take()),
            '\'' => {
                let w = cur.get_or_insert_with(String::new);
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    w.push(q);
                }
            }
            '\\' => {
                let w = cur.get_or_insert_with(String::new);
                if let Some(n) = chars.next() {
                    w.push(n);
                }
            }
            c => cur.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(cur);
    words
}

/// An ssh_config value as ssh reads it back (double quotes removed).
fn unquote(v: &str) -> &str {
    v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v)
}

const KEYWORDS: [&str; 9] = [
    "HostName",
    "Port",
    "User",
    "ProxyJump",
    "IdentityFile",
    "IdentitiesOnly",
    "UserKnownHostsFile",
    "StrictHostKeyChecking",
    "ServerAliveInterval",
];

fn check_ssh_config(text: &str, known: &str, hv: Option<(&str, &str)>) {
    let mut blocks: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(alias) = line.strip_prefix("Host ") {
            assert!(!alias.contains(' '), "a Host line with several patterns: {line:?}");
            blocks.push((alias.to_string(), Vec::new()));
            continue;
        }
        let body = line
            .strip_prefix("  ")
            .unwrap_or_else(|| panic!("a line outside any option: {line:?}\n{text}"));
        let (k, v) = body.split_once(' ').unwrap_or_else(|| panic!("no value: {line:?}"));
        assert!(KEYWORDS.contains(&k), "an option labwarp does not write: {line:?}\n{text}");
        let block = blocks.last_mut().unwrap_or_else(|| panic!("option before Host: {line:?}"));
        assert!(block.1.iter().all(|(k2, _)| k2 != k), "{k} twice in Host {}", block.0);
        block.1.push((k.to_string(), v.to_string()));
    }
    assert!(!blocks.is_empty(), "no Host block:\n{text}");
    for (alias, opts) in &blocks {
        let get = |k: &str| opts.iter().find(|(k2, _)| k2 == k).map(|(_, v)| unquote(v));
        assert_eq!(get("StrictHostKeyChecking"), Some("yes"), "Host {alias} does not pin");
        assert_eq!(get("UserKnownHostsFile"), Some(known), "Host {alias} known_hosts");
    }
    if let Some((name, user)) = hv {
        let (_, opts) = blocks
            .iter()
            .find(|(a, _)| a == name)
            .unwrap_or_else(|| panic!("no Host {name}:\n{text}"));
        let got = opts.iter().find(|(k, _)| k == "User").map(|(_, v)| unquote(v));
        assert_eq!(got, Some(user), "the hypervisor's user changed on the way");
    }
}

fn check_inventory(text: &str, known: &str, hv: Option<(&str, &str)>) {
    let v: Value = serde_yaml::from_str(text)
        .unwrap_or_else(|e| panic!("the inventory is not YAML ({e}):\n{text}"));
    let groups = &v["all"]["children"];
    let mut hosts = Vec::new();
    for g in ["hypervisor", "undercloud"] {
        if let Some(m) = groups[g]["hosts"].as_mapping() {
            hosts.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    if let Some(children) = groups["overcloud"]["children"].as_mapping() {
        for (_, g) in children {
            if let Some(m) = g["hosts"].as_mapping() {
                hosts.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
    }
    for (name, h) in &hosts {
        let Some(args) = h["ansible_ssh_common_args"].as_str() else {
            continue;
        };
        let words = shell_words(args);
        assert!(
            words.contains(&"StrictHostKeyChecking=yes".to_string()),
            "{name:?} does not pin: {words:?}"
        );
        assert!(
            words.contains(&format!("UserKnownHostsFile={known}")),
            "{name:?}: the known_hosts path did not survive quoting: {words:?}"
        );
        // `-o X -o Y -o Z`, plus `-F CONFIG -o ProxyJump=J` behind a jump host.
        assert!(
            words.len() == 6 || words.len() == 10,
            "{name:?}: a value split into extra words: {words:?}"
        );
    }
    if let Some((name, user)) = hv {
        let h = &groups["hypervisor"]["hosts"][name];
        assert_eq!(h["ansible_user"].as_str(), Some(user), "the hypervisor's user:\n{text}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, data)) = data.split_first() else {
        return;
    };
    let names: Vec<&str> = preset_names().collect();
    let Ok(mut lab) = load_preset(names[which as usize % names.len()]) else {
        return;
    };
    let f = fields(data);
    let at = |i: usize| f.get(i).cloned();
    let mut workspace = PathBuf::from("/var/lib/labwarp/ws");
    if let Some(hv) = lab.hypervisors.first_mut() {
        if let Some(v) = at(0) {
            hv.name = v;
        }
        if let Some(v) = at(1) {
            hv.address = v;
        }
        if let Some(v) = at(2) {
            hv.ssh_user = v;
        }
        if let Some(v) = at(3) {
            hv.stack_user = v;
        }
    }
    if let Some(v) = at(4) {
        lab.undercloud.vm.name = v;
    }
    if let Some(v) = at(5) {
        lab.undercloud.cloud_init.user = v;
    }
    if let Some(v) = at(7) {
        workspace = PathBuf::from(format!("/{v}"));
    }
    if let Some(v) = at(9) {
        lab.name = v;
    }
    let mut ctx = RenderContext::for_lab(&lab, &workspace);
    if let (Some(addr), Some(node)) = (at(6), lab.nodes().first()) {
        ctx.node_addresses.insert(node.name.clone(), addr);
    }
    if let Some(v) = at(8) {
        ctx.overcloud_user = v;
    }
    let known = ctx.known_hosts.display().to_string();
    let hv = lab
        .hypervisors
        .first()
        .filter(|h| !h.is_local())
        .map(|h| (h.name.as_str(), h.ssh_user.as_str()));
    if let Ok(text) = ssh_config::render(&lab, &ctx) {
        check_ssh_config(&text, &known, hv);
    }
    if let Ok(text) = inventory::render(&lab, &ctx) {
        let hv = hv.filter(|(n, _)| lab.hypervisors.iter().filter(|h| h.name == *n).count() == 1);
        check_inventory(&text, &known, hv);
    }
});
