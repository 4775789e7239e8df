//! Theme files from disk: partial overrides keep the default for everything they do not
//! name; bad entries are warnings that name the key, never a failure.

use labwarp::theme::{self, Theme};
use ratatui::style::{Color, Modifier};

#[test]
fn partial_theme_file_overrides_only_what_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.yaml");
    std::fs::write(
        &path,
        "border_focused: {fg: \"#ff8800\"}\nselection: {modifiers: [reversed]}\n",
    )
    .unwrap();
    let (t, warnings) = theme::load(path.to_str().unwrap());
    assert!(warnings.is_empty(), "{warnings:?}");
    let d = Theme::default();
    assert_eq!(t.border_focused.fg, Some(Color::Rgb(0xff, 0x88, 0x00)));
    // keys not named in the entry keep the default's value
    assert_eq!(t.selection.fg, d.selection.fg);
    assert_eq!(t.selection.bg, d.selection.bg);
    assert_eq!(t.selection.add_modifier, Modifier::REVERSED);
    // roles not named at all are the default's
    assert_eq!(
        (t.title, t.error, t.status_bar),
        (d.title, d.error, d.status_bar)
    );
}

#[test]
fn bad_entries_become_warnings_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "titel: {fg: red}\nok: {fg: chartreuse}\nwarn: {fg: yellow}\n",
    )
    .unwrap();
    let (t, warnings) = theme::load(path.to_str().unwrap());
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].ends_with("titel: unknown role (did you mean `title`?); entry ignored"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[1].contains("ok.fg: `chartreuse` is not a colour"),
        "{}",
        warnings[1]
    );
    // the good entry still applies
    assert_eq!(t.warn.fg, Some(Color::Yellow));
    assert_eq!(t.ok, Theme::default().ok);
}

#[test]
fn unreadable_or_broken_files_fall_back_to_the_default() {
    let (t, w) = theme::load("/nonexistent/theme.yaml");
    assert_eq!(t, Theme::default());
    assert!(w[0].contains("cannot read the file"), "{w:?}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yaml");
    std::fs::write(&path, "border: {fg: [\n").unwrap();
    let (t, w) = theme::load(path.to_str().unwrap());
    assert_eq!(t, Theme::default());
    assert!(w[0].contains("invalid YAML"), "{w:?}");
}

#[test]
fn shipped_themes_are_listed_with_descriptions() {
    let list = theme::list();
    let names: Vec<&str> = list.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["dark", "light", "high-contrast"]);
    assert!(list.iter().all(|(_, d)| !d.is_empty()));
}
