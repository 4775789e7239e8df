//! The log pane's line handling: arbitrary bytes (ANSI escapes, invalid UTF-8, lines up to
//! 1 MB) split into lines as the host layer does, pushed through the ring, searched, scrolled
//! and drawn at several sizes. Never a panic, and nothing that reaches the terminal's cells
//! is a control character (a log line cannot move the cursor, retitle the window or change
//! colours behind the pane's back).
#![no_main]

use labwarp::run::event::LogStream;
use labwarp::tui::logview::{LogRing, LogView};
use labwarp::tui::style::Styles;
use libfuzzer_sys::fuzz_target;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::{Paragraph, Widget};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, data)) = data.split_first() else {
        return;
    };
    let mut ring = LogRing::with_capacity(1 + (flags as usize % 7));
    let streams = [LogStream::Stdout, LogStream::Stderr, LogStream::Info];
    for (i, raw) in data.split(|b| *b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        ring.push(streams[i % 3], String::from_utf8_lossy(raw).into_owned());
    }
    if flags & 0x80 != 0 && !data.is_empty() {
        // One line of about 1 MB made of the input repeated.
        let big = data.repeat((1 << 20) / data.len() + 1);
        ring.push(LogStream::Stdout, String::from_utf8_lossy(&big).into_owned());
    }
    let styles = Styles::default();
    let needle = data.split(|b| *b == b'\n').next().unwrap_or_default();
    let mut view = LogView {
        wrap: flags & 0x40 != 0,
        search: (flags & 0x20 != 0).then(|| String::from_utf8_lossy(needle).into_owned()),
        ..LogView::default()
    };
    for (w, h) in [(80u16, 24u16), (1, 1), (0, 3), (13, 0), (200, 5)] {
        view.scroll(&ring, h as usize, -3);
        let _ = view.find(&ring, h as usize, flags & 1 == 0);
        let lines = view.visible(&ring, w as usize, h as usize, &styles);
        assert!(lines.len() <= ring.len(), "more lines than the ring holds");
        let area = Rect::new(0, 0, w, h);
        let mut buf = Buffer::empty(area);
        Paragraph::new(lines).render(area, &mut buf);
        for cell in buf.content() {
            assert!(
                !cell.symbol().chars().any(|c| c.is_control()),
                "a control character reaches the terminal: {:?}",
                cell.symbol()
            );
        }
        view.to_bottom();
        view.scroll(&ring, h as usize, i64::MIN + 1);
        view.scroll(&ring, h as usize, i64::MAX);
        view.to_top(&ring);
    }
});
