//! Steps that drive `openstack` on the undercloud (TripleO's, or labwarp's stand-in).

use crate::engine::event::{ContainerRow, Event};
use crate::host::Cmd;
use crate::plan::job::{Job, jobs_dir};
use crate::plan::{Check, Ctx, Facts, HostRole, Plan, Resource, Step, StepCtx};
use crate::workspace::owner::{CONTAINER_ID_LABEL, CONTAINER_LABEL};
use async_trait::async_trait;
use std::path::PathBuf;

/// The stand-in script, shipped inside the binary so it can be uploaded anywhere.
pub const STANDIN: &str = include_str!("../../../scripts/standin/openstack");

/// The cloud of the stack user's `clouds.yaml` that the undercloud install writes (and
/// `stackrc` exports as `OS_CLOUD`).
pub const UNDERCLOUD_CLOUD: &str = "undercloud";

/// The containers the undercloud install must leave running (TripleO's names).
pub const UNDERCLOUD_CONTAINERS: &[&str] = &[
    "mysql",
    "rabbitmq",
    "memcached",
    "haproxy",
    "keystone",
    "ironic_api",
    "ironic_conductor",
    "ironic_inspector",
    "ironic_pxe_http",
    "glance_api",
];

/// Words as owned strings (an argv).
pub(crate) fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

/// `openstack undercloud install`.
pub fn undercloud_install_argv() -> Vec<String> {
    words(&["undercloud", "install"])
}

/// `openstack endpoint list -f value -c "Service Name"`: the undercloud answers with the
/// credentials of its `stackrc` (the install's check).
pub fn endpoint_list_argv() -> Vec<String> {
    words(&["endpoint", "list", "-f", "value", "-c", "Service Name"])
}

/// Every `openstack` command line the plan's steps issue, in plan order, with the step
/// that issues it (`stage/step`): what the TripleO contract test parses.
pub fn plan_argv(plan: &Plan) -> Vec<(String, Vec<String>)> {
    plan.iter()
        .flat_map(|stage| {
            stage.steps.iter().flat_map(move |p| {
                p.step
                    .openstack_argv()
                    .into_iter()
                    .map(move |argv| (format!("{}/{}", stage.id, p.step.id()), argv))
            })
        })
        .collect()
}

/// How to call `openstack` on the undercloud: argv prefix (environment + program).
#[derive(Debug, Clone)]
pub struct OpenstackCli {
    pub lab: String,
    /// The lab's identity (`plan::owner`): the stand-in labels its containers with it.
    pub lab_id: String,
    pub home: PathBuf,
    pub standin: bool,
    /// Prefix of container names (sandbox labs share this machine's podman).
    pub container_prefix: String,
    /// Where the containers run (the undercloud, or the hypervisor for an undercloud
    /// without podman: see [`Facts::container_host`]).
    pub container_host: HostRole,
    /// The stand-in's root directory, where the undercloud-prep stage wrote the system
    /// files the stand-in reads (its release, from the repos): see `tripleo_stages::prep_root`.
    pub standin_root: PathBuf,
}

impl OpenstackCli {
    pub fn new(lab: &str, facts: &Facts) -> Self {
        OpenstackCli {
            lab: lab.to_string(),
            lab_id: facts.lab_id.clone(),
            home: facts.undercloud_home.clone(),
            standin: facts.standin_openstack,
            container_prefix: facts.container_prefix.clone(),
            container_host: facts.container_host,
            standin_root: crate::plan::tripleo_stages::prep_root(facts),
        }
    }

    /// A long `openstack` command's detached job in the stack user's home.
    pub fn job(&self, name: &str) -> Job {
        Job::new(jobs_dir(&self.home), name)
    }

    /// Runs `cmd` (an `openstack` command line from [`Self::cmd`]) on the undercloud as the
    /// detached job `name` (the step's id), its output streamed; a job still running from an
    /// earlier labwarp is followed to its end instead of started again (see [`Job::run`]).
    pub async fn run_job(&self, ctx: &StepCtx<'_>, name: &str, cmd: &Cmd) -> anyhow::Result<()> {
        self.job(name).run(ctx, HostRole::Undercloud, cmd).await
    }

    pub fn job_resource(&self, name: &str) -> Resource {
        let job = self.job(name);
        Resource::Job {
            host: HostRole::Undercloud,
            dir: job.dir,
            name: job.name,
        }
    }

    pub fn standin_path(&self) -> PathBuf {
        self.home.join("bin").join("openstack")
    }

