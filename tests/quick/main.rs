//! The quick tests, in one binary: they need no VM, no guest, no daemon of their own and
//! no network namespace — pure logic, fixtures, libvirt's built-in test driver, the
//! `labwarp` binary on temp workspaces and local tools (qemu-img, genisoimage, exportfs,
//! TripleO's own Python code from the venv). One binary links the library once where
//! thirty did (issue 19: the build time of `scripts/test`). Run one file's tests with
//! `cargo test --test quick tui::` (the file's name, then `::`).
//!
//! The heavier tests are grouped the same way by what they need: `tests/daemons/`,
//! `tests/faults/`, `tests/journeys/`, `tests/tui/` (ARCHITECTURE.md, "Tests").

// Support modules shared by the files below (declared once: each file `use`s them).
#[path = "../common/mod.rs"]
mod common;
#[path = "../engine_support/mod.rs"]
mod engine_support;
mod plan_support;
mod render_labs;

mod checks_fixtures;
mod checks_pure;
mod checks_this_host;
mod cli_check;
mod cli_export;
mod cli_validate;
mod field_formats;
mod fuzz_lab_fields;
mod invalid_configs;
mod layers;
mod monitor;
mod plan_hypervisor;
mod plan_images;
mod plan_live_migration;
mod plan_overcloud_images;
mod plan_undercloud_prep;
mod presets;
mod proptest_form;
mod proptest_lab;
mod qemu_conf_editor;
mod render_golden;
mod render_tools;
mod security_trust;
mod shared_turns;
mod standin_openstack;
mod themes;
mod tripleo_contract;
mod tui;
mod tui_drift;
mod validation_fixes;
mod virt_api;
