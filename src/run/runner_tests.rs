//! Runner tests with real steps: files written through a real LocalHost in a temp dir,
//! and a real `sleep` process for cancellation.

use super::*;
use crate::engine::event::Event;
use crate::engine::state::load;
use crate::host::{Cmd, LocalHost};
use crate::lab::Lab;
use crate::plan::{Check, Facts, HostRole, Level, Resource, Stage, Step, StepCtx};
use async_trait::async_trait;
use std::path::PathBuf;
use tokio::sync::mpsc;

#[path = "runner_tests_unverified.rs"]
mod unverified;

/// Writes `content` to `path`; done when the file holds exactly that.
struct WriteFile {
    id: &'static str,
    path: PathBuf,
    content: &'static str,
}

#[async_trait]
impl Step for WriteFile {
    fn id(&self) -> &str {
        self.id
    }
    fn title(&self) -> String {
        format!("write {}", self.path.display())
    }
    fn resources(&self) -> Vec<Resource> {
        vec![Resource::File {
            host: HostRole::Virthost,
            path: self.path.clone(),
            level: Level::Virthost,
        }]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let h = ctx.host(HostRole::Virthost);
        if !h.exists(&self.path).await? {
            return Ok(Check::todo(format!("{} missing", self.path.display())));
        }
        let got = h.read_file(&self.path).await?;
        Ok(if got == self.content.as_bytes() {
            Check::done("content matches")
        } else {
            Check::todo("content differs")
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        ctx.run_ok(
            HostRole::Virthost,
            &Cmd::new(["sh", "-c", "echo writing \"$1\"", "sh", self.id]),
        )
        .await?;
        ctx.host(HostRole::Virthost)
            .write_file(&self.path, self.content.as_bytes(), 0o644)
            .await?;
        Ok(())
    }
}

/// Runs a command that must succeed; never "done" unless `marker` exists.
struct RunCmd {
    id: &'static str,
    argv: Vec<String>,
    marker: PathBuf,
}

#[async_trait]
impl Step for RunCmd {
    fn id(&self) -> &str {
        self.id
    }
    fn title(&self) -> String {
        format!("run {}", self.argv.join(" "))
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        Ok(
            if ctx.host(HostRole::Virthost).exists(&self.marker).await? {
                Check::done("marker present")
            } else {
                Check::todo("marker absent")
            },
        )
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        ctx.run_ok(HostRole::Virthost, &Cmd::new(self.argv.clone()))
            .await?;
        Ok(())
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    ctx: Arc<Ctx>,
    store: Arc<StateStore>,
    rx: mpsc::UnboundedReceiver<Event>,
}

impl Fixture {
    /// One run of every stage of `plan`, uncancelled.
    async fn run_all(&self, plan: &Plan) -> RunSummary {
        run(
            plan,
            self.ctx.clone(),
            self.store.clone(),
            &Selection::All,
            &Cancel::new(),
        )
        .await
        .unwrap()
    }
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let host: Arc<dyn crate::host::Host> = Arc::new(LocalHost::new());
    let store = Arc::new(StateStore::open(dir.path().join("state.yaml")).unwrap());
    let ctx = Arc::new(Ctx {
        lab: Lab {
            name: "runnertest".into(),
            ..Lab::default()
        },
        facts: Facts::decide(&Lab::default(), dir.path()),
        workspace: dir.path().to_path_buf(),
        virthost: host.clone(),
        undercloud: host,
        libvirt: crate::virt::Libvirt::connect("test:///default")
            .await
            .unwrap(),
        events: tx,
        store: store.clone(),
        allow_restart: Default::default(),
    });
    Fixture {
        dir,
        ctx,
        store,
        rx,
    }
}

fn drain(rx: &mut mpsc::UnboundedReceiver<Event>) -> Vec<Event> {
    let mut v = Vec::new();
    while let Ok(e) = rx.try_recv() {
        v.push(e);
    }
    v
}

fn file(dir: &std::path::Path, id: &'static str) -> WriteFile {
    WriteFile {
        id,
        path: dir.join(format!("{id}.txt")),
        content: "hello\n",
    }
}

#[tokio::test]
async fn runs_everything_then_a_second_run_changes_nothing() {
    let mut f = fixture().await;
    let d = f.dir.path().to_path_buf();
    let plan = vec![
        Stage::new("one", "One", &[])
            .then(file(&d, "a"))
            .then(file(&d, "b")),
        Stage::new("two", "Two", &["one"]).then(file(&d, "c")),
    ];
    let s = f.run_all(&plan).await;
    assert!(s.ok, "{s:?}");
    assert_eq!(
        s.stages,
        vec![
            ("one".into(), StageOutcome::Done),
            ("two".into(), StageOutcome::Done)
        ]
    );
    for id in ["a", "b", "c"] {
        assert_eq!(
            std::fs::read_to_string(d.join(format!("{id}.txt"))).unwrap(),
            "hello\n"
        );
    }
    let ev = drain(&mut f.rx);
    let finished = ev
        .iter()
        .filter(|e| matches!(e, Event::StepFinished { .. }))
        .count();
    assert_eq!(finished, 3);
    // The command's output arrived as a log line of its step.
    assert!(ev.iter().any(|e| matches!(e,
        Event::Log { step: Some(s), line, .. } if s == "b" && line == "writing b")));
    assert_eq!(
        ev.last(),
        Some(&Event::RunFinished {
            ok: true,
            cancelled: false
        })
    );
    let st = load(f.store.path()).unwrap();
    assert_eq!(st.resources.len(), 3);
    assert!(
        st.resources
            .iter()
            .all(|r| r.status == ResourceStatus::Created)
    );

    // Second run: every check says done, nothing is applied.
    let s = f.run_all(&plan).await;
    assert!(s.ok);
    let ev = drain(&mut f.rx);
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, Event::StepSkipped { .. }))
            .count(),
        3
    );
    assert!(!ev.iter().any(|e| matches!(e, Event::StepFinished { .. })));
}

