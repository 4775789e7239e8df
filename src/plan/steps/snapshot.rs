//! `undercloud-install/snapshot`: the lab saved as a snapshot once the undercloud is
//! installed (lab.yaml `snapshots.after_undercloud_install`, default
//! `undercloud-installed`), for `labwarp run --respin overcloud`. Planned only for a real
//! undercloud VM; `labwarp run --no-snapshot` or an empty name leaves it out.

use crate::plan::{Check, Step, StepCtx};
use async_trait::async_trait;

pub struct RespinSnapshot {
    pub name: String,
}

#[async_trait]
impl Step for RespinSnapshot {
    fn id(&self) -> &str {
        "snapshot"
    }

    fn title(&self) -> String {
        format!(
            "snapshot {} of the lab (for `labwarp run --respin overcloud`)",
            self.name
        )
    }

    async fn check(&self, sc: &StepCtx<'_>) -> anyhow::Result<Check> {
        Ok(
            match crate::plan::snapshot::list(sc.ctx)
                .await?
                .iter()
                .find(|s| s.name == self.name)
            {
                Some(s) => Check::done(format!(
                    "snapshot {} exists ({} VM(s), taken {} s ago)",
                    s.name,
                    s.vms.len(),
                    s.age_secs
                )),
                None => Check::todo(format!("no snapshot {} yet", self.name)),
            },
        )
    }

    async fn apply(&self, sc: &StepCtx<'_>) -> anyhow::Result<()> {
        let say = |l: String| sc.info(l);
        let info = crate::plan::snapshot::save(sc.ctx, &self.name, &say).await?;
        sc.info(format!(
            "snapshot {} saved: {} VM(s), {} bytes at {}",
            info.name,
            info.vms.len(),
            info.size_bytes,
            info.path
        ));
        Ok(())
    }
}
