//! Undefining a domain so that it converges on every driver (managed save, snapshots,
//! checkpoints, NVRAM; storage when asked).

use super::{UndefineOptions, Undefined, dom_err, lookup_opt};
use crate::virt::error::{is_missing, is_unsupported};
use crate::virt::object;
use crate::virt::{Conn, Outcome, VirtError, xml};
use virt::domain::Domain;
use virt::sys;

pub(super) fn undefine_blocking(
    c: &Conn,
    name: &str,
    opts: UndefineOptions,
) -> Result<Undefined, VirtError> {
    let Some(dom) = lookup_opt(c, name)? else {
        return Ok(Undefined::new(Outcome::AlreadyAbsent));
    };
    let mut report = Undefined::new(Outcome::Done);
    // Disks must be read before the definition is gone.
    let disks = if opts.remove_storage {
        let text = dom
            .xml_desc(sys::VIR_DOMAIN_XML_INACTIVE)
            .map_err(|e| dom_err(c, "get XML of", name, e))?;
        let tree = xml::parse(&text).map_err(|m| c.xml_err(&format!("domain '{name}'"), m))?;
        xml::domain_disks(&tree)
    } else {
        Vec::new()
    };

    report.destroyed = match object::stop_active(c, &dom, name) {
        Ok(o) => o == Outcome::Done,
        Err(VirtError::NotFound { .. }) => false,
        Err(e) => return Err(e),
    };

    // A transient domain is gone once destroyed.
    let persistent = match dom.is_persistent() {
        Ok(p) => p,
        Err(e) if is_missing(&e) => false,
        Err(e) => return Err(dom_err(c, "query", name, e)),
    };
    if persistent {
        undefine_flags_converging(c, &dom, name)?;
    }

    for d in disks {
        remove_disk_volume(c, &d, &mut report)?;
    }
    Ok(report)
}

/// Undefines with every cleanup flag; on "unsupported flag" retries with fewer flags after
/// removing what those flags would have removed.
pub(super) fn undefine_flags_converging(
    c: &Conn,
    dom: &Domain,
    name: &str,
) -> Result<(), VirtError> {
    let base = sys::VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | sys::VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA;
    let attempts = [
        base | sys::VIR_DOMAIN_UNDEFINE_NVRAM
            | sys::VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
            | sys::VIR_DOMAIN_UNDEFINE_TPM,
        base | sys::VIR_DOMAIN_UNDEFINE_NVRAM | sys::VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA,
        base | sys::VIR_DOMAIN_UNDEFINE_NVRAM,
        base,
    ];
    let mut last = None;
    for flags in attempts {
        match dom.undefine_flags(flags) {
            Ok(()) => return Ok(()),
            Err(e) if is_missing(&e) => return Ok(()),
            Err(e) if is_unsupported(&e) => last = Some(e),
            Err(e) => return Err(dom_err(c, "undefine", name, e)),
        }
    }
    // Last resort for drivers without undefine flags: remove managed save and snapshot
    // metadata by hand, then plain undefine.
    if dom.has_managed_save(0).unwrap_or(false) {
        dom.managed_save_remove(0)
            .map_err(|e| dom_err(c, "remove managed save of", name, e))?;
    }
    if let Ok(snaps) = dom.list_all_snapshots(0) {
        for s in snaps {
            match s.delete(sys::VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY) {
                Ok(()) => {}
                Err(e) if is_missing(&e) => {}
                Err(e) => return Err(dom_err(c, "delete snapshot metadata of", name, e)),
            }
        }
    }
    match dom.undefine() {
        Ok(()) => Ok(()),
        Err(e) if is_missing(&e) => Ok(()),
        Err(e) => {
            let first = last
                .map(|l| format!(" (with flags: {})", l.message()))
                .unwrap_or_default();
            Err(c.lv(format!("undefine domain '{name}'{first}"), e))
        }
    }
}

pub(super) fn remove_disk_volume(
    c: &Conn,
    d: &xml::DiskSource,
    report: &mut Undefined,
) -> Result<(), VirtError> {
    let vol = if let Some((pool, volume)) = &d.pool_volume {
        let p = match c.conn.lookup_storage_pool_by_name(pool) {
            Ok(p) => p,
            Err(e) if is_missing(&e) => return Ok(()),
            Err(e) => return Err(c.lv(format!("look up pool '{pool}'"), e)),
        };
        p.lookup_storage_vol_by_name(volume)
    } else if let Some(path) = &d.path {
        c.conn.lookup_storage_vol_by_path(path)
    } else {
        return Ok(());
    };
    match vol {
        Ok(v) => {
            let path = v.path().unwrap_or_default();
            match v.delete(0) {
                Ok(()) => report.removed_volumes.push(path),
                Err(e) if is_missing(&e) => {}
                Err(e) => return Err(c.lv(format!("delete volume {path}"), e)),
            }
        }
        Err(e) if is_missing(&e) => {
            if let Some(p) = &d.path {
                report.kept_paths.push(p.clone());
            }
        }
        Err(e) => return Err(c.lv("look up volume", e)),
    }
    Ok(())
}
