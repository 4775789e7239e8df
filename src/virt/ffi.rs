//! The few libvirt calls the `virt` crate 0.5 does not wrap: DHCP leases and domain lifecycle
//! event callbacks. Everything unsafe in labwarp's libvirt layer lives here.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;
use tokio::sync::mpsc::UnboundedSender;
use virt::connect::Connect;
use virt::error::Error as LvError;
use virt::network::Network;
use virt::sys;

/// One DHCP lease as libvirt returns it (strings copied out, C memory freed).
#[derive(Debug, Clone)]
pub(crate) struct RawLease {
    pub iface: String,
    pub expiry: i64,
    pub mac: Option<String>,
    pub ip: String,
    pub prefix: u32,
    pub hostname: Option<String>,
    pub client_id: Option<String>,
}

/// Copies a C string that libvirt still owns (freed later with the lease).
///
/// # Safety
/// `p` is null or a valid NUL-terminated string.
unsafe fn opt_str(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }
}

/// `virNetworkGetDHCPLeases(net, NULL, &leases, 0)`.
pub(crate) fn dhcp_leases(net: &Network) -> Result<Vec<RawLease>, LvError> {
    let mut arr: *mut sys::virNetworkDHCPLeasePtr = ptr::null_mut();
    // SAFETY: `net` holds a valid reference; libvirt allocates `arr` and each lease.
    let n = unsafe { sys::virNetworkGetDHCPLeases(net.as_ptr(), ptr::null(), &mut arr, 0) };
    if n < 0 {
        return Err(LvError::last_error());
    }
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n as usize {
        // SAFETY: libvirt returned `n` valid lease pointers in `arr`.
        unsafe {
            let l = *arr.add(i);
            out.push(RawLease {
                iface: opt_str((*l).iface).unwrap_or_default(),
                expiry: (*l).expirytime,
                mac: opt_str((*l).mac),
                ip: opt_str((*l).ipaddr).unwrap_or_default(),
                prefix: (*l).prefix,
                hostname: opt_str((*l).hostname),
                client_id: opt_str((*l).clientid),
            });
            sys::virNetworkDHCPLeaseFree(l);
        }
    }
    if !arr.is_null() {
        // SAFETY: the array itself is plain malloc'd memory owned by the caller now.
        unsafe { nix::libc::free(arr as *mut c_void) };
    }
    Ok(out)
}

/// A domain lifecycle event: which domain changed (the watch re-reads its state).
#[derive(Debug, Clone)]
pub(crate) struct RawEvent {
    pub domain: String,
}

unsafe extern "C" fn lifecycle_cb(
    _conn: sys::virConnectPtr,
    dom: sys::virDomainPtr,
    _event: c_int,
    _detail: c_int,
    opaque: *mut c_void,
) -> c_int {
    // SAFETY: opaque is the Box<UnboundedSender> registered below, alive until freed by
    // `free_sender`; `dom` is valid for the duration of the callback.
    let tx = unsafe { &*(opaque as *const UnboundedSender<RawEvent>) };
    let name = unsafe { opt_str(sys::virDomainGetName(dom)) }.unwrap_or_default();
    // A closed receiver only means nobody watches any more; deregistration follows.
    let _ = tx.send(RawEvent { domain: name });
    0
}

unsafe extern "C" fn free_sender(opaque: *mut c_void) {
    // SAFETY: called once by libvirt with the pointer we leaked in `register_lifecycle`.
    drop(unsafe { Box::from_raw(opaque as *mut UnboundedSender<RawEvent>) });
}

/// Registers a lifecycle callback for every domain of `conn`; returns the callback id.
/// Needs the event loop (`events::ensure_event_loop`) registered before `conn` was opened.
pub(crate) fn register_lifecycle(
    conn: &Connect,
    tx: UnboundedSender<RawEvent>,
) -> Result<i32, LvError> {
    let opaque = Box::into_raw(Box::new(tx)) as *mut c_void;
    type LifecycleCb = unsafe extern "C" fn(
        sys::virConnectPtr,
        sys::virDomainPtr,
        c_int,
        c_int,
        *mut c_void,
    ) -> c_int;
    // SAFETY: libvirt's documented pattern (VIR_DOMAIN_EVENT_CALLBACK): the generic callback
    // type is cast to the lifecycle signature it is called with for EVENT_ID_LIFECYCLE.
    let cb: sys::virConnectDomainEventGenericCallback = unsafe {
        Some(std::mem::transmute::<
            LifecycleCb,
            unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, *mut c_void),
        >(lifecycle_cb))
    };
    // SAFETY: valid connection; on failure libvirt does not call freecb, so we free it.
    let id = unsafe {
        sys::virConnectDomainEventRegisterAny(
            conn.as_ptr(),
            ptr::null_mut(),
            sys::VIR_DOMAIN_EVENT_ID_LIFECYCLE as c_int,
            cb,
            opaque,
            Some(free_sender),
        )
    };
    if id < 0 {
        let err = LvError::last_error();
        // SAFETY: registration failed, so we still own the box.
        unsafe { free_sender(opaque) };
        return Err(err);
    }
    Ok(id)
}

/// Removes a callback registered with [`register_lifecycle`].
pub(crate) fn deregister(conn: &Connect, id: i32) -> Result<(), LvError> {
    // SAFETY: valid connection; an unknown id only returns an error.
    if unsafe { sys::virConnectDomainEventDeregisterAny(conn.as_ptr(), id) } < 0 {
        return Err(LvError::last_error());
    }
    Ok(())
}

/// `virDomainSaveFlags(dom, to, NULL, flags)`: the domain's memory to a file (libvirtd
/// writes it, on the hypervisor); the domain stops.
pub(crate) fn save_flags(dom: &virt::domain::Domain, to: &str, flags: u32) -> Result<(), LvError> {
    let to = std::ffi::CString::new(to).map_err(|_| LvError::last_error())?;
    // SAFETY: valid domain reference and NUL-terminated path; dxml NULL is allowed.
    if unsafe { sys::virDomainSaveFlags(dom.as_ptr(), to.as_ptr(), ptr::null(), flags) } < 0 {
        return Err(LvError::last_error());
    }
    Ok(())
}

/// `virDomainRestoreFlags(conn, from, NULL, flags)`: a domain started from a saved image.
pub(crate) fn restore_flags(conn: &Connect, from: &str, flags: u32) -> Result<(), LvError> {
    let from = std::ffi::CString::new(from).map_err(|_| LvError::last_error())?;
    // SAFETY: valid connection and NUL-terminated path; dxml NULL is allowed.
    if unsafe { sys::virDomainRestoreFlags(conn.as_ptr(), from.as_ptr(), ptr::null(), flags) } < 0 {
        return Err(LvError::last_error());
    }
    Ok(())
}
