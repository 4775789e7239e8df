//! Concrete steps, one file per family.

pub mod container_prepare;
mod domain_drift;
pub mod files;
pub mod hostconf;
pub mod image_upload;
pub mod images;
pub mod install_record;
pub mod libvirt;
pub mod migration;
pub mod migration_rig;
pub mod nfs_clients;
pub mod nfs_server;
pub mod node_addresses;
pub mod openstack;
pub mod overcloud;
pub mod overcloud_images;
pub mod snapshot;
pub mod system;
pub mod undercloud;
pub mod undercloud_prep;
pub mod vbmc;
