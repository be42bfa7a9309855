//! Terminal input on a thread of its own, forwarded to the event loop over a
//! channel, and parked on request while a child (`tmux attach`) or the shell
//! owns the terminal.
//!
//! Why not crossterm's `EventStream`: it needs `futures`' `StreamExt`, which
//! is not a dependency here, and its reader keeps polling stdin until dropped.
//! A thread that polls in short slices and acknowledges a pause is simple to
//! reason about: once [`TerminalReader::pause`] returns, nothing in this
//! process reads the terminal, so no keystroke meant for tmux is stolen.

use crossterm::event::{self, Event};
use std::sync::mpsc as std_mpsc;
use std::thread;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long one poll waits; also the longest a pause waits for its ack.
const POLL_SLICE: Duration = Duration::from_millis(50);

enum Control {
    Pause(oneshot::Sender<()>),
    Resume,
    Stop,
}

/// The thread reading the terminal's events (keys, mouse, resizes)
/// for the event loop; paused while something else owns the terminal.
pub struct TerminalReader {
    events: mpsc::Receiver<Event>,
    control: std_mpsc::Sender<Control>,
    thread: Option<thread::JoinHandle<()>>,
    /// Disconnects when the thread ends.
    finished: std_mpsc::Receiver<()>,
}

impl TerminalReader {
    /// Start reading. The thread stops when this reader is dropped.
    pub fn start() -> TerminalReader {
        let (tx, events) = mpsc::channel(1024);
        let (control, control_rx) = std_mpsc::channel();
        let (finishing, finished) = std_mpsc::channel::<()>();
        let spawned = thread::Builder::new()
            .name("tui-input".into())
            .spawn(move || {
                let _finishing = finishing;
                read_loop(&tx, &control_rx);
            });
        let thread = spawned
            .map_err(|e| {
                // No input thread: recv() reports the closed channel at once.
                tracing::error!("cannot start the input thread: {e}");
            })
            .ok();
        TerminalReader {
            events,
            control,
            thread,
            finished,
        }
    }

    pub async fn recv(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// An already-read event, without waiting (to drain before drawing).
    pub fn try_recv(&mut self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// Stop reading the terminal; returns once the thread is parked.
    pub async fn pause(&mut self) {
        let (ack, parked) = oneshot::channel();
        if self.control.send(Control::Pause(ack)).is_ok() {
            // An error means the thread has gone, which parks it just as well.
            let _ = parked.await;
        }
    }

    pub fn resume(&mut self) {
        if self.control.send(Control::Resume).is_err() {
            tracing::warn!("input thread gone; cannot resume reading keys");
        }
    }
}

impl Drop for TerminalReader {
    /// Wait (at most one poll slice) for the thread to stop, so nothing reads
    /// the terminal after the TUI has given it back.
    fn drop(&mut self) {
        // Closing first wakes a thread blocked on a full channel.
        self.events.close();
        let _ = self.control.send(Control::Stop);
        // crossterm's poll never returns on a hung-up terminal (it reads
        // nothing, forever): such a thread is left behind, not joined, and
        // ends with the process.
        let stopped = self.finished.recv_timeout(POLL_SLICE * 4);
        if stopped == Err(std_mpsc::RecvTimeoutError::Timeout) {
            tracing::warn!("the input thread is stuck on a gone terminal; leaving it");
            return;
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::warn!("the input thread panicked");
        }
    }
}

fn read_loop(tx: &mpsc::Sender<Event>, control: &std_mpsc::Receiver<Control>) {
    loop {
        match control.try_recv() {
            Ok(Control::Pause(ack)) => {
                let _ = ack.send(());
                if !wait_for_resume(control) {
                    return;
                }
            }
            Ok(Control::Resume) => {}
            Ok(Control::Stop) | Err(std_mpsc::TryRecvError::Disconnected) => return,
            Err(std_mpsc::TryRecvError::Empty) => {}
        }
        match event::poll(POLL_SLICE) {
            Ok(true) => match event::read() {
                Ok(ev) => {
                    if tx.blocking_send(ev).is_err() {
                        return;
                    }
                }
                Err(e) if terminal_gone() => {
                    tracing::warn!("the terminal is gone ({e}); input closed");
                    return;
                }
                Err(e) => tracing::warn!("reading terminal input: {e}"),
            },
            // A hung-up terminal (its window closed, the ssh link dropped)
            // reads as endless empty input: closing the channel tells the
            // control room, instead of spinning on it.
            Ok(false) if terminal_gone() => {
                tracing::warn!("the terminal is gone; input closed");
                return;
            }
            Ok(false) => {}
            Err(e) if terminal_gone() => {
                tracing::warn!("the terminal is gone ({e}); input closed");
                return;
            }
            Err(e) => {
                tracing::warn!("polling terminal input: {e}");
                thread::sleep(POLL_SLICE);
            }
        }
    }
}

/// Whether stdin's terminal has hung up: its attributes can no longer be read.
fn terminal_gone() -> bool {
    nix::sys::termios::tcgetattr(std::io::stdin()).is_err()
}

/// Parked: false when the reader was dropped meanwhile.
fn wait_for_resume(control: &std_mpsc::Receiver<Control>) -> bool {
    loop {
        match control.recv() {
            Ok(Control::Resume) => return true,
            Ok(Control::Pause(ack)) => {
                let _ = ack.send(());
            }
            Ok(Control::Stop) | Err(_) => return false,
        }
    }
}
