//! cloud-init NoCloud seed of the undercloud: `user-data` (#cloud-config) and `meta-data`.
//!
//! The login user (quickstart's `stack`) gets passwordless sudo and the workspace key plus the
//! lab's keys; root gets the same keys (`undercloud-root` in ssh.config). Passwords are locked
//! and password SSH is off. When the context carries a host key pair, it is installed as the
//! undercloud's ed25519 host key, so labwarp knows and pins it before the first connection
//! (the file then holds a private key and is written 0600).

use super::{RenderContext, RenderError, Result};
use crate::lab::Lab;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize)]
struct User<'a> {
    name: &'a str,
    gecos: &'a str,
    sudo: &'a str,
    shell: &'a str,
    lock_passwd: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    ssh_authorized_keys: &'a [String],
}

#[derive(Serialize)]
struct ResolvConf<'a> {
    nameservers: &'a [String],
}

#[derive(Serialize)]
struct UserData<'a> {
    hostname: &'a str,
    fqdn: &'a str,
    /// TripleO's installer needs the hostname to resolve locally.
    manage_etc_hosts: bool,
    users: Vec<User<'a>>,
    /// Root's keys (applied because `disable_root` is false).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    ssh_authorized_keys: &'a [String],
    disable_root: bool,
    ssh_pwauth: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    ssh_deletekeys: Option<bool>,
    /// With `ssh_keys` given, cloud-init installs them instead of generating host keys.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    ssh_keys: BTreeMap<&'a str, &'a str>,
    timezone: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    manage_resolv_conf: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resolv_conf: Option<ResolvConf<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    packages: &'a [String],
}

#[derive(Serialize)]
struct MetaData<'a> {
    #[serde(rename = "instance-id")]
    instance_id: String,
    #[serde(rename = "local-hostname")]
    local_hostname: &'a str,
}

/// Every public key the undercloud accepts: the workspace key first, then the lab's.
fn authorized_keys(lab: &Lab, ctx: &RenderContext) -> Vec<String> {
    let mut keys: Vec<String> = ctx
        .ssh_public_key
        .iter()
        .map(|k| k.trim().to_string())
        .collect();
    for k in &lab.undercloud.cloud_init.ssh_authorized_keys {
        let k = k.trim().to_string();
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys
}

fn short_hostname(fqdn: &str) -> &str {
    fqdn.split('.').next().unwrap_or(fqdn)
}

fn yaml_error(e: serde_yaml::Error) -> RenderError {
    RenderError::Serialise {
        format: "YAML",
        reason: e.to_string(),
    }
}

/// `user-data` (starts with `#cloud-config`).
pub fn user_data(lab: &Lab, ctx: &RenderContext) -> Result<String> {
    let ci = &lab.undercloud.cloud_init;
    let fqdn = lab.undercloud.conf.undercloud_hostname.as_str();
    let keys = authorized_keys(lab, ctx);
    for (i, k) in keys.iter().enumerate() {
        super::single_line(
            &format!("undercloud.cloud_init.ssh_authorized_keys[{i}]"),
            k,
        )?;
    }
    let mut ssh_keys = BTreeMap::new();
    if let Some(hk) = &ctx.undercloud_host_key {
        ssh_keys.insert("ed25519_private", hk.private.expose());
        ssh_keys.insert("ed25519_public", hk.public.as_str());
    }
    let pinned = !ssh_keys.is_empty();
    let doc = UserData {
        hostname: short_hostname(fqdn),
        fqdn,
        manage_etc_hosts: true,
        users: vec![User {
            name: &ci.user,
            gecos: "labwarp lab user",
            sudo: "ALL=(ALL) NOPASSWD:ALL",
            shell: "/bin/bash",
            lock_passwd: true,
            ssh_authorized_keys: &keys,
        }],
        ssh_authorized_keys: &keys,
        disable_root: false,
        ssh_pwauth: false,
        ssh_deletekeys: pinned.then_some(true),
        ssh_keys,
        timezone: &ci.timezone,
        manage_resolv_conf: (!ci.nameservers.is_empty()).then_some(true),
        resolv_conf: (!ci.nameservers.is_empty()).then_some(ResolvConf {
            nameservers: &ci.nameservers,
        }),
        packages: &ci.packages,
    };
    let body = serde_yaml::to_string(&doc).map_err(yaml_error)?;
    Ok(format!("#cloud-config\n{body}"))
}

/// `meta-data`: the instance id (the domain name) and the hostname.
pub fn meta_data(lab: &Lab) -> Result<String> {
    let doc = MetaData {
        instance_id: lab.domain_name(&lab.undercloud.vm.name),
        local_hostname: &lab.undercloud.conf.undercloud_hostname,
    };
    serde_yaml::to_string(&doc).map_err(yaml_error)
}
