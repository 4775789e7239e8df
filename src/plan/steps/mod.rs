//! Concrete steps, one file per family.

mod domain_drift;
pub mod files;
pub mod hostconf;
pub mod images;
pub mod libvirt;
pub mod migration;
pub mod nfs_clients;
pub mod nfs_server;
pub mod node_addresses;
pub mod openstack;
pub mod overcloud;
pub mod snapshot;
pub mod system;
pub mod undercloud;
pub mod vbmc;
