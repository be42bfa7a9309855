//! Owning the terminal: raw mode, alternate screen and mouse capture on the
//! way in, all of it undone on the way out — on return, on error (the guard's
//! drop), on panic (a hook), around `tmux attach`, and across Ctrl-Z / `fg`.

use crossterm::cursor::{Hide, Show};
use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::{self, Stdout, Write};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether some guard holds the terminal in raw mode now: the panic hook
/// restores only then, so a panic after the TUI has left prints normally.
static ENTERED: AtomicBool = AtomicBool::new(false);

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// The terminal while the TUI owns it; restores it when dropped.
pub struct TerminalGuard {
    /// Dropped by hand: ratatui's own drop `eprintln!`s when it cannot show
    /// the cursor, and that panics when the terminal has gone away.
    terminal: std::mem::ManuallyDrop<Term>,
    mouse: bool,
    /// True while in raw mode on the alternate screen.
    entered: bool,
}

impl TerminalGuard {
    pub fn enter(mouse: bool) -> io::Result<TerminalGuard> {
        install_panic_hook();
        let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        let mut guard = TerminalGuard {
            terminal: std::mem::ManuallyDrop::new(terminal),
            mouse,
            entered: false,
        };
        guard.resume()?;
        Ok(guard)
    }

    pub fn terminal(&mut self) -> &mut Term {
        &mut self.terminal
    }

    /// Give the terminal back to the shell (or to a child such as tmux).
    pub fn suspend(&mut self) -> io::Result<()> {
        self.entered = false;
        restore(self.mouse)
    }

    /// Take the terminal again and force a full redraw: whatever ran in the
    /// meantime left the screen in a state ratatui's diff cannot know.
    /// Safe to call when already entered (SIGCONT after our own suspend).
    pub fn resume(&mut self) -> io::Result<()> {
        enable_raw_mode()?;
        let mut out = io::stdout();
        execute!(out, EnterAlternateScreen, Hide)?;
        if self.mouse {
            execute!(out, EnableMouseCapture)?;
        }
        self.entered = true;
        ENTERED.store(true, Ordering::SeqCst);
        self.terminal.clear()
    }

    /// Ctrl-Z: restore the terminal, stop the whole process as a shell's job
    /// control expects, and take the terminal back once continued (`fg`).
    pub fn suspend_process(&mut self) -> io::Result<()> {
        self.suspend()?;
        // SIGSTOP, not SIGTSTP: our SIGTSTP handler would only call us again.
        nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP).map_err(io::Error::other)?;
        self.resume()
    }

    /// Ring the terminal bell.
    pub fn bell(&mut self) -> io::Result<()> {
        let mut out = io::stdout();
        out.write_all(b"\x07")?;
        out.flush()
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        if self.entered
            && let Err(e) = restore(self.mouse)
        {
            tracing::warn!("could not restore the terminal: {e}");
        }
        // A terminal that cannot show its cursor is gone: leave ratatui's
        // Terminal undropped (its drop would print, and printing would panic)
        // so the engine can still close cleanly.
        if self.terminal.show_cursor().is_ok() {
            // SAFETY: dropped once, here, and never used again.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.terminal) };
        }
    }
}

/// Undo everything [`TerminalGuard::resume`] did. Each step runs even if an
/// earlier one failed, so a half-broken terminal is restored as far as it can be.
fn restore(mouse: bool) -> io::Result<()> {
    ENTERED.store(false, Ordering::SeqCst);
    let mut out = io::stdout();
    let mouse_result = if mouse {
        execute!(out, DisableMouseCapture)
    } else {
        Ok(())
    };
    let screen = execute!(out, LeaveAlternateScreen, Show);
    let raw = disable_raw_mode();
    mouse_result.and(screen).and(raw)
}

/// Restore the terminal before the panic message prints, then run whatever
/// hook was there (color-eyre's, set up by main). Installed once per process.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if ENTERED.load(Ordering::SeqCst) {
                let _ = restore(true);
            }
            previous(info);
        }));
    });
}
