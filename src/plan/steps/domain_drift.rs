//! An existing domain's drift from its rendered definition (vCPUs and memory, NICs) and how
//! it is applied: sizes into the persistent definition, NICs attached or detached, a restart
//! only when the user allowed it.

use super::libvirt::{Domain, domain_row};
use crate::plan::drift;
use crate::plan::{Drift, DriftCost, StepCtx};

impl Domain {
    /// vCPUs and memory against the wanted ones: the persistent definition's, and the
    /// running VM's when it runs (a size written to the definition but not yet booted with
    /// still waits for a restart); then the NICs of the persistent definition.
    /// Also whether all that is left is a restart (the definition is already as wanted).
    pub(super) async fn drift(
        &self,
        ctx: &StepCtx<'_>,
        running: bool,
    ) -> anyhow::Result<(Vec<Drift>, bool)> {
        let lv = &ctx.ctx.libvirt;
        let config = lv.domain_xml_inactive(&self.name).await?;
        let mut out = Vec::new();
        let mut definition_as_wanted = true;
        if let Some((want_cpus, want_mem)) = self.wanted_sizes() {
            let sizes_of = |xml: &str| {
                crate::virt::xml::parse(xml)
                    .ok()
                    .and_then(|t| crate::virt::xml::sizes(&t))
            };
            let (seen, cost) = if running {
                let booted = sizes_of(&lv.domain_xml(&self.name).await?);
                let persistent = sizes_of(&config);
                definition_as_wanted = persistent == Some((want_cpus, want_mem));
                // What the VM runs with, unless its definition differs even more.
                let seen = match (booted, persistent) {
                    (Some(b), Some(p)) if b == (want_cpus, want_mem) => Some(p),
                    (b, p) => b.or(p),
                };
                (seen, DriftCost::NextBoot)
            } else {
                (sizes_of(&config), DriftCost::Live)
            };
            if let Some((cpus, mem)) = seen {
                if cpus != want_cpus {
                    out.push(Drift::new("vcpus", cpus, want_cpus, cost));
                }
                if mem != want_mem {
                    out.push(Drift::new("memory_mib", mem, want_mem, cost));
                }
            }
        }
        let nics = drift::nics::changes(&self.xml, &config)
            .map_err(|e| anyhow::anyhow!("domain {}: cannot read its XML: {e}", self.name))?;
        out.extend(nics.iter().map(drift::nics::NicChange::drift));
        let restart_only = running && definition_as_wanted && nics.is_empty();
        Ok((out, restart_only))
    }

    /// Applies the drift of an existing domain: sizes into its definition, NICs attached
    /// or detached, and a restart when one is needed and the user allowed it.
    pub(super) async fn apply_drift(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let lv = &ctx.ctx.libvirt;
        let running = domain_row(lv, &self.name)
            .await?
            .is_some_and(|d| d.state == "running");
        let (drift, _) = self.drift(ctx, running).await?;
        if drift.is_empty() {
            return Ok(());
        }
        if let Some(e) = drift::refusal(&format!("domain {}", self.name), &drift) {
            return Err(e);
        }
        if let Some((vcpus, mem)) = self.wanted_sizes() {
            lv.resize_persistent(&self.name, vcpus, mem).await?;
        }
        let config = lv.domain_xml_inactive(&self.name).await?;
        let nics = drift::nics::changes(&self.xml, &config)
            .map_err(|e| anyhow::anyhow!("domain {}: cannot read its XML: {e}", self.name))?;
        for c in &nics {
            let r = match c {
                drift::nics::NicChange::Attach { .. } => {
                    lv.attach_device(&self.name, &c.device_xml()).await
                }
                drift::nics::NicChange::Detach { .. } => {
                    lv.detach_device(&self.name, &c.device_xml()).await
                }
            };
            match r {
                // A driver that cannot (the test driver): the definition is edited instead.
                Err(e) if e.code() == Some(virt::error::ErrorNumber::NoSupport) => {
                    let xml = lv.domain_xml_inactive(&self.name).await?;
                    let new = drift::nics::edited_definition(&xml, c).map_err(|e| {
                        anyhow::anyhow!("domain {}: cannot edit its NICs: {e}", self.name)
                    })?;
                    lv.define_domain(&new).await?;
                    ctx.info(format!(
                        "domain {}: {} written to its definition ({} cannot change devices in place)",
                        self.name,
                        c.drift(),
                        lv.uri()
                    ));
                }
                r => r?,
            }
        }
        for d in &drift {
            ctx.info(format!("domain {}: {d}", self.name));
        }
        if running && drift::needs_restart(&drift) {
            if ctx.ctx.restart_allowed() {
                ctx.info(format!(
                    "domain {}: restarting it to apply (allowed by the user)",
                    self.name
                ));
                lv.shutdown(&self.name, RESTART_GRACE).await?;
                lv.start(&self.name).await?;
                ctx.info(format!("domain {} restarted", self.name));
            } else {
                // Never restarted behind the user's back: they choose when.
                ctx.info(format!(
                    "domain {}: restart refused (not allowed): it runs with its old size until it restarts; `labwarp run --restart` restarts it, or shut it down when convenient (`virsh shutdown {}`) and `labwarp run` starts it with the new one",
                    self.name, self.name
                ));
            }
        }
        Ok(())
    }
}

/// How long a guest gets to shut down cleanly before a restart powers it off.
const RESTART_GRACE: std::time::Duration = std::time::Duration::from_secs(60);
