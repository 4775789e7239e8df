//! The overcloud's `openstack` steps on the undercloud, in order: node import, introspection,
//! the roles data, node provisioning from the baremetal deployment file, the deploy. Every
//! command runs with the undercloud's credentials ([`OpenstackCli::cmd`]).
//!
//! The flow is tripleoclient's from Wallaby on: `overcloud deploy` configures only servers
//! that are already provisioned (its `--provision-nodes` is refused), so the nodes are
//! deployed first by `openstack overcloud node provision --output ENV FILE`, and the deploy
//! gets ENV with `-e` (with `--deployed-server`, which Wallaby's client needs for servers
//! provisioned so and tripleoclient 20 accepts as its default). That is chosen over `overcloud
//! deploy --baremetal-deployment FILE`, which does both in one command: provisioning is then
//! a step of its own, with its own check (every node `active` and the environment written),
//! so a rerun after a killed deploy does not provision again, and a provisioning failure is
//! reported apart from a deploy failure.

use super::openstack::{OpenstackCli, words};
use crate::plan::{Check, HostRole, Resource, Step, StepCtx};
use async_trait::async_trait;
use std::path::PathBuf;

/// The Heat stack (and tripleoclient working directory) name of the overcloud.
pub const STACK: &str = "overcloud";
/// The baremetal deployment file labwarp renders (`render::baremetal_deployment`).
pub const BAREMETAL_DEPLOYMENT: &str = "overcloud-baremetal-deploy.yaml";
/// The environment `overcloud node provision` writes for the deploy.
pub const DEPLOYED_ENV: &str = "overcloud-baremetal-deployed.yaml";
/// The roles data `overcloud roles generate` writes.
pub const ROLES_DATA: &str = "roles_data.yaml";
/// The network data labwarp renders (`render::network_data`).
pub const NETWORK_DATA: &str = "network_data.yaml";
/// ContainerImagePrepare for the lab's release (`render::containers_prepare`).
pub const CONTAINERS_PREPARE: &str = "containers-prepare-parameter.yaml";

/// The node listing the import, introspection and provisioning checks read.
pub fn node_list_argv() -> Vec<String> {
    words(&[
        "baremetal",
        "node",
        "list",
        "-f",
        "value",
        "-c",
        "Name",
        "-c",
        "Provisioning State",
    ])
}

/// `openstack overcloud node import FILE`.
pub fn node_import_argv(file: &std::path::Path) -> Vec<String> {
    let mut a = words(&["overcloud", "node", "import"]);
    a.push(file.to_string_lossy().into_owned());
    a
}

/// `openstack overcloud node introspect --all-manageable --provide`.
pub fn node_introspect_argv() -> Vec<String> {
    words(&[
        "overcloud",
        "node",
        "introspect",
        "--all-manageable",
        "--provide",
    ])
}

/// `openstack overcloud roles generate --roles-path T/roles -o FILE ROLE...`.
pub fn roles_generate_argv(
    templates: &str,
    output: &std::path::Path,
    roles: &[String],
) -> Vec<String> {
    let mut a = words(&["overcloud", "roles", "generate", "--roles-path"]);
    a.push(format!("{}/roles", templates.trim_end_matches('/')));
    a.push("-o".into());
    a.push(output.to_string_lossy().into_owned());
    a.extend(roles.iter().cloned());
    a
}

/// `openstack overcloud node provision --stack overcloud --yes --output ENV FILE`. `--yes`:
/// a rerun overwrites the environment it wrote instead of asking.
pub fn node_provision_argv(output: &std::path::Path, input: &std::path::Path) -> Vec<String> {
    let mut a = words(&["overcloud", "node", "provision", "--stack", STACK, "--yes"]);
    a.push("--output".into());
    a.push(output.to_string_lossy().into_owned());
    a.push(input.to_string_lossy().into_owned());
    a
}

/// `openstack overcloud status --stack overcloud`: the deployment status tripleoclient
/// records in its working directory (`DEPLOY_SUCCESS`, `DEPLOY_FAILED`, ...).
pub fn status_argv() -> Vec<String> {
    words(&["overcloud", "status", "--stack", STACK])
}

/// The words of `openstack overcloud deploy`.
#[derive(Debug, Clone)]
pub struct DeployArgs {
    pub templates: String,
    pub roles_file: PathBuf,
    pub networks_file: PathBuf,
    /// `-e` files in order: the provisioned servers' environment, ContainerImagePrepare,
    /// the user's files, labwarp's own (NFS).
    pub env_files: Vec<String>,
}

impl DeployArgs {
    pub fn argv(&self) -> Vec<String> {
        let mut a = words(&["overcloud", "deploy", "--templates"]);
        a.push(self.templates.clone());
        a.extend(words(&["--stack", STACK, "-r"]));
        a.push(self.roles_file.to_string_lossy().into_owned());
        a.push("-n".into());
        a.push(self.networks_file.to_string_lossy().into_owned());
        a.push("--deployed-server".into());
        for e in &self.env_files {
            a.push("-e".into());
            a.push(e.clone());
        }
        a
    }
}

