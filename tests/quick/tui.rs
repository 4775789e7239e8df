//! TUI tests: every screen rendered with ratatui's TestBackend at 80×24 and 120×40 and
//! compared with insta snapshots, colour checks for the theme, and update() driven by real
//! keystroke sequences.

use labwarp::engine::resource::Level;
use labwarp::host::lab::Reach;
use labwarp::run::event::{
    ContainerRow, Event, FindingRow, LogStream, StageInfo, StageOutcome, StepInfo, VmRow,
};
use labwarp::tui::app::{Effect, Msg, Password, ReviewRow, ReviewStage, ReviewTable, Screen};
use labwarp::tui::screens::cleanup::Preview;
use labwarp::tui::style::Styles;
use labwarp::tui::{App, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Color, Modifier};
use std::path::PathBuf;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn render(app: &mut App, w: u16, h: u16) -> Buffer {
    app.update(Msg::Resize(w, h));
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::draw(app, f)).unwrap();
    t.backend().buffer().clone()
}

fn text(buf: &Buffer) -> String {
    let w = buf.area.width as usize;
    buf.content
        .chunks(w)
        .map(|row| {
            let mut line = String::new();
            let mut skip = 0;
            for c in row {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                line.push_str(c.symbol());
                skip = unicode_width(c.symbol()).saturating_sub(1);
            }
            line.trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn unicode_width(s: &str) -> usize {
    // Wide symbols only appear as CJK/emoji; everything labwarp draws is one column.
    if s.chars()
        .any(|c| c as u32 >= 0x1100 && (c as u32) < 0x1F000 && is_wide(c))
    {
        2
    } else {
        1
    }
}

fn is_wide(c: char) -> bool {
    matches!(c as u32, 0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF)
}

/// Snapshots the screen at both sizes.
macro_rules! snap {
    ($app:expr, $name:expr) => {
        for (w, h) in SIZES {
            let buf = render($app, w, h);
            insta::assert_snapshot!(format!("{}_{}x{}", $name, w, h), text(&buf));
        }
    };
}

fn presets() -> Vec<(String, String)> {
    labwarp::lab::presets()
        .into_iter()
        .map(|p| (p.name, p.description))
        .collect()
}

fn app() -> App {
    let mut app = App::new(Styles::default(), (80, 24));
    app.update(Msg::Presets(presets()));
    app
}

fn with_preset(name: &str) -> App {
    let mut app = app();
    let lab = labwarp::lab::load_preset(name).unwrap();
    app.update(Msg::LabLoaded {
        path: lab.workspace.join("lab.yaml"),
        lab: Box::new(lab),
        warnings: vec![],
    });
    app
}

/// Past the connection screen of a remote hypervisor (the minimal preset's is 127.0.0.2,
/// reached over SSH): the driver says it is connected, Next goes on.
fn connected(app: &mut App) -> Vec<Effect> {
    assert_eq!(app.screen, Screen::Connect);
    app.update(Msg::Reach(Reach::Connected {
        user: "stack".into(),
        addr: "[127.0.0.2]:22".into(),
    }));
    ctrl(app, 'n')
}

fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn ctrl(app: &mut App, c: char) -> Vec<Effect> {
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::CONTROL,
    )))
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn clear_field(app: &mut App) {
    key(app, KeyCode::End);
    for _ in 0..80 {
        key(app, KeyCode::Backspace);
    }
}

/// Focuses the field with this label on the current form.
fn focus(app: &mut App, label: &str) {
    for _ in 0..40 {
        let form = app.current_form().unwrap();
        if form.focused().unwrap().key.label() == label {
            return;
        }
        key(app, KeyCode::Tab);
    }
    panic!("no field {label}");
}

fn ev(app: &mut App, e: Event) {
    app.update(Msg::Engine(e));
}

fn stages() -> Vec<StageInfo> {
    let st = |id: &str, title: &str, steps: &[&str]| StageInfo {
        id: id.into(),
        title: title.into(),
        steps: steps
            .iter()
            .map(|s| StepInfo {
                id: s.to_string(),
                title: s.to_string(),
            })
            .collect(),
    };
    vec![
        st(
            "hypervisor",
            "Hypervisor setup",
            &["packages", "stack-user"],
        ),
        st(
            "networks",
            "Lab networks",
            &["network-external", "network-overcloud"],
        ),
        st("images", "Images", &["undercloud-image"]),
        st(
            "undercloud-vm",
            "Undercloud VM",
            &["domain-undercloud", "boot"],
        ),
        st(
            "overcloud-vms",
            "Overcloud VMs",
            &["domain-controller-0", "domain-compute-0"],
        ),
    ]
}

/// A run in progress: two stages done, images downloading, VMs and containers reported.
fn running_app() -> App {
    let mut app = with_preset("demo");
    app.screen = Screen::Dashboard;
    app.update(Msg::Tick(1_000));
    ev(&mut app, Event::RunStarted { stages: stages() });
    for (stage, steps) in [
        ("hypervisor", ["packages", "stack-user"]),
        ("networks", ["network-external", "network-overcloud"]),
    ] {
        ev(
            &mut app,
            Event::StageStarted {
                stage: stage.into(),
            },
        );
        for step in steps {
            ev(
                &mut app,
                Event::StepStarted {
                    stage: stage.into(),
                    step: step.into(),
                },
            );
            ev(
                &mut app,
                Event::Log {
                    stage: stage.into(),
                    step: Some(step.into()),
                    stream: LogStream::Info,
                    line: format!("{step}: applying"),
                },
            );
            ev(
                &mut app,
                Event::StepFinished {
                    stage: stage.into(),
                    step: step.into(),
                    elapsed_ms: 1200,
                },
            );
        }
        ev(
            &mut app,
            Event::StageFinished {
                stage: stage.into(),
                outcome: StageOutcome::Done,
                elapsed_ms: 2400,
            },
        );
    }
    app.update(Msg::Tick(5_000));
    ev(
        &mut app,
        Event::StageStarted {
            stage: "images".into(),
        },
    );
    ev(
        &mut app,
        Event::StepStarted {
            stage: "images".into(),
            step: "undercloud-image".into(),
        },
    );
    for i in 0..40 {
        ev(
            &mut app,
            Event::Log {
                stage: "images".into(),
                step: Some("undercloud-image".into()),
                stream: if i == 33 {
                    LogStream::Stderr
                } else {
                    LogStream::Stdout
                },
                line: format!(
                    "downloading CentOS-Stream-GenericCloud-9: {} MiB of 1100",
                    i * 25
                ),
            },
        );
    }
    ev(
        &mut app,
        Event::Progress {
            stage: "images".into(),
            step: "undercloud-image".into(),
            done: 1000,
            total: Some(1100),
            eta_secs: Some(12),
        },
    );
    ev(
        &mut app,
        Event::Vms {
            vms: vec![
                VmRow {
                    name: "demo-undercloud".into(),
                    state: "running".into(),
                    vcpus: 2,
                    memory_mib: 2048,
                    ips: vec!["192.168.23.10".into()],
                },
                VmRow {
                    name: "demo-controller-0".into(),
                    state: "shut off".into(),
                    vcpus: 1,
                    memory_mib: 1024,
                    ips: vec![],
                },
            ],
        },
    );
    ev(
        &mut app,
        Event::Containers {
            containers: vec![
                ContainerRow {
                    name: "keystone".into(),
                    image: "quay.io/tripleomaster/openstack-keystone:current".into(),
                    state: "running".into(),
                    health: "healthy".into(),
                    uptime: "3m".into(),
                },
                ContainerRow {
                    name: "ironic_api".into(),
                    image: "quay.io/tripleomaster/openstack-ironic-api:current".into(),
                    state: "running".into(),
                    health: "unhealthy".into(),
                    uptime: "2m".into(),
                },
            ],
        },
    );
    app.update(Msg::Tick(9_000));
    app
}

fn failed_app() -> App {
    let mut app = running_app();
    ev(
        &mut app,
        Event::Log {
            stage: "images".into(),
            step: Some("undercloud-image".into()),
            stream: LogStream::Stderr,
            line: "qemu-img: Could not open '/var/lib/libvirt/images/demo-undercloud.qcow2': Permission denied".into(),
        },
    );
    ev(
        &mut app,
        Event::StepFailed {
            stage: "images".into(),
            step: "undercloud-image".into(),
            error: "qemu-img convert exited with status 1".into(),
        },
    );
    ev(
        &mut app,
        Event::StageFinished {
            stage: "images".into(),
            outcome: StageOutcome::Failed,
            elapsed_ms: 4000,
        },
    );
    ev(
        &mut app,
        Event::RunFinished {
            ok: false,
            cancelled: false,
        },
    );
    app
}

fn finding(id: &str, area: &str, severity: &str, title: &str, fix: Option<&str>) -> FindingRow {
    FindingRow {
        id: id.into(),
        area: area.into(),
        severity: severity.into(),
        title: title.into(),
        evidence: format!("probe for {id}"),
        fix: fix.map(str::to_string),
    }
}

fn preflight_app() -> App {
    let mut app = with_preset("demo");
    ctrl(&mut app, 'n');
    ctrl(&mut app, 'n');
    let fx = ctrl(&mut app, 'n');
    assert_eq!(app.screen, Screen::Preflight);
    assert!(fx.iter().any(|e| matches!(e, Effect::RunChecks(_))));
    for f in [
        finding(
            "libvirt.socket",
            "libvirt",
            "ok",
            "libvirtd answers on test:///default",
            None,
        ),
        finding(
            "kvm.dev",
            "virtualisation",
            "warn",
            "/dev/kvm missing: VMs use TCG (slow)",
            None,
        ),
        finding(
            "net.ip_forward",
            "network",
            "fail",
            "IPv4 forwarding is off",
            Some("sysctl -w net.ipv4.ip_forward=1"),
        ),
        finding(
            "libvirt.pool",
            "libvirt",
            "ok",
            "storage pool directory exists",
            None,
        ),
    ] {
        ev(&mut app, Event::Finding { finding: f });
    }
    app.update(Msg::ChecksDone(Ok(4)));
    app
}

fn plan() -> ReviewTable {
    ReviewTable {
        stages: vec![
            ReviewStage {
                title: "Lab networks".into(),
                steps: vec![
                    ReviewRow {
                        title: "network external".into(),
                        change: "define + start libvirt network demo-external (NAT)".into(),
                        done: false,
                    },
                    ReviewRow {
                        title: "network overcloud".into(),
                        change: String::new(),
                        done: true,
                    },
                ],
            },
            ReviewStage {
                title: "Undercloud VM".into(),
                steps: vec![ReviewRow {
                    title: "domain undercloud".into(),
                    change: "define domain demo-undercloud (2 vCPUs, 2048 MiB)".into(),
                    done: false,
                }],
            },
        ],
        files: vec![
            "workspace/ssh.config".into(),
            "workspace/inventory.yaml".into(),
        ],
        capacity: Some((8, 32768, 200)),
    }
}

// ---------------------------------------------------------------- snapshots

#[test]
fn welcome_loading_and_with_presets() {
    let mut empty = App::new(Styles::default(), (80, 24));
    snap!(&mut empty, "welcome_loading");
    let mut a = app();
    snap!(&mut a, "welcome_presets");
}

#[test]
fn welcome_with_a_found_lab_offers_resume() {
    let mut a = app();
    a.update(Msg::Found(labwarp::tui::app::Found {
        lab_path: PathBuf::from("workspace/lab.yaml"),
        name: "mylab".into(),
        has_state: true,
    }));
    snap!(&mut a, "welcome_found");
}

#[test]
fn forms_filled_from_the_demo_preset() {
    let mut a = with_preset("demo");
    snap!(&mut a, "hypervisor_filled");
    ctrl(&mut a, 'n');
    snap!(&mut a, "undercloud_filled");
    ctrl(&mut a, 'n');
    snap!(&mut a, "overcloud_filled");
}

#[test]
fn invalid_field_shows_its_problem_beside_it() {
    let mut a = with_preset("minimal");
    focus(&mut a, "Address");
    clear_field(&mut a);
    typed(&mut a, "bad host!");
    snap!(&mut a, "hypervisor_invalid");
}

#[test]
fn help_overlay_lists_the_keys_of_the_screen() {
    let mut a = with_preset("demo");
    key(&mut a, KeyCode::F(1));
    assert!(a.help);
    snap!(&mut a, "help_forms");
}

#[test]
fn preflight_findings_and_fix_confirmation() {
    let mut a = preflight_app();
    snap!(&mut a, "preflight");
    // Select the failing finding and ask for its fix.
    for _ in 0..3 {
        key(&mut a, KeyCode::Down);
    }
    let fx = key(&mut a, KeyCode::Char('f'));
    assert!(fx.is_empty(), "a fix is only applied after confirmation");
    assert!(a.confirm.is_some());
    snap!(&mut a, "preflight_confirm_fix");
    let fx = key(&mut a, KeyCode::Char('y'));
    assert_eq!(
        fx,
        vec![Effect::ApplyFix {
            id: "net.ip_forward".into()
        }]
    );
}

#[test]
fn review_shows_plan_totals_and_files() {
    let mut a = preflight_app();
    key(&mut a, KeyCode::Char('n'));
    assert_eq!(
        a.screen,
        Screen::Preflight,
        "failing checks: the first n only warns"
    );
    let fx = key(&mut a, KeyCode::Char('n'));
    assert_eq!(a.screen, Screen::Review);
    assert!(fx.iter().any(|e| matches!(e, Effect::MakePlan(_))));
    snap!(&mut a, "review_planning");
    a.update(Msg::Plan(Ok(plan())));
    snap!(&mut a, "review");
    let fx = key(&mut a, KeyCode::Char('s'));
    assert_eq!(a.screen, Screen::Dashboard);
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::StartRun { resume: false, .. }))
    );
}