    /// `openstack ARGS` with the undercloud's credentials (`OS_CLOUD=undercloud`, the cloud
    /// the undercloud install writes into the stack user's `clouds.yaml` and its `stackrc`
    /// exports): every command after the install. Named explicitly, so no command depends
    /// on being the only cloud in clouds.yaml (openstacksdk picks a sole cloud only when
    /// `OS_CLOUD` is unset; the deploy adds `overcloud`).
    pub fn cmd<S: AsRef<str>>(&self, args: &[S]) -> Cmd {
        self.cmd_as(Some(UNDERCLOUD_CLOUD), args)
    }

    /// `openstack ARGS` without credentials: only `undercloud install`, which makes them.
    pub fn cmd_before_install<S: AsRef<str>>(&self, args: &[S]) -> Cmd {
        self.cmd_as(None, args)
    }

    fn cmd_as<S: AsRef<str>>(&self, cloud: Option<&str>, args: &[S]) -> Cmd {
        let program = if self.standin {
            self.standin_path().to_string_lossy().into_owned()
        } else {
            "openstack".into()
        };
        let mut argv = vec![
            "env".to_string(),
            format!("HOME={}", self.home.display()),
            format!("STANDIN_HOME={}", self.home.display()),
            format!("LABWARP_LAB={}", self.lab),
            format!("LABWARP_LAB_ID={}", self.lab_id),
            format!("STANDIN_NAME_PREFIX={}", self.container_prefix),
        ];
        if self.standin {
            argv.push(format!("STANDIN_ROOT={}", self.standin_root.display()));
        }
        if self.container_host == HostRole::Virthost {
            // The stand-in then skips its containers, saying where they run instead.
            argv.push("STANDIN_CONTAINER_HOST=the hypervisor".into());
        }
        if let Some(cloud) = cloud {
            argv.push(format!("OS_CLOUD={cloud}"));
        }
        argv.push(program);
        argv.extend(args.iter().map(|s| s.as_ref().to_string()));
        Cmd::new(argv)
    }
}

/// Sends the lab's containers on the undercloud to the front end (best effort: a listing
/// that fails only means the pane is not refreshed).
pub async fn emit_containers(ctx: &StepCtx<'_>) {
    if let Some(containers) = container_rows(ctx.ctx).await {
        ctx.ctx.emit(Event::Containers { containers });
    }
}

/// The lab's containers on the undercloud as the podman pane shows them (those labelled
/// with the lab's name and identity); `None` when podman could not be asked.
pub async fn container_rows(ctx: &Ctx) -> Option<Vec<ContainerRow>> {
    lab_containers(ctx).await.ok()
}

/// The lab's containers where they run (`Facts::container_host`), by their name and
/// identity labels: the one listing the pane, `labwarp containers` and the steps share.
pub async fn lab_containers(ctx: &Ctx) -> Result<Vec<ContainerRow>, crate::podman::PodmanError> {
    let podman = crate::podman::Podman::new(ctx.host(ctx.facts.container_host).clone());
    let owner = ctx.facts.owner(&ctx.lab.name);
    Ok(podman
        .list()
        .await?
        .into_iter()
        .filter(|c| {
            owner.is(
                c.labels.get(CONTAINER_LABEL).map(String::as_str),
                c.labels.get(CONTAINER_ID_LABEL).map(String::as_str),
            )
        })
        .map(|c| ContainerRow {
            name: c.name,
            image: c.image,
            state: c.state.as_str().to_string(),
            health: c.health.map(|h| h.as_str()).unwrap_or("").to_string(),
            uptime: c
                .uptime_secs
                .map(crate::podman::format_uptime)
                .unwrap_or_default(),
        })
        .collect())
}

