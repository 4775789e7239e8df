//! A light listing of every domain for the live VM pane: name, state, vCPUs and memory in
//! one daemon round trip (`virConnectGetAllDomainStats`), where [`Libvirt::domains`] takes a
//! full snapshot per domain (about ten round trips each: XML, autostart, snapshots,
//! addresses…). On a real libvirtd the round trips are the cost: see BENCHMARKS.md, figure 2.
//! Addresses are not here (they need the XML and the lease databases): callers re-read them
//! with [`Libvirt::domain`] for running domains only, less often.

use super::error::is_unsupported;
use super::{Conn, DomainState, Libvirt, VirtError};
use std::ffi::{CStr, c_char, c_int, c_uint, c_ulonglong};
use std::ptr;
use virt::error::Error as LvError;
use virt::sys;

/// One domain as the VM pane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainBrief {
    pub name: String,
    pub state: DomainState,
    pub vcpus: u32,
    pub max_memory_mib: u64,
}

/// Lifecycle events of every domain as cues (the name of the domain that changed), for
/// callers that re-read what they show themselves. Dropping it deregisters the callback.
pub struct Cues {
    rx: tokio::sync::mpsc::UnboundedReceiver<super::ffi::RawEvent>,
    tx: tokio::sync::mpsc::UnboundedSender<super::ffi::RawEvent>,
    lv: Libvirt,
    /// Callback id and the connection generation it lives on (it dies with it).
    reg: (i32, u64),
}

impl Cues {
    /// The next domain that changed.
    pub async fn next(&mut self) -> Option<String> {
        self.rx.recv().await.map(|e| e.domain)
    }

    /// Every cue already waiting (a burst collapses into one re-read).
    pub fn drain(&mut self) -> usize {
        let mut n = 0;
        while self.rx.try_recv().is_ok() {
            n += 1;
        }
        n
    }

    /// After a libvirtd restart the callback died with the old connection: registers it
    /// on the current one (call it on each periodic refresh).
    pub async fn renew(&mut self) {
        if self.reg.1 != self.lv.reconnects()
            && let Some(reg) = register(&self.lv, &self.tx).await
        {
            self.reg = reg;
        }
    }
}

async fn register(
    lv: &Libvirt,
    tx: &tokio::sync::mpsc::UnboundedSender<super::ffi::RawEvent>,
) -> Option<(i32, u64)> {
    let tx = tx.clone();
    lv.call(move |c| {
        Ok(super::ffi::register_lifecycle(&c.conn, tx.clone())
            .ok()
            .map(|id| (id, c.generation)))
    })
    .await
    .ok()
    .flatten()
}

impl Drop for Cues {
    fn drop(&mut self) {
        let (lv, (id, generation)) = (self.lv.clone(), self.reg);
        // A daemon call, made off the dropping thread; without a runtime the process is
        // ending and the connection with it.
        if let Ok(h) = tokio::runtime::Handle::try_current() {
            h.spawn(async move {
                let _ = lv
                    .call_once(move |c| {
                        if c.generation == generation {
                            let _ = super::ffi::deregister(&c.conn, id);
                        }
                        Ok(())
                    })
                    .await;
            });
        }
    }
}

impl Libvirt {
    /// Domain lifecycle events as [`Cues`]; `None` when the connection has none (then poll).
    pub async fn lifecycle_cues(&self) -> Option<Cues> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let reg = register(self, &tx).await?;
        Some(Cues {
            rx,
            tx,
            lv: self.clone(),
            reg,
        })
    }

    /// Name, state, vCPUs and maximum memory of every domain (active and inactive), sorted
    /// by name: one daemon round trip. Drivers whose statistics lack vCPUs or memory (the
    /// test driver reports only the state) are asked per domain for what is missing.
    pub async fn list_brief(&self) -> Result<Vec<DomainBrief>, VirtError> {
        self.call(list_brief_blocking).await
    }
}

fn state_of_raw(s: c_int) -> DomainState {
    match s as u32 {
        sys::VIR_DOMAIN_RUNNING => DomainState::Running,
        sys::VIR_DOMAIN_BLOCKED => DomainState::Blocked,
        sys::VIR_DOMAIN_PAUSED => DomainState::Paused,
        sys::VIR_DOMAIN_SHUTDOWN => DomainState::ShuttingDown,
        sys::VIR_DOMAIN_SHUTOFF => DomainState::Shutoff,
        sys::VIR_DOMAIN_CRASHED => DomainState::Crashed,
        sys::VIR_DOMAIN_PMSUSPENDED => DomainState::PmSuspended,
        _ => DomainState::NoState,
    }
}

/// Typed parameters of one statistics record, read by name.
struct Params(sys::virTypedParameterPtr, c_int);

