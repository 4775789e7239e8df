//! Samples every process's command line and environment from /proc while something runs, to
//! prove a secret never appears in them (tests/daemons/security_secrets.rs, tests/daemons/ssh_cli.rs).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

pub struct ProcSampler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<(BTreeSet<String>, u64)>>,
}

/// What the sampler saw: distinct `/proc/PID/cmdline` and `environ` contents (NULs shown as
/// spaces) and how many sweeps of /proc it made.
pub struct Samples {
    pub seen: BTreeSet<String>,
    pub sweeps: u64,
}

impl Samples {
    /// The samples that contain `needle`, skipping those `except` matches (the test's own
    /// processes, e.g. the tmux client that types a password).
    pub fn containing(&self, needle: &str, except: impl Fn(&str) -> bool) -> Vec<&String> {
        self.seen
            .iter()
            .filter(|s| s.contains(needle) && !except(s))
            .collect()
    }
}

fn sweep(seen: &mut BTreeSet<String>) {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        for file in ["cmdline", "environ"] {
            if let Ok(bytes) = std::fs::read(e.path().join(file))
                && !bytes.is_empty()
            {
                let text = String::from_utf8_lossy(&bytes).replace('\0', " ");
                seen.insert(format!("{file} {text}"));
            }
        }
    }
}

impl ProcSampler {
    pub fn start() -> ProcSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut seen = BTreeSet::new();
            let mut sweeps = 0;
            while !flag.load(Ordering::Relaxed) {
                sweep(&mut seen);
                sweeps += 1;
                // Not a timing assertion: only keeps the sampler from hogging a core.
                std::thread::sleep(Duration::from_millis(2));
            }
            sweep(&mut seen);
            (seen, sweeps + 1)
        });
        ProcSampler {
            stop,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) -> Samples {
        self.stop.store(true, Ordering::Relaxed);
        let (seen, sweeps) = self
            .thread
            .take()
            .expect("finished once")
            .join()
            .expect("sampler thread");
        Samples { seen, sweeps }
    }
}

impl Drop for ProcSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
