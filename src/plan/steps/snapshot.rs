//! `undercloud-install/snapshot`: the lab saved as a snapshot once the undercloud is
//! installed (lab.yaml `snapshots.after_undercloud_install`, default
//! `undercloud-installed`), for `labwarp run --respin overcloud`. Planned only for a real
//! undercloud VM; `labwarp run --no-snapshot` or an empty name leaves it out.
//!
//! The snapshot's manifest records the md5 of the undercloud.conf installed from. When the
//! wanted file changes, the install runs again (install_record.rs) and this step takes the
//! snapshot again: a respin must never bring back an undercloud of the old settings.

use super::install_record::{md5_hex, short};
use crate::plan::{Check, Step, StepCtx};
use async_trait::async_trait;

pub struct RespinSnapshot {
    pub name: String,
    /// The undercloud.conf the install runs from (the same bytes as its PutFile).
    pub undercloud_conf: Vec<u8>,
}

impl RespinSnapshot {
    fn wanted_md5(&self) -> String {
        md5_hex(&self.undercloud_conf)
    }
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
        let want = self.wanted_md5();
        let Some(m) = crate::plan::snapshot::manifest(sc.ctx, &self.name).await? else {
            return Ok(Check::todo(format!("no snapshot {} yet", self.name)));
        };
        let age = crate::engine::state::now().saturating_sub(m.created);
        Ok(match m.undercloud_conf_md5.as_deref() {
            Some(had) if had == want => Check::done(format!(
                "snapshot {} exists ({} VM(s), taken {age} s ago, of the undercloud installed from this undercloud.conf)",
                m.name,
                m.vms.len()
            )),
            Some(had) => Check::todo(format!(
                "snapshot {} holds the undercloud installed from another undercloud.conf (md5 {} there, {} wanted): taken again",
                m.name,
                short(had),
                short(&want)
            )),
            // Saved by hand (`labwarp snapshot save`) or by a labwarp that did not record
            // it: which undercloud it holds cannot be told, and a respin from it could bring
            // back old settings, so it is taken again from the undercloud installed now.
            None => Check::todo(format!(
                "snapshot {} exists but does not record which undercloud.conf its undercloud was installed from (saved by hand or by an older labwarp): taken again from this install",
                m.name
            )),
        })
    }

    async fn apply(&self, sc: &StepCtx<'_>) -> anyhow::Result<()> {
        let say = |l: String| sc.info(l);
        // A stale one (another undercloud.conf) goes first; a run killed between the two
        // finds no snapshot and takes it.
        if crate::plan::snapshot::manifest(sc.ctx, &self.name)
            .await?
            .is_some()
        {
            crate::plan::snapshot::delete(sc.ctx, &self.name).await?;
            sc.info(format!(
                "snapshot {} of the previous install deleted",
                self.name
            ));
        }
        let info =
            crate::plan::snapshot::save_after_install(sc.ctx, &self.name, &self.wanted_md5(), &say)
                .await?;
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
