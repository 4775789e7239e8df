//! The parts of /proc/cpuinfo the checks use, and the CPU vendor quickstart derives from them.

/// CPU vendor as quickstart derives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Intel,
    Amd,
}

impl Vendor {
    pub fn module(self) -> &'static str {
        match self {
            Vendor::Intel => "kvm_intel",
            Vendor::Amd => "kvm_amd",
        }
    }
    pub fn flag(self) -> &'static str {
        match self {
            Vendor::Intel => "vmx",
            Vendor::Amd => "svm",
        }
    }
}

/// The parts of /proc/cpuinfo the checks use (first processor's lines, kept verbatim).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuInfo {
    pub vendor_line: Option<String>,
    pub vendor_id: Option<String>,
    pub flags_line: Option<String>,
    pub flags: Vec<String>,
    pub processors: usize,
}

impl CpuInfo {
    pub fn parse(text: &str) -> CpuInfo {
        let mut info = CpuInfo::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            match key.trim() {
                "processor" => info.processors += 1,
                "vendor_id" if info.vendor_id.is_none() => {
                    info.vendor_line = Some(line.to_string());
                    info.vendor_id = Some(value.trim().to_string());
                }
                "flags" if info.flags_line.is_none() => {
                    info.flags_line = Some(line.to_string());
                    info.flags = value.split_whitespace().map(str::to_string).collect();
                }
                _ => {}
            }
        }
        info
    }

    pub fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// The vendor with hardware virtualisation visible (`vmx` → Intel, `svm` → AMD).
    pub fn virt_vendor(&self) -> Option<Vendor> {
        if self.has("vmx") {
            Some(Vendor::Intel)
        } else if self.has("svm") {
            Some(Vendor::Amd)
        } else {
            None
        }
    }

    /// The vendor from `vendor_id` alone.
    pub fn vendor(&self) -> Option<Vendor> {
        match self.vendor_id.as_deref() {
            Some("GenuineIntel") => Some(Vendor::Intel),
            Some("AuthenticAMD") => Some(Vendor::Amd),
            _ => None,
        }
    }

    /// The `vendor_id` and `flags` lines as evidence.
    pub(super) fn evidence(&self) -> String {
        let mut lines = vec!["/proc/cpuinfo (first processor):".to_string()];
        lines.extend(self.vendor_line.clone());
        lines.extend(self.flags_line.clone());
        lines.join("\n")
    }
}
