//! What libvirt's named objects — domains, networks, storage pools — have in common: looked
//! up by name, listed as snapshots, started, stopped, undefined and set to autostart, each
//! idempotently and with the same error mapping. The kind's own module keeps what is its
//! own (snapshots, leases, volumes, shutdown, undefine with storage).

use super::error::{is_invalid_state, is_missing};
use super::{Conn, Kind, Outcome, VirtError};
use virt::connect::Connect;
use virt::domain::Domain;
use virt::error::Error as LvError;
use virt::network::Network;
use virt::storage_pool::StoragePool;

/// One kind of named libvirt object, as far as the shared operations need it.
pub(crate) trait Object: Sized {
    const KIND: Kind;
    /// How an error of [`Object::stop`] names the operation (`stop network 'x'`).
    const STOP_VERB: &'static str;
    fn lookup_by_name(conn: &Connect, name: &str) -> Result<Self, LvError>;
    fn is_active(&self) -> Result<bool, LvError>;
    fn start(&self) -> Result<(), LvError>;
    fn stop(&self) -> Result<(), LvError>;
    fn undefine(&self) -> Result<(), LvError>;
    fn set_autostart(&self, on: bool) -> Result<(), LvError>;
}

// The `virt` crate has no trait of its own for these; the methods map one to one.
macro_rules! libvirt_object {
    ($ty:ident, $kind:expr, $stop_verb:literal, $lookup:ident, |$o:ident| $start:expr) => {
        impl Object for $ty {
            const KIND: Kind = $kind;
            const STOP_VERB: &'static str = $stop_verb;
            fn lookup_by_name(conn: &Connect, name: &str) -> Result<Self, LvError> {
                conn.$lookup(name)
            }
            fn is_active(&self) -> Result<bool, LvError> {
                $ty::is_active(self)
            }
            fn start(&self) -> Result<(), LvError> {
                let $o = self;
                $start
            }
            fn stop(&self) -> Result<(), LvError> {
                $ty::destroy(self)
            }
            fn undefine(&self) -> Result<(), LvError> {
                $ty::undefine(self)
            }
            fn set_autostart(&self, on: bool) -> Result<(), LvError> {
                $ty::set_autostart(self, on)
            }
        }
    };
}

libvirt_object!(
    Domain,
    Kind::Domain,
    "destroy",
    lookup_domain_by_name,
    |d| d.create()
);
libvirt_object!(
    Network,
    Kind::Network,
    "stop",
    lookup_network_by_name,
    |n| n.create()
);
libvirt_object!(
    StoragePool,
    Kind::Pool,
    "stop",
    lookup_storage_pool_by_name,
    |p| p.create(0)
);

/// A libvirt error on a named object: a missing object becomes `NotFound`, anything else
/// says what labwarp was doing (`start network 'x'`).
pub(crate) fn obj_err<O: Object>(c: &Conn, op: &str, name: &str, e: LvError) -> VirtError {
    if is_missing(&e) {
        c.not_found(O::KIND, name)
    } else {
        c.lv(format!("{op} {} '{name}'", O::KIND), e)
    }
}

/// Looks an object up; `Ok(None)` when it does not exist.
pub(crate) fn lookup_opt<O: Object>(c: &Conn, name: &str) -> Result<Option<O>, VirtError> {
    match O::lookup_by_name(&c.conn, name) {
        Ok(o) => Ok(Some(o)),
        Err(e) if is_missing(&e) => Ok(None),
        Err(e) => Err(c.lv(format!("look up {} '{name}'", O::KIND), e)),
    }
}

/// Looks an object up; `VirtError::NotFound` when it does not exist.
pub(crate) fn lookup<O: Object>(c: &Conn, name: &str) -> Result<O, VirtError> {
    lookup_opt(c, name)?.ok_or_else(|| c.not_found(O::KIND, name))
}

/// Snapshots of every object listed, sorted by name; one undefined while we were looking is
/// simply not there any more.
pub(crate) fn snapshots<O, I>(
    c: &Conn,
    all: &[O],
    snapshot: impl Fn(&Conn, &O) -> Result<I, VirtError>,
    name_of: impl Fn(&I) -> &str,
) -> Result<Vec<I>, VirtError> {
    let mut out = Vec::with_capacity(all.len());
    for o in all {
        match snapshot(c, o) {
            Ok(i) => out.push(i),
            Err(VirtError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    out.sort_by(|a, b| name_of(a).cmp(name_of(b)));
    Ok(out)
}

/// Starts a defined object; `AlreadyInState` when it is active (also when it became active
/// between the check and the call).
pub(crate) fn start<O: Object>(c: &Conn, name: &str) -> Result<Outcome, VirtError> {
    let o: O = lookup(c, name)?;
    if o.is_active()
        .map_err(|e| obj_err::<O>(c, "query", name, e))?
    {
        return Ok(Outcome::AlreadyInState);
    }
    match o.start() {
        Ok(()) => Ok(Outcome::Done),
        Err(e) if is_invalid_state(&e) && o.is_active().unwrap_or(false) => {
            Ok(Outcome::AlreadyInState)
        }
        Err(e) => Err(obj_err::<O>(c, "start", name, e)),
    }
}

/// Stops an object if it is active; `AlreadyInState` when it is not (also when it stopped
/// between the check and the call), `AlreadyAbsent` when it vanished meanwhile.
pub(crate) fn stop_active<O: Object>(c: &Conn, o: &O, name: &str) -> Result<Outcome, VirtError> {
    if !o
        .is_active()
        .map_err(|e| obj_err::<O>(c, "query", name, e))?
    {
        return Ok(Outcome::AlreadyInState);
    }
    match o.stop() {
        Ok(()) => Ok(Outcome::Done),
        Err(e) if is_invalid_state(&e) => Ok(Outcome::AlreadyInState),
        Err(e) if is_missing(&e) => Ok(Outcome::AlreadyAbsent),
        Err(e) => Err(obj_err::<O>(c, O::STOP_VERB, name, e)),
    }
}

/// Stops an object by name; `AlreadyAbsent` when it does not exist.
pub(crate) fn stop<O: Object>(c: &Conn, name: &str) -> Result<Outcome, VirtError> {
    match lookup_opt::<O>(c, name)? {
        None => Ok(Outcome::AlreadyAbsent),
        Some(o) => stop_active(c, &o, name),
    }
}

/// Removes an object whatever its state: stops it if active, then undefines it (a transient
/// one is gone once stopped). `AlreadyAbsent` when it does not exist.
pub(crate) fn stop_and_undefine<O: Object>(c: &Conn, name: &str) -> Result<Outcome, VirtError> {
    if stop::<O>(c, name)? == Outcome::AlreadyAbsent {
        return Ok(Outcome::AlreadyAbsent);
    }
    let Some(o) = lookup_opt::<O>(c, name)? else {
        return Ok(Outcome::Done);
    };
    match o.undefine() {
        Ok(()) => Ok(Outcome::Done),
        Err(e) if is_missing(&e) => Ok(Outcome::Done),
        Err(e) => Err(obj_err::<O>(c, "undefine", name, e)),
    }
}

/// Turns autostart on or off.
pub(crate) fn set_autostart<O: Object>(c: &Conn, name: &str, on: bool) -> Result<(), VirtError> {
    lookup::<O>(c, name)?
        .set_autostart(on)
        .map_err(|e| obj_err::<O>(c, "set autostart of", name, e))
}
