//! The lab's own fields, the hypervisors and the images.

use super::Report;
use super::{fields, paths};
use crate::lab::model::{ImageSource, Lab};
use std::collections::HashMap;

/// Longest lab name: it prefixes every domain (`<name>-controller-0`) and stays readable.
pub const MAX_LAB_NAME: usize = 32;

pub fn lab(lab: &Lab, r: &mut Report) {
    r.check("name", &lab.name, fields::name(&lab.name, MAX_LAB_NAME));
    // The run's snapshot becomes a directory on the hypervisor (empty: none is taken).
    let snap = &lab.snapshots.after_undercloud_install;
    if let Some(why) = crate::lab::snapshot_name_problem(snap).filter(|_| !snap.is_empty()) {
        r.check(
            "snapshots.after_undercloud_install",
            snap,
            fields::bad::<()>(
                why,
                "use a plain name such as undercloud-installed, or \"\" for none",
            ),
        );
    }
    // One line of plain text: no line breaks, and no control characters (an escape sequence
    // would reach the terminal when the description is printed).
    if lab.description.chars().any(char::is_control) {
        r.error(
            "description",
            lab.description.escape_debug().to_string(),
            "the description must be one line of text without control characters",
            "remove the line breaks and control characters",
        );
    }
    let ws = lab.workspace.to_string_lossy();
    // The user's own directory, anywhere they like (shell syntax included, it is only ever
    // one argv word), but never a system directory: keys, logs and state are written there.
    let ws_check = fields::path(&ws).and_then(|()| {
        if ws.contains('"') {
            // ssh.config names the workspace key and known_hosts in double quotes, and
            // OpenSSH has no way to escape one inside them.
            fields::bad(
                "the path holds `\"`, which ssh.config cannot carry (IdentityFile, UserKnownHostsFile)",
                "rename the directory without double quotes",
            )
        } else {
            Ok(())
        }
    });
    if r.check("workspace", &ws, ws_check).is_some()
        && ws.starts_with('/')
        && let Some(norm) = paths::normalise(&ws)
    {
        r.check("workspace", &ws, paths::not_system(&norm));
    }
    if let Some(theme) = &lab.theme {
        let names = crate::lab::SHIPPED_THEMES;
        if !names.contains(&theme.as_str()) {
            let fix = match crate::lab::diagnose::suggest(theme, names.iter().copied()) {
                Some(s) => format!("did you mean `{s}`? (themes: {})", names.join(", ")),
                None => format!("use one of: {}", names.join(", ")),
            };
            r.error("theme", theme, "unknown theme", fix);
        }
    }
}

pub fn hypervisors(lab: &Lab, r: &mut Report) {
    if lab.hypervisors.is_empty() {
        r.error(
            "hypervisors",
            "[]",
            "the lab needs a hypervisor",
            "add one, e.g. `hypervisors: [{name: virthost, address: 127.0.0.2}]`",
        );
    }
    if let Some(second) = lab.hypervisors.get(1) {
        // Everything labwarp plans (networks, pools, VMs, VirtualBMC) goes to hypervisors[0];
        // a second entry would be silently ignored.
        r.error(
            "hypervisors[1]",
            &second.name,
            format!(
                "the lab lists {} hypervisors; only one is supported until a lab can span hosts",
                lab.hypervisors.len()
            ),
            "remove hypervisors[1] and any after it, and build one lab per hypervisor",
        );
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut endpoints: HashMap<(&str, u16), usize> = HashMap::new();
    for (i, h) in lab.hypervisors.iter().enumerate() {
        let p = format!("hypervisors[{i}]");
        if r.check(format!("{p}.name"), &h.name, fields::name(&h.name, 63))
            .is_some()
            && let Some(first) = names.insert(&h.name, i)
        {
            r.error(
                format!("{p}.name"),
                &h.name,
                format!("hypervisors[{first}] already has this name"),
                "give each hypervisor its own name",
            );
            names.insert(&lab.hypervisors[first].name, first);
        }
        if h.address != "local" {
            let checked = r.check(
                format!("{p}.address"),
                &h.address,
                fields::host(&h.address).map_err(|b| fields::Bad {
                    fix: format!("{}, or `local` for this machine without SSH", b.fix),
                    ..b
                }),
            );
            if checked.is_some()
                && let Some(first) = endpoints.insert((&h.address, h.ssh_port), i)
            {
                r.error(
                    format!("{p}.address"),
                    &h.address,
                    format!("hypervisors[{first}] already uses this address and SSH port"),
                    "list each hypervisor once",
                );
            }
        }
        if h.ssh_port == 0 {
            r.error(
                format!("{p}.ssh_port"),
                0,
                "port 0 is not a valid SSH port",
                "use 22 or the port sshd listens on (1-65535)",
            );
        }
        r.check(
            format!("{p}.ssh_user"),
            &h.ssh_user,
            fields::unix_user(&h.ssh_user),
        );
        if r.check(
            format!("{p}.stack_user"),
            &h.stack_user,
            fields::unix_user(&h.stack_user),
        )
        .is_some()
            && h.stack_user == "root"
        {
            r.warning(
                format!("{p}.stack_user"),
                "root",
                "the lab's VMs and files would belong to root",
                "use an unprivileged user such as `stack` (as quickstart does)",
            );
        }
        r.check(
            format!("{p}.libvirt_uri"),
            &h.libvirt_uri,
            fields::libvirt_uri(&h.libvirt_uri),
        );
        let pool = h.pool_path.to_string_lossy();
        r.check(format!("{p}.pool_path"), &pool, paths::owned(&pool, true));
    }
}

pub fn images(lab: &Lab, r: &mut Report) {
    let cache = lab.images.cache_dir.to_string_lossy();
    r.check("images.cache_dir", &cache, paths::owned(&cache, false));
    source("images.undercloud", &lab.images.undercloud, r);
    let kernel = lab.images.overcloud_kernel.as_ref();
    let initrd = lab.images.overcloud_initrd.as_ref();
    if let Some(k) = kernel {
        source("images.overcloud_kernel", k, r);
    }
    if let Some(i) = initrd {
        source("images.overcloud_initrd", i, r);
    }
    match (kernel, initrd) {
        (Some(_), None) => r.error(
            "images.overcloud_initrd",
            "",
            "direct kernel boot needs both a kernel and an initrd",
            "set images.overcloud_initrd.source, or remove images.overcloud_kernel",
        ),
        (None, Some(_)) => r.error(
            "images.overcloud_kernel",
            "",
            "direct kernel boot needs both a kernel and an initrd",
            "set images.overcloud_kernel.source, or remove images.overcloud_initrd",
        ),
        _ => {}
    }
    if lab.images.kernel_cmdline.chars().any(|c| c.is_control()) {
        r.error(
            "images.kernel_cmdline",
            lab.images.kernel_cmdline.escape_default(),
            "the kernel command line must be one line",
            "remove line breaks and tabs",
        );
    }
}

pub(super) fn source(path: &str, img: &ImageSource, r: &mut Report) {
    r.check(
        format!("{path}.source"),
        &img.source,
        fields::path_or_url(&img.source),
    );
    if let Some(md5) = &img.md5 {
        r.check(format!("{path}.md5"), md5, fields::md5(md5));
    }
    if let Some(u) = &img.md5_url {
        r.check(format!("{path}.md5_url"), u, fields::url(u));
    }
}
