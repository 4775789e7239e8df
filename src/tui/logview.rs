//! The log pane's data and view state. Lines live in a bounded ring (old lines drop off,
//! counted); drawing takes only the visible slice, so a pane with millions of lines behind it
//! costs the same to draw as one with fifty (a Paragraph given every line and a scroll
//! offset is slower and its u16 offset cannot pass line 65,535).

use crate::engine::event::LogStream;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use std::collections::VecDeque;

use super::style::Styles;

/// Lines kept per stream before the oldest are dropped (all streams together are also held
/// to [`crate::tui::runview::LogBudget`]).
pub const DEFAULT_CAPACITY: usize = 200_000;

#[derive(Debug, Clone)]
pub struct LogLine {
    pub stream: LogStream,
    pub text: String,
    /// Arrival order across all of the dashboard's streams (which line is the oldest of all).
    pub at: u64,
}

#[derive(Debug, Clone)]
pub struct LogRing {
    lines: VecDeque<LogLine>,
    cap: usize,
    /// Sequence number of `lines[0]`: lines are addressed by sequence so positions stay
    /// stable while old lines drop off the front.
    first: u64,
    /// Text bytes held (for the dashboard's memory budget across all streams).
    bytes: usize,
}

impl Default for LogRing {
    fn default() -> Self {
        LogRing::with_capacity(DEFAULT_CAPACITY)
    }
}

impl LogRing {
    pub fn with_capacity(cap: usize) -> Self {
        LogRing {
            lines: VecDeque::new(),
            cap: cap.max(1),
            first: 0,
            bytes: 0,
        }
    }

    /// Appends a line; returns the text bytes of the line dropped to make room, if any.
    pub fn push(&mut self, stream: LogStream, text: String) -> Option<usize> {
        let at = self.end();
        self.push_at(stream, text, at)
    }

    /// [`LogRing::push`] with the line's arrival order among several rings.
    pub fn push_at(&mut self, stream: LogStream, text: String, at: u64) -> Option<usize> {
        let dropped = if self.lines.len() == self.cap {
            self.pop_oldest()
        } else {
            None
        };
        self.bytes += text.len();
        self.lines.push_back(LogLine { stream, text, at });
        dropped
    }

    /// Arrival order of the oldest line held.
    pub fn oldest_at(&self) -> Option<u64> {
        self.lines.front().map(|l| l.at)
    }

    /// Drops the oldest line (counted in [`LogRing::dropped`]); returns its text bytes.
    pub fn pop_oldest(&mut self) -> Option<usize> {
        let l = self.lines.pop_front()?;
        self.first += 1;
        self.bytes -= l.text.len();
        Some(l.text.len())
    }

    /// Text bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Lines dropped so far.
    pub fn dropped(&self) -> u64 {
        self.first
    }

    /// Sequence number one past the last line.
    pub fn end(&self) -> u64 {
        self.first + self.lines.len() as u64
    }

    pub fn get(&self, seq: u64) -> Option<&LogLine> {
        seq.checked_sub(self.first)
            .and_then(|i| self.lines.get(usize::try_from(i).ok()?))
    }

    pub fn tail(&self, n: usize) -> impl Iterator<Item = &LogLine> {
        self.lines.iter().skip(self.lines.len().saturating_sub(n))
    }

    pub fn texts(&self) -> Vec<String> {
        self.lines.iter().map(|l| l.text.clone()).collect()
    }

    /// Next line at or after `from` (or at or before it, backwards) containing `needle`,
    /// case-insensitively; wraps around once.
    pub fn find(&self, needle: &str, from: u64, forward: bool) -> Option<u64> {
        if needle.is_empty() || self.lines.is_empty() {
            return None;
        }
        let needle = needle.to_lowercase();
        let hit = |seq: u64| {
            self.get(seq)
                .is_some_and(|l| l.text.to_lowercase().contains(&needle))
        };
        let n = self.lines.len() as u64;
        let start = from.clamp(self.first, self.end() - 1) - self.first;
        (0..n)
            .map(|k| {
                let off = if forward {
                    (start + k) % n
                } else {
                    (start + n - k) % n
                };
                self.first + off
            })
            .find(|seq| hit(*seq))
    }
}

/// How a log pane looks at its ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogView {
    /// Stick to the newest line.
    pub follow: bool,
    /// First visible line (a sequence number) when not following.
    pub top: u64,
    pub wrap: bool,
    pub search: Option<String>,
}

impl Default for LogView {
    fn default() -> Self {
        LogView {
            follow: true,
            top: 0,
            wrap: false,
            search: None,
        }
    }
}

