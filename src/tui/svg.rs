//! Renders a ratatui buffer as an SVG image: how `screenshots/` are made from real renders
//! (the same TestBackend buffers the snapshot tests check), never by hand.

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use std::fmt::Write;

const CELL_W: f32 = 8.4;
const CELL_H: f32 = 17.0;
const FONT: f32 = 14.0;
const DEFAULT_FG: &str = "#d0d0d0";
const DEFAULT_BG: &str = "#1c1c1c";

/// xterm's default palette for the 16 named colours.
fn named(c: Color) -> Option<&'static str> {
    Some(match c {
        Color::Black => "#000000",
        Color::Red => "#cd0000",
        Color::Green => "#00cd00",
        Color::Yellow => "#cdcd00",
        Color::Blue => "#3b78ff",
        Color::Magenta => "#cd00cd",
        Color::Cyan => "#00cdcd",
        Color::Gray => "#e5e5e5",
        Color::DarkGray => "#7f7f7f",
        Color::LightRed => "#ff5f5f",
        Color::LightGreen => "#5fff5f",
        Color::LightYellow => "#ffff5f",
        Color::LightBlue => "#5f87ff",
        Color::LightMagenta => "#ff5fff",
        Color::LightCyan => "#5fffff",
        Color::White => "#ffffff",
        _ => return None,
    })
}

fn hex(c: Color, default: &str) -> String {
    match c {
        Color::Reset => default.to_string(),
        Color::Rgb(r, g, b) => format!("#{r:02x}{g:02x}{b:02x}"),
        Color::Indexed(i) => indexed(i),
        other => named(other).unwrap_or(default).to_string(),
    }
}

/// The xterm 256-colour palette.
fn indexed(i: u8) -> String {
    const BASE: [Color; 16] = [
        Color::Black,
        Color::Red,
        Color::Green,
        Color::Yellow,
        Color::Blue,
        Color::Magenta,
        Color::Cyan,
        Color::Gray,
        Color::DarkGray,
        Color::LightRed,
        Color::LightGreen,
        Color::LightYellow,
        Color::LightBlue,
        Color::LightMagenta,
        Color::LightCyan,
        Color::White,
    ];
    match i {
        0..=15 => named(BASE[i as usize]).unwrap_or(DEFAULT_FG).to_string(),
        16..=231 => {
            let n = i - 16;
            let level = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
            format!(
                "#{:02x}{:02x}{:02x}",
                level(n / 36),
                level((n / 6) % 6),
                level(n % 6)
            )
        }
        _ => {
            let v = 8 + (i - 232) * 10;
            format!("#{v:02x}{v:02x}{v:02x}")
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One run of cells sharing a style.
struct Run {
    x: u16,
    text: String,
    fg: String,
    bg: String,
    bold: bool,
    underline: bool,
    dim: bool,
}

pub fn render(buf: &Buffer) -> String {
    let (w, h) = (buf.area.width, buf.area.height);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{:.0}" height="{:.0}" viewBox="0 0 {:.0} {:.0}">"#,
        w as f32 * CELL_W + 16.0,
        h as f32 * CELL_H + 16.0,
        w as f32 * CELL_W + 16.0,
        h as f32 * CELL_H + 16.0,
    );
    let _ = write!(
        out,
        "\n<rect width=\"100%\" height=\"100%\" rx=\"6\" fill=\"{DEFAULT_BG}\"/>\n<g transform=\"translate(8 8)\" font-family=\"'DejaVu Sans Mono', 'Menlo', 'Consolas', monospace\" font-size=\"{FONT}\" xml:space=\"preserve\">\n"
    );
    for y in 0..h {
        let mut runs: Vec<Run> = Vec::new();
        for x in 0..w {
            let cell = &buf[(x, y)];
            let reversed = cell.modifier.contains(Modifier::REVERSED);
            let (mut fg, mut bg) = (hex(cell.fg, DEFAULT_FG), hex(cell.bg, DEFAULT_BG));
            if reversed {
                std::mem::swap(&mut fg, &mut bg);
            }
            let bold = cell.modifier.contains(Modifier::BOLD);
            let underline = cell.modifier.contains(Modifier::UNDERLINED);
            let dim = cell.modifier.contains(Modifier::DIM);
            let sym = cell.symbol();
            match runs.last_mut() {
                Some(r)
                    if r.fg == fg
                        && r.bg == bg
                        && r.bold == bold
                        && r.underline == underline
                        && r.dim == dim =>
                {
                    r.text.push_str(sym)
                }
                _ => runs.push(Run {
                    x,
                    text: sym.to_string(),
                    fg,
                    bg,
                    bold,
                    underline,
                    dim,
                }),
            }
        }
        let top = y as f32 * CELL_H;
        for r in &runs {
            let cells = r.text.chars().count() as f32;
            if r.bg != DEFAULT_BG {
                let _ = writeln!(
                    out,
                    r#"<rect x="{:.1}" y="{top:.1}" width="{:.1}" height="{CELL_H}" fill="{}"/>"#,
                    r.x as f32 * CELL_W,
                    cells * CELL_W,
                    r.bg
                );
            }
            if r.text.trim().is_empty() && !r.underline {
                continue;
            }
            let mut attrs = format!(r#" fill="{}""#, r.fg);
            if r.bold {
                attrs.push_str(r#" font-weight="bold""#);
            }
            if r.underline {
                attrs.push_str(r#" text-decoration="underline""#);
            }
            if r.dim {
                attrs.push_str(r#" opacity="0.6""#);
            }
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{:.1}" textLength="{:.1}" lengthAdjust="spacingAndGlyphs"{attrs}>{}</text>"#,
                r.x as f32 * CELL_W,
                top + CELL_H * 0.78,
                cells * CELL_W,
                escape(&r.text)
            );
        }
    }
    out.push_str("</g>\n</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;
    use ratatui::style::Style;

    #[test]
    fn cells_become_text_with_their_colours_escaped() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 6, 1));
        buf.set_string(0, 0, "a<b", Style::new().fg(Color::Red));
        buf.set_string(3, 0, "ok", Style::new().bg(Color::Indexed(21)));
        let svg = render(&buf);
        assert!(svg.contains(r##"fill="#cd0000">a&lt;b</text>"##), "{svg}");
        assert!(
            svg.contains(r##"fill="#0000ff""##),
            "indexed 21 is pure blue: {svg}"
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
    }
}
