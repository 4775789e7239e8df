//! The undercloud-prep stage's last step: the container images' `ContainerImagePrepare`
//! for the lab's release, after TripleO's own generator has run.

use super::openstack::OpenstackCli;
use super::undercloud_prep::TRIPLEOCLIENT;
use crate::lab::release::Release;
use crate::plan::{Check, HostRole, Level, Resource, Step, StepCtx};
use async_trait::async_trait;
use std::path::PathBuf;

/// `containers-prepare-parameter.yaml`: the release's `ContainerImagePrepare` (namespace and
/// tag from labwarp's release table), for the undercloud install (`container_images_file`)
/// and the deploy (`-e`). TripleO's own generator (`openstack tripleo container image
/// prepare default`) runs first: it proves the installed client works, and what it defaults
/// to is compared with the release's (a client from another release's repos is named).
pub struct ContainerPrepare {
    pub cli: OpenstackCli,
    pub release: &'static Release,
    /// labwarp's file (the one writer of it).
    pub path: PathBuf,
    pub content: String,
}

impl ContainerPrepare {
    /// Where TripleO's generator writes its defaults.
    pub fn defaults(&self) -> PathBuf {
        self.cli.home.join("containers-prepare-default.yaml")
    }
    fn argv(&self) -> Vec<String> {
        vec![
            "tripleo".into(),
            "container".into(),
            "image".into(),
            "prepare".into(),
            "default".into(),
            "--local-push-destination".into(),
            "--output-env-file".into(),
            self.defaults().to_string_lossy().into_owned(),
        ]
    }
}

/// `(namespace, tag)` of the first `ContainerImagePrepare` entry of an environment file.
pub fn prepare_set(yaml: &str) -> Option<(String, String)> {
    let v: serde_yaml::Value = serde_yaml::from_str(yaml).ok()?;
    let set = v
        .get("parameter_defaults")?
        .get("ContainerImagePrepare")?
        .get(0)?
        .get("set")?;
    Some((
        set.get("namespace")?.as_str()?.to_string(),
        set.get("tag")?.as_str()?.to_string(),
    ))
}

#[async_trait]
impl Step for ContainerPrepare {
    fn id(&self) -> &str {
        "container-prepare"
    }
    fn title(&self) -> String {
        format!(
            "containers-prepare-parameter.yaml: {} images ({})",
            self.release.name, self.release.namespace
        )
    }
    fn resources(&self) -> Vec<Resource> {
        [self.path.clone(), self.defaults()]
            .into_iter()
            .map(|path| Resource::File {
                host: HostRole::Undercloud,
                path,
                level: Level::Nodes,
            })
            .collect()
    }
    fn openstack_argv(&self) -> Vec<Vec<String>> {
        vec![self.argv()]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let h = ctx.host(HostRole::Undercloud);
        if !h.exists(&self.defaults()).await? {
            return Ok(Check::todo(format!(
                "{} missing (TripleO's generator has not run)",
                self.defaults().display()
            )));
        }
        if !h.exists(&self.path).await? {
            return Ok(Check::todo(format!("{} missing", self.path.display())));
        }
        Ok(
            if h.read_file(&self.path).await? == self.content.as_bytes() {
                Check::done(format!(
                    "{} up to date ({}:{})",
                    self.path.display(),
                    self.release.namespace,
                    crate::lab::release::PROMOTION
                ))
            } else {
                Check::todo(format!("{} out of date", self.path.display()))
            },
        )
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        // No credentials: it asks no service (auth_required = False in tripleoclient).
        let cmd = self.cli.cmd_before_install(&self.argv());
        ctx.run_ok(HostRole::Undercloud, &cmd).await?;
        let h = ctx.host(HostRole::Undercloud);
        let defaults = String::from_utf8_lossy(&h.read_file(&self.defaults()).await?).into_owned();
        match prepare_set(&defaults) {
            Some((ns, tag)) if ns == self.release.namespace => ctx.info(format!(
                "TripleO's generator defaults to {ns}:{tag}, the namespace of {}",
                self.release.name
            )),
            Some((ns, tag)) => ctx.info(format!(
                "note: the installed tripleoclient defaults to {ns}:{tag}, not {} (tripleo.release {}): labwarp's file pins the release's; if the repos are another release's, fix tripleo.release",
                self.release.namespace, self.release.name
            )),
            None => anyhow::bail!(
                "`openstack {}` wrote no ContainerImagePrepare set to {}: is {TRIPLEOCLIENT} installed from the release's repos? (the undercloud-prep stage's tripleoclient step)",
                self.argv().join(" "),
                self.defaults().display()
            ),
        }
        h.write_file(&self.path, self.content.as_bytes(), 0o644)
            .await?;
        ctx.info(format!("wrote {}", self.path.display()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generators_set_is_read_from_its_yaml() {
        let y = "# Generated\nparameter_defaults:\n  ContainerImagePrepare:\n  - push_destination: true\n    set:\n      namespace: quay.io/tripleozedcentos9\n      tag: current-tripleo\n";
        assert_eq!(
            prepare_set(y),
            Some(("quay.io/tripleozedcentos9".into(), "current-tripleo".into()))
        );
        assert_eq!(prepare_set("parameter_defaults: {}\n"), None);
        assert_eq!(prepare_set("{{{"), None);
    }
}
