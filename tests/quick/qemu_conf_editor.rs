//! The qemu.conf editor: comments and every other line byte-identical, only the four keys
//! changed, a second run a no-op.

use labwarp::checks::QemuMode;
use labwarp::checks::qemu_conf::{ConfFile, ConfValue, edit_for_mode};
use pretty_assertions::assert_eq;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/qemu-conf")
            .join(name),
    )
    .unwrap()
}

#[test]
fn debian_default_to_root_mode_appends_four_lines_and_keeps_the_rest() {
    let orig = fixture("debian-12-default.conf");
    let new = edit_for_mode(&orig, QemuMode::Root).unwrap();
    assert_eq!(
        new,
        format!(
            "{orig}user = \"root\"\ngroup = \"root\"\ndynamic_ownership = 0\nsecurity_driver = \"none\"\n"
        )
    );
    assert_eq!(
        edit_for_mode(&new, QemuMode::Root),
        None,
        "second run is a no-op"
    );
    // The shipped file is the distro mode already.
    assert_eq!(edit_for_mode(&orig, QemuMode::Distro), None);
}

#[test]
fn hand_edited_file_changes_only_the_key_lines() {
    let orig = fixture("hand-edited.conf");
    let conf = ConfFile::parse(&orig);
    // libvirt keeps the last assignment.
    assert_eq!(
        conf.get("user").unwrap().value,
        ConfValue::Str("qemu".into())
    );
    assert_eq!(conf.get("user").unwrap().line_no, 11);
    assert_eq!(
        conf.get("group").unwrap().value,
        ConfValue::Str("kvm".into())
    );
    assert_eq!(
        conf.get("dynamic_ownership").unwrap().value,
        ConfValue::Int(1)
    );
    assert!(conf.get("security_driver").is_none());
    let new = edit_for_mode(&orig, QemuMode::Root).unwrap();
    assert_eq!(
        new,
        "# Managed by hand; keep this comment\n\
         \x20 user = \"root\" # the distro user\n\
         #group = \"root\"\n\
         group = \"root\"\n\
         dynamic_ownership = 0\n\
         \n\
         cgroup_device_acl = [\n\
         \x20   \"/dev/null\", \"/dev/full\", \"/dev/zero\",\n\
         \x20   \"/dev/random\", \"/dev/urandom\"\n\
         ]\n\
         user = \"root\"\n\
         # trailing comment, no newline at the end\n\
         security_driver = \"none\"\n"
    );
    // Every line that is not one of the four keys is byte-identical, in order.
    let keep = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| {
                let l = l.trim_start();
                !["user", "group", "dynamic_ownership", "security_driver"]
                    .iter()
                    .any(|k| l.starts_with(k))
            })
            .map(str::to_string)
            .collect()
    };
    assert_eq!(keep(&orig), keep(&new));
    assert_eq!(edit_for_mode(&new, QemuMode::Root), None);
}

#[test]
fn root_mode_file_to_distro_mode_comments_the_keys_out() {
    let orig = fixture("root-mode.conf");
    assert_eq!(edit_for_mode(&orig, QemuMode::Root), None);
    let new = edit_for_mode(&orig, QemuMode::Distro).unwrap();
    assert_eq!(
        new,
        "#user = \"root\"\n#group = \"root\"\n#dynamic_ownership = 0\n#security_driver = \"none\"\n"
    );
    assert_eq!(edit_for_mode(&new, QemuMode::Distro), None);
}

#[test]
fn empty_and_missing_files() {
    assert_eq!(
        edit_for_mode("", QemuMode::Root).unwrap(),
        "user = \"root\"\ngroup = \"root\"\ndynamic_ownership = 0\nsecurity_driver = \"none\"\n"
    );
    assert_eq!(edit_for_mode("", QemuMode::Distro), None);
    // A `#` inside quotes is part of the value, not a comment.
    let conf = ConfFile::parse("user = \"a#b\" # real comment\n");
    assert_eq!(
        conf.get("user").unwrap().value,
        ConfValue::Str("a#b".into())
    );
}

/// Found by `scripts/fuzz` (qemu_conf): an unterminated last line ending in '\r' is kept
/// byte for byte; the edit only ends it with '\n' before appending its own lines.
#[test]
fn an_unterminated_last_line_ending_in_cr_is_kept_byte_for_byte() {
    let text = "# set by hand\n#  p = \r\r\r\r\u{87}\r";
    let edited = edit_for_mode(text, QemuMode::Root).expect("root mode sets the keys");
    assert!(edited.starts_with(&format!("{text}\n")), "{edited:?}");
    assert_eq!(edit_for_mode(&edited, QemuMode::Root), None, "idempotent");
    assert_eq!(ConfFile::parse(&edited).render(), edited);
}
