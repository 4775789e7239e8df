//! One test file at a time in a grouped test binary.
//!
//! The heavy tests (real libvirtd with guests under TCG, sshd in namespaces, podman, faults,
//! tmux journeys) were one binary per file, and cargo runs binaries one after another: a
//! file's tests ran beside each other, never beside another file's. Grouped into a few
//! binaries, libtest would mix files on its threads; each test takes its file's turn first,
//! so the files still take turns (tests of the same file still run side by side).

use std::sync::{Condvar, Mutex};

struct Turns {
    /// The file whose tests run now, and how many of them.
    holder: Option<(String, usize)>,
}

static TURNS: Mutex<Turns> = Mutex::new(Turns { holder: None });
static FREED: Condvar = Condvar::new();

/// Held for a test's whole run; dropped (also on panic) when it ends.
pub struct Turn {
    file: String,
}

/// Waits until no other file's test runs, then holds the turn for `file`
/// (`module_path!()` of the test).
pub fn turn(file: &str) -> Turn {
    let mut t = TURNS.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        match &mut t.holder {
            None => {
                t.holder = Some((file.to_string(), 1));
                break;
            }
            Some((f, n)) if f == file => {
                *n += 1;
                break;
            }
            Some(_) => t = FREED.wait(t).unwrap_or_else(|e| e.into_inner()),
        }
    }
    Turn {
        file: file.to_string(),
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut t = TURNS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((f, n)) = &mut t.holder
            && *f == self.file
        {
            *n -= 1;
            if *n == 0 {
                t.holder = None;
                FREED.notify_all();
            }
        }
    }
}
