//! Virtualisation: CPU flags, the KVM module actually loaded, /dev/kvm and its ioctls,
//! libvirt's domain types, nested KVM and its modprobe.d option — each its own finding — and
//! the verdict that picks the domain type (`kvm` or TCG `qemu`).

use super::kvm_probe::{self, ProbeOutcome, ProbeVerdict};
use super::{Area, CheckContext, CmdRun, FileEdit, FileRead, Finding, Fix, HostView, Severity};
use crate::lab::DomainType;
use std::path::{Path, PathBuf};

const AREA: Area = Area::Virtualization;
/// Where quickstart persists the nested option (roles/parts/kvm, FIELD-FACTS §4.1).
pub const KVM_CONF: &str = "/etc/modprobe.d/kvm.conf";
const MODPROBE_D: &str = "/etc/modprobe.d";

/// Result of the KVM ioctls on /dev/kvm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IoctlFacts {
    NotProbed(String),
    Probed {
        /// `KVM_GET_API_VERSION` (12 on every kernel since 2.6.22), or the error.
        api_version: Result<i32, String>,
        /// `KVM_CREATE_VM`: Ok when a VM file descriptor came back.
        create_vm: Result<(), String>,
    },
}

impl Default for IoctlFacts {
    fn default() -> Self {
        IoctlFacts::NotProbed("not gathered".into())
    }
}

#[derive(Debug, Clone, Default)]
pub struct VirtFacts {
    pub cpuinfo: FileRead,
    /// Entries of /sys/module whose name starts with `kvm` (`None`: unreadable).
    pub kvm_modules: Option<Vec<String>>,
    /// `/sys/module/<kvm_intel|kvm_amd>/parameters/nested` for the vendor modules loaded.
    pub nested: Vec<(String, FileRead)>,
    /// Files in /etc/modprobe.d (name, content); `None` when the directory is missing.
    pub modprobe_d: Option<Vec<(String, FileRead)>>,
    pub dev_kvm: bool,
    pub ioctl: IoctlFacts,
    /// `virsh -c URI capabilities` (gathered by the libvirt family).
    pub capabilities: CmdRun,
    /// Outcome of `--deep`, when asked for.
    pub deep: Option<DeepProbe>,
}

/// The deep probe's result as the checks see it.
#[derive(Debug, Clone)]
pub enum DeepProbe {
    /// Not run, and why (remote host, fixture root, non-local URI).
    NotRun(String),
    Ran(ProbeOutcome),
}

/// Boots the probe guest (`--deep`) on the hypervisor (this machine or over SSH), with a URI
/// local to it; not on a fixture root.
pub async fn deep_probe(view: &HostView<'_>, ctx: &CheckContext) -> DeepProbe {
    let uri = &ctx.hypervisor.libvirt_uri;
    if !view.is_real() {
        return DeepProbe::NotRun(format!("fixture root {}", view.root().display()));
    }
    let on_hypervisor = uri.starts_with("qemu:///system")
        || (view.is_local() && uri.starts_with("qemu:///session"));
    if !on_hypervisor {
        return DeepProbe::NotRun(format!(
            "{uri} is not a qemu URI local to the hypervisor (the probe runs there: qemu:///system)"
        ));
    }
    let dir = &ctx.options.probe_guest;
    DeepProbe::Ran(
        kvm_probe::deep_kvm_probe(
            view.host,
            uri,
            &dir.join("vmlinuz"),
            &dir.join("initrd.img"),
            ctx.options.probe_timeout,
        )
        .await,
    )
}

impl Default for CmdRun {
    fn default() -> Self {
        CmdRun::NotProbed("not gathered".into())
    }
}

