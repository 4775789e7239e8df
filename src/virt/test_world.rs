//! The test driver's world kept in a file, so that a lab on `test:///default` (the demo)
//! outlives the process that built it: `status`, `plan`, `clean` and the TUI see the lab
//! exactly as the last run left it (issue 15: the demo forgot its lab).
//!
//! libvirt's test driver accepts `test:///ABSOLUTE/PATH.xml`, a node description it loads at
//! connect: domains (with their run state in the test namespace), networks, and pools with
//! their volumes. [`Libvirt::connect_test_world`] opens that file when it exists (else
//! `test:///default`, whose objects are then saved like any other), and after every call the
//! whole world is written back to it (atomically, and only when it changed). What the node
//! format cannot say — networks and pools are always loaded active, autostart flags are not
//! read — is kept in a `<labwarp:world>` element the driver ignores and put back after the
//! file is loaded.

use super::{Conn, Inner, Libvirt, VirtError};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use virt::connect::Connect;
use virt::sys;

const TEST_NS: &str = "http://libvirt.org/schemas/domain/test/1.0";
const LABWARP_NS: &str = "https://labwarp.invalid/test-world/1";

/// Where a test-driver world is saved, and what was written last.
pub(crate) struct World {
    path: PathBuf,
    last: Mutex<String>,
}

