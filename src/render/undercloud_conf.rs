//! `undercloud.conf` for `openstack undercloud install`, with TripleO's key names (the keys
//! of tripleo-quickstart-extras' `undercloud.conf.j2`): `[DEFAULT]` plus `[ctlplane-subnet]`.
//! Only options python-tripleoclient 20 registers and does not deprecate for removal
//! (`tests/quick/tripleo_contract.rs` loads every preset's file with them): no `enable_heat` or
//! `enable_nova`, which it ignores.
//!
//! oslo.config reads it; values are single-line, lists are comma-separated and booleans are
//! `true`/`false`. Written by `render::ini`, the one INI writer: a value holding a newline or
//! wrapped in quotes is refused, and `$` is written `$$` (oslo.config substitutes `$name`).

use super::ini::Ini;
use super::{Result, single_line};
use crate::lab::Lab;

pub fn render(lab: &Lab) -> Result<String> {
    let c = &lab.undercloud.conf;
    let s = &c.subnet;
    let f = |k: &str| format!("undercloud.conf.{k}");
    let fs = |k: &str| format!("undercloud.conf.subnet.{k}");
    let mut ini = Ini::new(&format!(
        "undercloud.conf of lab '{}', rendered by labwarp.\nRe-render with `labwarp export`; edits here are overwritten.",
        lab.name.escape_debug()
    ));
    ini.section("DEFAULT");
    ini.set(
        "undercloud_hostname",
        &c.undercloud_hostname,
        &f("undercloud_hostname"),
    )?;
    ini.set("local_ip", &c.local_ip, &f("local_ip"))?;
    ini.set(
        "undercloud_public_host",
        &c.undercloud_public_host,
        &f("undercloud_public_host"),
    )?;
    ini.set(
        "undercloud_admin_host",
        &c.undercloud_admin_host,
        &f("undercloud_admin_host"),
    )?;
    ini.set("local_interface", &c.local_interface, &f("local_interface"))?;
    ini.set("local_mtu", &c.local_mtu.to_string(), &f("local_mtu"))?;
    ini.set_list(
        "undercloud_nameservers",
        &c.undercloud_nameservers,
        &f("undercloud_nameservers"),
    )?;
    ini.set_list(
        "undercloud_ntp_servers",
        &c.undercloud_ntp_servers,
        &f("undercloud_ntp_servers"),
    )?;
    ini.set(
        "undercloud_timezone",
        &c.undercloud_timezone,
        &f("undercloud_timezone"),
    )?;
    ini.set("container_cli", &c.container_cli, &f("container_cli"))?;
    ini.set(
        "container_images_file",
        &c.container_images_file,
        &f("container_images_file"),
    )?;
    ini.set_bool("undercloud_debug", c.undercloud_debug);
    ini.set_bool(
        "generate_service_certificate",
        c.generate_service_certificate,
    );
    ini.set_bool("enable_ironic", c.enable_ironic);
    ini.set_bool("enable_ironic_inspector", c.enable_ironic_inspector);
    ini.set_bool("clean_nodes", c.clean_nodes);
    ini.set("subnets", "ctlplane-subnet", "")?;
    ini.set("local_subnet", "ctlplane-subnet", "")?;

    ini.section("ctlplane-subnet");
    ini.set("cidr", &s.cidr, &fs("cidr"))?;
    ini.set("dhcp_start", &s.dhcp_start, &fs("dhcp_start"))?;
    ini.set("dhcp_end", &s.dhcp_end, &fs("dhcp_end"))?;
    ini.set("gateway", &s.gateway, &fs("gateway"))?;
    single_line(&fs("inspection_start"), &s.inspection_start)?;
    ini.set(
        "inspection_iprange",
        &format!("{},{}", s.inspection_start.trim(), s.inspection_end.trim()),
        &fs("inspection_end"),
    )?;
    ini.set_bool("masquerade", s.masquerade);
    Ok(ini.finish())
}