#[test]
fn dashboard_running_and_failed() {
    let mut a = running_app();
    snap!(&mut a, "dashboard_running");
    let mut f = failed_app();
    snap!(&mut f, "dashboard_failed");
}

#[test]
fn dashboard_zoomed_log_with_search() {
    let mut a = running_app();
    key(&mut a, KeyCode::Char('z'));
    key(&mut a, KeyCode::Char('/'));
    typed(&mut a, "275 MiB");
    key(&mut a, KeyCode::Enter);
    assert!(!a.dash.log.follow, "a search hit stops following");
    snap!(&mut a, "dashboard_log_search");
}

#[test]
fn troubleshoot_explains_the_failure() {
    let mut a = failed_app();
    key(&mut a, KeyCode::Char('t'));
    assert_eq!(a.screen, Screen::Troubleshoot);
    snap!(&mut a, "troubleshoot");
    let fx = key(&mut a, KeyCode::Char('r'));
    assert_eq!(
        fx.last(),
        Some(&Effect::RetryStep {
            stage: "images".into(),
            step: "undercloud-image".into()
        })
    );
    assert_eq!(a.screen, Screen::Dashboard);
}

#[test]
fn cleanup_preview_needs_the_typed_name() {
    let mut a = failed_app();
    key(&mut a, KeyCode::Char('c'));
    assert_eq!(a.screen, Screen::Cleanup);
    snap!(&mut a, "cleanup_choose");
    key(&mut a, KeyCode::Down);
    let fx = key(&mut a, KeyCode::Enter);
    assert!(matches!(
        fx.as_slice(),
        [Effect::CleanupDryRun {
            level: Level::Virthost,
            ..
        }]
    ));
    a.update(Msg::CleanupPreview(Ok(Preview {
        remove: vec![
            "domain demo-undercloud (and its disks)".into(),
            "domain demo-controller-0".into(),
            "network demo-external".into(),
        ],
        kept: vec![],
    })));
    typed(&mut a, "dem");
    let fx = key(&mut a, KeyCode::Enter);
    assert!(fx.is_empty(), "a wrong name removes nothing");
    typed(&mut a, "o");
    snap!(&mut a, "cleanup_confirm");
    let fx = key(&mut a, KeyCode::Enter);
    assert!(matches!(
        fx.as_slice(),
        [Effect::StartCleanup {
            level: Level::Virthost,
            ..
        }]
    ));
    ev(
        &mut a,
        Event::RunStarted {
            stages: vec![StageInfo {
                id: "clean".into(),
                title: "Clean".into(),
                steps: vec![],
            }],
        },
    );
    ev(
        &mut a,
        Event::Log {
            stage: "clean".into(),
            step: None,
            stream: LogStream::Info,
            line: "removed domain demo-undercloud".into(),
        },
    );
    ev(
        &mut a,
        Event::RunFinished {
            ok: true,
            cancelled: false,
        },
    );
    snap!(&mut a, "cleanup_done");
}

