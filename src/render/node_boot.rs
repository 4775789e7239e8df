//! Test rig: overcloud nodes that network-boot something real without ironic.
//!
//! On a real lab ironic boots the nodes: its dnsmasq answers their PXE DHCP with an iPXE
//! script on its HTTP server (`/var/lib/ironic/httpboot` on port 8088), which chains to a
//! config per node MAC that loads the deploy kernel and ramdisk. Under labwarp's stand-in
//! there is no ironic, so with `LABWARP_NODES_NETBOOT=1` labwarp plays ironic's PXE part on
//! the undercloud (`plan::steps::node_addresses`): it puts the lab's direct-boot kernel and
//! initrd (the tiny test guest) there as `agent.kernel`/`agent.ramdisk` with one iPXE config
//! per node, and the tiny test undercloud serves DHCP and HTTP on its provisioning NIC
//! (`labwarp.dhcp=`, scripts/build-tiny-guest.sh). The nodes' domains are the real ones
//! (network boot first, qemu's own iPXE ROM); the run's notes and the lab-in-a-box report
//! name the rig.
//!
//! The node's kernel command line carries what metalsmith's config drive gives a real node:
//! its name, the deploy user and the workspace's public key (`labwarp.node=`,
//! `labwarp.user=`, `labwarp.key=TYPE:BASE64`; read by the tiny guest's init).

use crate::lab::Lab;

pub const NOTE: &str = "LABWARP_NODES_NETBOOT=1 (test rig): labwarp plays ironic's PXE part, putting the lab's direct-boot kernel and initrd and one iPXE config per node on the undercloud's HTTP boot server, so the overcloud nodes network-boot them from the undercloud (what TripleO's ironic does); their addresses come from the undercloud's DHCP leases as on a real lab";

pub const MIGRATION_NOTE: &str = "LABWARP_MIGRATION_RIG=1 (test rig): the NFS server behind live migration is played by the test rig (nfs-ganesha standing in for the kernel NFS server), and live migration's readiness probes what the computes' tiny guest can answer, over labwarp's own SSH route to the nodes (through the undercloud, pinned host keys): a test mount of the export with a file written on one compute and read on the next, and the migration port reached compute to compute (a listener started for the probe stands in for nova_migration_target); what only TripleO's services could answer stays unverified, by name";

/// Where the undercloud's HTTP boot server serves from (ironic's httpboot) and its port.
pub const HTTPBOOT_DIR: &str = "/var/lib/ironic/httpboot";
pub const HTTPBOOT_PORT: u16 = 8088;

/// The rig is wanted and possible: asked for, on a real libvirt (not the sandbox), with the
/// stand-in (TripleO's ironic boots the nodes itself) and a direct-boot kernel and initrd.
pub fn rig_wanted(lab: &Lab, sandbox: bool, standin: bool) -> bool {
    std::env::var("LABWARP_NODES_NETBOOT").is_ok_and(|v| v == "1")
        && !sandbox
        && standin
        && lab.images.overcloud_kernel.is_some()
        && lab.images.overcloud_initrd.is_some()
}

/// Only characters a kernel command line word, iPXE and the guest's shell take as they are.
fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=-_.@".contains(c))
}

/// `console=ttyS0 labwarp.node=NAME labwarp.user=USER [labwarp.key=TYPE:BASE64]`; a value
/// with other characters is left out (the guest then has no such user or key).
pub fn cmdline(node: &str, user: &str, public_key: Option<&str>) -> String {
    let mut c = String::from("console=ttyS0");
    if plain(node) {
        c.push_str(&format!(" labwarp.node={node}"));
    }
    if plain(user) {
        c.push_str(&format!(" labwarp.user={user}"));
    }
    let mut words = public_key.unwrap_or("").split_whitespace();
    if let (Some(kind), Some(blob)) = (words.next(), words.next())
        && plain(kind)
        && plain(blob)
    {
        c.push_str(&format!(" labwarp.key={kind}:{blob}"));
    }
    c
}

/// The file name of a node's iPXE config: iPXE's `${net0/mac:hexhyp}` (`52-54-00-…`), as the
/// undercloud's `boot.ipxe` chains to it.
pub fn config_name(mac: &str) -> String {
    format!("{}.ipxe", mac.to_ascii_lowercase().replace(':', "-"))
}

/// A node's iPXE config: the deploy kernel with the node's command line, and the ramdisk,
/// from the HTTP boot server at `server` (the undercloud's local_ip).
pub fn ipxe_config(server: &str, cmdline: &str) -> String {
    let base = format!("http://{server}:{HTTPBOOT_PORT}");
    format!("#!ipxe\nkernel {base}/agent.kernel {cmdline}\ninitrd {base}/agent.ramdisk\nboot\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_carries_name_user_and_key_and_nothing_unquoted() {
        assert_eq!(
            cmdline(
                "compute-0",
                "tripleo-admin",
                Some("ssh-ed25519 AAAAC3Nz+/= me@host")
            ),
            "console=ttyS0 labwarp.node=compute-0 labwarp.user=tripleo-admin labwarp.key=ssh-ed25519:AAAAC3Nz+/="
        );
        // Anything a shell, iPXE or the kernel would split or interpret is left out.
        assert_eq!(
            cmdline("a b", "x;y", Some("ssh-ed25519 $(id)")),
            "console=ttyS0"
        );
        assert_eq!(
            cmdline("n", "u", None),
            "console=ttyS0 labwarp.node=n labwarp.user=u"
        );
    }

    #[test]
    fn a_nodes_config_is_named_as_ipxe_spells_its_mac() {
        assert_eq!(config_name("52:54:00:AB:cd:01"), "52-54-00-ab-cd-01.ipxe");
        assert_eq!(
            ipxe_config("192.168.24.1", "console=ttyS0"),
            "#!ipxe\nkernel http://192.168.24.1:8088/agent.kernel console=ttyS0\ninitrd http://192.168.24.1:8088/agent.ramdisk\nboot\n"
        );
    }
}
