//! Concrete steps, one file per family.

pub mod files;
pub mod hostconf;
pub mod images;
pub mod libvirt;
pub mod migration;
pub mod migration_rig;
pub mod nfs_clients;
pub mod nfs_server;
pub mod node_addresses;
pub mod openstack;
pub mod overcloud;
pub mod system;
pub mod undercloud;
pub mod vbmc;