#[tokio::test]
async fn a_failure_blocks_its_dependants_but_not_independent_work() {
    let mut f = fixture().await;
    let d = f.dir.path().to_path_buf();
    let bad = RunCmd {
        id: "bad",
        argv: vec!["sh".into(), "-c".into(), "echo broken >&2; exit 3".into()],
        marker: d.join("never"),
    };
    let plan = vec![
        Stage::new("one", "One", &[])
            .then(bad)
            .then(file(&d, "after-bad"))
            .with_after(file(&d, "independent"), &[]),
        Stage::new("two", "Two", &["one"]).then(file(&d, "later")),
    ];
    let s = f.run_all(&plan).await;
    assert!(!s.ok);
    assert_eq!(
        s.stages,
        vec![
            ("one".into(), StageOutcome::Failed),
            ("two".into(), StageOutcome::Skipped)
        ]
    );
    assert!(d.join("independent.txt").exists());
    assert!(!d.join("after-bad.txt").exists());
    assert!(!d.join("later.txt").exists());
    let ev = drain(&mut f.rx);
    let err = ev
        .iter()
        .find_map(|e| match e {
            Event::StepFailed { step, error, .. } if step == "bad" => Some(error.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        err.contains("exited with 3") && err.contains("broken"),
        "{err}"
    );
    // Blocked steps name the failed step behind them (never "already done").
    for blocked in ["after-bad", "later"] {
        assert!(
            ev.iter().any(|e| matches!(e,
                Event::StepBlocked { step, failed, .. } if step == blocked && failed == "one/bad")),
            "{blocked} not reported blocked by one/bad: {ev:?}"
        );
    }
    assert!(!ev.iter().any(|e| matches!(e, Event::StepSkipped { .. })));
    assert_eq!(
        crate::run::print::text(&Event::StepBlocked {
            stage: "two".into(),
            step: "later".into(),
            failed: "one/bad".into()
        }),
        "[two] later: not run: one/bad failed"
    );
    let st = load(f.store.path()).unwrap();
    assert_eq!(
        st.steps["one/bad"].status,
        crate::engine::state::StepStatus::Failed
    );
    assert_eq!(st.last_run.unwrap().ok, Some(false));
}

#[tokio::test]
async fn an_apply_the_check_disagrees_with_is_a_failure() {
    let f = fixture().await;
    let d = f.dir.path().to_path_buf();
    // Succeeds but never creates its marker.
    let liar = RunCmd {
        id: "liar",
        argv: vec!["true".into()],
        marker: d.join("marker"),
    };
    let plan = vec![Stage::new("one", "One", &[]).then(liar)];
    let s = f.run_all(&plan).await;
    assert!(!s.ok);
    let st = load(f.store.path()).unwrap();
    let err = st.steps["one/liar"].error.clone().unwrap();
    assert!(err.contains("check still says: marker absent"), "{err}");
}

#[tokio::test]
async fn only_and_from_select_stages() {
    let f = fixture().await;
    let d = f.dir.path().to_path_buf();
    let plan = vec![
        Stage::new("one", "One", &[]).then(file(&d, "a")),
        Stage::new("two", "Two", &["one"]).then(file(&d, "b")),
        Stage::new("three", "Three", &["two"]).then(file(&d, "c")),
    ];
    let s = run(
        &plan,
        f.ctx.clone(),
        f.store.clone(),
        &Selection::Only("two".into()),
        &Cancel::new(),
    )
    .await
    .unwrap();
    assert!(s.ok);
    assert_eq!(s.stages, vec![("two".into(), StageOutcome::Done)]);
    assert!(!d.join("a.txt").exists() && d.join("b.txt").exists() && !d.join("c.txt").exists());
    let s = run(
        &plan,
        f.ctx.clone(),
        f.store.clone(),
        &Selection::From("two".into()),
        &Cancel::new(),
    )
    .await
    .unwrap();
    assert!(s.ok);
    assert_eq!(s.stages.len(), 2);
    assert!(!d.join("a.txt").exists() && d.join("c.txt").exists());
    let e = run(
        &plan,
        f.ctx.clone(),
        f.store.clone(),
        &Selection::From("nope".into()),
        &Cancel::new(),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("known: one, two, three"), "{e}");
}

#[tokio::test]
async fn cancelling_stops_a_running_command_and_records_it() {
    let mut f = fixture().await;
    let d = f.dir.path().to_path_buf();
    let slow = RunCmd {
        id: "slow",
        argv: vec![
            "sh".into(),
            "-c".into(),
            "echo started; exec sleep 600".into(),
        ],
        marker: d.join("never"),
    };
    let plan = vec![
        Stage::new("one", "One", &[])
            .then(slow)
            .then(file(&d, "next")),
        Stage::new("two", "Two", &["one"]).then(file(&d, "later")),
    ];
    let cancel = Cancel::new();
    let (ctx, store, c2) = (f.ctx.clone(), f.store.clone(), cancel.clone());
    let task = tokio::spawn(async move { run(&plan, ctx, store, &Selection::All, &c2).await });
    // Cancel once the command has really started (its first output line arrived).
    loop {
        match f.rx.recv().await {
            Some(Event::Log { line, .. }) if line == "started" => break,
            Some(_) => {}
            None => panic!("event channel closed before the step started"),
        }
    }
    cancel.cancel();
    let s = task.await.unwrap().unwrap();
    assert!(s.cancelled && !s.ok);
    assert!(!d.join("next.txt").exists());
    let st = load(f.store.path()).unwrap();
    assert_eq!(st.steps["one/slow"].error.as_deref(), Some("cancelled"));
    assert!(st.last_run.unwrap().cancelled);
    let ev = drain(&mut f.rx);
    assert_eq!(
        ev.last(),
        Some(&Event::RunFinished {
            ok: false,
            cancelled: true
        })
    );
    assert!(ev.iter().any(|e| matches!(e,
        Event::StageFinished { stage, outcome: StageOutcome::Skipped, .. } if stage == "two")));
}

#[tokio::test]
async fn a_resource_left_creating_by_a_killed_run_is_marked_created_when_found_done() {
    let f = fixture().await;
    let d = f.dir.path().to_path_buf();
    let step = file(&d, "a");
    let r = step.resources()[0].clone();
    // A run killed after apply, before its record: the file exists, the state says creating.
    std::fs::write(d.join("a.txt"), "hello\n").unwrap();
    f.store
        .update(|s| s.record_resource(&r, ResourceStatus::Creating, "one/a"))
        .unwrap();
    // A resource that existed before labwarp (not in the state file) stays unclaimed.
    std::fs::write(d.join("b.txt"), "hello\n").unwrap();
    let plan = vec![Stage::new("one", "One", &[]).then(step).then(file(&d, "b"))];
    let s = f.run_all(&plan).await;
    assert!(s.ok);
    let st = load(f.store.path()).unwrap();
    assert_eq!(st.resources.len(), 1, "{:?}", st.resources);
    assert_eq!(st.resources[0].resource, r);
    assert_eq!(st.resources[0].status, ResourceStatus::Created);
}

/// A check whose first `drops` calls lose their channel (as a small sshd does), the
/// next one seeing `marker`. Counts its calls.
struct DroppedOnce {
    drops: u32,
    calls: std::sync::atomic::AtomicU32,
    marker: PathBuf,
}

#[async_trait]
impl Step for DroppedOnce {
    fn id(&self) -> &str {
        "dropped"
    }
    fn title(&self) -> String {
        "a check whose channel is dropped".into()
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n < self.drops {
            let lost = crate::host::HostError::Lost {
                host: "undercloud".into(),
                reason: "the channel ended without an exit status".into(),
            };
            return Err(anyhow::Error::from(lost).context("checking the marker"));
        }
        Ok(
            if ctx.host(HostRole::Virthost).exists(&self.marker).await? {
                Check::done("marker present")
            } else {
                Check::todo("marker missing")
            },
        )
    }
    async fn apply(&self, _ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        std::fs::write(&self.marker, "x")?;
        Ok(())
    }
}

#[tokio::test]
async fn a_check_that_lost_its_channel_is_checked_again_and_a_third_loss_fails() {
    for (drops, ok) in [(1, true), (2, true), (3, false)] {
        let mut f = fixture().await;
        let step = DroppedOnce {
            drops,
            calls: Default::default(),
            marker: f.dir.path().join("marker"),
        };
        let plan = vec![Stage::new("one", "One", &[]).then(step)];
        let s = f.run_all(&plan).await;
        assert_eq!(s.ok, ok, "{drops} drops");
        assert_eq!(f.dir.path().join("marker").exists(), ok, "{drops} drops");
        let ev = drain(&mut f.rx);
        let again = ev
            .iter()
            .filter(|e| matches!(e, Event::Log { line, .. } if line.contains("checking again")))
            .count();
        assert_eq!(again, drops.min(2) as usize, "{drops} drops: {ev:?}");
        if !ok {
            assert!(ev.iter().any(|e| matches!(e,
                Event::StepFailed { error, .. } if error.contains("connection lost under a command"))), "{ev:?}");
        }
    }
}
