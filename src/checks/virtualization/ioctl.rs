//! The KVM ioctls on /dev/kvm: does the kernel answer `KVM_GET_API_VERSION` and hand out a VM?

use std::path::Path;

/// Result of the KVM ioctls on /dev/kvm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IoctlFacts {
    NotProbed(String),
    Probed {
        /// `KVM_GET_API_VERSION` (12 on every kernel since 2.6.22), or the error.
        api_version: Result<i32, String>,
        /// `KVM_CREATE_VM`: Ok when a VM file descriptor came back.
        create_vm: Result<(), String>,
    },
}

impl Default for IoctlFacts {
    fn default() -> Self {
        IoctlFacts::NotProbed("not gathered".into())
    }
}

/// Opens /dev/kvm and asks the kernel for its API version and a new VM (closed at once).
pub fn probe_kvm_ioctls(path: &Path) -> IoctlFacts {
    use nix::libc;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // _IO(0xAE, 0x00) and _IO(0xAE, 0x01) from <linux/kvm.h>.
    const KVM_GET_API_VERSION: libc::c_ulong = 0xAE00;
    const KVM_CREATE_VM: libc::c_ulong = 0xAE01;
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) => {
            let msg = format!("open {}: {e}", path.display());
            return IoctlFacts::Probed {
                api_version: Err(msg.clone()),
                create_vm: Err(msg),
            };
        }
    };
    // SAFETY: both requests take an integer argument (0) and touch no user memory.
    let api = unsafe {
        libc::ioctl(
            file.as_raw_fd(),
            KVM_GET_API_VERSION as _,
            0 as libc::c_ulong,
        )
    };
    let api_version = if api < 0 {
        Err(std::io::Error::last_os_error().to_string())
    } else {
        Ok(api)
    };
    // SAFETY: as above; machine type 0 is the default VM type.
    let vm = unsafe { libc::ioctl(file.as_raw_fd(), KVM_CREATE_VM as _, 0 as libc::c_ulong) };
    let create_vm = if vm < 0 {
        Err(std::io::Error::last_os_error().to_string())
    } else {
        // SAFETY: the kernel just returned this new descriptor; we own it and close it.
        drop(unsafe { OwnedFd::from_raw_fd(vm) });
        Ok(())
    };
    IoctlFacts::Probed {
        api_version,
        create_vm,
    }
}