impl LogView {
    /// First visible sequence number for a pane `height` rows high (without wrap).
    pub fn first_visible(&self, ring: &LogRing, height: usize) -> u64 {
        let last_page = ring.end().saturating_sub(height as u64).max(ring.first);
        if self.follow {
            last_page
        } else {
            self.top.clamp(ring.first, last_page)
        }
    }

    pub fn scroll(&mut self, ring: &LogRing, height: usize, delta: i64) {
        let top = self.first_visible(ring, height);
        let last_page = ring.end().saturating_sub(height as u64).max(ring.first);
        let next = if delta < 0 {
            top.saturating_sub(delta.unsigned_abs())
        } else {
            top.saturating_add(delta as u64)
        }
        .clamp(ring.first, last_page);
        self.top = next;
        // Scrolling to the bottom resumes following, as in `less +F`.
        self.follow = delta > 0 && next == last_page;
    }

    pub fn to_top(&mut self, ring: &LogRing) {
        self.follow = false;
        self.top = ring.first;
    }

    pub fn to_bottom(&mut self) {
        self.follow = true;
    }

    /// Jumps to the next match of the search; false when there is none.
    pub fn find(&mut self, ring: &LogRing, height: usize, forward: bool) -> bool {
        let Some(needle) = self.search.clone() else {
            return false;
        };
        let current = self.first_visible(ring, height);
        let from = if forward {
            current + 1
        } else {
            current.saturating_sub(1)
        };
        match ring.find(&needle, from, forward) {
            Some(seq) => {
                self.follow = false;
                self.top = seq;
                true
            }
            None => false,
        }
    }

    /// The lines to draw: only what fits in `width`×`height`. With wrap on, long lines
    /// take several rows, so fewer lines are taken.
    pub fn visible<'a>(
        &self,
        ring: &'a LogRing,
        width: usize,
        height: usize,
        styles: &Styles,
    ) -> Vec<Line<'a>> {
        if height == 0 || ring.is_empty() {
            return Vec::new();
        }
        let rows = |l: &LogLine| {
            if self.wrap && width > 0 {
                l.text.chars().count().max(1).div_ceil(width)
            } else {
                1
            }
        };
        let mut seqs: Vec<u64> = Vec::new();
        if self.follow {
            let mut used = 0;
            let mut seq = ring.end();
            while seq > ring.first && used < height {
                seq -= 1;
                used += ring.get(seq).map(rows).unwrap_or(1);
                seqs.push(seq);
            }
            seqs.reverse();
        } else {
            let mut used = 0;
            let mut seq = self.first_visible(ring, height);
            while seq < ring.end() && used < height {
                used += ring.get(seq).map(rows).unwrap_or(1);
                seqs.push(seq);
                seq += 1;
            }
        }
        seqs.into_iter()
            .filter_map(|s| ring.get(s))
            .map(|l| self.styled(l, styles))
            .collect()
    }

    fn styled<'a>(&self, l: &'a LogLine, styles: &Styles) -> Line<'a> {
        let base = match l.stream {
            LogStream::Stderr => styles.warn,
            LogStream::Info => styles.muted,
            LogStream::Stdout => styles.base,
        };
        let Some(needle) = self.search.as_deref().filter(|n| !n.is_empty()) else {
            return Line::from(Span::styled(l.text.as_str(), base));
        };
        // Highlight every match (case-insensitive, on char boundaries of the original).
        let lower = l.text.to_lowercase();
        if lower.len() != l.text.len() {
            return Line::from(Span::styled(l.text.as_str(), base));
        }
        let needle = needle.to_lowercase();
        let mut spans = Vec::new();
        let mut at = 0;
        while let Some(pos) = lower[at..].find(&needle) {
            let start = at + pos;
            let end = start + needle.len();
            if start > at {
                spans.push(Span::styled(&l.text[at..start], base));
            }
            spans.push(Span::styled(&l.text[start..end], styles.highlight));
            at = end;
        }
        if at < l.text.len() {
            spans.push(Span::styled(&l.text[at..], base));
        }
        Line::from(spans)
    }
}

