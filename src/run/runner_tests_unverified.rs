//! The runner's UNVERIFIED outcome: a check that cannot be carried out, and an apply whose
//! result its check can only call unverified (split from runner_tests.rs).

use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// A check that cannot be carried out here.
struct CannotCheck;

#[async_trait]
impl Step for CannotCheck {
    fn id(&self) -> &str {
        "probe"
    }
    fn title(&self) -> String {
        "a probe of something that does not run here".into()
    }
    async fn check(&self, _ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        Ok(Check::unverified("nothing runs where it would look"))
    }
    async fn apply(&self, _ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        panic!("an unverified step is never applied")
    }
}

#[tokio::test]
async fn an_unverified_check_is_counted_apart_never_as_done() {
    let mut f = fixture().await;
    let d = f.dir.path().to_path_buf();
    let plan = vec![
        Stage::new("one", "One", &[])
            .then(CannotCheck)
            .then(file(&d, "after")),
    ];
    for round in 0..2 {
        let s = f.run_all(&plan).await;
        // Nothing found wrong: the run is ok, but says so apart, every time (rerun re-checks).
        assert!(s.ok, "round {round}");
        assert_eq!(s.unverified, vec!["one/probe".to_string()], "round {round}");
        assert_eq!(
            s.stages,
            vec![("one".to_string(), StageOutcome::Unverified)]
        );
        let ev = drain(&mut f.rx);
        assert!(ev.iter().any(|e| matches!(e,
            Event::StepUnverified { step, reason, .. } if step == "probe" && reason.contains("nothing runs"))));
        assert!(
            !ev.iter().any(|e| matches!(e,
            Event::StepFinished { step, .. } | Event::StepSkipped { step, .. } if step == "probe"))
        );
        let st = load(f.store.path()).unwrap();
        assert_eq!(st.steps["one/probe"].status, StepStatus::Unverified);
        // Its dependant still ran: a probe is not a precondition.
        assert!(d.join("after.txt").exists());
    }
    assert!(
        crate::run::print::text(&Event::StepUnverified {
            stage: "one".into(),
            step: "probe".into(),
            reason: "why".into(),
        })
        .contains("probe: UNVERIFIED: why")
    );
}

/// Makes a file, which its check can then only call unverified (as a download with no md5
/// to check it against). Counts its applies.
struct MadeUnverifiable {
    path: PathBuf,
    applies: Arc<AtomicU32>,
}

#[async_trait]
impl Step for MadeUnverifiable {
    fn id(&self) -> &str {
        "fetch"
    }
    fn title(&self) -> String {
        "fetch something with no sum to check".into()
    }
    fn resources(&self) -> Vec<Resource> {
        vec![Resource::File {
            host: HostRole::Virthost,
            path: self.path.clone(),
            level: Level::Virthost,
        }]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        Ok(if ctx.host(HostRole::Virthost).exists(&self.path).await? {
            Check::unverified("present, but no sum says it is the right one")
        } else {
            Check::todo("missing")
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        self.applies.fetch_add(1, Ordering::SeqCst);
        ctx.host(HostRole::Virthost)
            .write_file(&self.path, b"bytes\n", 0o644)
            .await?;
        Ok(())
    }
}

#[tokio::test]
async fn an_apply_whose_result_cannot_be_verified_is_unverified_and_its_resources_the_labs() {
    let mut f = fixture().await;
    let d = f.dir.path().to_path_buf();
    let applies = Arc::new(AtomicU32::new(0));
    let step = MadeUnverifiable {
        path: d.join("fetched"),
        applies: applies.clone(),
    };
    let made = step.resources()[0].clone();
    let plan = vec![
        Stage::new("one", "One", &[])
            .then(step)
            .then(file(&d, "after")),
    ];
    for round in 0..2 {
        let s = f.run_all(&plan).await;
        // Not a failure ("applied, but the check still says" was), not done either.
        assert!(s.ok, "round {round}");
        assert_eq!(s.unverified, vec!["one/fetch".to_string()], "round {round}");
        let ev = drain(&mut f.rx);
        assert!(ev.iter().any(|e| matches!(e,
            Event::StepUnverified { step, reason, .. } if step == "fetch" && reason.contains("no sum"))));
        let st = load(f.store.path()).unwrap();
        assert_eq!(st.steps["one/fetch"].status, StepStatus::Unverified);
        // What the apply made is the lab's (clean removes it).
        let made: Vec<_> = st.resources.iter().filter(|e| e.resource == made).collect();
        assert_eq!(made.len(), 1, "{:?}", st.resources);
        assert_eq!(made[0].status, ResourceStatus::Created);
        assert!(d.join("after.txt").exists());
    }
    // Applied once: the second round found it present and only could not verify it.
    assert_eq!(applies.load(Ordering::SeqCst), 1);
}
