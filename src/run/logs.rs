//! Per-stage log files in `workspace/logs/<stage>.log`: every event about a stage is
//! appended there (as text) on its way to the front end.

use super::print::text;
use crate::engine::event::Event;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

fn stage_of(e: &Event) -> Option<&str> {
    match e {
        Event::StageStarted { stage }
        | Event::StepStarted { stage, .. }
        | Event::StepSkipped { stage, .. }
        | Event::StepBlocked { stage, .. }
        | Event::StepUnverified { stage, .. }
        | Event::StepFinished { stage, .. }
        | Event::StepFailed { stage, .. }
        | Event::Log { stage, .. }
        | Event::StageFinished { stage, .. } => Some(stage),
        _ => None,
    }
}

/// Opens `dir/<stage>.log` for appending, never through a symbolic link (neither the
/// directory nor the file: a link planted there would have labwarp write elsewhere).
fn open_log(dir: &std::path::Path, stage: &str) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let is_link = |p: &std::path::Path| {
        std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
    };
    if is_link(dir) {
        return Err(std::io::Error::other(format!(
            "{} is a symbolic link: labwarp does not write logs through links; remove it",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir)?;
    OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(dir.join(format!("{stage}.log")))
}

/// Returns a sender whose events are written to the stage logs and then forwarded to `out`.
/// The task ends when every sender is dropped (after writing what was queued).
pub fn tee(
    dir: PathBuf,
    out: mpsc::UnboundedSender<Event>,
) -> (mpsc::UnboundedSender<Event>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let task = tokio::task::spawn_blocking(move || {
        let mut files: HashMap<String, File> = HashMap::new();
        let mut warned = false;
        let mut write_warned = false;
        while let Some(e) = rx.blocking_recv() {
            if let Some(stage) = stage_of(&e) {
                let f = match files.get_mut(stage) {
                    Some(f) => Some(f),
                    None => {
                        let opened = open_log(&dir, stage);
                        match opened {
                            Ok(f) => Some(files.entry(stage.to_string()).or_insert(f)),
                            Err(err) if !warned => {
                                warned = true;
                                eprintln!("labwarp: cannot write logs in {}: {err}", dir.display());
                                None
                            }
                            Err(_) => None,
                        }
                    }
                };
                if let Some(f) = f
                    && let Err(err) = writeln!(f, "{} {}", crate::engine::state::now(), text(&e))
                    && !write_warned
                {
                    // A full disk: say it once, keep running and printing events.
                    write_warned = true;
                    eprintln!(
                        "labwarp: cannot write {}/{stage}.log: {err}; the run goes on, this log misses lines",
                        dir.display()
                    );
                }
            }
            let _ = out.send(e);
        }
    });
    (tx, task)
}
