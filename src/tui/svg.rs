//! Screenshots: a rendered buffer as SVG text (monospace, foreground colours,
//! bold, reversed cells), for the README and for looking at test screens.

use ratatui::buffer::{Buffer, Cell};
use ratatui::style::{Color, Modifier};
use std::fmt::Write as _;
use std::io;
use std::path::Path;

const CELL_WIDTH: f32 = 8.4;
const LINE_HEIGHT: f32 = 17.0;
const FONT_SIZE: f32 = 14.0;
const BACKGROUND: &str = "#1d1f21";
const FOREGROUND: &str = "#d0d0d0";

/// Write `buffer` to `path` as an SVG image.
pub fn write_screenshot(buffer: &Buffer, path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, to_svg(buffer))
}

/// A run of cells on one line drawn with one style.
struct Run {
    x: u16,
    fg: String,
    bold: bool,
    dim: bool,
    text: String,
}

pub fn to_svg(buffer: &Buffer) -> String {
    let area = buffer.area;
    let width = f32::from(area.width) * CELL_WIDTH;
    let height = f32::from(area.height) * LINE_HEIGHT + 6.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="'DejaVu Sans Mono', 'Menlo', 'Consolas', monospace" font-size="{FONT_SIZE}">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="100%" height="100%" fill="{BACKGROUND}"/>"#
    );
    for y in 0..area.height {
        let cells: Vec<&Cell> = (0..area.width)
            .filter_map(|x| buffer.cell((area.x + x, area.y + y)))
            .collect();
        backgrounds(&mut out, &cells, y);
        let runs = runs(&cells);
        if runs.is_empty() {
            continue;
        }
        let baseline = f32::from(y) * LINE_HEIGHT + FONT_SIZE;
        let _ = write!(out, r#"<text y="{baseline:.1}" xml:space="preserve">"#);
        for run in runs {
            let mut attrs = format!(
                r#" x="{:.1}" fill="{}""#,
                f32::from(run.x) * CELL_WIDTH,
                run.fg
            );
            if run.bold {
                attrs.push_str(r#" font-weight="bold""#);
            }
            if run.dim {
                attrs.push_str(r#" opacity="0.6""#);
            }
            let _ = write!(out, "<tspan{attrs}>{}</tspan>", escape(&run.text));
        }
        out.push_str("</text>\n");
    }
    out.push_str("</svg>\n");
    out
}

/// The colours a cell shows, reversed cells swapped.
fn colors(cell: &Cell) -> (Option<String>, Option<String>) {
    let (fg, bg) = if cell.modifier.contains(Modifier::REVERSED) {
        (
            Some(hex(cell.bg).unwrap_or_else(|| BACKGROUND.into())),
            Some(hex(cell.fg).unwrap_or_else(|| FOREGROUND.into())),
        )
    } else {
        (hex(cell.fg), hex(cell.bg))
    };
    (fg, bg)
}

fn backgrounds(out: &mut String, cells: &[&Cell], y: u16) {
    for (x, cell) in cells.iter().enumerate() {
        if let (_, Some(bg)) = colors(cell) {
            let _ = writeln!(
                out,
                r#"<rect x="{:.1}" y="{:.1}" width="{CELL_WIDTH}" height="{LINE_HEIGHT}" fill="{bg}"/>"#,
                x as f32 * CELL_WIDTH,
                f32::from(y) * LINE_HEIGHT + 3.0
            );
        }
    }
}

/// Runs of same-styled text. Non-ASCII symbols get a run of their own with
/// an explicit x, so a fallback font's different glyph width cannot shift
/// the rest of the line.
fn runs(cells: &[&Cell]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for (x, cell) in cells.iter().enumerate() {
        let symbol = cell.symbol();
        if symbol.is_empty() || symbol == " " {
            continue;
        }
        let fg = colors(cell).0.unwrap_or_else(|| FOREGROUND.into());
        let bold = cell.modifier.contains(Modifier::BOLD);
        let dim = cell.modifier.contains(Modifier::DIM);
        let x = x as u16;
        if let Some(run) = runs.last_mut()
            && symbol.is_ascii()
            && run.text.is_ascii()
            && run.x + run.text.len() as u16 == x
            && (run.fg.as_str(), run.bold, run.dim) == (fg.as_str(), bold, dim)
        {
            run.text.push_str(symbol);
            continue;
        }
        runs.push(Run {
            x,
            fg,
            bold,
            dim,
            text: symbol.to_string(),
        });
    }
    runs
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A terminal colour as the usual xterm palette shows it; None is the default.
fn hex(color: Color) -> Option<String> {
    let named = |s: &str| Some(s.to_string());
    match color {
        Color::Reset => None,
        Color::Black => named("#1d1f21"),
        Color::Red => named("#cc6666"),
        Color::Green => named("#8fbf5f"),
        Color::Yellow => named("#e6c547"),
        Color::Blue => named("#6f9fd8"),
        Color::Magenta => named("#b294bb"),
        Color::Cyan => named("#70c0b1"),
        Color::Gray => named("#a8a8a8"),
        Color::DarkGray => named("#6c6c6c"),
        Color::LightRed => named("#ff7b7b"),
        Color::LightGreen => named("#b5e890"),
        Color::LightYellow => named("#ffe58a"),
        Color::LightBlue => named("#9cc3ff"),
        Color::LightMagenta => named("#d7b0e0"),
        Color::LightCyan => named("#a0e8dc"),
        Color::White => named("#eaeaea"),
        Color::Rgb(r, g, b) => Some(format!("#{r:02x}{g:02x}{b:02x}")),
        Color::Indexed(i) => Some(indexed(i)),
    }
}

/// The xterm-256 palette: 16 system colours, a 6×6×6 cube, 24 greys.
fn indexed(i: u8) -> String {
    match i {
        0..16 => {
            let base = [
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
            hex(base[usize::from(i)]).unwrap_or_else(|| FOREGROUND.into())
        }
        16..232 => {
            let level = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
            let n = i - 16;
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

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;
    use ratatui::style::Style;

    #[test]
    fn text_runs_carry_colour_and_escape() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 12, 2));
        buf.set_string(0, 0, "a<b", Style::new().fg(Color::Red));
        buf.set_string(4, 0, "●", Style::new().fg(Color::Indexed(208)));
        buf.set_string(0, 1, "sel", Style::new().add_modifier(Modifier::REVERSED));
        let svg = to_svg(&buf);
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains(r##"fill="#cc6666">a&lt;b</tspan>"##), "{svg}");
        assert!(svg.contains(r##"fill="#ff8700">●</tspan>"##), "{svg}");
        // Reversed: a light background rectangle under dark text.
        assert!(svg.contains(r##"fill="#d0d0d0"/>"##), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn palette_cube_and_greys() {
        assert_eq!(indexed(208), "#ff8700");
        assert_eq!(indexed(232), "#080808");
        assert_eq!(indexed(16), "#000000");
    }
}