// ---------------------------------------------------------------- colours

fn find_cell(buf: &Buffer, needle: &str) -> (u16, u16) {
    let t = text(buf);
    for (y, line) in t.lines().enumerate() {
        if let Some(x) = line.find(needle) {
            let x = line[..x].chars().count();
            return (x as u16, y as u16);
        }
    }
    panic!("`{needle}` not on screen:\n{t}");
}

#[test]
fn theme_colours_errors_and_selection() {
    let mut a = with_preset("minimal");
    focus(&mut a, "Address");
    clear_field(&mut a);
    typed(&mut a, "bad host!");
    let buf = render(&mut a, 80, 24);
    let (x, y) = find_cell(&buf, "✗ not a host name");
    let cell = &buf[(x + 2, y)];
    assert_eq!(
        cell.fg,
        Color::LightRed,
        "errors use the theme's error colour"
    );
    assert!(cell.modifier.contains(Modifier::BOLD));

    let mut w = app();
    let buf = render(&mut w, 80, 24);
    let (x, y) = find_cell(&buf, "▸ New lab: demo");
    assert_eq!(
        buf[(x, y)].bg,
        Color::Cyan,
        "the selected choice uses the selection style"
    );
}

#[test]
fn no_color_draws_without_any_colour() {
    let (styles, _) = Styles::load(None, true);
    let mut a = App::new(styles, (80, 24));
    a.update(Msg::Presets(presets()));
    let lab = labwarp::lab::load_preset("minimal").unwrap();
    a.update(Msg::LabLoaded {
        path: "x".into(),
        lab: Box::new(lab),
        warnings: vec![],
    });
    focus(&mut a, "Address");
    clear_field(&mut a);
    typed(&mut a, "bad host!");
    for buf in [
        render(&mut a, 80, 24),
        render(&mut running_app_mono(), 120, 40),
    ] {
        for cell in &buf.content {
            assert!(
                matches!(cell.fg, Color::Reset) && matches!(cell.bg, Color::Reset),
                "NO_COLOR: found a colour on {:?}",
                cell.symbol()
            );
        }
    }
}

fn running_app_mono() -> App {
    let mut a = running_app();
    let (styles, _) = Styles::load(None, true);
    a.styles = styles;
    a
}

#[test]
fn every_shipped_theme_loads_without_warnings() {
    for name in labwarp::theme::names() {
        let (_, warnings) = Styles::load(Some(name), false);
        assert!(warnings.is_empty(), "{name}: {warnings:?}");
    }
    let (_, warnings) = Styles::load(Some("no-such-theme"), false);
    assert!(
        !warnings.is_empty(),
        "an unknown theme is a warning, not a crash"
    );
}

// ---------------------------------------------------------------- update()

#[test]
fn next_is_refused_while_a_field_is_invalid_and_focus_jumps_to_it() {
    let mut a = with_preset("minimal");
    focus(&mut a, "Address");
    clear_field(&mut a);
    typed(&mut a, "bad host!");
    focus(&mut a, "Stack user");
    let fx = ctrl(&mut a, 'n');
    assert_eq!(a.screen, Screen::Hypervisor);
    assert!(fx.is_empty());
    let form = a.current_form().unwrap();
    assert_eq!(form.focused().unwrap().key.label(), "Address");
    assert!(
        a.status
            .as_ref()
            .unwrap()
            .text
            .contains("Fix Address first")
    );
}

#[test]
fn back_keeps_input_and_leaving_a_screen_saves_the_lab() {
    let mut a = with_preset("minimal");
    focus(&mut a, "SSH user");
    clear_field(&mut a);
    typed(&mut a, "admin");
    let fx = ctrl(&mut a, 'n');
    assert_eq!(a.screen, Screen::Connect);
    match fx.as_slice() {
        [Effect::SaveLab { lab, path }, Effect::ProbeHost(_)] => {
            assert_eq!(lab.hypervisors[0].ssh_user, "admin");
            assert!(path.ends_with("lab.yaml"));
        }
        other => panic!("expected a save, got {other:?}"),
    }
    connected(&mut a);
    assert_eq!(a.screen, Screen::Undercloud);
    focus(&mut a, "vCPUs");
    key(&mut a, KeyCode::Right);
    let vcpus = a.lab.undercloud.vm.vcpus;
    let fx = key(&mut a, KeyCode::Esc);
    assert_eq!(a.screen, Screen::Hypervisor);
    assert!(matches!(fx.as_slice(), [Effect::SaveLab { .. }]));
    ctrl(&mut a, 'n');
    assert_eq!(a.lab.undercloud.vm.vcpus, vcpus);
    assert_eq!(
        a.lab.hypervisors[0].ssh_user, "admin",
        "Back lost the input"
    );
}

#[test]
fn steppers_take_keys_and_digits_and_selects_cycle() {
    let mut a = with_preset("minimal");
    focus(&mut a, "SSH port");
    for _ in 0..3 {
        key(&mut a, KeyCode::Backspace);
    }
    typed(&mut a, "2222");
    assert_eq!(a.lab.hypervisors[0].ssh_port, 2222);
    key(&mut a, KeyCode::Char('+'));
    assert_eq!(a.lab.hypervisors[0].ssh_port, 2223);
    focus(&mut a, "Distro family");
    let before = a.lab.hypervisors[0].distro;
    key(&mut a, KeyCode::Char('l'));
    assert_ne!(a.lab.hypervisors[0].distro, before);
    key(&mut a, KeyCode::Char('h'));
    assert_eq!(a.lab.hypervisors[0].distro, before);
}

#[test]
fn an_invalid_network_cidr_refuses_next_until_fixed() {
    let mut a = with_preset("minimal");
    assert_eq!(a.forms.network, 0);
    let cidr = a.lab.networks[0].cidr.clone();
    focus(&mut a, "CIDR");
    clear_field(&mut a);
    typed(&mut a, "192.168.23.0/33");
    assert_eq!(a.lab.networks[0].cidr, "192.168.23.0/33");
    let form = a.current_form().unwrap();
    let field = form.focused().unwrap();
    assert_eq!(field.key.path(), "networks[0].cidr");
    assert!(field.has_error(), "{:?}", field.issues);
    snap!(&mut a, "hypervisor_network_invalid");
    // Leave the field, then ask for the next screen: refused, focus back on the CIDR.
    focus(&mut a, "Network name");
    let fx = ctrl(&mut a, 'n');
    assert!(fx.is_empty());
    assert_eq!(a.screen, Screen::Hypervisor);
    let form = a.current_form().unwrap();
    assert_eq!(form.focused().unwrap().key.path(), "networks[0].cidr");
    assert!(a.status.as_ref().unwrap().text.contains("Fix CIDR first"));
    // The problem is on that field only, not on the other network's.
    let other = form
        .fields
        .iter()
        .filter(|f| f.has_error())
        .map(|f| f.key.path())
        .collect::<Vec<_>>();
    assert_eq!(other, ["networks[0].cidr"]);
    clear_field(&mut a);
    typed(&mut a, &cidr);
    let fx = ctrl(&mut a, 'n');
    assert_eq!(a.screen, Screen::Connect);
    match fx.as_slice() {
        [Effect::SaveLab { lab, .. }, Effect::ProbeHost(_)] => {
            assert_eq!(lab.networks[0].cidr, cidr)
        }
        other => panic!("expected a save, got {other:?}"),
    }
}