/// Draws unwrapped lines row by row straight into the buffer, as a `Paragraph` without wrap
/// would. Printable ASCII (nearly all log output) is copied cell by cell, skipping the
/// grapheme segmentation, width lookups and per-line reflow a `Paragraph` does for every
/// character: that was about a third of a 200×50 dashboard frame (callgrind, BENCHMARKS.md).
/// Anything else goes through `Buffer::set_stringn`, which handles wide and control
/// characters the way a `Paragraph` does.
pub fn render_unwrapped(lines: &[Line], area: Rect, buf: &mut Buffer) {
    let area = area.intersection(buf.area);
    for (row, line) in lines.iter().take(area.height as usize).enumerate() {
        let y = area.y + row as u16;
        let mut x = area.x;
        for span in &line.spans {
            if x >= area.right() {
                break;
            }
            let style = line.style.patch(span.style);
            let room = (area.right() - x) as usize;
            let text: &str = &span.content;
            if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                let n = text.len().min(room);
                let start = buf.index_of(x, y);
                let cells = &mut buf.content[start..start + n];
                for (cell, ch) in cells.iter_mut().zip(text.bytes()) {
                    cell.set_char(char::from(ch)).set_style(style);
                }
                x += n as u16;
            } else {
                x = buf.set_stringn(x, y, text, room, style).0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::{Color, Style};
    use ratatui::widgets::{Paragraph, Widget};

    #[test]
    fn unwrapped_lines_draw_as_a_paragraph_does() {
        let red = Style::new().fg(Color::Red);
        let lines = vec![
            Line::from("plain ascii that is longer than the pane is wide, cut at the edge"),
            Line::from(vec![Span::styled("warn: ", red), Span::raw("mixed spans")]),
            Line::from("wide 漢字 and é and a tab\there, also cut at the edge of the pane"),
            Line::from(""),
            Line::from("row beyond the area"),
        ];
        let area = Rect::new(2, 1, 30, 4);
        let mut fast = Buffer::empty(Rect::new(0, 0, 40, 6));
        let mut para = fast.clone();
        render_unwrapped(&lines, area, &mut fast);
        Paragraph::new(lines.clone()).render(area, &mut para);
        assert_eq!(fast, para);
    }

    fn ring(n: usize, cap: usize) -> LogRing {
        let mut r = LogRing::with_capacity(cap);
        for i in 0..n {
            r.push(LogStream::Stdout, format!("line {i}"));
        }
        r
    }

    #[test]
    fn ring_drops_oldest_and_keeps_sequence_numbers() {
        let r = ring(10, 4);
        assert_eq!(r.len(), 4);
        assert_eq!(r.dropped(), 6);
        assert_eq!(r.get(6).unwrap().text, "line 6");
        assert!(r.get(5).is_none());
        assert_eq!(r.end(), 10);
    }

    #[test]
    fn follow_shows_the_tail_and_scrolling_up_stops_following() {
        let r = ring(100, 1000);
        let mut v = LogView::default();
        let st = Styles::default();
        let lines = v.visible(&r, 80, 5, &st);
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[4].to_string(), "line 99");
        v.scroll(&r, 5, -10);
        assert!(!v.follow);
        assert_eq!(v.visible(&r, 80, 5, &st)[0].to_string(), "line 85");
        v.scroll(&r, 5, 1000);
        assert!(v.follow, "scrolling to the end follows again");
    }

    #[test]
    fn only_the_visible_slice_is_built_for_a_huge_log() {
        let r = ring(300_000, 250_000);
        let v = LogView::default();
        let lines = v.visible(&r, 80, 20, &Styles::default());
        assert_eq!(lines.len(), 20);
        assert_eq!(lines[19].to_string(), "line 299999");
    }

    #[test]
    fn wrap_takes_fewer_lines() {
        let mut r = LogRing::with_capacity(10);
        r.push(LogStream::Stdout, "x".repeat(30));
        r.push(LogStream::Stdout, "y".repeat(30));
        let v = LogView {
            wrap: true,
            ..LogView::default()
        };
        // 30 chars in 10 columns = 3 rows each; 4 rows fit only the last line fully.
        assert_eq!(v.visible(&r, 10, 4, &Styles::default()).len(), 2);
        assert_eq!(v.visible(&r, 10, 3, &Styles::default()).len(), 1);
    }

    #[test]
    fn search_finds_forward_and_back_and_wraps() {
        let mut r = ring(50, 100);
        r.push(LogStream::Stderr, "ERROR: permission denied".into());
        let mut v = LogView {
            search: Some("permission".into()),
            ..LogView::default()
        };
        v.to_top(&r);
        assert!(v.find(&r, 5, true));
        assert_eq!(v.top, 50);
        assert!(v.find(&r, 5, false), "wraps around to the same match");
        v.search = Some("no such thing".into());
        assert!(!v.find(&r, 5, true));
    }
}