impl Params {
    fn int(&self, name: &CStr) -> Option<c_int> {
        let mut v: c_int = 0;
        // SAFETY: params/nparams come from a live stats record; `v` is a valid out pointer.
        let rc = unsafe { sys::virTypedParamsGetInt(self.0, self.1, name.as_ptr(), &mut v) };
        (rc == 1).then_some(v)
    }

    fn uint(&self, name: &CStr) -> Option<c_uint> {
        let mut v: c_uint = 0;
        // SAFETY: as above.
        let rc = unsafe { sys::virTypedParamsGetUInt(self.0, self.1, name.as_ptr(), &mut v) };
        (rc == 1).then_some(v)
    }

    fn ullong(&self, name: &CStr) -> Option<c_ulonglong> {
        let mut v: c_ulonglong = 0;
        // SAFETY: as above.
        let rc = unsafe { sys::virTypedParamsGetULLong(self.0, self.1, name.as_ptr(), &mut v) };
        (rc == 1).then_some(v)
    }
}

/// Frees the records however the listing ends.
struct Records(*mut sys::virDomainStatsRecordPtr);

impl Drop for Records {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the NULL-terminated array libvirt allocated; freed once, here.
            unsafe { sys::virDomainStatsRecordListFree(self.0) };
        }
    }
}

fn list_brief_blocking(c: &Conn) -> Result<Vec<DomainBrief>, VirtError> {
    let groups =
        sys::VIR_DOMAIN_STATS_STATE | sys::VIR_DOMAIN_STATS_VCPU | sys::VIR_DOMAIN_STATS_BALLOON;
    let mut raw: *mut sys::virDomainStatsRecordPtr = ptr::null_mut();
    // SAFETY: a valid connection; libvirt allocates the array and its records (freed by
    // `Records`). Flags 0: every domain, active or not.
    let n = unsafe { sys::virConnectGetAllDomainStats(c.conn.as_ptr(), groups, &mut raw, 0) };
    let records = Records(raw);
    if n < 0 {
        let e = LvError::last_error();
        if is_unsupported(&e) {
            return list_by_info(c);
        }
        return Err(c.lv("list domains with their statistics", e));
    }
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n as usize {
        // SAFETY: libvirt returned `n` valid record pointers; each holds a domain reference
        // and its typed parameters until the list is freed (after this loop).
        let (dom, params) = unsafe {
            let r = *records.0.add(i);
            ((*r).dom, Params((*r).params, (*r).nparams))
        };
        // SAFETY: the record's domain is valid; the name is owned by it (copied here).
        let name = unsafe { opt_str(sys::virDomainGetName(dom)) }.unwrap_or_default();
        let mut brief = DomainBrief {
            name,
            state: params
                .int(c"state.state")
                .map_or(DomainState::NoState, state_of_raw),
            vcpus: params.uint(c"vcpu.current").unwrap_or(0),
            // KiB.
            max_memory_mib: params.ullong(c"balloon.maximum").unwrap_or(0) / 1024,
        };
        if brief.vcpus == 0 || brief.max_memory_mib == 0 {
            // SAFETY: a zeroed virDomainInfo is valid; `dom` is valid (see above).
            let mut info: sys::virDomainInfo = unsafe { std::mem::zeroed() };
            if unsafe { sys::virDomainGetInfo(dom, &mut info) } == 0 {
                brief.vcpus = u32::from(info.nrVirtCpu);
                brief.max_memory_mib = info.maxMem as u64 / 1024;
                if params.int(c"state.state").is_none() {
                    brief.state = state_of_raw(c_int::from(info.state));
                }
            }
        }
        out.push(brief);
    }
    drop(records);
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// For drivers without bulk statistics: one listing plus `info()` per domain.
fn list_by_info(c: &Conn) -> Result<Vec<DomainBrief>, VirtError> {
    let doms = c
        .conn
        .list_all_domains(0)
        .map_err(|e| c.lv("list domains", e))?;
    let mut out = Vec::with_capacity(doms.len());
    for d in doms {
        let Ok(name) = d.name() else { continue };
        // A domain that vanished between the listing and this call is left out.
        let Ok(info) = d.info() else { continue };
        out.push(DomainBrief {
            name,
            state: state_of_raw(info.state.to_raw() as c_int),
            vcpus: info.nr_virt_cpu,
            max_memory_mib: info.max_mem / 1024,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// # Safety
/// `p` is null or a valid NUL-terminated string.
unsafe fn opt_str(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_brief_listing_matches_the_full_snapshots() {
        let lv = Libvirt::connect("test:///default").await.unwrap();
        let brief = lv.list_brief().await.unwrap();
        let full = lv.domains().await.unwrap();
        assert!(!brief.is_empty(), "test:///default has a domain");
        assert_eq!(brief.len(), full.len());
        for (b, f) in brief.iter().zip(&full) {
            assert_eq!(b.name, f.name);
            assert_eq!(b.state, f.state);
            assert_eq!(b.vcpus, f.vcpus);
            assert_eq!(b.max_memory_mib, f.max_memory_mib);
        }
    }
}