/// Names of running containers carrying the lab's label on the container host.
async fn running_containers(ctx: &StepCtx<'_>, cli: &OpenstackCli) -> anyhow::Result<Vec<String>> {
    let lab = &cli.lab;
    let out = ctx
        .probe(
            cli.container_host,
            &Cmd::new([
                "podman".to_string(),
                "ps".into(),
                "--filter".into(),
                format!("label={CONTAINER_LABEL}={lab}"),
                "--filter".into(),
                format!("label={CONTAINER_ID_LABEL}={}", cli.lab_id),
                "--format".into(),
                "{{.Names}}".into(),
            ])
            .sudo(),
        )
        .await?;
    Ok(out
        .stdout_str()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

/// `openstack undercloud install`, output streamed; done when stackrc exists, `openstack
/// endpoint list` answers with the undercloud's credentials, TripleO's core containers run
/// and the install was from this undercloud.conf (`install_record`).
pub struct UndercloudInstall {
    pub cli: OpenstackCli,
    /// The rendered undercloud.conf (what the step before uploads).
    pub conf: Vec<u8>,
}

impl UndercloudInstall {
    /// The install needs TripleO's `openstack` on the undercloud: without it, say which
    /// stage provides it rather than let the job fail with "command not found".
    async fn preflight(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let found = if self.cli.standin {
            ctx.host(HostRole::Undercloud)
                .exists(&self.cli.standin_path())
                .await?
                .then(|| self.cli.standin_path().to_string_lossy().into_owned())
        } else {
            super::undercloud_prep::openstack_path(ctx).await?
        };
        match found {
            Some(p) => {
                ctx.info(format!("preflight: openstack is {p}"));
                Ok(())
            }
            None => anyhow::bail!(
                "preflight: there is no `openstack` on the undercloud ({} is not installed). Fix: run the undercloud-prep stage (`labwarp run` runs it before the install; its tripleoclient step installs it from the release's repos)",
                super::undercloud_prep::TRIPLEOCLIENT
            ),
        }
    }
}

#[async_trait]
impl Step for UndercloudInstall {
    fn id(&self) -> &str {
        "undercloud-install"
    }
    fn title(&self) -> String {
        "openstack undercloud install".into()
    }
    fn resources(&self) -> Vec<Resource> {
        let mut r = vec![self.cli.job_resource(self.id())];
        r.extend(UNDERCLOUD_CONTAINERS.iter().map(|c| Resource::Container {
            host: self.cli.container_host,
            name: format!("{}{c}", self.cli.container_prefix),
        }));
        r
    }
    fn openstack_argv(&self) -> Vec<Vec<String>> {
        vec![undercloud_install_argv(), endpoint_list_argv()]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        // What TripleO leaves: its stackrc, and an undercloud whose keystone answers with
        // those credentials.
        let stackrc = self.cli.home.join("stackrc");
        if !ctx.host(HostRole::Undercloud).exists(&stackrc).await? {
            return Ok(Check::todo(format!("{} missing", stackrc.display())));
        }
        let endpoints = ctx
            .probe(HostRole::Undercloud, &self.cli.cmd(&endpoint_list_argv()))
            .await?;
        let services: Vec<String> = endpoints
            .stdout_str()
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        if !endpoints.success() || services.is_empty() {
            let err = endpoints.stderr_str();
            return Ok(Check::todo(format!(
                "stackrc present, but `openstack endpoint list` with OS_CLOUD={UNDERCLOUD_CLOUD} does not answer: {}",
                err.lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("no endpoint listed")
                    .trim()
            )));
        }
        let running = running_containers(ctx, &self.cli).await?;
        let missing: Vec<&str> = UNDERCLOUD_CONTAINERS
            .iter()
            .copied()
            .filter(|c| {
                !running
                    .iter()
                    .any(|r| *r == format!("{}{c}", self.cli.container_prefix))
            })
            .collect();
        if !missing.is_empty() {
            return Ok(Check::todo(format!(
                "containers not running: {}",
                missing.join(", ")
            )));
        }
        if let Some(why) =
            super::install_record::changed_since_install(ctx, &self.cli.home, &self.conf).await?
        {
            return Ok(Check::todo(why));
        }
        Ok(Check::done(format!(
            "stackrc present; keystone lists {} service endpoint(s); {} containers running",
            services.len(),
            running.len()
        )))
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        self.preflight(ctx).await?;
        let install = super::install_record::written_by_the_install(
            self.cli.cmd_before_install(&undercloud_install_argv()),
            &self.cli.home,
            &self.conf,
        );
        self.cli.run_job(ctx, self.id(), &install).await?;
        if self.cli.standin && self.cli.container_host == HostRole::Virthost {
            // The same stand-in starts the containers in the hypervisor's podman, fed on
            // stdin (nothing is left on the hypervisor but the containers).
            let cmd = Cmd::new([
                "env".to_string(),
                format!("LABWARP_LAB={}", self.cli.lab),
                format!("LABWARP_LAB_ID={}", self.cli.lab_id),
                format!("STANDIN_NAME_PREFIX={}", self.cli.container_prefix),
                "sh".into(),
                "-s".into(),
                "--".into(),
                "undercloud".into(),
                "containers".into(),
            ])
            .sudo()
            .stdin(STANDIN.as_bytes().to_vec());
            ctx.run_ok(HostRole::Virthost, &cmd).await?;
        }
        emit_containers(ctx).await;
        Ok(())
    }
}
