//! Respin from the TUI, through the real App and the real driver (the TUI without its
//! terminal) on the demo lab (libvirt's test driver, the sandbox undercloud, TripleO's
//! stand-in): `p` on the dashboard, `u` and a yes remove the undercloud and the run builds
//! and installs it again (a file of the old one gone, the new one's journal with its
//! install, the plan whole after); `o` on a lab with
//! no installed-undercloud snapshot is refused on the screen, naming what is missing.

use crate::engine_support::{TestLab, text};
use crate::tui_driver_support::{Driven, run_inner, runtime};
use labwarp::tui::app::Screen;
use ratatui::crossterm::event::KeyCode;
use std::process::Command;

const INNER: &str = "LABWARP_TUI_RESPIN_INNER";

fn installs(ws: &std::path::Path) -> usize {
    std::fs::read_to_string(ws.join("sandbox/undercloud/home/stack/.standin/invocations"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("undercloud install"))
        .count()
}

#[test]
fn respin_undercloud_from_the_snapshots_screen_rebuilds_and_reinstalls_it() {
    let _turn = crate::common::turn(module_path!());
    let lab = TestLab::demo_file("tr", "", "ws");
    let o = lab.labwarp(&["run", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(installs(lab.ws()), 1);
    // A file the first undercloud has and a rebuilt one cannot.
    let marker = lab.ws().join("sandbox/undercloud/home/stack/before-respin");
    std::fs::write(&marker, "x").unwrap();
    // The TUI half in a child with the CLI's environment.
    let o = run_inner(
        Command::new(std::env::current_exe().unwrap()),
        module_path!(),
        "inner_tui_respin",
        INNER,
        lab.file.as_ref().unwrap(),
        lab.ws(),
    );
    let out = text(&o);
    assert!(o.status.success() && out.contains("1 passed"), "{out}");
    assert!(!marker.exists(), "the undercloud was removed and made anew");
    assert_eq!(
        installs(lab.ws()),
        1,
        "the new undercloud was installed (its own journal)"
    );
    let o = lab.labwarp(&["plan", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let todo: Vec<String> = plan["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|st| st["steps"].as_array().unwrap().clone())
        .filter(|s| s["status"] != "done")
        .map(|s| format!("{} ({})", s["id"], s["saw"]))
        .collect();
    assert_eq!(todo, Vec::<String>::new(), "the respun lab is whole");
}

#[test]
#[ignore = "run by respin_undercloud_from_the_snapshots_screen_rebuilds_and_reinstalls_it in a child with the CLI's environment"]
fn inner_tui_respin() {
    let _turn = crate::common::turn(module_path!());
    runtime().block_on(async {
        let mut t = Driven::from_env(INNER);
        t.press(KeyCode::Char('p'));
        assert_eq!(t.app.screen, Screen::Snapshots);
        t.pump("the snapshot list", |a| a.snapshots.busy.is_none())
            .await;

        // The sandbox lab takes no installed-undercloud snapshot: a respin of the
        // overcloud is refused on the screen, saying why; nothing else happens.
        t.press(KeyCode::Char('o'));
        assert!(t.app.confirm.is_some(), "asked first");
        t.press(KeyCode::Enter);
        t.pump("the refusal", |a| {
            a.snapshots.busy.is_none() && a.snapshots.outcome.is_some()
        })
        .await;
        let (ok, said) = t.app.snapshots.outcome.clone().unwrap();
        assert!(
            !ok && said.contains("has no snapshot undercloud-installed"),
            "{said}"
        );
        assert_eq!(t.app.screen, Screen::Snapshots);

        // Respin the undercloud: asked, then removed and the run builds it again.
        t.press(KeyCode::Char('u'));
        let c = t.app.confirm.as_ref().expect("asked first");
        assert!(c.title.contains("Respin the undercloud"), "{}", c.title);
        t.press(KeyCode::Enter);
        t.pump("the run after the respin", |a| {
            a.screen == Screen::Dashboard && a.run.finished.is_some()
        })
        .await;
        assert!(
            t.app.run.failure.is_none(),
            "the run failed: {:?}",
            t.app.run.failure
        );
        let (ok, said) = t.app.snapshots.outcome.clone().unwrap();
        assert!(ok && said.contains("undercloud removed"), "{said}");
    });
}
