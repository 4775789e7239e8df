//! Which lab field each form field edits: its path (the same path validation names), label,
//! one-line help, kind, and how its value is read from and written to the `Lab`.
//!
//! One module per form section (`hypervisor`, `networks`, `undercloud`, `groups`,
//! `overcloud`), each with its table of fields (`spec`: path, label, kind, help, in screen
//! order) and how those fields read and write the lab; `convert` turns form values into the
//! lab's types. The tables are the one list of fields: the screens are built from them.

mod convert;
mod groups;
mod hypervisor;
mod networks;
mod overcloud;
mod spec;
mod undercloud;
mod value;

pub use groups::{GroupField, new_group, totals};
pub use networks::{NetField, new_network};
pub use value::{Kind, Value};

use crate::lab::{Hypervisor, Lab};
use spec::{About, Spec, find};

/// A field of the wizard's forms; `Net` and `Group` are a field of one row of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKey {
    LabName,
    Workspace,
    HvName,
    HvAddress,
    HvSshUser,
    HvSshPort,
    HvStackUser,
    HvLibvirtUri,
    HvDistro,
    HvDomainType,
    HvPoolPath,
    Net(usize, NetField),
    UcVcpus,
    UcMemory,
    UcDisk,
    UcImage,
    UcImageMd5,
    UcUser,
    UcKeys,
    UcNameservers,
    UcHostname,
    UcLocalIp,
    UcLocalInterface,
    UcSubnetCidr,
    UcDhcpStart,
    UcDhcpEnd,
    UcGateway,
    UcInspectionStart,
    UcInspectionEnd,
    UcContainerCli,
    Group(usize, GroupField),
    VbmcPort,
    VbmcAddress,
    VbmcUser,
    VbmcPassword,
    TripleoRelease,
    DeployTemplates,
    DeployEnvFiles,
    LmEnabled,
    LmServer,
    LmExport,
}

/// The hypervisor's fields, then the selected network's.
pub fn hypervisor_screen(net: usize, nets: usize) -> Vec<FieldKey> {
    let mut keys = keys_of(hypervisor::FIELDS);
    if net < nets {
        keys.extend(networks::FIELDS.iter().map(|s| FieldKey::Net(net, s.key)));
    }
    keys
}

pub fn undercloud_screen() -> Vec<FieldKey> {
    keys_of(undercloud::FIELDS)
}

/// The selected node group's fields, then the overcloud-wide ones.
pub fn overcloud_screen(group: usize, groups: usize) -> Vec<FieldKey> {
    let mut keys = Vec::new();
    if group < groups {
        keys.extend(groups::FIELDS.iter().map(|s| FieldKey::Group(group, s.key)));
    }
    keys.extend(keys_of(overcloud::FIELDS));
    keys
}

fn keys_of(table: &[Spec<FieldKey>]) -> Vec<FieldKey> {
    table.iter().map(|s| s.key).collect()
}

/// The form section whose table lists a field, and so whose module reads and writes it.
#[derive(Clone, Copy)]
enum Section {
    Hypervisor,
    Network(usize, NetField),
    Undercloud,
    Group(usize, GroupField),
    Overcloud,
}

/// The sections whose fields are not in a table row.
const FLAT_SECTIONS: [(Section, &[Spec<FieldKey>]); 3] = [
    (Section::Hypervisor, hypervisor::FIELDS),
    (Section::Undercloud, undercloud::FIELDS),
    (Section::Overcloud, overcloud::FIELDS),
];

impl FieldKey {
    /// The field's section and its row in that section's table.
    fn section(self) -> (Section, &'static About) {
        let row = match self {
            FieldKey::Net(i, f) => find(networks::FIELDS, f).map(|a| (Section::Network(i, f), a)),
            FieldKey::Group(i, f) => find(groups::FIELDS, f).map(|a| (Section::Group(i, f), a)),
            key => FLAT_SECTIONS
                .iter()
                .find_map(|&(section, table)| find(table, key).map(|a| (section, a))),
        };
        // The screens are built from the tables, so a key without a row is on no screen.
        row.expect("every field has a row in its table")
    }

    /// The lab path validation uses for this field.
    pub fn path(self) -> String {
        match self.section() {
            (Section::Network(i, _), about) => format!("networks[{i}].{}", about.path),
            (Section::Group(i, _), about) => format!("overcloud.nodes[{i}].{}", about.path),
            (_, about) => about.path.to_string(),
        }
    }

    pub fn label(self) -> &'static str {
        self.section().1.label
    }

    pub fn help(self) -> &'static str {
        self.section().1.help
    }

    pub fn kind(self) -> Kind {
        self.section().1.kind
    }

    pub fn get(self, lab: &Lab) -> Value {
        match self.section().0 {
            Section::Hypervisor => hypervisor::get(self, lab),
            Section::Network(i, f) => networks::get(lab, i, f),
            Section::Undercloud => undercloud::get(self, lab),
            Section::Group(i, f) => groups::get(lab, i, f),
            Section::Overcloud => overcloud::get(self, lab),
        }
    }

    /// Writes a value into the lab. Errors only when the text cannot become the lab's type.
    pub fn set(self, lab: &mut Lab, v: Value) -> Result<(), String> {
        if lab.hypervisors.is_empty() {
            lab.hypervisors.push(Hypervisor::default());
        }
        match self.section().0 {
            Section::Hypervisor => hypervisor::set(self, lab, v),
            Section::Network(i, f) => networks::set(lab, i, f, v),
            Section::Undercloud => undercloud::set(self, lab, v),
            Section::Group(i, f) => groups::set(lab, i, f, v),
            Section::Overcloud => overcloud::set(self, lab, v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field reads back what it wrote: the binding is by name, in both directions.
    #[test]
    fn every_field_round_trips_through_the_lab() {
        let mut keys = hypervisor_screen(1, 2);
        keys.extend(undercloud_screen());
        keys.extend(overcloud_screen(1, 2));
        for key in keys {
            let mut lab = Lab::default();
            let v = match key.kind() {
                Kind::Stepper { min, .. } => Value::Number(min + 3),
                Kind::Select(opts) => Value::Text(opts[opts.len() - 1].to_string()),
                Kind::Multi => Value::Lines(vec!["a".into(), "b".into()]),
                _ if matches!(key, FieldKey::Net(_, NetField::Mtu)) => Value::Text("9000".into()),
                _ => Value::Text("probe-value".into()),
            };
            key.set(&mut lab, v.clone()).unwrap();
            let back = key.get(&lab);
            let expected = match (&v, key) {
                (Value::Text(_), FieldKey::Group(_, GroupField::Networks)) => {
                    Value::Text("probe-value".into())
                }
                _ => v.clone(),
            };
            assert_eq!(back, expected, "{key:?} ({})", key.path());
            assert_ne!(lab, Lab::default(), "{key:?} changed nothing");
        }
    }
}
