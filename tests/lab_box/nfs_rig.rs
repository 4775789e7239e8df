//! The NFS server behind the box's live migration, played by the test rig: nfs-ganesha
//! (standing in for the kernel NFS server, which this machine's kernel lacks; installed by
//! scripts/setup-host.sh) inside the namespace libvirtd runs in, on every address there (the
//! hypervisor's .254 on the provisioning network is the lab's `nfs_server`). NFSv4 only, over
//! TCP, with NLM, RQUOTA and UDP off (with them on it dies at start in a namespace without
//! rpcbind), graceless so the computes' first open need not wait out a grace period.
//!
//! Its config, log, recovery state and export all live in one directory of the box's temp
//! dir; dropping the rig stops ganesha and removes that directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct NfsRig {
    child: Option<Child>,
    dir: PathBuf,
    /// The exported directory on this machine.
    pub export: PathBuf,
    /// The NFSv4 path the computes mount (the lab's `export_path`).
    pub pseudo: String,
}

fn config(dir: &Path, export: &Path, pseudo: &str, clients: &str) -> String {
    format!(
        r#"NFS_CORE_PARAM {{
  Protocols = 4;
  Enable_NLM = false;
  Enable_RQUOTA = false;
  Enable_UDP = false;
  NFS_Port = 2049;
}}
NFSV4 {{
  Graceless = true;
  RecoveryRoot = "{recovery}";
  Allow_Numeric_Owners = true;
  Only_Numeric_Owners = true;
}}
EXPORT {{
  Export_Id = 1;
  Path = "{export}";
  Pseudo = "{pseudo}";
  Protocols = 4;
  Transports = TCP;
  Access_Type = NONE;
  Squash = No_Root_Squash;
  SecType = sys;
  FSAL {{ Name = VFS; }}
  CLIENT {{ Clients = {clients}; Access_Type = RW; }}
}}
"#,
        recovery = dir.join("recovery").display(),
        export = export.display(),
    )
}

/// Whether something listens on TCP 2049 in `ns`.
fn listening(ns: &str) -> bool {
    let o = super::out(super::in_ns(ns, "ss").args(["-H", "-tln", "sport = :2049"]));
    !super::stdout(&o).trim().is_empty()
}

impl NfsRig {
    /// Starts ganesha in `ns` exporting a fresh directory under `tmp` as `pseudo` to
    /// `clients` (a CIDR), and waits until it listens on 2049.
    pub fn start(ns: &str, tmp: &Path, pseudo: &str, clients: &str) -> NfsRig {
        assert!(
            !listening(ns),
            "something already listens on TCP 2049 in netns {ns} (another lab in a box's NFS rig?)"
        );
        let dir = tmp.join("nfs-rig");
        let export = dir.join("export");
        std::fs::create_dir_all(&export).expect("nfs rig export dir");
        std::fs::create_dir_all(dir.join("recovery")).expect("nfs rig recovery dir");
        let conf = dir.join("ganesha.conf");
        std::fs::write(&conf, config(&dir, &export, pseudo, clients)).expect("ganesha.conf");
        let child = super::in_ns(ns, "ganesha.nfsd")
            .arg("-F")
            .arg("-f")
            .arg(&conf)
            .arg("-L")
            .arg(dir.join("ganesha.log"))
            .arg("-p")
            .arg(dir.join("ganesha.pid"))
            .args(["-N", "NIV_EVENT"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start ganesha.nfsd: {e} (run scripts/setup-host.sh: it installs nfs-ganesha and nfs-ganesha-vfs)")
            });
        let mut rig = NfsRig {
            child: Some(child),
            dir,
            export,
            pseudo: pseudo.to_string(),
        };
        let end = Instant::now() + Duration::from_secs(30);
        while !listening(ns) {
            if let Some(Ok(Some(status))) = rig.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "ganesha.nfsd exited at start ({status}): {}",
                    std::fs::read_to_string(rig.dir.join("ganesha.log")).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < end,
                "ganesha.nfsd does not listen on 2049 after 30 s: {}",
                std::fs::read_to_string(rig.dir.join("ganesha.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        rig
    }

    /// The files in the export (the probes leave none).
    pub fn files(&self) -> Vec<String> {
        std::fs::read_dir(&self.export)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for NfsRig {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGTERM: ganesha shuts its exports down and exits.
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let end = Instant::now() + Duration::from_secs(15);
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(100));
            }
            if matches!(c.try_wait(), Ok(None)) {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
