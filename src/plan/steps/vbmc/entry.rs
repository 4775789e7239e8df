//! One node's VirtualBMC entry: the `config` file vbmcd reads, written and compared by labwarp.

/// One node's BMC as vbmcd stores it (`<config_dir>/<domain>/config`, section `VirtualBMC`).
#[derive(Clone, PartialEq, Eq)]
pub struct BmcEntry {
    pub domain: String,
    pub username: String,
    pub password: String,
    pub address: String,
    pub port: u16,
    pub libvirt_uri: String,
    pub active: bool,
}

impl std::fmt::Debug for BmcEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BmcEntry")
            .field("domain", &self.domain)
            .field("username", &self.username)
            .field("password", &"***")
            .field("address", &self.address)
            .field("port", &self.port)
            .field("libvirt_uri", &self.libvirt_uri)
            .field("active", &self.active)
            .finish()
    }
}

impl BmcEntry {
    /// The file vbmcd reads (Python configparser syntax), from `render::ini`, which refuses
    /// a value configparser would misread.
    pub fn to_config(&self) -> crate::render::Result<String> {
        let mut ini = crate::render::ini::Ini::configparser("");
        ini.section("VirtualBMC");
        ini.set("username", &self.username, "overcloud.vbmc.username")?;
        ini.set("password", &self.password, "overcloud.vbmc.password")
            .map_err(|_| crate::render::RenderError::BadValue {
                field: "overcloud.vbmc.password".into(),
                value: "***".into(),
                problem: "cannot be written to VirtualBMC's config (control characters, `%` or surrounding blanks)".into(),
            })?;
        ini.set("address", &self.address, "overcloud.vbmc.address")?;
        ini.set("port", &self.port.to_string(), "overcloud.vbmc.base_port")?;
        ini.set("domain_name", &self.domain, "libvirt domain")?;
        ini.set(
            "libvirt_uri",
            &self.libvirt_uri,
            "hypervisors[0].libvirt_uri",
        )?;
        ini.set_bool("active", self.active);
        Ok(ini.finish())
    }

    /// Reads a config vbmcd wrote or labwarp wrote; `None` when a key is missing or bad.
    pub fn parse(text: &str) -> Option<BmcEntry> {
        let mut section = String::new();
        let mut get = std::collections::BTreeMap::new();
        for line in text.lines() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
                continue;
            }
            if let Some(s) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                section = s.to_string();
                continue;
            }
            if section != "VirtualBMC" {
                continue;
            }
            let (k, v) = l.split_once('=').or_else(|| l.split_once(':'))?;
            get.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
        let active = matches!(
            get.get("active").map(|s| s.to_ascii_lowercase()).as_deref(),
            Some("true" | "1" | "yes" | "on")
        );
        Some(BmcEntry {
            domain: get.remove("domain_name")?,
            username: get.remove("username")?,
            password: get.remove("password")?,
            address: get.remove("address")?,
            port: get.remove("port")?.parse().ok()?,
            libvirt_uri: get.remove("libvirt_uri")?,
            active,
        })
    }

    /// What differs from `want`, in words (never the password itself).
    pub fn differences(&self, want: &BmcEntry) -> Vec<String> {
        let mut d = Vec::new();
        if self.port != want.port {
            d.push(format!("port {} (plan: {})", self.port, want.port));
        }
        if self.address != want.address {
            d.push(format!("address {} (plan: {})", self.address, want.address));
        }
        if self.username != want.username {
            d.push(format!("user {} (plan: {})", self.username, want.username));
        }
        if self.password != want.password {
            d.push("a different password".into());
        }
        if self.libvirt_uri != want.libvirt_uri {
            d.push(format!(
                "libvirt URI {} (plan: {})",
                self.libvirt_uri, want.libvirt_uri
            ));
        }
        if self.domain != want.domain {
            d.push(format!("domain {} (plan: {})", self.domain, want.domain));
        }
        if !self.active {
            d.push("not active".into());
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> BmcEntry {
        BmcEntry {
            domain: "lab-controller-0".into(),
            username: "admin".into(),
            password: "s3cret".into(),
            address: "127.0.0.1".into(),
            port: 6230,
            libvirt_uri: "qemu:///system".into(),
            active: true,
        }
    }

    #[test]
    fn entry_round_trips_and_reads_what_vbmcd_rewrites() {
        let e = entry();
        assert_eq!(BmcEntry::parse(&e.to_config().unwrap()), Some(e.clone()));
        // A password configparser would misread is refused, and not shown.
        let bad = BmcEntry {
            password: "50%off".into(),
            ..entry()
        };
        let err = bad.to_config().unwrap_err().to_string();
        assert!(!err.contains("50%off"), "{err}");
        // vbmcd's own _store_config (configparser) after `vbmc stop`: same keys, active False.
        let theirs = "[VirtualBMC]\ndomain_name = lab-controller-0\nusername = admin\npassword = s3cret\nport = 6230\naddress = 127.0.0.1\nlibvirt_uri = qemu:///system\nactive = False\n\n";
        let got = BmcEntry::parse(theirs).unwrap();
        assert_eq!(got.differences(&e), vec!["not active".to_string()]);
        assert_eq!(BmcEntry::parse("[VirtualBMC]\nport = x\n"), None);
    }

    #[test]
    fn differences_name_fields_but_never_the_password() {
        let mut other = entry();
        other.port = 6231;
        other.password = "another".into();
        let d = other.differences(&entry()).join(", ");
        assert!(d.contains("port 6231 (plan: 6230)"), "{d}");
        assert!(d.contains("a different password"), "{d}");
        assert!(!d.contains("another") && !d.contains("s3cret"), "{d}");
        assert!(!format!("{other:?}").contains("another"));
    }
}