#[test]
fn a_problem_on_another_network_refuses_next_and_shows_that_network() {
    let mut a = with_preset("minimal");
    // Network 1 (isolated, no CIDR) gets a DHCP range: "dhcp needs the network's cidr",
    // reported on `networks[1].dhcp`, a path no single field has.
    key(&mut a, KeyCode::PageDown);
    assert_eq!(a.forms.network, 1);
    // (The preset gives it a CIDR and a gateway now: back to none.)
    focus(&mut a, "Gateway");
    clear_field(&mut a);
    focus(&mut a, "CIDR");
    clear_field(&mut a);
    focus(&mut a, "DHCP start");
    typed(&mut a, "192.168.24.10");
    let form = a.current_form().unwrap();
    let field = form.focused().unwrap();
    assert!(
        field.issues.iter().any(|i| i.path == "networks[1].dhcp"),
        "the object-level problem is shown on its first field: {:?}",
        field.issues
    );
    // Back to network 0, which is valid: Next is still refused and shows network 1.
    key(&mut a, KeyCode::PageUp);
    assert_eq!(a.forms.network, 0);
    let fx = ctrl(&mut a, 'n');
    assert!(fx.is_empty(), "{fx:?}");
    assert_eq!(a.screen, Screen::Hypervisor);
    assert_eq!(a.forms.network, 1);
    let form = a.current_form().unwrap();
    assert_eq!(form.focused().unwrap().key.path(), "networks[1].dhcp.start");
    let status = &a.status.as_ref().unwrap().text;
    assert!(status.contains("needs the network's cidr"), "{status}");
    // Removing the range fixes it.
    clear_field(&mut a);
    let fx = ctrl(&mut a, 'n');
    assert_eq!(a.screen, Screen::Connect, "{:?}", a.status);
    assert!(
        matches!(
            fx.as_slice(),
            [Effect::SaveLab { .. }, Effect::ProbeHost(_)]
        ),
        "{fx:?}"
    );
}

#[test]
fn networks_can_be_added_edited_selected_and_removed_and_back_keeps_them() {
    let mut a = with_preset("minimal");
    let n = a.lab.networks.len();
    ctrl(&mut a, 'a');
    assert_eq!(a.lab.networks.len(), n + 1);
    assert_eq!(a.forms.network, n);
    let name = a.lab.networks[n].name.clone();
    focus(&mut a, "Mode");
    assert_eq!(
        a.current_form().unwrap().focused().unwrap().key.path(),
        format!("networks[{n}].mode")
    );
    // isolated → bridged: a bridged network needs its host NIC.
    key(&mut a, KeyCode::Right);
    assert_eq!(a.lab.networks[n].mode, labwarp::lab::NetworkMode::Bridged);
    let form = a.current_form().unwrap();
    let nic = form
        .fields
        .iter()
        .find(|f| f.key.label() == "Host NIC")
        .unwrap();
    assert!(nic.has_error(), "{:?}", nic.issues);
    focus(&mut a, "Host NIC");
    typed(&mut a, "eth1");
    focus(&mut a, "MTU");
    typed(&mut a, "9000");
    assert_eq!(a.lab.networks[n].host_nic.as_deref(), Some("eth1"));
    assert_eq!(a.lab.networks[n].mtu, Some(9000));
    focus(&mut a, "CIDR");
    typed(&mut a, "10.77.0.0/24");
    focus(&mut a, "DHCP start");
    typed(&mut a, "10.77.0.10");
    focus(&mut a, "DHCP end");
    typed(&mut a, "10.77.0.20");
    let d = a.lab.networks[n].dhcp.clone().unwrap();
    assert_eq!(
        (d.start.as_str(), d.end.as_str()),
        ("10.77.0.10", "10.77.0.20")
    );
    // Select the first network and back: the form shows each row's own values.
    key(&mut a, KeyCode::PageDown);
    assert_eq!(a.forms.network, 0);
    focus(&mut a, "Network name");
    let form = a.current_form().unwrap();
    assert_eq!(form.focused().unwrap().key.path(), "networks[0].name");
    key(&mut a, KeyCode::PageUp);
    assert_eq!(a.forms.network, n);
    // Next, then Back: the new network is still there, as typed.
    ctrl(&mut a, 'n');
    connected(&mut a);
    assert_eq!(a.screen, Screen::Undercloud);
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.screen, Screen::Hypervisor);
    assert_eq!(a.lab.networks[n].name, name);
    assert_eq!(a.lab.networks[n].host_nic.as_deref(), Some("eth1"));
    assert_eq!(a.lab.networks[n].cidr, "10.77.0.0/24");
    ctrl(&mut a, 'x');
    assert_eq!(a.lab.networks.len(), n);
    while a.lab.networks.len() > 1 {
        ctrl(&mut a, 'x');
    }
    ctrl(&mut a, 'x');
    assert_eq!(a.lab.networks.len(), 1, "the last network was removed");
}

#[test]
fn node_groups_can_be_added_edited_and_removed() {
    let mut a = with_preset("minimal");
    ctrl(&mut a, 'n');
    connected(&mut a);
    ctrl(&mut a, 'n');
    assert_eq!(a.screen, Screen::Overcloud);
    let n = a.lab.overcloud.nodes.len();
    ctrl(&mut a, 'a');
    assert_eq!(a.lab.overcloud.nodes.len(), n + 1);
    assert_eq!(a.forms.group, n);
    focus(&mut a, "Count");
    key(&mut a, KeyCode::Right);
    assert_eq!(a.lab.overcloud.nodes[n].count, 2);
    focus(&mut a, "Name prefix");
    typed(&mut a, "extra");
    assert_eq!(a.lab.overcloud.nodes[n].name, "extra");
    key(&mut a, KeyCode::PageUp);
    assert_eq!(a.forms.group, n - 1);
    key(&mut a, KeyCode::PageDown);
    ctrl(&mut a, 'x');
    assert_eq!(a.lab.overcloud.nodes.len(), n);
}

#[test]
fn typing_q_in_a_text_field_types_it() {
    let mut a = with_preset("minimal");
    focus(&mut a, "Lab name");
    key(&mut a, KeyCode::End);
    typed(&mut a, "q?");
    assert!(!a.quit);
    assert!(!a.help);
    assert!(a.lab.name.ends_with("q?"));
}

#[test]
fn ctrl_c_during_a_run_cancels_it_then_quits() {
    let mut a = running_app();
    let fx = ctrl(&mut a, 'c');
    assert_eq!(fx, vec![Effect::CancelRun, Effect::Quit]);
    assert!(a.quit);
}

#[test]
fn log_pane_follows_scrolls_and_saves() {
    let mut a = running_app();
    assert!(a.dash.log.follow);
    key(&mut a, KeyCode::Up);
    assert!(!a.dash.log.follow, "scrolling up stops following");
    key(&mut a, KeyCode::Char('G'));
    assert!(a.dash.log.follow);
    key(&mut a, KeyCode::Char('w'));
    assert!(a.dash.log.wrap);
    let fx = key(&mut a, KeyCode::Char('S'));
    match fx.as_slice() {
        [Effect::SaveLog { path, lines }] => {
            assert!(path.ends_with("logs/images.log"));
            assert_eq!(lines.len(), 40);
        }
        other => panic!("expected a log save, got {other:?}"),
    }
}

#[test]
fn podman_pane_keys_request_logs_restart_and_shell() {
    let mut a = running_app();
    key(&mut a, KeyCode::Tab);
    assert_eq!(a.dash.focus, labwarp::tui::screens::dashboard::Pane::Podman);
    key(&mut a, KeyCode::Down);
    assert_eq!(
        key(&mut a, KeyCode::Char('R')),
        vec![Effect::ContainerRestart {
            name: "ironic_api".into()
        }]
    );
    assert_eq!(
        key(&mut a, KeyCode::Char('s')),
        vec![Effect::ContainerShell {
            name: "ironic_api".into()
        }]
    );
    assert_eq!(
        key(&mut a, KeyCode::Char('l')),
        vec![Effect::ContainerLogs {
            name: "ironic_api".into()
        }]
    );
    assert_eq!(
        labwarp::tui::screens::dashboard::log_stream(&a.dash, &a.run).as_deref(),
        Some("podman:ironic_api")
    );
}