pub async fn gather(view: &HostView<'_>, _ctx: &CheckContext) -> VirtFacts {
    let cpuinfo = view.read("/proc/cpuinfo").await;
    let kvm_modules = view.list_dir("/sys/module").await.map(|names| {
        names
            .into_iter()
            .filter(|n| n.starts_with("kvm"))
            .collect::<Vec<_>>()
    });
    let mut nested = Vec::new();
    for m in kvm_modules.iter().flatten() {
        if m == "kvm_intel" || m == "kvm_amd" {
            let p = format!("/sys/module/{m}/parameters/nested");
            nested.push((m.clone(), view.read(&p).await));
        }
    }
    let modprobe_d = match view.list_dir(MODPROBE_D).await {
        None => None,
        Some(names) => {
            let mut files = Vec::new();
            // modprobe reads only *.conf here (so labwarp's `.labwarp.bak` copies are inert).
            for n in names.into_iter().filter(|n| n.ends_with(".conf")) {
                let p = format!("{MODPROBE_D}/{n}");
                files.push((n, view.read(&p).await));
            }
            Some(files)
        }
    };
    let dev_kvm = view.exists("/dev/kvm").await;
    let ioctl = if !dev_kvm {
        IoctlFacts::NotProbed("/dev/kvm does not exist".into())
    } else if !view.is_real() {
        IoctlFacts::NotProbed(format!("fixture root {}", view.root().display()))
    } else if !view.is_local() {
        IoctlFacts::NotProbed("remote host: the ioctls run only on this machine".into())
    } else {
        tokio::task::spawn_blocking(|| probe_kvm_ioctls(Path::new("/dev/kvm")))
            .await
            .unwrap_or_else(|e| IoctlFacts::NotProbed(format!("probe task failed: {e}")))
    };
    VirtFacts {
        cpuinfo,
        kvm_modules,
        nested,
        modprobe_d,
        dev_kvm,
        ioctl,
        capabilities: CmdRun::default(),
        deep: None,
    }
}

/// Opens /dev/kvm and asks the kernel for its API version and a new VM (closed at once).
pub fn probe_kvm_ioctls(path: &Path) -> IoctlFacts {
    use nix::libc;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // _IO(0xAE, 0x00) and _IO(0xAE, 0x01) from <linux/kvm.h>.
    const KVM_GET_API_VERSION: libc::c_ulong = 0xAE00;
    const KVM_CREATE_VM: libc::c_ulong = 0xAE01;
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) => {
            let msg = format!("open {}: {e}", path.display());
            return IoctlFacts::Probed {
                api_version: Err(msg.clone()),
                create_vm: Err(msg),
            };
        }
    };
    // SAFETY: both requests take an integer argument (0) and touch no user memory.
    let api = unsafe {
        libc::ioctl(
            file.as_raw_fd(),
            KVM_GET_API_VERSION as _,
            0 as libc::c_ulong,
        )
    };
    let api_version = if api < 0 {
        Err(std::io::Error::last_os_error().to_string())
    } else {
        Ok(api)
    };
    // SAFETY: as above; machine type 0 is the default VM type.
    let vm = unsafe { libc::ioctl(file.as_raw_fd(), KVM_CREATE_VM as _, 0 as libc::c_ulong) };
    let create_vm = if vm < 0 {
        Err(std::io::Error::last_os_error().to_string())
    } else {
        // SAFETY: the kernel just returned this new descriptor; we own it and close it.
        drop(unsafe { OwnedFd::from_raw_fd(vm) });
        Ok(())
    };
    IoctlFacts::Probed {
        api_version,
        create_vm,
    }
}

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

    fn evidence(&self) -> String {
        let mut lines = vec!["/proc/cpuinfo (first processor):".to_string()];
        lines.extend(self.vendor_line.clone());
        lines.extend(self.flags_line.clone());
        lines.join("\n")
    }
}

