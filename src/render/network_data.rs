//! The overcloud's networks and virtual IPs for the deploy (TripleO's network data version 2,
//! Wallaby and later). labwarp models no composable networks: the nodes boot and are reached
//! on the provisioning network, the ctlplane (which the undercloud owns and network data does
//! not list), every service runs there, and a node's further NICs stay unconfigured by
//! TripleO. So `network_data.yaml` is an empty list, and `vip_data.yaml` holds the one
//! virtual IP the overcloud needs, the control plane's (TripleO's default VIP data names the
//! isolated networks too, which this overcloud does not have).

use super::Result;
use crate::lab::Lab;

/// `network_data.yaml` (`overcloud network provision`, the deploy's `-n`).
pub fn render(_lab: &Lab) -> Result<String> {
    Ok("# written by labwarp: no composable networks, every service on the ctlplane\n[]\n".into())
}

/// `vip_data.yaml` (`overcloud network vip provision`).
pub fn vip_data(_lab: &Lab) -> Result<String> {
    Ok("# written by labwarp: the control plane's virtual IP only\n- network: ctlplane\n  dns_name: overcloud\n".into())
}