#[test]
fn mouse_click_focuses_a_field_and_a_pane() {
    use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let click = |col, row| {
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: col,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    let mut a = with_preset("minimal");
    let buf = render(&mut a, 80, 24);
    let (x, y) = find_cell(&buf, "SSH user");
    a.update(click(x, y));
    let form = a.current_form().unwrap();
    assert_eq!(form.focused().unwrap().key.label(), "SSH user");

    let mut d = running_app();
    let buf = render(&mut d, 80, 24);
    let (x, y) = find_cell(&buf, "VMs (2)");
    d.update(click(x, y + 2));
    assert_eq!(d.dash.focus, labwarp::tui::screens::dashboard::Pane::Vms);
}

// ---------------------------------------------------------------- screenshots

fn invalid_app() -> App {
    let mut a = with_preset("minimal");
    focus(&mut a, "Address");
    clear_field(&mut a);
    typed(&mut a, "bad host!");
    a
}

fn overcloud_app() -> App {
    let mut a = with_preset("ha");
    ctrl(&mut a, 'n');
    connected(&mut a);
    ctrl(&mut a, 'n');
    assert_eq!(a.screen, Screen::Overcloud);
    a
}

fn review_app() -> App {
    let mut a = preflight_app();
    key(&mut a, KeyCode::Char('n'));
    key(&mut a, KeyCode::Char('n'));
    a.update(Msg::Plan(Ok(plan())));
    a
}

fn cleanup_preview_app() -> App {
    let mut a = failed_app();
    key(&mut a, KeyCode::Char('c'));
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Enter);
    a.update(Msg::CleanupPreview(Ok(Preview {
        remove: vec![
            "domain demo-undercloud (and its disks)".into(),
            "domain demo-controller-0".into(),
            "network demo-external".into(),
        ],
        kept: vec![
            "directory /var/lib/libvirt/images on virthost: looks like the lab's, not removed: existed before labwarp".into(),
        ],
    })));
    typed(&mut a, "demo");
    a
}

/// At 80×24 the status bar keeps the help key (`?`, or F1 in a form where `?` is typed) on
/// every screen, whatever else has to go.
#[test]
fn the_status_bar_always_offers_help_at_80x24() {
    let mut screens: Vec<(&str, App)> = vec![
        ("welcome", app()),
        ("hypervisor", with_preset("minimal")),
        ("overcloud", overcloud_app()),
        ("preflight", preflight_app()),
        ("review", review_app()),
        ("dashboard", running_app()),
        ("cleanup", cleanup_preview_app()),
    ];
    for (name, a) in &mut screens {
        a.status = None;
        let shown = text(&render(a, 80, 24));
        let bar = shown.lines().last().unwrap_or_default();
        let help =
            bar.trim_end().ends_with("? help") || bar.trim_end().ends_with("F1 help: all keys");
        assert!(help, "{name}: {bar:?}");
    }
}

/// `screenshots/*.svg` are renders of these states. Regenerate them with
/// `LABWARP_UPDATE_SCREENSHOTS=1 cargo test --test quick tui:: screenshots`; this test fails while
/// any of them is stale, so the README never shows screens that no longer exist.
#[test]
fn screenshots_are_fresh() {
    let mut shots: Vec<(&str, App)> = vec![
        ("welcome", app()),
        ("hypervisor-invalid", invalid_app()),
        ("overcloud", overcloud_app()),
        ("preflight", preflight_app()),
        ("review", review_app()),
        ("dashboard", running_app()),
        ("troubleshoot", {
            let mut a = failed_app();
            key(&mut a, KeyCode::Char('t'));
            a
        }),
        ("cleanup", cleanup_preview_app()),
    ];
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("screenshots");
    let update = std::env::var_os("LABWARP_UPDATE_SCREENSHOTS").is_some();
    let mut stale = Vec::new();
    for (name, app) in &mut shots {
        let svg = labwarp::tui::svg::render(&render(app, 100, 30));
        let path = dir.join(format!("{name}.svg"));
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &svg).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(svg.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale screenshots {stale:?}: run LABWARP_UPDATE_SCREENSHOTS=1 cargo test --test quick tui:: screenshots"
    );
}

#[test]
fn fresh_start_from_a_found_lab_opens_the_guided_cleanup() {
    let mut a = app();
    a.update(Msg::Found(labwarp::tui::app::Found {
        lab_path: PathBuf::from("workspace/lab.yaml"),
        name: "demo".into(),
        has_state: true,
    }));
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Down);
    let fx = key(&mut a, KeyCode::Enter);
    assert_eq!(
        fx,
        vec![Effect::LoadFile(PathBuf::from("workspace/lab.yaml"))]
    );
    let lab = labwarp::lab::load_preset("demo").unwrap();
    a.update(Msg::LabLoaded {
        path: "workspace/lab.yaml".into(),
        lab: Box::new(lab),
        warnings: vec![],
    });
    assert_eq!(a.screen, Screen::Cleanup);
    key(&mut a, KeyCode::Esc);
    assert_eq!(
        a.screen,
        Screen::Welcome,
        "no run yet: Back returns to the welcome screen"
    );
}

#[test]
fn resume_loads_the_found_lab_and_resumes_the_run() {
    let mut a = app();
    a.update(Msg::Found(labwarp::tui::app::Found {
        lab_path: PathBuf::from("workspace/lab.yaml"),
        name: "demo".into(),
        has_state: true,
    }));
    key(&mut a, KeyCode::Enter);
    let lab = labwarp::lab::load_preset("demo").unwrap();
    let fx = a.update(Msg::LabLoaded {
        path: "workspace/lab.yaml".into(),
        lab: Box::new(lab),
        warnings: vec![],
    });
    assert_eq!(a.screen, Screen::Dashboard);
    assert!(matches!(
        fx.as_slice(),
        [Effect::StartRun { resume: true, .. }]
    ));
}

#[test]
fn a_labs_theme_applies_unless_one_was_chosen() {
    let mut lab = labwarp::lab::load_preset("demo").unwrap();
    lab.theme = Some("light".into());
    let light = Styles::load(Some("light"), false).0;
    assert_ne!(
        light,
        Styles::default(),
        "light differs from the default theme"
    );
    let mut a = app();
    a.update(Msg::LabLoaded {
        path: "x".into(),
        lab: Box::new(lab.clone()),
        warnings: vec![],
    });
    assert_eq!(a.styles, light);
    let mut b = app();
    b.styles_fixed = true;
    b.update(Msg::LabLoaded {
        path: "x".into(),
        lab: Box::new(lab),
        warnings: vec![],
    });
    assert_eq!(b.styles, Styles::default());
}

/// Fault: the terminal shrinks to 10×5 (and smaller) and back, on every screen, with the
/// help overlay and a confirmation open: no panic, a "too small" notice at 10×5, and the
/// full view exactly as before once the size is back.
#[test]
fn tiny_terminal_draws_a_notice_and_the_full_view_comes_back() {
    let mut apps: Vec<(&str, App)> = vec![
        ("welcome", app()),
        ("forms", with_preset("demo")),
        ("preflight", preflight_app()),
        ("running", running_app()),
        ("failed", failed_app()),
    ];
    let mut help = running_app();
    key(&mut help, KeyCode::Char('?'));
    apps.push(("help", help));
    let mut tr = failed_app();
    key(&mut tr, KeyCode::Char('t'));
    apps.push(("troubleshoot", tr));
    let mut cl = failed_app();
    key(&mut cl, KeyCode::Char('c'));
    apps.push(("cleanup", cl));
    let mut report = Vec::new();
    for (name, a) in apps.iter_mut() {
        let full = text(&render(a, 80, 24));
        for (w, h) in [(10, 5), (1, 1), (0, 0), (3, 40), (200, 2)] {
            let buf = render(a, w, h);
            if (w, h) == (10, 5) {
                let tiny = text(&buf);
                assert!(
                    tiny.contains("too small"),
                    "{name} at 10x5 draws no notice:\n{tiny}"
                );
                report.push(format!("{name}: {:?}", tiny.replace('\n', "|")));
            }
        }
        assert_eq!(
            text(&render(a, 80, 24)),
            full,
            "{name}: the 80x24 view differs after the tiny sizes"
        );
    }
    eprintln!(
        "RESIZE (TestBackend): {} screens drawn at 10x5, 1x1, 0x0, 3x40, 200x2 and back to 80x24; at 10x5: {}",
        apps.len(),
        report.join("; ")
    );
}

