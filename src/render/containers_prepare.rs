//! `containers-prepare-parameter.yaml`: TripleO's `ContainerImagePrepare` for the lab's
//! release (its images' namespace), read by the undercloud install (`container_images_file`)
//! and passed to the overcloud deploy with `-e`.

use super::{Result, bad};
use crate::lab::Lab;
use serde::Serialize;

#[derive(Serialize)]
struct Env<'a> {
    parameter_defaults: Params<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Params<'a> {
    container_image_prepare: Vec<Prepare<'a>>,
}

#[derive(Serialize)]
struct Prepare<'a> {
    push_destination: bool,
    set: Set<'a>,
}

#[derive(Serialize)]
struct Set<'a> {
    namespace: &'a str,
    name_prefix: &'static str,
    tag: &'static str,
}

pub fn render(lab: &Lab) -> Result<String> {
    let release = crate::lab::release::release(&lab.tripleo.release)
        .filter(|r| r.supported)
        .ok_or_else(|| {
            bad(
                "tripleo.release",
                &lab.tripleo.release,
                "is not a release labwarp deploys",
            )
        })?;
    let env = Env {
        parameter_defaults: Params {
            container_image_prepare: vec![Prepare {
                push_destination: true,
                set: Set {
                    namespace: release.namespace,
                    name_prefix: "openstack-",
                    tag: crate::lab::release::PROMOTION,
                },
            }],
        },
    };
    let yaml = serde_yaml::to_string(&env).map_err(|e| super::RenderError::Serialise {
        format: "YAML",
        reason: e.to_string(),
    })?;
    Ok(format!(
        "# written by labwarp: TripleO {}'s container images\n{yaml}",
        release.name
    ))
}
