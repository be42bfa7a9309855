//! Render benchmark: frame times of the whole screen with 200 workers and
//! 10,000 log lines at 160×48 on ratatui's TestBackend, and input-to-frame
//! latency (a key applied to the app, then a finished frame). Prints JSON.
//!
//!     cargo run --release --features fixtures --example render_bench

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard::tui::app::App;
use switchboard::tui::keymap::Keymap;
use switchboard::tui::theme::Theme;
use switchboard::tui::{TuiOptions, fixture};

const WORKERS: usize = 200;
const LOG_LINES: usize = 10_000;
const FRAMES: usize = 500;

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i].as_secs_f64() * 1000.0
}

fn main() {
    let snapshot = Arc::new(fixture::large(WORKERS, LOG_LINES));
    let options = TuiOptions::default();
    let mut app = App::new(
        snapshot.clone(),
        Keymap::defaults(),
        Theme { color: true },
        &options,
    );
    app.resize(160, 48);
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).expect("test backend");
    let mut draw = |app: &App| {
        let Ok(_) = terminal.draw(|frame| frame.render_widget(app, frame.area()));
    };

    for _ in 0..50 {
        draw(&app);
    }

    // Frame time: the clock advances between frames, as with the 1 s tick.
    let mut frames = Vec::with_capacity(FRAMES);
    for i in 0..FRAMES {
        app.set_now(fixture::NOW + i as u64 * 100);
        let start = Instant::now();
        draw(&app);
        frames.push(start.elapsed());
    }

    // Input to frame: a key (select next / previous, scrolling the table
    // through all 200 rows and back) applied, then the frame drawn.
    let mut input = Vec::with_capacity(FRAMES);
    for i in 0..FRAMES {
        let code = if (i / WORKERS).is_multiple_of(2) {
            KeyCode::Char('j')
        } else {
            KeyCode::Char('k')
        };
        let start = Instant::now();
        let _ = app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
        draw(&app);
        input.push(start.elapsed());
    }

    // A new snapshot (rows re-filtered and sorted, log appended) to frame.
    let mut ingest = Vec::with_capacity(FRAMES);
    for i in 0..FRAMES {
        let mut next = (*snapshot).clone();
        next.now_ms += i as u64;
        next.log_total += i as u64;
        let next = Arc::new(next);
        let start = Instant::now();
        app.on_snapshot(next);
        draw(&app);
        ingest.push(start.elapsed());
    }

    let report = serde_json::json!({
        "size": "160x48",
        "workers": WORKERS,
        "log_lines": app.log.len(),
        "frames": FRAMES,
        "frame_ms": { "p50": percentile(&mut frames, 0.50), "p99": percentile(&mut frames, 0.99) },
        "input_to_frame_ms": { "p50": percentile(&mut input, 0.50), "p99": percentile(&mut input, 0.99) },
        "snapshot_to_frame_ms": { "p50": percentile(&mut ingest, 0.50), "p99": percentile(&mut ingest, 0.99) },
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
    });
    println!("{report}");
}