/// Issue 15: a plan line longer than the pane is wrapped, not cut, and names its object once.
#[test]
fn review_wraps_long_plan_lines() {
    let mut a = preflight_app();
    key(&mut a, KeyCode::Char('n'));
    key(&mut a, KeyCode::Char('n'));
    let path = "/home/someone/labs/a-rather-long-workspace-name/workspace/sandbox/pool/demo-undercloud-cidata.iso";
    a.update(Msg::Plan(Ok(ReviewTable {
        stages: vec![ReviewStage {
            title: "Undercloud VM".into(),
            steps: vec![ReviewRow {
                title: format!("cloud-init seed {path}"),
                change: format!("directory {path}.d on virthost · missing"),
                done: false,
            }],
        }],
        files: vec![],
        capacity: None,
    })));
    let screen = text(&render(&mut a, 80, 24));
    // Every piece of the title and the change is on screen, across lines (a path longer
    // than a line is cut into pieces: the lines are joined back without spaces).
    let flat: String = screen
        .lines()
        .map(|l| l.trim_matches(|c: char| c == '│' || c == ' ').to_string())
        .collect();
    for piece in [
        "+ cloud-init seed",
        "demo-undercloud-cidata.iso",
        "directory",
        ".iso.d on virthost · missing",
    ] {
        assert!(flat.contains(piece), "{piece:?} not shown:\n{screen}");
    }
    assert!(
        screen.lines().all(|l| l.chars().count() <= 80),
        "a line runs past the screen:\n{screen}"
    );
}

// ------------------------------------------------------- remote hypervisor: connect screen

const FP: &str = "SHA256:Vq0yIiYy2Vy5uNFXgyC3kRqz4aB1b7MkcUUPJsAoGJk";

/// The minimal preset (its hypervisor is reached over SSH), Next pressed on its form.
fn connect_app() -> (App, Vec<Effect>) {
    let mut a = with_preset("minimal");
    let fx = ctrl(&mut a, 'n');
    (a, fx)
}

fn reach(a: &mut App, r: Reach) -> Vec<Effect> {
    a.update(Msg::Reach(r))
}

#[test]
fn a_remote_hypervisor_leads_to_the_connection_screen_which_probes_it() {
    let (a, fx) = connect_app();
    assert_eq!(a.screen, Screen::Connect);
    assert!(
        fx.iter().any(|e| matches!(e, Effect::ProbeHost(_))),
        "{fx:?}"
    );
    assert!(
        fx.iter().any(|e| matches!(e, Effect::SaveLab { .. })),
        "leaving the form saves the lab: {fx:?}"
    );
    // The demo's hypervisor is this machine: no connection screen.
    let mut d = with_preset("demo");
    ctrl(&mut d, 'n');
    assert_eq!(d.screen, Screen::Undercloud);
}

#[test]
fn the_host_key_is_pinned_only_when_typed_right_or_compared_and_confirmed() {
    let (mut a, _) = connect_app();
    snap!(&mut a, "connect_probing");
    reach(
        &mut a,
        Reach::UnknownKey {
            addr: "[127.0.0.2]:22".into(),
            fingerprint: FP.into(),
        },
    );
    snap!(&mut a, "connect_unknown_key");
    // Next is refused while nothing is connected.
    ctrl(&mut a, 'n');
    assert_eq!(a.screen, Screen::Connect);
    // A wrong fingerprint is refused, nothing is sent to the driver.
    typed(&mut a, "SHA256:AAAAwrong");
    let fx = key(&mut a, KeyCode::Enter);
    assert!(fx.is_empty(), "{fx:?}");
    assert!(
        a.status
            .as_ref()
            .is_some_and(|s| s.error && s.text.contains("does not match")),
        "{:?}",
        a.status.as_ref().map(|s| &s.text)
    );
    // The right one (the prefix is optional) pins exactly that key.
    typed(&mut a, FP.strip_prefix("SHA256:").unwrap());
    let fx = key(&mut a, KeyCode::Enter);
    assert_eq!(
        fx,
        vec![Effect::PinHostKey {
            lab: Box::new(a.lab.clone()),
            fingerprint: FP.into()
        }]
    );
    // Compared instead of typed: Enter on an empty field asks, `y` pins, `n` does not.
    reach(
        &mut a,
        Reach::UnknownKey {
            addr: "[127.0.0.2]:22".into(),
            fingerprint: FP.into(),
        },
    );
    assert!(key(&mut a, KeyCode::Enter).is_empty());
    assert!(a.confirm.is_some());
    snap!(&mut a, "connect_compare_confirm");
    assert!(key(&mut a, KeyCode::Char('n')).is_empty());
    assert!(key(&mut a, KeyCode::Enter).is_empty());
    let fx = key(&mut a, KeyCode::Char('y'));
    assert!(
        matches!(fx.as_slice(), [Effect::PinHostKey { fingerprint, .. }] if fingerprint == FP),
        "{fx:?}"
    );
}

#[test]
fn a_changed_host_key_is_refused_with_both_fingerprints() {
    let (mut a, _) = connect_app();
    reach(
        &mut a,
        Reach::ChangedKey {
            addr: "[127.0.0.2]:22".into(),
            pinned: FP.into(),
            offered: "SHA256:2S1S5sMKp3U2n0oRbNfYn3Ywq2H0h8bqVdD4wzm0zqE".into(),
        },
    );
    snap!(&mut a, "connect_changed_key");
    let buf = render(&mut a, 120, 40);
    let t = text(&buf);
    assert!(t.contains(FP) && t.contains("SHA256:2S1S5sMKp3U2n0oRbNfYn3Ywq2H0h8bqVdD4wzm0zqE"));
    // Nothing to confirm: Enter and Next do nothing; only going back or retrying.
    assert!(key(&mut a, KeyCode::Enter).is_empty());
    ctrl(&mut a, 'n');
    assert_eq!(a.screen, Screen::Connect);
    let fx = key(&mut a, KeyCode::F(5));
    assert!(matches!(fx.as_slice(), [Effect::ProbeHost(_)]), "{fx:?}");
}

#[test]
fn the_password_bootstrap_is_masked_sent_once_and_then_connects() {
    let (mut a, _) = connect_app();
    reach(
        &mut a,
        Reach::NeedsKey {
            user: "stack".into(),
            addr: "[127.0.0.2]:22".into(),
        },
    );
    typed(&mut a, "hunter2-secret");
    snap!(&mut a, "connect_password");
    let t = text(&render(&mut a, 120, 40));
    assert!(!t.contains("hunter2"), "the password is masked:\n{t}");
    let fx = key(&mut a, KeyCode::Enter);
    match fx.as_slice() {
        [Effect::Bootstrap { password, .. }] => {
            assert_eq!(*password, Password::new("hunter2-secret".into()));
            assert!(!format!("{password:?}").contains("hunter2"));
        }
        other => panic!("expected the bootstrap, got {other:?}"),
    }
    assert!(a.connect.password.is_none(), "the field is gone once sent");
    // A wrong password: back to the field, saying why.
    let fx = a.update(Msg::Bootstrapped(Err(
        "virthost: authentication failed for user stack".into(),
    )));
    assert!(fx.is_empty());
    assert!(a.connect.password.is_some());
    assert!(
        a.status
            .as_ref()
            .is_some_and(|s| s.text.contains("authentication failed"))
    );
    // Installed: connect again with the key.
    let fx = a.update(Msg::Bootstrapped(Ok(())));
    assert!(matches!(fx.as_slice(), [Effect::ProbeHost(_)]), "{fx:?}");
    reach(
        &mut a,
        Reach::Connected {
            user: "stack".into(),
            addr: "[127.0.0.2]:22".into(),
        },
    );
    snap!(&mut a, "connect_connected");
    ctrl(&mut a, 'n');
    assert_eq!(a.screen, Screen::Undercloud);
}

