//! The pieces every screen draws with: where a screen's body goes, a titled pane, a hit
//! test for clicks. Below the screens (they import it) and below `view`, which draws the
//! chrome around them.

use super::shell::Shell;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders};

/// Where a screen's body goes: everything but the header row and the status bar.
pub fn body(area: Rect) -> Rect {
    Rect {
        x: area.x,
        y: area.y.saturating_add(1),
        width: area.width,
        height: area.height.saturating_sub(2),
    }
}

/// A bordered pane, highlighted when focused.
pub fn pane<'a>(sh: &Shell, title: impl Into<Line<'a>>, focused: bool) -> Block<'a> {
    let s = &sh.styles;
    Block::new()
        .borders(Borders::ALL)
        .border_style(if focused { s.border_focus } else { s.border })
        .title(title)
        .title_style(if focused { s.title } else { Style::new() })
}

pub fn contains(r: Rect, col: u16, row: u16) -> bool {
    col >= r.x && col < r.right() && row >= r.y && row < r.bottom()
}
