//! Storage pools and volumes: snapshots and idempotent operations.

use super::error::is_missing;
use super::object::{self, obj_err};
use super::{Conn, Kind, Libvirt, Outcome, VirtError, xml};
use quick_xml::escape::escape;
use serde::Serialize;
use virt::error::Error as LvError;
use virt::storage_pool::StoragePool;
use virt::storage_vol::StorageVol;
use virt::sys;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolState {
    Inactive,
    Building,
    Running,
    Degraded,
    Inaccessible,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeInfo {
    pub name: String,
    pub path: String,
    pub key: String,
    pub capacity: u64,
    pub allocation: u64,
    /// `qcow2`, `raw`, `iso`, ... from the volume XML.
    pub format: Option<String>,
    /// The backing file of a copy-on-write volume.
    pub backing: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolInfo {
    pub name: String,
    pub uuid: String,
    pub state: PoolState,
    pub active: bool,
    pub persistent: bool,
    pub autostart: bool,
    pub capacity: u64,
    pub allocation: u64,
    pub available: u64,
    /// `<target><path>` (the directory of a `dir` pool).
    pub target_path: Option<String>,
    /// Volumes (empty while the pool is inactive), sorted by name.
    pub volumes: Vec<VolumeInfo>,
}

/// A volume to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    pub name: String,
    pub capacity_bytes: u64,
    /// `qcow2` or `raw`.
    pub format: String,
    /// Backing file path and its format, for a copy-on-write overlay.
    pub backing: Option<(String, String)>,
}

impl VolumeSpec {
    /// The `<volume>` XML libvirt takes; every value is escaped.
    pub fn to_xml(&self) -> String {
        let backing = match &self.backing {
            Some((path, fmt)) => format!(
                "  <backingStore>\n    <path>{}</path>\n    <format type='{}'/>\n  </backingStore>\n",
                escape(path.as_str()),
                escape(fmt.as_str())
            ),
            None => String::new(),
        };
        format!(
            "<volume>\n  <name>{}</name>\n  <capacity unit='bytes'>{}</capacity>\n  <target>\n    <format type='{}'/>\n  </target>\n{backing}</volume>\n",
            escape(self.name.as_str()),
            self.capacity_bytes,
            escape(self.format.as_str()),
        )
    }
}

/// XML for a directory pool at `path` (the common case: `/var/lib/libvirt/images`).
pub fn dir_pool_xml(name: &str, path: &str) -> String {
    format!(
        "<pool type='dir'>\n  <name>{}</name>\n  <target>\n    <path>{}</path>\n  </target>\n</pool>\n",
        escape(name),
        escape(path)
    )
}

fn pool_err(c: &Conn, op: &str, name: &str, e: LvError) -> VirtError {
    obj_err::<StoragePool>(c, op, name, e)
}

fn lookup(c: &Conn, name: &str) -> Result<StoragePool, VirtError> {
    object::lookup(c, name)
}

fn volume_snapshot(c: &Conn, v: &StorageVol) -> Result<VolumeInfo, VirtError> {
    let name = v.name().map_err(|e| c.lv("get volume name", e))?;
    let err = |op: &str, e: LvError| {
        if is_missing(&e) {
            c.not_found(Kind::Volume, &name)
        } else {
            c.lv(format!("{op} volume '{name}'"), e)
        }
    };
    let info = v.info().map_err(|e| err("get info of", e))?;
    let text = v.xml_desc(0).map_err(|e| err("get XML of", e))?;
    let tree = xml::parse(&text).map_err(|m| c.xml_err(&format!("volume '{name}'"), m))?;
    Ok(VolumeInfo {
        path: v.path().map_err(|e| err("get path of", e))?,
        key: v.key().map_err(|e| err("get key of", e))?,
        capacity: info.capacity,
        allocation: info.allocation,
        format: tree
            .path(&["target", "format"])
            .and_then(|f| f.attr("type"))
            .map(Into::into),
        backing: tree
            .path(&["backingStore", "path"])
            .map(|p| p.text.trim().to_string())
            .filter(|p| !p.is_empty()),
        name,
    })
}

fn pool_snapshot(c: &Conn, p: &StoragePool) -> Result<PoolInfo, VirtError> {
    let name = p.name().map_err(|e| c.lv("get pool name", e))?;
    let err = |op: &str, e: LvError| pool_err(c, op, &name, e);
    let info = p.info().map_err(|e| err("get info of", e))?;
    let active = p.is_active().map_err(|e| err("query", e))?;
    let text = p.xml_desc(0).map_err(|e| err("get XML of", e))?;
    let tree = xml::parse(&text).map_err(|m| c.xml_err(&format!("pool '{name}'"), m))?;
    let mut volumes = Vec::new();
    if active {
        let vols = p
            .list_all_volumes(0)
            .map_err(|e| err("list volumes of", e))?;
        for v in &vols {
            match volume_snapshot(c, v) {
                Ok(i) => volumes.push(i),
                Err(VirtError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        volumes.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(PoolInfo {
        uuid: p.uuid_string().map_err(|e| err("get UUID of", e))?,
        state: match info.state {
            sys::VIR_STORAGE_POOL_INACTIVE => PoolState::Inactive,
            sys::VIR_STORAGE_POOL_BUILDING => PoolState::Building,
            sys::VIR_STORAGE_POOL_RUNNING => PoolState::Running,
            sys::VIR_STORAGE_POOL_DEGRADED => PoolState::Degraded,
            sys::VIR_STORAGE_POOL_INACCESSIBLE => PoolState::Inaccessible,
            _ => PoolState::Unknown,
        },
        active,
        persistent: p.is_persistent().map_err(|e| err("query", e))?,
        autostart: p.autostart().map_err(|e| err("query", e))?,
        capacity: info.capacity,
        allocation: info.allocation,
        available: info.available,
        target_path: tree
            .path(&["target", "path"])
            .map(|t| t.text.trim().to_string()),
        volumes,
        name,
    })
}

impl Libvirt {
    /// Snapshots of every storage pool with its volumes, sorted by name.
    pub async fn pools(&self) -> Result<Vec<PoolInfo>, VirtError> {
        self.call(|c| {
            let pools = c
                .conn
                .list_all_storage_pools(0)
                .map_err(|e| c.lv("list storage pools", e))?;
            object::snapshots(c, &pools, pool_snapshot, |i| &i.name)
        })
        .await
    }

    /// One pool with its volumes (refreshed first when active, so files created outside
    /// libvirt show up).
    pub async fn pool(&self, name: &str) -> Result<PoolInfo, VirtError> {
        let name = name.to_string();
        self.call(move |c| {
            let p = lookup(c, &name)?;
            if p.is_active().unwrap_or(false) {
                // A refresh racing another one is harmless; its error is not the answer.
                let _ = p.refresh(0);
            }
            pool_snapshot(c, &p)
        })
        .await
    }

    /// Defines (or redefines) a persistent pool from XML.
    pub async fn define_pool(&self, xml: &str) -> Result<PoolInfo, VirtError> {
        let xml = xml.to_string();
        self.call(move |c| {
            let p = c
                .conn
                .define_storage_pool_xml(&xml, 0)
                .map_err(|e| c.lv("define storage pool", e))?;
            pool_snapshot(c, &p)
        })
        .await
    }

    /// Builds the pool's backing storage (creates the directory of a `dir` pool; safe to
    /// repeat).
    pub async fn build_pool(&self, name: &str) -> Result<(), VirtError> {
        let name = name.to_string();
        self.call(move |c| {
            let p = lookup(c, &name)?;
            if p.is_active().map_err(|e| pool_err(c, "query", &name, e))? {
                return Ok(());
            }
            p.build(0).map_err(|e| pool_err(c, "build", &name, e))
        })
        .await
    }

    /// Starts a pool; `AlreadyInState` when active.
    pub async fn start_pool(&self, name: &str) -> Result<Outcome, VirtError> {
        let name = name.to_string();
        self.call(move |c| object::start::<StoragePool>(c, &name))
            .await
    }

    pub async fn set_pool_autostart(&self, name: &str, on: bool) -> Result<(), VirtError> {
        let name = name.to_string();
        self.call(move |c| object::set_autostart::<StoragePool>(c, &name, on))
            .await
    }

    /// Stops a pool; `AlreadyInState` when inactive, `AlreadyAbsent` when missing.
    pub async fn destroy_pool(&self, name: &str) -> Result<Outcome, VirtError> {
        let name = name.to_string();
        self.call(move |c| object::stop::<StoragePool>(c, &name))
            .await
    }

    /// Removes a pool definition whatever its state (stops it first). Volumes and the
    /// directory stay on disk. `AlreadyAbsent` when missing.
    pub async fn undefine_pool(&self, name: &str) -> Result<Outcome, VirtError> {
        let name = name.to_string();
        self.call(move |c| object::stop_and_undefine::<StoragePool>(c, &name))
            .await
    }

    /// Creates a volume in an active pool. `AlreadyInState` (and the existing volume) when a
    /// volume of that name exists.
    pub async fn create_volume(
        &self,
        pool: &str,
        spec: &VolumeSpec,
    ) -> Result<(Outcome, VolumeInfo), VirtError> {
        let pool = pool.to_string();
        let spec = spec.clone();
        self.call(move |c| {
            let p = lookup(c, &pool)?;
            let _ = p.refresh(0);
            if let Ok(v) = p.lookup_storage_vol_by_name(&spec.name) {
                return Ok((Outcome::AlreadyInState, volume_snapshot(c, &v)?));
            }
            let v = StorageVol::create_xml(&p, &spec.to_xml(), 0)
                .map_err(|e| c.lv(format!("create volume '{}' in pool '{pool}'", spec.name), e))?;
            Ok((Outcome::Done, volume_snapshot(c, &v)?))
        })
        .await
    }

    /// Deletes a volume; `AlreadyAbsent` when the volume (or its pool) does not exist.
    pub async fn delete_volume(&self, pool: &str, volume: &str) -> Result<Outcome, VirtError> {
        let pool = pool.to_string();
        let volume = volume.to_string();
        self.call(move |c| {
            let Some(p) = object::lookup_opt::<StoragePool>(c, &pool)? else {
                return Ok(Outcome::AlreadyAbsent);
            };
            let _ = p.refresh(0);
            let v = match p.lookup_storage_vol_by_name(&volume) {
                Ok(v) => v,
                Err(e) if is_missing(&e) => return Ok(Outcome::AlreadyAbsent),
                Err(e) => return Err(c.lv(format!("look up volume '{volume}'"), e)),
            };
            match v.delete(0) {
                Ok(()) => Ok(Outcome::Done),
                Err(e) if is_missing(&e) => Ok(Outcome::AlreadyAbsent),
                Err(e) => Err(c.lv(format!("delete volume '{volume}' in pool '{pool}'"), e)),
            }
        })
        .await
    }
}