/// `test:///` plus the absolute path, escaped as a URI path.
pub fn world_uri(path: &Path) -> String {
    let mut out = String::from("test://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An object's state that the node file cannot carry, as one `<labwarp:*>` line.
fn fixup(kind: &str, name: &str, inactive: bool, autostart: bool) -> String {
    let mut s = String::new();
    let name = xml_escape(name);
    if inactive {
        s.push_str(&format!(
            "    <labwarp:inactive kind='{kind}' name='{name}'/>\n"
        ));
    }
    if autostart {
        s.push_str(&format!(
            "    <labwarp:autostart kind='{kind}' name='{name}'/>\n"
        ));
    }
    s
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

/// The XML of a domain with its run state (and transience) in the test namespace.
fn domain_entry(xml: &str, state: u32, persistent: bool) -> Result<String, String> {
    let body = xml.trim();
    let rest = body
        .strip_prefix("<domain")
        .ok_or_else(|| "domain XML does not start with <domain".to_string())?;
    let end = rest
        .rfind("</domain>")
        .ok_or_else(|| "domain XML has no </domain>".to_string())?;
    // A transient domain that is not running does not exist: only persistent ones are off.
    let runstate = if persistent {
        state
    } else {
        sys::VIR_DOMAIN_RUNNING
    };
    let mut extra = format!("  <test:runstate>{runstate}</test:runstate>\n");
    if !persistent {
        extra.push_str("  <test:transient/>\n");
    }
    Ok(format!(
        "<domain xmlns:test='{TEST_NS}'{}{extra}</domain>\n",
        &rest[..end]
    ))
}

/// The whole world of the connection as a node description.
fn snapshot(c: &Conn) -> Result<String, String> {
    let e = |what: &str, err: virt::error::Error| format!("{what}: {}", err.message());
    let mut body = String::new();
    let mut fixups = String::new();
    let mut domains = c
        .conn
        .list_all_domains(0)
        .map_err(|x| e("list domains", x))?;
    domains.sort_by_key(|d| d.name().unwrap_or_default());
    for d in domains {
        let name = d.name().map_err(|x| e("domain name", x))?;
        let persistent = d.is_persistent().map_err(|x| e("query", x))?;
        let flags = if persistent {
            sys::VIR_DOMAIN_XML_INACTIVE
        } else {
            0
        };
        let xml = d.xml_desc(flags).map_err(|x| e("domain XML", x))?;
        let state = d.info().map_err(|x| e("domain info", x))?.state.to_raw();
        body.push_str(&domain_entry(&xml, state, persistent)?);
        fixups.push_str(&fixup(
            "domain",
            &name,
            false,
            d.autostart().unwrap_or(false),
        ));
    }
    let mut nets = c
        .conn
        .list_all_networks(0)
        .map_err(|x| e("list networks", x))?;
    nets.sort_by_key(|n| n.name().unwrap_or_default());
    for n in nets {
        let name = n.name().map_err(|x| e("network name", x))?;
        // The test driver has no inactive network XML (and changes none live).
        let xml = n.xml_desc(0).map_err(|x| e("network XML", x))?;
        body.push_str(xml.trim());
        body.push('\n');
        let active = n.is_active().map_err(|x| e("query", x))?;
        fixups.push_str(&fixup(
            "network",
            &name,
            !active,
            n.autostart().unwrap_or(false),
        ));
    }
    let mut pools = c
        .conn
        .list_all_storage_pools(0)
        .map_err(|x| e("list pools", x))?;
    pools.sort_by_key(|p| p.name().unwrap_or_default());
    for p in pools {
        let name = p.name().map_err(|x| e("pool name", x))?;
        let xml = p
            .xml_desc(sys::VIR_STORAGE_XML_INACTIVE)
            .or_else(|_| p.xml_desc(0))
            .map_err(|x| e("pool XML", x))?;
        let xml = xml.trim();
        let end = xml
            .rfind("</pool>")
            .ok_or_else(|| "pool XML has no </pool>".to_string())?;
        body.push_str(&xml[..end]);
        let active = p.is_active().map_err(|x| e("query", x))?;
        if active {
            let mut vols = p.list_all_volumes(0).map_err(|x| e("list volumes", x))?;
            vols.sort_by_key(|v| v.name().unwrap_or_default());
            for v in vols {
                let vx = v.xml_desc(0).map_err(|x| e("volume XML", x))?;
                body.push_str(vx.trim());
                body.push('\n');
            }
        }
        body.push_str("</pool>\n");
        fixups.push_str(&fixup(
            "pool",
            &name,
            !active,
            p.autostart().unwrap_or(false),
        ));
    }
    Ok(format!(
        "<?xml version='1.0'?>\n<!-- labwarp: libvirt's test driver world, written after every change (test:///PATH loads it) -->\n<node>\n{body}  <labwarp:world xmlns:labwarp='{LABWARP_NS}'>\n{fixups}  </labwarp:world>\n</node>\n"
    ))
}

impl World {
    /// Writes the world when it differs from what was written last.
    pub(crate) fn save(&self, c: &Conn) -> Result<(), String> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        // Calls run in parallel on one connection: an object listed here can be removed
        // by another call before it is read ("Domain not found"). That call saves after
        // its change (this lock orders the saves), so walk the world again.
        let mut tries = 0;
        let xml = loop {
            match snapshot(c) {
                Ok(xml) => break xml,
                Err(e) if tries < 5 && e.contains("not found") => tries += 1,
                Err(e) => return Err(e),
            }
        };
        if *last == xml {
            return Ok(());
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let write = || -> std::io::Result<()> {
            let mut tmp = tempfile::Builder::new()
                .prefix(".libvirt-test")
                .tempfile_in(dir)?;
            std::io::Write::write_all(&mut tmp, xml.as_bytes())?;
            tmp.as_file().sync_all()?;
            tmp.persist(&self.path).map_err(|e| e.error)?;
            Ok(())
        };
        write().map_err(|e| format!("{}: {e}", self.path.display()))?;
        *last = xml;
        Ok(())
    }
}

/// The `<labwarp:inactive>` / `<labwarp:autostart>` entries of a saved world.
fn fixups_of(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let what = if line.starts_with("<labwarp:inactive ") {
            "inactive"
        } else if line.starts_with("<labwarp:autostart ") {
            "autostart"
        } else {
            continue;
        };
        let attr = |key: &str| {
            let start = line.find(&format!("{key}='"))? + key.len() + 2;
            let len = line[start..].find('\'')?;
            Some(
                line[start..start + len]
                    .replace("&quot;", "\"")
                    .replace("&apos;", "'")
                    .replace("&gt;", ">")
                    .replace("&lt;", "<")
                    .replace("&amp;", "&"),
            )
        };
        if let (Some(kind), Some(name)) = (attr("kind"), attr("name")) {
            out.push((what.to_string(), kind, name));
        }
    }
    out
}

/// Puts back what the node format cannot say: inactive networks and pools, autostart.
fn apply_fixups(conn: &Connect, text: &str) -> Result<(), String> {
    let e = |what: String, err: virt::error::Error| format!("{what}: {}", err.message());
    for (what, kind, name) in fixups_of(text) {
        match (what.as_str(), kind.as_str()) {
            ("inactive", "network") => {
                let n = conn
                    .lookup_network_by_name(&name)
                    .map_err(|x| e(format!("network {name}"), x))?;
                if n.is_active().unwrap_or(false) {
                    n.destroy()
                        .map_err(|x| e(format!("stop network {name}"), x))?;
                }
            }
            ("inactive", "pool") => {
                let p = conn
                    .lookup_storage_pool_by_name(&name)
                    .map_err(|x| e(format!("pool {name}"), x))?;
                if p.is_active().unwrap_or(false) {
                    p.destroy().map_err(|x| e(format!("stop pool {name}"), x))?;
                }
            }
            ("autostart", "network") => {
                let n = conn
                    .lookup_network_by_name(&name)
                    .map_err(|x| e(format!("network {name}"), x))?;
                n.set_autostart(true)
                    .map_err(|x| e(format!("autostart network {name}"), x))?;
            }
            ("autostart", "pool") => {
                let p = conn
                    .lookup_storage_pool_by_name(&name)
                    .map_err(|x| e(format!("pool {name}"), x))?;
                p.set_autostart(true)
                    .map_err(|x| e(format!("autostart pool {name}"), x))?;
            }
            ("autostart", "domain") => {
                let d = conn
                    .lookup_domain_by_name(&name)
                    .map_err(|x| e(format!("domain {name}"), x))?;
                d.set_autostart(true)
                    .map_err(|x| e(format!("autostart domain {name}"), x))?;
            }
            _ => {}
        }
    }
    Ok(())
}

impl Libvirt {
    /// libvirt's test driver with its world kept in `path` (absolute): loaded from it when
    /// it exists (else `test:///default`), written back to it after every call.
    pub async fn connect_test_world(path: &Path) -> Result<Libvirt, VirtError> {
        let existing = std::fs::read_to_string(path).ok();
        let uri = if existing.is_some() {
            world_uri(path)
        } else {
            "test:///default".to_string()
        };
        super::uri::check(&uri)?;
        super::events::ensure_event_loop();
        let owned = uri.clone();
        let (conn, loaded) = tokio::task::spawn_blocking(move || {
            let conn = Connect::open(Some(&owned)).map_err(|e| e.message().to_string())?;
            // The world as loaded: a process that changes nothing never writes the file (a
            // `status` during a run must not put back what the run has changed since).
            let Some(text) = &existing else {
                return Ok::<_, String>((conn, String::new()));
            };
            apply_fixups(&conn, text)?;
            let ctx = Conn {
                conn,
                uri: owned,
                generation: 0,
            };
            let loaded = snapshot(&ctx)?;
            Ok((ctx.conn, loaded))
        })
        .await
        .map_err(|e| VirtError::Join(e.to_string(), uri.clone()))?
        .map_err(|message| VirtError::Connect {
            uri: uri.clone(),
            message: format!(
                "{message} (the demo's saved libvirt world {}: delete it to start from an empty test driver)",
                path.display()
            ),
        })?;
        let window =
            u64::try_from(super::reconnect::DEFAULT_WINDOW.as_millis()).unwrap_or(u64::MAX);
        let lv = Libvirt {
            inner: Arc::new(Inner {
                uri: uri.clone(),
                current: RwLock::new(Arc::new(Conn {
                    conn,
                    uri,
                    generation: 0,
                })),
                reconnecting: tokio::sync::Mutex::new(()),
                window_ms: AtomicU64::new(window),
                notices: tokio::sync::broadcast::channel(16).0,
                generations: tokio::sync::watch::Sender::new(0),
                world: Some(Arc::new(World {
                    path: path.to_path_buf(),
                    last: Mutex::new(loaded),
                })),
            }),
        };
        if lv.uri() == "test:///default" {
            // No file yet: test:///default's own world is written at once.
            lv.call(|_| Ok(())).await?;
        }
        Ok(lv)
    }

    /// The file this connection's world is kept in, if any.
    pub fn world_file(&self) -> Option<&Path> {
        self.inner.world.as_ref().map(|w| w.path.as_path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_escapes_the_path() {
        assert_eq!(
            world_uri(Path::new("/tmp/a b/ws/libvirt-test.xml")),
            "test:///tmp/a%20b/ws/libvirt-test.xml"
        );
    }

    #[test]
    fn fixups_round_trip_through_their_lines() {
        let text = format!(
            "{}{}",
            fixup("network", "lab-o'x", true, true),
            fixup("pool", "p", true, false)
        );
        assert_eq!(
            fixups_of(&text),
            vec![
                ("inactive".into(), "network".into(), "lab-o'x".into()),
                ("autostart".into(), "network".into(), "lab-o'x".into()),
                ("inactive".into(), "pool".into(), "p".into()),
            ]
        );
    }

    fn futures_free_snapshot() -> Result<String, String> {
        let conn = Connect::open(Some("test:///default")).unwrap();
        snapshot(&Conn {
            conn,
            uri: "x".into(),
            generation: 0,
        })
    }

    /// A process that only reads (`status` during a run) never writes the world back, so
    /// it cannot undo what a run saved meanwhile.
    #[tokio::test]
    async fn a_reader_never_writes_the_world() {
        use crate::virt::Libvirt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("libvirt-test.xml");
        drop(Libvirt::connect_test_world(&path).await.unwrap());
        let reader = Libvirt::connect_test_world(&path).await.unwrap();
        let writer = Libvirt::connect_test_world(&path).await.unwrap();
        writer
            .call(|c| {
                c.conn
                    .define_network_xml("<network><name>tw-later</name></network>")
                    .unwrap();
                Ok(())
            })
            .await
            .unwrap();
        let saved = std::fs::read_to_string(&path).unwrap();
        assert!(saved.contains("tw-later"));
        let n = reader
            .call(|c| Ok(c.conn.list_all_networks(0).unwrap().len()))
            .await;
        assert!(n.unwrap() >= 1);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), saved);
    }

    #[tokio::test]
    async fn a_world_outlives_its_connection() {
        use crate::virt::Libvirt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("libvirt-test.xml");
        let net = "<network><name>tw-net</name><bridge name='twbr0'/></network>";
        let pool = format!(
            "<pool type='dir'><name>tw-pool</name><target><path>{}</path></target></pool>",
            dir.path().display()
        );
        let dom = "<domain type='test'><name>tw-dom</name><memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>";
        {
            let lv = Libvirt::connect_test_world(&path).await.unwrap();
            assert_eq!(lv.uri(), "test:///default");
            lv.call(move |c| {
                let n = c.conn.define_network_xml(net).unwrap();
                n.set_autostart(true).unwrap();
                let p = c.conn.define_storage_pool_xml(&pool, 0).unwrap();
                p.create(0).unwrap();
                virt::storage_vol::StorageVol::create_xml(
                    &p,
                    "<volume><name>v.qcow2</name><capacity>1048576</capacity></volume>",
                    0,
                )
                .unwrap();
                let d = c.conn.define_domain_xml(dom).unwrap();
                d.create().unwrap();
                d.suspend().unwrap();
                Ok(())
            })
            .await
            .unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            let lv = futures_free_snapshot();
            panic!("{e}: {lv:?}")
        });
        assert!(text.contains("tw-dom") && text.contains("tw-net"), "{text}");

        let lv = Libvirt::connect_test_world(&path).await.unwrap();
        assert!(lv.uri().ends_with("libvirt-test.xml"), "{}", lv.uri());
        let seen = lv
            .call(|c| {
                let n = c.conn.lookup_network_by_name("tw-net").unwrap();
                let p = c.conn.lookup_storage_pool_by_name("tw-pool").unwrap();
                let d = c.conn.lookup_domain_by_name("tw-dom").unwrap();
                let vols: Vec<String> = p
                    .list_all_volumes(0)
                    .unwrap()
                    .iter()
                    .map(|v| v.name().unwrap())
                    .collect();
                Ok((
                    n.is_active().unwrap(),
                    n.autostart().unwrap(),
                    p.is_active().unwrap(),
                    vols,
                    d.info().unwrap().state.to_raw(),
                    c.conn.lookup_domain_by_name("test").is_ok(),
                ))
            })
            .await
            .unwrap();
        assert_eq!(
            seen,
            (
                false,
                true,
                true,
                vec!["v.qcow2".to_string()],
                sys::VIR_DOMAIN_PAUSED,
                true
            ),
            "(network active, autostart, pool active, volumes, domain state, test:///default's own domain)"
        );
    }
}
