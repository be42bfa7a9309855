//! Writes `assets/control-room.svg`: the 160×48 screen of the example plan
//! mid-run (the test fixture), for the README.
//!
//!     cargo run --features fixtures --example screenshot [path]

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::path::PathBuf;
use std::sync::Arc;
use switchboard::tui::app::App;
use switchboard::tui::keymap::Keymap;
use switchboard::tui::theme::Theme;
use switchboard::tui::{TuiOptions, fixture, write_screenshot};

fn main() -> std::io::Result<()> {
    let path = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("assets/control-room.svg"), PathBuf::from);
    let mut app = App::new(
        Arc::new(fixture::mid_run()),
        Keymap::defaults(),
        Theme { color: true },
        &TuiOptions::default(),
    );
    app.resize(160, 48);
    // Select a running worker, as someone watching the run would.
    app.selected = Some("T5".into());
    let Ok(mut terminal) = Terminal::new(TestBackend::new(160, 48));
    let Ok(_) = terminal.draw(|frame| frame.render_widget(&app, frame.area()));
    write_screenshot(terminal.backend().buffer(), &path)?;
    println!("wrote {}", path.display());
    Ok(())
}
