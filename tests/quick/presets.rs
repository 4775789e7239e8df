//! Every shipped preset loads, validates without a single problem, and has the topology its
//! description promises.

use labwarp::lab::{self, Role};

#[test]
fn every_preset_loads_and_validates_clean() {
    let presets = lab::presets();
    assert_eq!(
        presets.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["demo", "minimal", "ha", "live-migration", "kayobe-aio"]
    );
    for p in presets {
        assert!(!p.description.is_empty(), "{} has no description", p.name);
        assert!(
            !p.description.contains('\n'),
            "{}: description is one line",
            p.name
        );
        let lab = lab::load_preset(&p.name).unwrap_or_else(|e| panic!("{e}"));
        let problems = lab::validate(&lab);
        assert!(problems.is_empty(), "{}: {problems:#?}", p.name);
        assert_eq!(lab.description, p.description);
    }
}

fn count(lab: &lab::Lab, role: Role) -> u32 {
    lab.overcloud
        .nodes
        .iter()
        .filter(|g| g.role == role)
        .map(|g| g.count)
        .sum()
}

#[test]
fn presets_have_their_topology() {
    let demo = lab::load_preset("demo").unwrap();
    assert_eq!(demo.hypervisors[0].libvirt_uri, "test:///default");
    assert_eq!(demo.hypervisors[0].address, "local");

    let minimal = lab::load_preset("minimal").unwrap();
    assert_eq!(
        (
            count(&minimal, Role::Controller),
            count(&minimal, Role::Compute)
        ),
        (1, 1)
    );
    // quickstart's defaults: 12288 MiB / 6 vCPU undercloud, 8192 MiB / 2 vCPU nodes, 50 GiB disks
    assert_eq!(
        (
            minimal.undercloud.vm.memory_mib,
            minimal.undercloud.vm.vcpus
        ),
        (12288, 6)
    );
    assert!(
        minimal
            .overcloud
            .nodes
            .iter()
            .all(|g| g.memory_mib == 8192 && g.vcpus == 2)
    );
    assert_eq!(minimal.networks[0].cidr, "192.168.23.0/24");
    assert_eq!(minimal.undercloud.conf.subnet.cidr, "192.168.24.0/24");
    assert_eq!(minimal.overcloud.vbmc.base_port, 6230);
    let ports: Vec<u16> = minimal.nodes().iter().map(|n| n.vbmc_port).collect();
    assert_eq!(ports, [6230, 6231]);

    let ha = lab::load_preset("ha").unwrap();
    assert_eq!(
        (count(&ha, Role::Controller), count(&ha, Role::Compute)),
        (3, 2)
    );
    assert_eq!(ha.preset.as_deref(), Some("minimal"));

    let lm = lab::load_preset("live-migration").unwrap();
    assert_eq!(count(&lm, Role::Compute), 2);
    assert!(lm.overcloud.live_migration.enabled);

    let kayobe = lab::load_preset("kayobe-aio").unwrap();
    assert_eq!(kayobe.undercloud.vm.name, "seed");
    assert_eq!(kayobe.undercloud.vm.memory_mib, 16384);
    assert_eq!(kayobe.undercloud.vm.disks.len(), 2);
    let names: Vec<String> = kayobe.nodes().iter().map(|n| n.name.clone()).collect();
    assert_eq!(names, ["aio-0"]);
}

#[test]
fn saved_presets_reload_identically() {
    for p in lab::presets() {
        let lab = lab::load_preset(&p.name).unwrap();
        let yaml = lab::to_yaml(&lab);
        let again = lab::load_str(&yaml, "saved").unwrap_or_else(|e| panic!("{}: {e}", p.name));
        assert_eq!(lab, again, "{}", p.name);
    }
}

#[test]
fn a_user_file_overrides_any_part_of_its_preset() {
    let text = "preset: ha\nname: mylab\nnetworks:\n  - {name: external, bridge: brx, cidr: 192.168.30.0/24}\n  - {name: overcloud, bridge: brp, mode: isolated}\nundercloud:\n  conf:\n    subnet:\n      masquerade: false\n";
    let lab = lab::load_str(text, "lab.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lab.name, "mylab");
    // lists replace
    assert_eq!(lab.networks.len(), 2);
    assert_eq!(lab.networks[0].bridge, "brx");
    // mappings merge: only masquerade changed under subnet
    assert!(!lab.undercloud.conf.subnet.masquerade);
    assert_eq!(lab.undercloud.conf.subnet.dhcp_start, "192.168.24.5");
    // untouched parts come from ha (and from minimal beneath it)
    assert_eq!(count(&lab, Role::Controller), 3);
    assert_eq!(lab.undercloud.vm.memory_mib, 8192);
    assert_eq!(lab.hypervisors[0].address, "127.0.0.2");
}

#[test]
fn a_field_change_is_reported_under_its_path() {
    // What the TUI does: edit a copy, validate, keep the problems for that field.
    let mut lab = lab::load_preset("minimal").unwrap();
    lab.overcloud.nodes[1].memory_mib = 1;
    let problems = lab::validate(&lab);
    let here: Vec<_> = problems
        .iter()
        .filter(|p| p.concerns("overcloud.nodes[1]"))
        .collect();
    assert_eq!(here.len(), 1, "{problems:#?}");
    assert_eq!(here[0].path, "overcloud.nodes[1].memory_mib");
    assert!(problems.iter().all(|p| !p.concerns("overcloud.nodes[0]")));
    assert!(!here[0].concerns("overcloud.nodes[10]"));
}

#[test]
fn missing_file_is_an_error_not_a_panic() {
    let err = lab::load_path(std::path::Path::new("/nonexistent/lab.yaml")).unwrap_err();
    assert!(
        err.problems[0]
            .message
            .starts_with("cannot read the lab file")
    );
}

#[test]
fn warnings_do_not_block_loading() {
    let lab = lab::load_str(
        "preset: minimal\nhypervisors:\n  - {name: h, address: 127.0.0.2, stack_user: root}\n",
        "lab.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let problems = lab::validate(&lab);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].severity, lab::Severity::Warning);
    assert_eq!(problems[0].path, "hypervisors[0].stack_user");
}

#[test]
fn libvirt_default_bridge_is_a_warning() {
    let text = "preset: minimal\nnetworks:\n  - {name: external, bridge: virbr0, cidr: 192.168.23.0/24}\n  - {name: overcloud, bridge: brovc, mode: isolated}\n";
    let lab = lab::load_str(text, "lab.yaml").unwrap_or_else(|e| panic!("{e}"));
    let problems = lab::validate(&lab);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].path, "networks[0].bridge");
    assert_eq!(problems[0].severity, lab::Severity::Warning);
}