#[test]
fn preflight_d_runs_the_deep_check_but_not_while_checks_run() {
    let mut a = with_preset("demo");
    ctrl(&mut a, 'n');
    ctrl(&mut a, 'n');
    ctrl(&mut a, 'n');
    assert_eq!(a.screen, Screen::Preflight);
    // Still running: refused.
    assert!(key(&mut a, KeyCode::Char('d')).is_empty());
    a.update(Msg::ChecksDone(Ok(0)));
    let fx = key(&mut a, KeyCode::Char('d'));
    assert!(
        matches!(fx.as_slice(), [Effect::RunDeepChecks(_)]),
        "{fx:?}"
    );
    assert!(a.preflight.running);
    assert!(
        a.status
            .as_ref()
            .is_some_and(|s| s.text.contains("probe guest"))
    );
}

#[test]
fn troubleshoot_f_applies_a_safe_fix_after_showing_it_then_retries_the_step() {
    let mut a = running_app();
    ev(
        &mut a,
        Event::StepFailed {
            stage: "undercloud-vm".into(),
            step: "seed".into(),
            error: "virthost: cannot start `sudo -n genisoimage -quiet -output /w/seed.iso`: No such file or directory (os error 2)".into(),
        },
    );
    ev(
        &mut a,
        Event::RunFinished {
            ok: false,
            cancelled: false,
        },
    );
    key(&mut a, KeyCode::Char('t'));
    assert_eq!(a.screen, Screen::Troubleshoot);
    snap!(&mut a, "troubleshoot_remedy");
    // f shows exactly what will run, and where; nothing runs before the yes.
    assert!(key(&mut a, KeyCode::Char('f')).is_empty());
    let c = a.confirm.as_ref().expect("a confirmation");
    let body = c.body.join("\n");
    assert!(
        body.contains(
            "$ env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends genisoimage"
        )
            && body.contains("on the hypervisor"),
        "{body}"
    );
    snap!(&mut a, "troubleshoot_remedy_confirm");
    let fx = key(&mut a, KeyCode::Char('y'));
    let remedy = match fx.as_slice() {
        [
            Effect::ApplyRemedy {
                stage,
                step,
                remedy,
            },
        ] => {
            assert_eq!((stage.as_str(), step.as_str()), ("undercloud-vm", "seed"));
            remedy.clone()
        }
        other => panic!("expected the fix, got {other:?}"),
    };
    assert_eq!(remedy.host, labwarp::plan::HostRole::Virthost);
    // A failed fix says why and stays; a fix that ran retries the step.
    let fx = a.update(Msg::RemedyApplied {
        stage: "undercloud-vm".into(),
        step: "seed".into(),
        result: Err("virthost: apt-get failed".into()),
    });
    assert!(fx.is_empty());
    assert_eq!(a.screen, Screen::Troubleshoot);
    let fx = a.update(Msg::RemedyApplied {
        stage: "undercloud-vm".into(),
        step: "seed".into(),
        result: Ok(labwarp::run::remedies::Applied {
            done: "install genisoimage".into(),
            lab: None,
        }),
    });
    assert_eq!(
        fx.last(),
        Some(&Effect::RetryStep {
            stage: "undercloud-vm".into(),
            step: "seed".into()
        })
    );
    assert_eq!(a.screen, Screen::Dashboard);
    // A failure without a safe fix offers none.
    let mut b = running_app();
    ev(
        &mut b,
        Event::StepFailed {
            stage: "images".into(),
            step: "undercloud-image".into(),
            error: "exit status 3".into(),
        },
    );
    key(&mut b, KeyCode::Char('t'));
    assert_eq!(b.screen, Screen::Troubleshoot);
    assert!(key(&mut b, KeyCode::Char('f')).is_empty());
    assert!(b.confirm.is_none());
}

#[test]
fn troubleshoot_f_on_a_permission_denial_reads_the_preflight_fixes_then_confirms_them() {
    let mut a = failed_app();
    key(&mut a, KeyCode::Char('t'));
    // The change is read on the hypervisor first: nothing is asked or applied yet.
    let fx = key(&mut a, KeyCode::Char('f'));
    let remedy = match fx.as_slice() {
        [Effect::PrepareRemedy { stage, remedy, .. }] => {
            assert_eq!(stage, "images");
            assert_eq!(remedy.findings, ["qemu-conf.", "apparmor."]);
            remedy.clone()
        }
        other => panic!("expected the preparation, got {other:?}"),
    };
    assert!(a.confirm.is_none());
    // Nothing to change: said so, nothing asked.
    a.update(Msg::RemedyPrepared {
        stage: "images".into(),
        step: "undercloud-image".into(),
        remedy: remedy.clone(),
        lines: Ok(vec![]),
    });
    assert!(a.confirm.is_none());
    assert!(
        a.status
            .as_ref()
            .is_some_and(|s| s.text.contains("Nothing to change"))
    );
    // The exact edit is shown, and applied only after the yes.
    a.update(Msg::RemedyPrepared {
        stage: "images".into(),
        step: "undercloud-image".into(),
        remedy: remedy.clone(),
        lines: Ok(vec![
            "qemu-conf.user:".into(),
            "Edit only user in /etc/libvirt/qemu.conf".into(),
            "rewrite /etc/libvirt/qemu.conf (backup /etc/libvirt/qemu.conf.labwarp.bak)".into(),
            "  + user = \"root\"".into(),
        ]),
    });
    let body = a.confirm.as_ref().expect("confirmation").body.join("\n");
    assert!(
        body.contains("+ user = \"root\"") && body.contains("images / undercloud-image runs again"),
        "{body}"
    );
    snap!(&mut a, "troubleshoot_preflight_remedy_confirm");
    let fx = key(&mut a, KeyCode::Char('y'));
    assert!(
        matches!(fx.as_slice(), [Effect::ApplyRemedy { remedy: r, .. }] if *r == remedy),
        "{fx:?}"
    );
}

