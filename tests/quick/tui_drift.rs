//! The review screen shows a drifted step as the back end computed it: marked `~`, one line
//! per field (`~ field: live → wanted (cost)`, a recreate with its command), beside the
//! ordinary `+` steps. Rendered with ratatui's TestBackend.

use labwarp::plan::{Drift, DriftCost};
use labwarp::tui::app::{Msg, ReviewRow, ReviewStage, ReviewTable, Screen};
use labwarp::tui::style::Styles;
use labwarp::tui::{App, plan_lines, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn screen(app: &mut App, w: u16, h: u16) -> Vec<String> {
    app.update(Msg::Resize(w, h));
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::draw(app, f)).unwrap();
    let buf = t.backend().buffer().clone();
    buf.content
        .chunks(w as usize)
        .map(|row| {
            row.iter()
                .map(|c| c.symbol())
                .collect::<String>()
                .trim_matches(|c: char| c == '│' || c == ' ')
                .to_string()
        })
        .collect()
}

#[test]
fn a_drifted_step_shows_each_field_with_its_cost() {
    let drift = vec![
        Drift::new("vcpus", 1, 3, DriftCost::NextBoot),
        Drift::new(
            "nic 52:54:00:aa:bb:cc",
            "absent",
            "on demo-external",
            DriftCost::Live,
        ),
    ];
    let net = vec![Drift::recreate(
        "cidr",
        "192.168.23.1/24",
        "192.168.33.1/24",
        "every VM on it loses its link",
        "labwarp run --fresh virthost",
    )];
    let mut a = App::new(Styles::default(), (120, 40));
    a.screen = Screen::Review;
    a.update(Msg::Plan(Ok(ReviewTable {
        stages: vec![ReviewStage {
            title: "Undercloud VM".into(),
            steps: vec![
                ReviewRow {
                    title: "network demo-external".into(),
                    change: plan_lines::drift(&net),
                    done: false,
                },
                ReviewRow {
                    title: "define and start VM demo-undercloud".into(),
                    change: plan_lines::drift(&drift),
                    done: false,
                },
                ReviewRow {
                    title: "disk /pool/demo-controller-0.qcow2".into(),
                    change: "missing".into(),
                    done: false,
                },
            ],
        }],
        files: vec![],
        capacity: None,
    })));
    let lines = screen(&mut a, 120, 40);
    let all = lines.join("\n");
    let flat: String = lines.concat();
    for want in [
        "~ network demo-external",
        "~ define and start VM demo-undercloud",
        "+ disk /pool/demo-controller-0.qcow2  missing",
    ] {
        assert!(all.contains(want), "{want:?} not on screen:\n{all}");
    }
    // Each field on its own line, as the back end wrote it (wrapped lines joined back).
    assert!(
        lines
            .iter()
            .any(|l| l == "~ vcpus: 1 → 3 (applied at next boot: restart needed)"),
        "{all}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l == "~ nic 52:54:00:aa:bb:cc: absent → on demo-external (applied live)"),
        "{all}"
    );
    assert!(
        flat.contains("cannot be changed in place: recreate")
            && flat.contains("`labwarp run --fresh virthost`"),
        "{all}"
    );
}
