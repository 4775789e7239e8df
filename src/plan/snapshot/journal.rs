//! The journal of a save in progress (`.partial-NAME/journal`): which VMs it paused, saved
//! (stopped, memory in an image) and brought back. A save killed half-way leaves VMs paused
//! or stopped; the journal is how the next snapshot command brings them back.

use super::store::{exists, p, read, sh};
use crate::plan::Ctx;
use crate::virt::{DomainState, ResumeAs};
use std::path::Path;

pub const FILE: &str = "journal";

#[derive(Debug, Default)]
pub struct Journal {
    pub pid: u32,
    lines: Vec<String>,
}

/// The memory image of `domain` in a snapshot directory.
pub fn memory_file(domain: &str) -> String {
    format!("{domain}.mem")
}

impl Journal {
    /// Starts the journal of a new save in `dir`.
    pub async fn start(ctx: &Ctx, dir: &Path) -> anyhow::Result<()> {
        let line = format!("pid={}", std::process::id());
        sh(
            ctx,
            "printf '%s\\n' \"$2\" > \"$1\"",
            &[&p(&dir.join(FILE)), &line],
        )
        .await?;
        Ok(())
    }

    /// Appends one event (`paused D`, `saved D running`, `resumed D`) before going on.
    pub async fn note(ctx: &Ctx, dir: &Path, line: &str) -> anyhow::Result<()> {
        sh(
            ctx,
            "printf '%s\\n' \"$2\" >> \"$1\"",
            &[&p(&dir.join(FILE)), line],
        )
        .await?;
        Ok(())
    }

    pub async fn read(ctx: &Ctx, dir: &Path) -> anyhow::Result<Journal> {
        let f = dir.join(FILE);
        if !exists(ctx, &f).await? {
            return Ok(Journal::default());
        }
        let text = String::from_utf8_lossy(&read(ctx, &f).await?).into_owned();
        let mut j = Journal::default();
        for l in text.lines() {
            match l.strip_prefix("pid=") {
                Some(n) => j.pid = n.trim().parse().unwrap_or(0),
                None => j.lines.push(l.to_string()),
            }
        }
        Ok(j)
    }

    /// Whether the save that wrote it still runs (labwarp runs on this machine).
    pub fn alive(&self) -> bool {
        self.pid != 0
            && self.pid != std::process::id()
            && nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid as i32), None).is_ok()
    }

    fn has(&self, verb: &str, domain: &str) -> bool {
        self.lines.iter().any(|l| {
            let mut w = l.split_whitespace();
            w.next() == Some(verb) && w.next() == Some(domain)
        })
    }

    /// Domains the save touched (paused or saved), in order, once each.
    fn touched(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for l in &self.lines {
            let mut w = l.split_whitespace();
            if let (Some("paused" | "saved" | "saving"), Some(d)) = (w.next(), w.next())
                && !v.iter().any(|x| x == d)
            {
                v.push(d.to_string());
            }
        }
        v
    }

    /// Brings every VM the dead save stopped or paused back as it was before the save:
    /// from its memory image when it has one, else paused VMs resumed; says what it did.
    pub async fn bring_back(&self, ctx: &Ctx, dir: &Path) -> anyhow::Result<Vec<String>> {
        let mut said = Vec::new();
        for d in self.touched() {
            if self.has("resumed", &d) {
                continue;
            }
            let st = match ctx.libvirt.domain(&d).await {
                Ok(i) => i.state,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            let was_paused = self.has("was-paused", &d);
            let image = dir.join(memory_file(&d));
            match st {
                DomainState::Paused if !was_paused => {
                    ctx.libvirt.resume(&d).await?;
                    said.push(format!(
                        "{d}: resumed (an interrupted snapshot had paused it)"
                    ));
                }
                DomainState::Shutoff if exists(ctx, &image).await? => {
                    let as_ = if was_paused {
                        ResumeAs::Paused
                    } else {
                        ResumeAs::Running
                    };
                    match ctx.libvirt.restore_memory(&p(&image), as_).await {
                        Ok(()) => said.push(format!(
                            "{d}: brought back from the memory image of an interrupted snapshot"
                        )),
                        Err(e) => {
                            // A memory image cut short: the VM boots afresh instead.
                            ctx.libvirt.start(&d).await?;
                            said.push(format!(
                                "{d}: its memory image of an interrupted snapshot could not be restored ({e}); booted afresh"
                            ));
                        }
                    }
                }
                DomainState::Shutoff => {
                    ctx.libvirt.start(&d).await?;
                    said.push(format!(
                        "{d}: stopped by an interrupted snapshot without a memory image; booted afresh"
                    ));
                }
                _ => {}
            }
        }
        Ok(said)
    }
}
