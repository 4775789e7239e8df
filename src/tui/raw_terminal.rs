//! The local terminal for `labwarp ssh`'s interactive shell: raw mode for as long as a
//! guard lives, and the window size. Kept in the UI layer, the only one that talks to the
//! terminal library.

use ratatui::crossterm::terminal;

/// Puts the local terminal in raw mode and restores it when dropped (also on panic).
pub struct RawMode;

impl RawMode {
    pub fn enable() -> std::io::Result<RawMode> {
        terminal::enable_raw_mode()?;
        Ok(RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = terminal::disable_raw_mode();
    }
}

/// The terminal's size in columns and rows.
pub fn size() -> std::io::Result<(u16, u16)> {
    terminal::size()
}
