//! Validation of a typed lab: every field on its own, then the rules across fields.
//! Paths in problems are exactly the YAML keys (`overcloud.nodes[1].memory_mib`) so an editor
//! can set a field on a copy of the lab, validate, and keep the problems under that path.

pub mod fields;
mod hosts;
pub mod installers;
mod networks;
mod overcloud;
pub mod paths;
mod undercloud;
mod url_host;
mod vms;
mod zones;

use super::error::Problem;
use super::model::Lab;
use fields::{Check, show};

/// Every problem in the lab, errors and warnings, in file order.
pub fn validate(lab: &Lab) -> Vec<Problem> {
    let mut r = Report::default();
    hosts::lab(lab, &mut r);
    hosts::hypervisors(lab, &mut r);
    networks::networks(lab, &mut r);
    hosts::images(lab, &mut r);
    undercloud::undercloud(lab, &mut r);
    overcloud::overcloud(lab, &mut r);
    vms::cross(lab, &mut r);
    // The real tools' rules judge a lab whose form is right; on a lab with form errors they
    // would only repeat those (a wrong subnet makes every address "outside").
    if !r.problems.iter().any(Problem::is_error) {
        installers::installers(lab, &mut r);
    }
    installers::overrides(lab, &mut r);
    // A secret is never shown, even where a rule quoted a value that happens to hold it.
    if let Some(pw) = &lab.overcloud.vbmc.password {
        for p in &mut r.problems {
            p.mask(pw.expose());
        }
    }
    r.problems
}

/// Collects problems; `check` records a failed field check with its path and value.
#[derive(Default)]
pub(crate) struct Report {
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn check<T>(
        &mut self,
        path: impl Into<String>,
        value: &str,
        result: Check<T>,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(b) => {
                self.problems
                    .push(Problem::error(path, show(value), b.message, b.fix));
                None
            }
        }
    }

    pub fn error(
        &mut self,
        path: impl Into<String>,
        value: impl ToString,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.problems
            .push(Problem::error(path, show(&value.to_string()), message, fix));
    }

    pub fn warning(
        &mut self,
        path: impl Into<String>,
        value: impl ToString,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.problems.push(Problem::warning(
            path,
            show(&value.to_string()),
            message,
            fix,
        ));
    }
}

/// True when sizes matter: some hypervisor really runs VMs (not libvirt's test driver).
pub(crate) fn realistic(lab: &Lab) -> bool {
    lab.hypervisors
        .iter()
        .any(|h| !h.libvirt_uri.starts_with("test:"))
}

/// Number of overcloud nodes, without expanding the groups (a count typed as 4000000000
/// must not allocate four billion names).
pub(crate) fn node_count(lab: &Lab) -> u64 {
    lab.overcloud.nodes.iter().map(|g| u64::from(g.count)).sum()
}

/// Node names, at most `overcloud::GROUP_COUNT_MAX + 1` per group (more is an error anyway).
pub(crate) fn node_names(lab: &Lab) -> Vec<String> {
    lab.overcloud
        .nodes
        .iter()
        .flat_map(|g| {
            (0..g.count.min(overcloud::GROUP_COUNT_MAX + 1))
                .map(move |i| format!("{}-{i}", g.prefix()))
        })
        .collect()
}
