//! Images and the size and wiring of one VM (disks, NICs, cloud-init).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where an image comes from and how to verify it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ImageSource {
    /// A local path or an http(s) URL.
    pub source: String,
    /// Expected md5 (32 hex digits).
    pub md5: Option<String>,
    /// URL of a `.md5` file holding the expected sum (quickstart's `<url>.md5`).
    pub md5_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Images {
    pub cache_dir: PathBuf,
    /// Base image of the undercloud VM (a cloud qcow2).
    pub undercloud: ImageSource,
    /// Kernel and initrd for direct kernel boot of the overcloud image (as quickstart does).
    pub overcloud_kernel: Option<ImageSource>,
    pub overcloud_initrd: Option<ImageSource>,
    /// Kernel command line used with direct boot.
    pub kernel_cmdline: String,
}

impl Default for Images {
    fn default() -> Self {
        Images {
            cache_dir: PathBuf::from("/var/cache/labwarp/images"),
            undercloud: ImageSource {
                source: "https://cloud.centos.org/centos/9-stream/x86_64/images/CentOS-Stream-GenericCloud-9-latest.x86_64.qcow2".into(),
                md5: None,
                md5_url: None,
            },
            overcloud_kernel: None,
            overcloud_initrd: None,
            kernel_cmdline: "console=ttyS0 root=/dev/vda1".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Nic {
    /// Name of a network in `networks`.
    pub network: String,
    /// Fixed MAC (`52:54:00:xx:xx:xx`); generated deterministically from the VM name if empty.
    pub mac: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Disk {
    pub size_gib: u32,
}

/// Size and wiring of one VM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VmSpec {
    pub name: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    /// The first disk is the root disk.
    pub disks: Vec<Disk>,
    pub nics: Vec<Nic>,
}

impl Default for VmSpec {
    fn default() -> Self {
        VmSpec {
            name: "undercloud".into(),
            vcpus: 6,
            memory_mib: 12288,
            disks: vec![Disk { size_gib: 50 }],
            nics: vec![
                Nic {
                    network: "external".into(),
                    mac: None,
                },
                Nic {
                    network: "overcloud".into(),
                    mac: None,
                },
            ],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloudInit {
    /// The login user created in the VM (with passwordless sudo).
    pub user: String,
    /// Public keys installed for `user` (the workspace key is always added).
    pub ssh_authorized_keys: Vec<String>,
    pub timezone: String,
    pub nameservers: Vec<String>,
    pub packages: Vec<String>,
}

impl Default for CloudInit {
    fn default() -> Self {
        CloudInit {
            user: "stack".into(),
            ssh_authorized_keys: Vec::new(),
            timezone: "UTC".into(),
            nameservers: vec!["1.0.0.1".into()],
            packages: Vec::new(),
        }
    }
}