/// (node, provisioning state) of every node ironic knows; empty when the listing fails.
async fn node_states(
    ctx: &StepCtx<'_>,
    cli: &OpenstackCli,
) -> anyhow::Result<Vec<(String, String)>> {
    let out = ctx
        .probe(HostRole::Undercloud, &cli.cmd(&node_list_argv()))
        .await?;
    if !out.success() {
        return Ok(Vec::new());
    }
    Ok(out
        .stdout_str()
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect())
}

/// The nodes of `want` not in one of `states` (`name (state)`, or `name (not registered)`).
fn not_in(have: &[(String, String)], want: &[String], states: &[&str]) -> Vec<String> {
    want.iter()
        .filter_map(|n| match have.iter().find(|(h, _)| h == n) {
            Some((_, s)) if states.contains(&s.as_str()) => None,
            Some((_, s)) => Some(format!("{n} ({s})")),
            None => Some(format!("{n} (not registered)")),
        })
        .collect()
}

/// `openstack overcloud node import instackenv.json`; done when every node is registered.
pub struct NodeImport {
    pub cli: OpenstackCli,
    pub nodes: Vec<String>,
}

impl NodeImport {
    /// The uploaded instackenv.json on the undercloud.
    fn file(&self) -> PathBuf {
        self.cli.home.join("instackenv.json")
    }
}