/// Domain types (`kvm`, `qemu`) in libvirt's capabilities XML, sorted, unique.
pub fn domain_types(capabilities_xml: &str) -> Vec<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(capabilities_xml);
    let mut out = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) if e.name().into_inner() == "domain" => {
                if let Ok(Some(attr)) = e.try_get_attribute("type") {
                    out.push(attr.value.to_string());
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The `<arch>` and `<domain type>` lines of the capabilities, verbatim (the evidence).
fn capability_lines(xml: &str) -> String {
    xml.lines()
        .filter(|l| l.contains("<arch name=") || l.contains("<domain type="))
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

/// An `options` line of modprobe.d that sets parameters of `module` (`kvm_intel` and
/// `kvm-intel` are the same module to modprobe).
fn is_options_for(line: &str, module: &str) -> bool {
    let mut words = line.split_whitespace();
    words.next() == Some("options") && words.next().is_some_and(|m| m.replace('-', "_") == module)
}

/// Every `options kvm_intel|kvm_amd` line in modprobe.d as `file:line: text`.
fn modprobe_option_lines(files: &[(String, FileRead)]) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    for (name, read) in files {
        if let FileRead::Content(text) = read {
            for (i, line) in text.lines().enumerate() {
                if is_options_for(line, "kvm_intel") || is_options_for(line, "kvm_amd") {
                    out.push((format!("{MODPROBE_D}/{name}"), i + 1, line.to_string()));
                }
            }
        }
    }
    out
}

fn nested_on(value: &str) -> bool {
    matches!(value.trim(), "Y" | "y" | "1")
}

/// Quickstart's nested recipe (roles/parts/kvm), as exact edits: drop every
/// `options kvm_<vendor>` line from every file in /etc/modprobe.d, write
/// `options kvm_<vendor> nested=1|0` into kvm.conf, and reload the module when its live
/// value differs. Returns `None` when nothing needs changing.
pub fn nested_fix(facts: &VirtFacts, vendor: Vendor, want: bool) -> Option<Fix> {
    let module = vendor.module();
    let wanted_line = format!("options {module} nested={}", if want { 1 } else { 0 });
    let mut edits = Vec::new();
    let files = facts.modprobe_d.clone().unwrap_or_default();
    let mut kvm_conf_seen = false;
    for (name, read) in &files {
        let FileRead::Content(text) = read else {
            continue;
        };
        let path = format!("{MODPROBE_D}/{name}");
        let is_kvm_conf = path == KVM_CONF;
        kvm_conf_seen |= is_kvm_conf;
        let mut kept: Vec<&str> = text
            .lines()
            .filter(|l| !is_options_for(l, module))
            .collect();
        if is_kvm_conf {
            kept.push(&wanted_line);
        }
        let mut new = kept.join("\n");
        if !new.is_empty() {
            new.push('\n');
        }
        if new != *text {
            edits.push(FileEdit {
                path: PathBuf::from(&path),
                content: new,
                backup: Some(PathBuf::from(format!("{path}.labwarp.bak"))),
                mode: 0o644,
            });
        }
    }
    if !kvm_conf_seen {
        edits.push(FileEdit {
            path: PathBuf::from(KVM_CONF),
            content: format!("{wanted_line}\n"),
            backup: None,
            mode: 0o644,
        });
    }
    let live = facts
        .nested
        .iter()
        .find(|(m, _)| m == module)
        .and_then(|(_, r)| r.content().map(nested_on));
    let mut commands = Vec::new();
    if live != Some(want) {
        commands.push(vec!["modprobe".into(), "-r".into(), module.into()]);
        commands.push(vec!["modprobe".into(), module.into()]);
    }
    if edits.is_empty() && commands.is_empty() {
        return None;
    }
    Some(Fix {
        description: format!(
            "Persist `{wanted_line}` in {KVM_CONF} (removing every other `options {module}` line from {MODPROBE_D}/*){}. If the reload fails, shut down the running VMs first.",
            if commands.is_empty() {
                String::new()
            } else {
                format!(", then reload {module}")
            }
        ),
        edits,
        commands,
        restart: None,
    })
}

/// Whether KVM can run the lab's guests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KvmVerdict {
    /// Use `type='kvm'`.
    Usable,
    /// /dev/kvm works but guests crash (kvm_pvm, no vmx/svm): use TCG.
    PresentButUnusable,
    /// No usable /dev/kvm at all: use TCG.
    Absent,
}

impl KvmVerdict {
    pub fn domain_type(self) -> DomainType {
        match self {
            KvmVerdict::Usable => DomainType::Kvm,
            _ => DomainType::Qemu,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            KvmVerdict::Usable => "KVM usable for guests: domain type kvm",
            KvmVerdict::PresentButUnusable => {
                "KVM present but unusable for guests: use TCG (domain type qemu)"
            }
            KvmVerdict::Absent => "KVM not available: use TCG (domain type qemu)",
        }
    }
}

/// The domain type the plan uses: the lab's explicit choice, or with `auto` the verdict's.
pub fn chosen_domain_type(facts: &VirtFacts, setting: DomainType) -> DomainType {
    match setting {
        DomainType::Auto => verdict(facts).0.domain_type(),
        explicit => explicit,
    }
}

/// Loaded KVM modules other than the generic `kvm` and the vendor modules (e.g. kvm_pvm).
fn foreign_modules(facts: &VirtFacts) -> Vec<String> {
    facts
        .kvm_modules
        .iter()
        .flatten()
        .filter(|m| m.starts_with("kvm_") && *m != "kvm_intel" && *m != "kvm_amd")
        .cloned()
        .collect()
}

fn vendor_modules(facts: &VirtFacts) -> Vec<String> {
    facts
        .kvm_modules
        .iter()
        .flatten()
        .filter(|m| *m == "kvm_intel" || *m == "kvm_amd")
        .cloned()
        .collect()
}

/// The verdict and the reasons behind it. A deep probe result, when there is one, decides;
/// otherwise the shallow evidence does: any foreign KVM module or missing vmx/svm means the
/// kernel's KVM is not hardware KVM, whatever /dev/kvm and libvirt say.
pub fn verdict(facts: &VirtFacts) -> (KvmVerdict, Vec<String>) {
    let mut why = Vec::new();
    match &facts.deep {
        Some(DeepProbe::Ran(o)) if o.verdict == ProbeVerdict::Usable => {
            why.push(format!("deep probe: {}", o.summary));
            return (KvmVerdict::Usable, why);
        }
        Some(DeepProbe::Ran(o)) if o.verdict == ProbeVerdict::Unusable => {
            why.push(format!("deep probe: {}", o.summary));
            return (KvmVerdict::PresentButUnusable, why);
        }
        Some(DeepProbe::Ran(o)) => {
            why.push(format!(
                "deep probe could not decide ({}): shallow verdict",
                o.summary
            ));
        }
        Some(DeepProbe::NotRun(reason)) => {
            why.push(format!("deep probe not run ({reason}): shallow verdict"));
        }
        None => {}
    }
    if !facts.dev_kvm {
        why.push("/dev/kvm does not exist".into());
        return (KvmVerdict::Absent, why);
    }
    if let IoctlFacts::Probed {
        api_version,
        create_vm,
    } = &facts.ioctl
        && let Err(e) = api_version.as_ref().map(|_| ()).and(create_vm.as_ref())
    {
        why.push(format!("/dev/kvm exists but the KVM ioctls fail: {e}"));
        return (KvmVerdict::Absent, why);
    }
    let foreign = foreign_modules(facts);
    let cpu = facts.cpuinfo.content().map(CpuInfo::parse);
    let no_flags = cpu.as_ref().is_some_and(|c| c.virt_vendor().is_none());
    if !foreign.is_empty() {
        why.push(format!(
            "the KVM module is {} (not kvm_intel/kvm_amd): a software layer under which standard guest kernels crash",
            foreign.join(", ")
        ));
    }
    if no_flags {
        why.push("/proc/cpuinfo has neither vmx nor svm".into());
    }
    if !foreign.is_empty() || no_flags {
        return (KvmVerdict::PresentButUnusable, why);
    }
    if let Some(xml) = facts.capabilities.ok_stdout()
        && !domain_types(xml).iter().any(|t| t == "kvm")
    {
        why.push("libvirt offers no domain type 'kvm'".into());
        return (KvmVerdict::Absent, why);
    }
    why.push(format!(
        "{} loaded, vmx/svm present, /dev/kvm answers{}",
        vendor_modules(facts).join(", "),
        if facts.deep.is_none() {
            " (shallow: `--deep` boots a probe guest for a definite answer)"
        } else {
            ""
        }
    ));
    (KvmVerdict::Usable, why)
}

pub fn evaluate(facts: &VirtFacts, ctx: &CheckContext) -> Vec<Finding> {
    let mut out = Vec::new();
    let cpu = facts.cpuinfo.content().map(CpuInfo::parse);

    // CPU flags.
    out.push(match (&facts.cpuinfo, &cpu) {
        (_, Some(c)) => match c.virt_vendor() {
            Some(v) => Finding::new(
                "kvm.cpu-flags",
                AREA,
                Severity::Ok,
                format!(
                    "CPU offers {} ({})",
                    v.flag(),
                    if v == Vendor::Intel { "Intel VT-x" } else { "AMD-V" }
                ),
                c.evidence(),
            ),
            None => Finding::new(
                "kvm.cpu-flags",
                AREA,
                Severity::Warn,
                if c.has("hypervisor") {
                    "No vmx or svm flag: this host is itself a VM whose hypervisor does not pass hardware virtualisation through".to_string()
                } else {
                    "No vmx or svm flag: hardware virtualisation is off or absent (check VT-x/AMD-V in the firmware)".to_string()
                },
                c.evidence(),
            ),
        },
        (FileRead::Error(e), None) => Finding::new(
            "kvm.cpu-flags",
            AREA,
            Severity::Warn,
            "Cannot read /proc/cpuinfo",
            e.clone(),
        ),
        (_, None) => Finding::new(
            "kvm.cpu-flags",
            AREA,
            Severity::Warn,
            "Cannot read /proc/cpuinfo",
            "/proc/cpuinfo: not found",
        ),
    });

    // Loaded KVM modules.
    let foreign = foreign_modules(facts);
    let vendor_mods = vendor_modules(facts);
    let modules_evidence = match &facts.kvm_modules {
        Some(m) => format!(
            "/sys/module entries starting with kvm: {}",
            if m.is_empty() {
                "(none)".to_string()
            } else {
                m.join(", ")
            }
        ),
        None => "/sys/module: not readable".to_string(),
    };
    let want_vendor = cpu.as_ref().and_then(CpuInfo::virt_vendor);
    out.push(if !foreign.is_empty() {
        Finding::new(
            "kvm.module",
            AREA,
            Severity::Warn,
            format!(
                "KVM module {} is loaded instead of kvm_intel/kvm_amd: a software virtualisation layer; standard guest kernels crash under it",
                foreign.join(", ")
            ),
            modules_evidence,
        )
    } else if !vendor_mods.is_empty() {
        Finding::new(
            "kvm.module",
            AREA,
            Severity::Ok,
            format!("{} loaded", vendor_mods.join(", ")),
            modules_evidence,
        )
    } else if let Some(v) = want_vendor {
        Finding::new(
            "kvm.module",
            AREA,
            Severity::Warn,
            format!("{} is not loaded although the CPU offers {}", v.module(), v.flag()),
            modules_evidence,
        )
        .with_fix(Fix {
            description: format!("Load {} (and persist it in /etc/modules-load.d)", v.module()),
            edits: vec![FileEdit {
                path: PathBuf::from("/etc/modules-load.d/labwarp-kvm.conf"),
                content: format!("{}\n", v.module()),
                backup: None,
                mode: 0o644,
            }],
            commands: vec![vec!["modprobe".into(), v.module().into()]],
            restart: None,
        })
    } else {
        Finding::new(
            "kvm.module",
            AREA,
            Severity::Info,
            "No hardware KVM module loaded (none possible without vmx/svm)",
            modules_evidence,
        )
    });

    // /dev/kvm and its ioctls.
    out.push(if facts.dev_kvm {
        Finding::new(
            "kvm.dev",
            AREA,
            Severity::Ok,
            "/dev/kvm exists",
            "/dev/kvm: present",
        )
    } else {
        Finding::new(
            "kvm.dev",
            AREA,
            Severity::Warn,
            "/dev/kvm does not exist",
            "/dev/kvm: not found",
        )
    });
    out.push(match &facts.ioctl {
        IoctlFacts::NotProbed(why) => Finding::new(
            "kvm.ioctl",
            AREA,
            Severity::Info,
            "KVM ioctls not probed",
            format!("not probed: {why}"),
        ),
        IoctlFacts::Probed {
            api_version,
            create_vm,
        } => {
            let ev = format!(
                "ioctl(/dev/kvm, KVM_GET_API_VERSION) = {}\nioctl(/dev/kvm, KVM_CREATE_VM, 0) = {}",
                match api_version {
                    Ok(v) => v.to_string(),
                    Err(e) => format!("error: {e}"),
                },
                match create_vm {
                    Ok(()) => "a VM file descriptor (closed again)".to_string(),
                    Err(e) => format!("error: {e}"),
                }
            );
            match (api_version, create_vm) {
                (Ok(12), Ok(())) => Finding::new(
                    "kvm.ioctl",
                    AREA,
                    Severity::Ok,
                    "KVM API version 12 and KVM_CREATE_VM succeeds",
                    ev,
                ),
                _ => Finding::new(
                    "kvm.ioctl",
                    AREA,
                    Severity::Warn,
                    "The KVM ioctls on /dev/kvm fail",
                    ev,
                ),
            }
        }
    });

    // libvirt domain types.
    out.push(match facts.capabilities.ok_stdout() {
        Some(xml) => {
            let types = domain_types(xml);
            let ev = format!(
                "$ virsh -c {} capabilities  (arch and domain lines)\n{}",
                ctx.hypervisor.libvirt_uri,
                capability_lines(xml)
            );
            if types.iter().any(|t| t == "kvm") {
                Finding::new(
                    "kvm.libvirt-domain-types",
                    AREA,
                    Severity::Ok,
                    format!("libvirt offers domain types: {}", types.join(", ")),
                    ev,
                )
            } else {
                Finding::new(
                    "kvm.libvirt-domain-types",
                    AREA,
                    Severity::Warn,
                    format!(
                        "libvirt offers no domain type 'kvm' (only: {})",
                        if types.is_empty() {
                            "none".into()
                        } else {
                            types.join(", ")
                        }
                    ),
                    ev,
                )
            }
        }
        None => Finding::new(
            "kvm.libvirt-domain-types",
            AREA,
            Severity::Info,
            "libvirt capabilities not available",
            facts.capabilities.evidence(),
        ),
    });

    // Nested KVM: the live parameter, then its persistent option.
    let vendor = want_vendor.or_else(|| {
        vendor_mods.first().map(|m| {
            if m == "kvm_intel" {
                Vendor::Intel
            } else {
                Vendor::Amd
            }
        })
    });
    let want = ctx.options.want_nested;
    let fix = vendor.and_then(|v| nested_fix(facts, v, want));
    out.push(
        match vendor.and_then(|v| facts.nested.iter().find(|(m, _)| m == v.module())) {
            None => Finding::new(
                "kvm.nested",
                AREA,
                Severity::Info,
                "Nested KVM not applicable: neither kvm_intel nor kvm_amd is loaded",
                modules_evidence_for_nested(facts),
            ),
            Some((m, read)) => {
                let path = format!("/sys/module/{m}/parameters/nested");
                match read {
                    FileRead::Content(v) => {
                        let ev = format!("{path}: {}", v.trim());
                        if nested_on(v) == want {
                            Finding::new(
                                "kvm.nested",
                                AREA,
                                Severity::Ok,
                                format!("Nested KVM is {} ({m})", if want { "on" } else { "off" }),
                                ev,
                            )
                        } else {
                            let mut f = Finding::new(
                                "kvm.nested",
                                AREA,
                                Severity::Warn,
                                format!(
                                    "Nested KVM is {} ({m}); the lab wants it {}",
                                    if nested_on(v) { "on" } else { "off" },
                                    if want { "on" } else { "off" }
                                ),
                                ev,
                            );
                            f.fix = fix.clone();
                            f
                        }
                    }
                    FileRead::Missing => Finding::new(
                        "kvm.nested",
                        AREA,
                        Severity::Info,
                        format!("{m} has no nested parameter"),
                        format!("{path}: not found"),
                    ),
                    FileRead::Error(e) => Finding::new(
                        "kvm.nested",
                        AREA,
                        Severity::Warn,
                        format!("Cannot read {path}"),
                        e.clone(),
                    ),
                }
            }
        },
    );

    let lines = facts
        .modprobe_d
        .as_deref()
        .map(modprobe_option_lines)
        .unwrap_or_default();
    let mp_evidence = match &facts.modprobe_d {
        None => format!("{MODPROBE_D}: not found"),
        Some(_) if lines.is_empty() => {
            format!("no `options kvm_intel|kvm_amd` line in {MODPROBE_D}/*")
        }
        Some(_) => lines
            .iter()
            .map(|(p, n, l)| format!("{p}:{n}: {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    out.push(match vendor {
        None => Finding::new(
            "kvm.modprobe",
            AREA,
            Severity::Info,
            "modprobe.d nested option not applicable (no vmx/svm)",
            mp_evidence,
        ),
        Some(v) => {
            // Only the persistent part decides this finding: are the edits needed?
            let edits_needed = fix.as_ref().is_some_and(|f| !f.edits.is_empty());
            if edits_needed {
                let mut f = Finding::new(
                    "kvm.modprobe",
                    AREA,
                    Severity::Warn,
                    format!(
                        "modprobe.d does not persist `options {} nested={}` cleanly",
                        v.module(),
                        if want { 1 } else { 0 }
                    ),
                    mp_evidence,
                );
                f.fix = fix.clone();
                f
            } else {
                Finding::new(
                    "kvm.modprobe",
                    AREA,
                    Severity::Ok,
                    format!(
                        "modprobe.d persists `options {} nested={}`",
                        v.module(),
                        if want { 1 } else { 0 }
                    ),
                    mp_evidence,
                )
            }
        }
    });

    // The deep probe, when asked.
    if let Some(deep) = &facts.deep {
        out.push(match deep {
            DeepProbe::Ran(o) => {
                let mut ev = vec![format!(
                    "domain {} (type='{}'), {:.1} s: {}",
                    o.domain_name,
                    o.domain_type,
                    o.elapsed.as_secs_f64(),
                    o.summary
                )];
                ev.extend(o.evidence.iter().cloned());
                let (sev, title) = match o.verdict {
                    ProbeVerdict::Usable => (Severity::Ok, "A type='kvm' probe guest booted"),
                    ProbeVerdict::Unusable => {
                        (Severity::Warn, "A type='kvm' probe guest did not boot")
                    }
                    ProbeVerdict::ProbeFailed => (
                        Severity::Warn,
                        "The deep KVM probe could not run: the verdict rests on shallow evidence",
                    ),
                };
                Finding::new("kvm.deep-probe", AREA, sev, title, ev.join("\n"))
            }
            DeepProbe::NotRun(reason) => Finding::new(
                "kvm.deep-probe",
                AREA,
                Severity::Warn,
                "Deep KVM probe not run: the verdict rests on shallow evidence",
                format!("not run: {reason}"),
            ),
        });
    }

    // The verdict.
    let (v, why) = verdict(facts);
    let evidence = why.join("\n");
    // What the verdict means for this lab: a Usable KVM is fine whatever the lab chose;
    // otherwise it depends on the lab's domain_type.
    let (severity, consequence) = match (ctx.hypervisor.domain_type, v) {
        (_, KvmVerdict::Usable) => (Severity::Ok, None),
        (DomainType::Auto, _) => (Severity::Warn, Some("the plan will use TCG (slower)")),
        (DomainType::Qemu, _) => (
            Severity::Info,
            Some("the lab already uses domain type qemu"),
        ),
        (DomainType::Kvm, _) => (Severity::Fail, Some("but the lab forces domain type kvm")),
    };
    let title = match consequence {
        Some(c) => format!("{} — {c}", v.title()),
        None => v.title().to_string(),
    };
    let mut finding = Finding::new("kvm.verdict", AREA, severity, title, evidence);
    if severity == Severity::Fail {
        finding = finding.with_fix(Fix::manual(
            "In lab.yaml set hypervisors[0].domain_type: qemu (or auto)",
        ));
    }
    out.push(finding);
    out
}

fn modules_evidence_for_nested(facts: &VirtFacts) -> String {
    match &facts.kvm_modules {
        Some(m) => format!(
            "/sys/module entries starting with kvm: {}",
            if m.is_empty() {
                "(none)".to_string()
            } else {
                m.join(", ")
            }
        ),
        None => "/sys/module: not readable".into(),
    }
}
