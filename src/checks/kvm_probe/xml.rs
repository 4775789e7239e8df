//! The transient probe domain's XML.

use crate::lab::VirtType;
use std::path::Path;

/// The CPU element of the lab's own `type='kvm'` domains (src/render/domain_xml.rs): the
/// probe asks "will the lab's guests run?", so it uses the same. (On kvm_pvm hosts qemu dies
/// at once with it, "failed to set MSR"; with qemu's default CPU the kernel hangs early in
/// boot instead. Either way: unusable.)
pub(super) const KVM_CPU: &str = "\n  <cpu mode='host-passthrough' check='none'/>";

/// The transient probe domain: no disks, no NICs; serial console to `console`; every way
/// out (power off, reboot, crash) ends the domain.
pub fn probe_domain_xml(
    name: &str,
    domain_type: VirtType,
    kernel: &Path,
    initrd: &Path,
    console: &Path,
) -> String {
    use quick_xml::escape::escape;
    let esc = |p: &Path| escape(p.to_string_lossy().as_ref()).into_owned();
    format!(
        "<domain type='{ty}'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 earlyprintk=ttyS0 labwarp.probe=1 panic=-1</cmdline>
  </os>
  <features><acpi/></features>{cpu}
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <serial type='file'><source path='{console}'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>
",
        ty = domain_type.as_str(),
        cpu = match domain_type {
            VirtType::Kvm => KVM_CPU,
            VirtType::Qemu => "",
        },
        name = escape(name),
        kernel = esc(kernel),
        initrd = esc(initrd),
        console = esc(console),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_xml_is_escaped_and_carries_the_probe_cmdline() {
        let xml = probe_domain_xml(
            "p<1>",
            VirtType::Kvm,
            Path::new("/a&b/vmlinuz"),
            Path::new("/c/initrd.img"),
            Path::new("/d/console.log"),
        );
        assert!(xml.starts_with("<domain type='kvm'>"));
        assert!(xml.contains("<cpu mode='host-passthrough' check='none'/>"));
        assert!(xml.contains("<name>p&lt;1&gt;</name>"));
        assert!(xml.contains("<kernel>/a&amp;b/vmlinuz</kernel>"));
        assert!(xml.contains("labwarp.probe=1"));
        assert!(xml.contains("<source path='/d/console.log'/>"));
        let tcg = probe_domain_xml(
            "p",
            VirtType::Qemu,
            Path::new("/k"),
            Path::new("/i"),
            Path::new("/c"),
        );
        assert!(tcg.starts_with("<domain type='qemu'>"));
        assert!(!tcg.contains("<cpu"));
    }
}