#[async_trait]
impl Step for NodeImport {
    fn id(&self) -> &str {
        "node-import"
    }
    fn title(&self) -> String {
        "openstack overcloud node import instackenv.json".into()
    }
    fn openstack_argv(&self) -> Vec<Vec<String>> {
        vec![node_list_argv(), node_import_argv(&self.file())]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let have = node_states(ctx, &self.cli).await?;
        let missing: Vec<&String> = self
            .nodes
            .iter()
            .filter(|n| !have.iter().any(|(h, _)| h == *n))
            .collect();
        Ok(if missing.is_empty() {
            Check::done(format!("{} node(s) registered", have.len()))
        } else {
            Check::todo(format!(
                "not registered: {}",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        ctx.run_ok(
            HostRole::Undercloud,
            &self.cli.cmd(&node_import_argv(&self.file())),
        )
        .await?;
        Ok(())
    }
}

/// Introspection of every manageable node, then `provide`; done when all are available (or
/// already deployed: `active` nodes went through it).
pub struct NodeIntrospect {
    pub cli: OpenstackCli,
    pub nodes: Vec<String>,
}

#[async_trait]
impl Step for NodeIntrospect {
    fn id(&self) -> &str {
        "node-introspect"
    }
    fn title(&self) -> String {
        "openstack overcloud node introspect --all-manageable --provide".into()
    }
    fn resources(&self) -> Vec<Resource> {
        vec![self.cli.job_resource(self.id())]
    }
    fn openstack_argv(&self) -> Vec<Vec<String>> {
        vec![node_list_argv(), node_introspect_argv()]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let have = node_states(ctx, &self.cli).await?;
        let not_ready = not_in(&have, &self.nodes, &["available", "active"]);
        Ok(if not_ready.is_empty() {
            Check::done("every node available (or already deployed)")
        } else {
            Check::todo(format!("not available yet: {}", not_ready.join(", ")))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let cmd = self.cli.cmd(&node_introspect_argv());
        self.cli.run_job(ctx, self.id(), &cmd).await
    }
}

/// `openstack overcloud roles generate`: the roles data of the lab's TripleO roles, from the
/// templates' roles directory; done when the file lists every role.
pub struct RolesData {
    pub cli: OpenstackCli,
    pub templates: String,
    /// `ROLE` or `ROLE:NAME` (`render::baremetal_deployment::roles_to_generate`).
    pub roles: Vec<String>,
}

impl RolesData {
    pub fn file(&self) -> PathBuf {
        self.cli.home.join(ROLES_DATA)
    }
    fn argv(&self) -> Vec<String> {
        roles_generate_argv(&self.templates, &self.file(), &self.roles)
    }
}

#[async_trait]
impl Step for RolesData {
    fn id(&self) -> &str {
        "roles-data"
    }
    fn title(&self) -> String {
        format!(
            "openstack overcloud roles generate {}",
            self.roles.join(" ")
        )
    }
    fn resources(&self) -> Vec<Resource> {
        vec![Resource::File {
            host: HostRole::Undercloud,
            path: self.file(),
            level: crate::plan::Level::Nodes,
        }]
    }
    fn openstack_argv(&self) -> Vec<Vec<String>> {
        vec![self.argv()]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let host = ctx.host(HostRole::Undercloud);
        let file = self.file();
        if !host.exists(&file).await? {
            return Ok(Check::todo(format!("{} missing", file.display())));
        }
        let text = String::from_utf8_lossy(&host.read_file(&file).await?).into_owned();
        let missing: Vec<&str> = self
            .roles
            .iter()
            .map(|r| r.rsplit(':').next().unwrap_or(r))
            .filter(|name| {
                !text
                    .lines()
                    .any(|l| l.trim_end() == format!("- name: {name}"))
            })
            .collect();
        Ok(if missing.is_empty() {
            Check::done(format!(
                "{} defines {}",
                file.display(),
                self.roles.join(", ")
            ))
        } else {
            Check::todo(format!(
                "{} lacks role(s) {}",
                file.display(),
                missing.join(", ")
            ))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        ctx.run_ok(HostRole::Undercloud, &self.cli.cmd(&self.argv()))
            .await?;
        Ok(())
    }
}

/// `openstack overcloud node provision`: deploys the nodes of the baremetal deployment file
/// and writes the environment the deploy passes with `-e`; done when every node is `active`
/// and that environment exists.
pub struct NodeProvision {
    pub cli: OpenstackCli,
    pub nodes: Vec<String>,
}

impl NodeProvision {
    pub fn output(&self) -> PathBuf {
        self.cli.home.join(DEPLOYED_ENV)
    }
    fn input(&self) -> PathBuf {
        self.cli.home.join(BAREMETAL_DEPLOYMENT)
    }
    fn argv(&self) -> Vec<String> {
        node_provision_argv(&self.output(), &self.input())
    }
}

#[async_trait]
impl Step for NodeProvision {
    fn id(&self) -> &str {
        "node-provision"
    }
    fn title(&self) -> String {
        format!("openstack overcloud node provision {BAREMETAL_DEPLOYMENT}")
    }
    fn resources(&self) -> Vec<Resource> {
        vec![
            self.cli.job_resource(self.id()),
            Resource::File {
                host: HostRole::Undercloud,
                path: self.output(),
                level: crate::plan::Level::Nodes,
            },
        ]
    }
    fn openstack_argv(&self) -> Vec<Vec<String>> {
        vec![node_list_argv(), self.argv()]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let have = node_states(ctx, &self.cli).await?;
        let not_active = not_in(&have, &self.nodes, &["active"]);
        if !not_active.is_empty() {
            return Ok(Check::todo(format!(
                "not provisioned yet: {}",
                not_active.join(", ")
            )));
        }
        let env = self.output();
        Ok(if ctx.host(HostRole::Undercloud).exists(&env).await? {
            Check::done(format!(
                "every node active; {} written for the deploy",
                env.display()
            ))
        } else {
            Check::todo(format!("every node active, but {} missing", env.display()))
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let cmd = self.cli.cmd(&self.argv());
        self.cli.run_job(ctx, self.id(), &cmd).await
    }
}

/// `openstack overcloud deploy ...`; done when overcloudrc exists and `openstack overcloud
/// status` says DEPLOY_SUCCESS.
pub struct OvercloudDeploy {
    pub cli: OpenstackCli,
    pub args: DeployArgs,
}

#[async_trait]
impl Step for OvercloudDeploy {
    fn id(&self) -> &str {
        "overcloud-deploy"
    }
    fn title(&self) -> String {
        format!(
            "openstack overcloud deploy --templates {}",
            self.args.templates
        )
    }
    fn resources(&self) -> Vec<Resource> {
        vec![self.cli.job_resource(self.id())]
    }
    fn openstack_argv(&self) -> Vec<Vec<String>> {
        vec![status_argv(), self.args.argv()]
    }
    async fn check(&self, ctx: &StepCtx<'_>) -> anyhow::Result<Check> {
        let rc = self.cli.home.join("overcloudrc");
        if !ctx.host(HostRole::Undercloud).exists(&rc).await? {
            return Ok(Check::todo(format!("{} missing", rc.display())));
        }
        let out = ctx
            .probe(HostRole::Undercloud, &self.cli.cmd(&status_argv()))
            .await?;
        let stdout = out.stdout_str();
        // tripleoclient prints a table: | overcloud | DEPLOY_SUCCESS |
        let status = stdout
            .lines()
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (cells.len() >= 3 && cells[1] == STACK).then(|| cells[2].to_string())
            })
            .next();
        Ok(match status {
            Some(s) if out.success() && s == "DEPLOY_SUCCESS" => Check::done(format!(
                "{} present; `openstack overcloud status`: {s}",
                rc.display()
            )),
            Some(s) => Check::todo(format!("`openstack overcloud status`: {s}")),
            None => Check::todo(format!(
                "{} present, but `openstack overcloud status` reports no deployment of {STACK}: {}",
                rc.display(),
                stdout
                    .lines()
                    .chain(out.stderr_str().lines())
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("no output")
                    .trim()
            )),
        })
    }
    async fn apply(&self, ctx: &StepCtx<'_>) -> anyhow::Result<()> {
        let cmd = self.cli.cmd(&self.args.argv());
        self.cli.run_job(ctx, self.id(), &cmd).await
    }
}