/// Issue 15: a command that could not start is named with its package on the troubleshoot
/// screen, and the steps it blocked read "not run: … failed" in the stage log.
#[test]
fn troubleshoot_names_the_package_of_a_missing_command() {
    let mut a = running_app();
    ev(
        &mut a,
        Event::StepFailed {
            stage: "images".into(),
            step: "undercloud-image".into(),
            error: "demo: cannot start `qemu-img create -q -f qcow2 /w/base.qcow2 1G`: No such file or directory (os error 2)".into(),
        },
    );
    ev(
        &mut a,
        Event::StepBlocked {
            stage: "undercloud-vm".into(),
            step: "domain-undercloud".into(),
            failed: "images/undercloud-image".into(),
        },
    );
    let log: Vec<String> = a
        .run
        .log("undercloud-vm")
        .map(|r| {
            (r.dropped()..r.end())
                .filter_map(|i| r.get(i))
                .map(|l| l.text.clone())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        log.contains(&"domain-undercloud: not run: images/undercloud-image failed".to_string()),
        "{log:?}"
    );
    assert!(!log.iter().any(|l| l.contains("already done")), "{log:?}");
    ev(
        &mut a,
        Event::StageFinished {
            stage: "images".into(),
            outcome: StageOutcome::Failed,
            elapsed_ms: 10,
        },
    );
    ev(
        &mut a,
        Event::RunFinished {
            ok: false,
            cancelled: false,
        },
    );
    key(&mut a, KeyCode::Char('t'));
    assert_eq!(a.screen, Screen::Troubleshoot);
    let screen = text(&render(&mut a, 120, 40));
    assert!(screen.contains("`qemu-img` is missing"), "{screen}");
    assert!(screen.contains("apt-get install -y qemu-utils"), "{screen}");
    assert!(!screen.contains("No known signature matches"), "{screen}");
}

/// `tripleo.release` is a choice of the releases labwarp knows (src/lab/release.rs), the
/// default first; an older one is written to the lab and refused by validation on that
/// field, naming the releases labwarp deploys, and Next stays until it is fixed.
#[test]
fn the_tripleo_release_is_chosen_from_the_known_releases_and_validated() {
    let mut a = with_preset("demo");
    ctrl(&mut a, 'n');
    ctrl(&mut a, 'n');
    assert_eq!(a.screen, Screen::Overcloud);
    focus(&mut a, "TripleO release");
    assert_eq!(a.lab.tripleo.release, "wallaby");
    key(&mut a, KeyCode::Char('l'));
    assert_eq!(a.lab.tripleo.release, "zed");
    let form = a.current_form().unwrap();
    let field = form.focused().unwrap();
    assert_eq!(field.key.path(), "tripleo.release");
    assert!(!field.has_error(), "{:?}", field.issues);
    // Past the supported ones: an old release, refused on the field.
    for _ in 0..3 {
        key(&mut a, KeyCode::Char('l'));
    }
    let old = a.lab.tripleo.release.clone();
    assert!(
        labwarp::lab::release::release(&old).is_some_and(|r| !r.supported),
        "{old}"
    );
    let form = a.current_form().unwrap();
    let field = form.focused().unwrap();
    assert!(field.has_error(), "{old}: {:?}", field.issues);
    assert!(
        field
            .issues
            .iter()
            .any(|i| i.path == "tripleo.release" && i.message.contains("wallaby")),
        "{:?}",
        field.issues
    );
    let fx = ctrl(&mut a, 'n');
    assert!(fx.is_empty());
    assert_eq!(a.screen, Screen::Overcloud);
    // Back to the default: the problem is gone.
    for _ in 0..4 {
        key(&mut a, KeyCode::Char('h'));
    }
    assert_eq!(a.lab.tripleo.release, "wallaby");
    let form = a.current_form().unwrap();
    assert!(!form.focused().unwrap().has_error());
}

/// Resuming a found lab whose hypervisor is remote goes through the connection screen
/// (the run would otherwise stop on an unpinned host key): the key is shown and confirmed,
/// and once connected the run resumes by itself. Esc there goes back to the welcome
/// screen; a hypervisor already reachable passes straight on to the run.
#[test]
fn resuming_a_remote_lab_goes_through_the_connection_screen_first() {
    let found = || {
        Msg::Found(labwarp::tui::app::Found {
            lab_path: PathBuf::from("workspace/lab.yaml"),
            name: "minimal".into(),
            has_state: true,
        })
    };
    let loaded = || Msg::LabLoaded {
        path: "workspace/lab.yaml".into(),
        lab: Box::new(labwarp::lab::load_preset("minimal").unwrap()),
        warnings: vec![],
    };
    let mut a = app();
    a.update(found());
    key(&mut a, KeyCode::Enter);
    let fx = a.update(loaded());
    assert_eq!(a.screen, Screen::Connect);
    assert!(
        matches!(fx.as_slice(), [Effect::ProbeHost(_)]),
        "no run before the connection: {fx:?}"
    );
    let fx = reach(
        &mut a,
        Reach::UnknownKey {
            addr: "[127.0.0.2]:22".into(),
            fingerprint: FP.into(),
        },
    );
    assert!(fx.is_empty(), "{fx:?}");
    snap!(&mut a, "connect_before_resume");
    typed(&mut a, FP);
    let fx = key(&mut a, KeyCode::Enter);
    assert!(
        matches!(fx.as_slice(), [Effect::PinHostKey { fingerprint, .. }] if fingerprint == FP),
        "{fx:?}"
    );
    let fx = reach(
        &mut a,
        Reach::Connected {
            user: "root".into(),
            addr: "[127.0.0.2]:22".into(),
        },
    );
    assert_eq!(a.screen, Screen::Dashboard);
    assert!(
        matches!(fx.as_slice(), [Effect::StartRun { resume: true, .. }]),
        "{fx:?}"
    );

    // Esc on the connection screen: back to the welcome screen, nothing run.
    let mut b = app();
    b.update(found());
    key(&mut b, KeyCode::Enter);
    b.update(loaded());
    reach(
        &mut b,
        Reach::UnknownKey {
            addr: "[127.0.0.2]:22".into(),
            fingerprint: FP.into(),
        },
    );
    let fx = key(&mut b, KeyCode::Esc);
    assert_eq!(b.screen, Screen::Welcome);
    assert!(fx.is_empty(), "{fx:?}");

    // Already pinned and authorized: the probe connects and the run starts.
    let mut c = app();
    c.update(found());
    key(&mut c, KeyCode::Enter);
    c.update(loaded());
    let fx = reach(
        &mut c,
        Reach::Connected {
            user: "root".into(),
            addr: "[127.0.0.2]:22".into(),
        },
    );
    assert_eq!(c.screen, Screen::Dashboard);
    assert!(matches!(
        fx.as_slice(),
        [Effect::StartRun { resume: true, .. }]
    ));
}

/// A fix that reads the live state first (here: a network range a host route holds): `f`
/// asks the driver to prepare it (with the lab file a lab.yaml change goes to), confirms
/// exactly the lines it read, and once applied with a changed lab resumes the run with
/// that lab. A fix labwarp cannot make safely says what to do by hand and asks nothing.
#[test]
fn troubleshoot_f_on_a_network_range_collision_prepares_confirms_and_resumes_with_the_new_lab() {
    let mut a = running_app();
    ev(
        &mut a,
        Event::StepFailed {
            stage: "networks".into(),
            step: "network-external".into(),
            error: "internal error: Network is already in use by interface vpn0".into(),
        },
    );
    ev(
        &mut a,
        Event::RunFinished {
            ok: false,
            cancelled: false,
        },
    );
    key(&mut a, KeyCode::Char('t'));
    assert_eq!(a.screen, Screen::Troubleshoot);
    snap!(&mut a, "troubleshoot_network_range");
    let fx = key(&mut a, KeyCode::Char('f'));
    let remedy = match fx.as_slice() {
        [
            Effect::PrepareRemedy {
                stage,
                remedy,
                lab_file,
                ..
            },
        ] => {
            assert_eq!(stage, "networks");
            assert_eq!(
                remedy.probe,
                Some(labwarp::run::remedies::Probe::NetworkRange)
            );
            assert_eq!(lab_file, &a.lab_path);
            remedy.clone()
        }
        other => panic!("expected the preparation, got {other:?}"),
    };
    assert!(a.confirm.is_none());
    // Nothing labwarp can change safely: said so, nothing asked.
    a.update(Msg::RemedyPrepared {
        stage: "networks".into(),
        step: "network-external".into(),
        remedy: remedy.clone(),
        lines: Err("labwarp changes nothing: the lab comes from a preset, not a file".into()),
    });
    assert!(a.confirm.is_none());
    assert!(
        a.status
            .as_ref()
            .is_some_and(|s| s.text.contains("labwarp changes nothing"))
    );
    let lines = vec![
        "networks[0] (external) 192.168.23.0/24 collides with the hypervisor's route 192.168.23.0/24 dev vpn0 (left as it is)".to_string(),
        "  lab.yaml: networks[0].cidr 192.168.23.0/24 → 192.168.25.0/24".into(),
        "write workspace/lab.yaml (atomically; its other settings kept, comments inside it are not)".into(),
    ];
    a.update(Msg::RemedyPrepared {
        stage: "networks".into(),
        step: "network-external".into(),
        remedy: remedy.clone(),
        lines: Ok(lines.clone()),
    });
    let body = a.confirm.as_ref().expect("confirmation").body.join("\n");
    assert!(
        lines.iter().all(|l| body.contains(l.as_str()))
            && body.contains("networks / network-external runs again"),
        "{body}"
    );
    snap!(&mut a, "troubleshoot_network_range_confirm");
    let fx = key(&mut a, KeyCode::Char('y'));
    assert!(
        matches!(fx.as_slice(), [Effect::ApplyRemedy { remedy: r, .. }] if *r == remedy),
        "{fx:?}"
    );
    let mut moved = a.lab.clone();
    moved.networks[0].cidr = "192.168.25.0/24".into();
    let fx = a.update(Msg::RemedyApplied {
        stage: "networks".into(),
        step: "network-external".into(),
        result: Ok(labwarp::run::remedies::Applied {
            done: "write workspace/lab.yaml".into(),
            lab: Some(Box::new(moved.clone())),
        }),
    });
    assert_eq!(a.screen, Screen::Dashboard);
    assert_eq!(a.lab, moved);
    assert!(
        matches!(fx.last(), Some(Effect::StartRun { lab, resume: true }) if **lab == moved),
        "{fx:?}"
    );
}
