//! Test rig: overcloud nodes that boot something real without ironic's network boot.
//!
//! On a real lab the nodes PXE-boot from the undercloud (ironic's iPXE, DHCP from its
//! dnsmasq). With labwarp's stand-in for TripleO there is no ironic, and this machine has no
//! iPXE ROMs for qemu, so `LABWARP_NODES_DIRECT_BOOT=1` makes each node boot the lab's
//! direct-boot kernel and initrd (the tiny test guest) instead: a substitute the run's notes
//! and the lab-in-a-box report name as such. Everything after the boot is real: the node
//! asks the provisioning network's DHCP server on the undercloud for its address, labwarp
//! reads that lease on the undercloud (`plan::steps::node_addresses`), pins the node's host
//! key from its console and reaches it over SSH through the undercloud.
//!
//! The node's kernel command line carries what metalsmith's config drive gives a real node:
//! its name, the deploy user and the workspace's public key (`labwarp.node=`,
//! `labwarp.user=`, `labwarp.key=TYPE:BASE64`; read by scripts/build-tiny-guest.sh's init).

use super::{KernelBoot, RenderContext, Vm};
use crate::lab::Lab;

pub const NOTE: &str = "LABWARP_NODES_DIRECT_BOOT=1 (test rig): the overcloud nodes boot the lab's direct-boot kernel and initrd instead of ironic's network boot, a substitute for what TripleO does; their addresses come from the undercloud's DHCP leases as on a real lab";

/// The rig is wanted and possible: asked for, on a real libvirt (not the sandbox), with the
/// stand-in (TripleO would network-boot the nodes itself) and a direct-boot kernel and initrd.
pub fn rig_wanted(lab: &Lab, sandbox: bool, standin: bool) -> bool {
    std::env::var("LABWARP_NODES_DIRECT_BOOT").is_ok_and(|v| v == "1")
        && !sandbox
        && standin
        && lab.images.overcloud_kernel.is_some()
        && lab.images.overcloud_initrd.is_some()
}

/// The direct boot of node `vm` under the rig: the undercloud's kernel and initrd copies,
/// the node's own command line. `None` without the rig.
pub fn kernel(ctx: &RenderContext, vm: &Vm) -> Option<KernelBoot> {
    if !ctx.node_direct_boot {
        return None;
    }
    let uc = ctx.undercloud_kernel.as_ref()?;
    Some(KernelBoot {
        kernel: uc.kernel.clone(),
        initrd: uc.initrd.clone(),
        cmdline: cmdline(&vm.name, &ctx.overcloud_user, ctx.ssh_public_key.as_deref()),
    })
}

/// Only characters a kernel command line word and the guest's shell take as they are.
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
        // Anything a shell or the kernel would split or interpret is left out.
        assert_eq!(
            cmdline("a b", "x;y", Some("ssh-ed25519 $(id)")),
            "console=ttyS0"
        );
        assert_eq!(
            cmdline("n", "u", None),
            "console=ttyS0 labwarp.node=n labwarp.user=u"
        );
    }
}
