//! Labs and contexts shared by the render tests (golden and real-tool).
#![allow(dead_code)]

use labwarp::lab::{
    DhcpRange, Disk, DomainType, Hypervisor, ImageSource, Lab, Network, NetworkMode, Nic,
    NodeGroup, Role, Secret,
};
use labwarp::render::{HostKeyPair, RenderContext};
use std::path::Path;

pub const PUBKEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHxJ0cR4Kq9lJtq2b1zN3xZbA0mF8c2m7eQm5lYb1x3Q labwarp@workspace";

/// Default lab (quickstart's 1ctlr_1comp), as the `minimal` preset describes it.
pub fn minimal() -> Lab {
    Lab {
        name: "minimal".into(),
        description: "1 controller + 1 compute".into(),
        ..Lab::default()
    }
}

pub fn minimal_ctx(lab: &Lab) -> RenderContext {
    let mut ctx = RenderContext::for_lab(lab, Path::new("/srv/labwarp/minimal/workspace"));
    ctx.ssh_public_key = Some(PUBKEY.into());
    ctx.vbmc_password = Some(Secret("golden-vbmc-password".into()));
    ctx
}

/// A live-migration lab: 1 controller + 2 computes on KVM, NFS shared storage served by the
/// undercloud, a storage network, a fixed undercloud MAC, direct kernel boot of the
/// undercloud, and node addresses already known.
pub fn live_migration() -> Lab {
    let mut lab = Lab {
        name: "livemig".into(),
        description: "2 computes + NFS shared storage".into(),
        ..Lab::default()
    };
    lab.hypervisors[0].domain_type = DomainType::Kvm;
    lab.hypervisors[0].address = "virthost.example.org".into();
    lab.hypervisors[0].ssh_port = 2222;
    lab.hypervisors[0].pool_path = "/var/lib/libvirt/images/livemig".into();
    lab.networks[0].mtu = Some(1450);
    lab.networks.push(Network {
        name: "storage".into(),
        bridge: "brsto".into(),
        mode: NetworkMode::Isolated,
        cidr: "192.168.30.0/24".into(),
        gateway: None,
        dhcp: Some(DhcpRange {
            start: "192.168.30.100".into(),
            end: "192.168.30.150".into(),
        }),
        mtu: Some(9000),
        host_nic: None,
    });
    lab.images.overcloud_kernel = Some(ImageSource {
        source: "https://images.example.org/overcloud-full.vmlinuz".into(),
        md5: None,
        md5_url: None,
    });
    lab.images.overcloud_initrd = Some(ImageSource {
        source: "https://images.example.org/overcloud-full.initrd".into(),
        md5: None,
        md5_url: None,
    });
    lab.undercloud.vm.nics[0].mac = Some("52:54:00:AA:BB:01".into());
    lab.undercloud.cloud_init.packages = vec!["nfs-utils".into(), "tmux".into()];
    lab.undercloud.cloud_init.nameservers = vec!["1.0.0.1".into(), "1.1.1.1".into()];
    lab.undercloud.cloud_init.timezone = "Europe/Paris".into();
    lab.undercloud.cloud_init.ssh_authorized_keys =
        vec!["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBbA8mF8c2m7eQm5lYb1x3QHxJ0cR4Kq9lJtq2b1zN3x alice@laptop".into()];
    lab.undercloud.conf.undercloud_nameservers = vec!["1.0.0.1".into(), "1.1.1.1".into()];
    lab.undercloud.conf.local_mtu = 1450;
    lab.overcloud.nodes = vec![
        NodeGroup {
            role: Role::Controller,
            count: 1,
            vcpus: 4,
            memory_mib: 12288,
            networks: vec!["overcloud".into(), "storage".into()],
            ..NodeGroup::default()
        },
        NodeGroup {
            role: Role::Compute,
            count: 2,
            vcpus: 4,
            memory_mib: 8192,
            disks: vec![Disk { size_gib: 60 }, Disk { size_gib: 20 }],
            networks: vec!["overcloud".into(), "storage".into()],
            ..NodeGroup::default()
        },
    ];
    lab.overcloud.vbmc.password = Some(Secret("lab-set-password".into()));
    lab.overcloud.live_migration.enabled = true;
    lab
}

pub fn live_migration_ctx(lab: &Lab) -> RenderContext {
    let mut ctx = RenderContext::for_lab(lab, Path::new("/home/alice/labs/live migration/ws"));
    ctx.ssh_public_key = Some(PUBKEY.into());
    for (i, node) in lab.nodes().iter().enumerate() {
        ctx.node_addresses
            .insert(node.name.clone(), format!("192.168.24.{}", 10 + i));
    }
    ctx.undercloud_host_key = Some(HostKeyPair {
        private: Secret(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ==\n-----END OPENSSH PRIVATE KEY-----\n"
                .into(),
        ),
        public: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG1hY2hpbmUta2V5LWZvci10ZXN0cw== root@undercloud"
            .into(),
    });
    ctx
}

/// labwarp running on the hypervisor itself (`address: local`), the undercloud bridged to a
/// host bridge plus a NAT network, a custom role and a ceph node.
pub fn local_bridged() -> Lab {
    let mut lab = Lab {
        name: "bridged".into(),
        ..Lab::default()
    };
    lab.hypervisors = vec![Hypervisor {
        name: "lab1".into(),
        address: "local".into(),
        ..Hypervisor::default()
    }];
    lab.networks.push(Network {
        name: "ctlplane".into(),
        bridge: "os-ctlplane".into(),
        mode: NetworkMode::Bridged,
        host_nic: Some("enp1s0".into()),
        ..Network::default()
    });
    lab.undercloud.vm.nics.push(Nic {
        network: "ctlplane".into(),
        mac: None,
    });
    lab.overcloud.nodes.push(NodeGroup {
        role: Role::Ceph,
        count: 1,
        disks: vec![
            Disk { size_gib: 50 },
            Disk { size_gib: 8 },
            Disk { size_gib: 8 },
        ],
        ..NodeGroup::default()
    });
    lab.overcloud.nodes.push(NodeGroup {
        role: Role::Custom,
        name: "networker".into(),
        count: 1,
        ..NodeGroup::default()
    });
    lab
}

pub fn local_bridged_ctx(lab: &Lab) -> RenderContext {
    let mut ctx = RenderContext::for_lab(lab, Path::new("/var/lib/labwarp/bridged"));
    ctx.vbmc_password = Some(Secret("golden-vbmc-password".into()));
    ctx
}
