//! `switchboard pane-log`: what tmux's `pipe-pane` runs for each attempt.
//! It appends the pane's output to the attempt's log as it comes, stops at
//! the cap, and ends once the pane's process has ended and the last of its
//! output is written. (`cat` would live on as long as the dead pane a
//! failed attempt keeps for inspection: tmux closes no pipe of a dead
//! pane.)

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::process::ExitCode;

/// How long the output may be quiet, once the pane's process has ended,
/// before the copy ends: tmux hands on what it read within a turn of its
/// event loop.
const LAST_OUTPUT_WAIT_MS: u16 = 500;

pub fn run(args: &crate::cli::PaneLogArgs) -> ExitCode {
    let watched = args.pid.and_then(pidfd_open);
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.file);
    let result = out.and_then(|out| copy(io::stdin().lock(), out, args.max_bytes, watched));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard pane-log {}: {e}", args.file.display());
            ExitCode::FAILURE
        }
    }
}

/// Copy `input` to `out` (which already holds what it holds) until the end
/// of `input`, until `out` holds `max_bytes`, or until `watched` (a pidfd)
/// says its process ended and `input` has been quiet for a moment.
pub fn copy(
    mut input: impl Read + AsFd,
    mut out: File,
    max_bytes: u64,
    watched: Option<OwnedFd>,
) -> io::Result<()> {
    let mut held = out.metadata()?.len();
    let mut buf = vec![0u8; 64 * 1024];
    // While the pane's process runs: its pidfd. Once it has ended, the copy
    // waits for output only a moment.
    let mut running = watched;
    let mut ended = false;
    while held < max_bytes {
        let (input_ready, just_ended) = {
            let mut fds = vec![PollFd::new(input.as_fd(), PollFlags::POLLIN)];
            if let Some(pidfd) = &running {
                fds.push(PollFd::new(pidfd.as_fd(), PollFlags::POLLIN));
            }
            let timeout = if ended {
                PollTimeout::from(LAST_OUTPUT_WAIT_MS)
            } else {
                PollTimeout::NONE
            };
            match poll(&mut fds, timeout) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
            (ready(&fds[0]), fds.get(1).is_some_and(ready))
        };
        if just_ended {
            running = None;
            ended = true;
        }
        if !input_ready {
            continue;
        }
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let room = usize::try_from(max_bytes - held).unwrap_or(usize::MAX);
        let take = n.min(room);
        out.write_all(&buf[..take])?;
        held += take as u64;
    }
    Ok(())
}

/// A pidfd for `pid` (Linux ≥ 5.3); None when it cannot be had, and the
/// copy then runs until tmux closes the pipe.
fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: a new fd that nothing else owns.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn pipe() -> (File, File) {
        let (read, write) = nix::unistd::pipe().expect("pipe");
        (File::from(read), File::from(write))
    }

    fn log_in(dir: &Path) -> (File, std::path::PathBuf) {
        let path = dir.join("T1.1.log");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("log");
        (file, path)
    }

    #[test]
    fn copies_to_the_end_of_its_input_and_appends() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("T1.1.log"), "before\n").expect("write");
        let (out, path) = log_in(dir.path());
        let (read, mut write) = pipe();
        write.write_all(b"line 1\r\nline 2\r\n").expect("write");
        drop(write);
        copy(read, out, 1 << 20, None).expect("copy");
        assert_eq!(
            std::fs::read_to_string(path).expect("read"),
            "before\nline 1\r\nline 2\r\n"
        );
    }

    #[test]
    fn stops_at_the_cap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (out, path) = log_in(dir.path());
        let (read, mut write) = pipe();
        let writer = std::thread::spawn(move || {
            // Until the copy ends and the pipe breaks.
            while write.write_all(&[b'x'; 4096]).is_ok() {}
        });
        copy(read, out, 10_000, None).expect("copy");
        writer.join().expect("writer");
        assert_eq!(std::fs::metadata(path).expect("log").len(), 10_000);
    }

    /// The pane's process ends while tmux keeps the pipe open (a dead pane
    /// kept for inspection): the copy writes what came and ends.
    #[test]
    fn ends_after_the_watched_process_and_its_last_output() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (out, path) = log_in(dir.path());
        let (read, mut write) = pipe();
        let mut child = std::process::Command::new("true").spawn().expect("true");
        let pidfd = pidfd_open(child.id() as i32).expect("pidfd_open");
        write.write_all(b"last words\n").expect("write");
        child.wait().expect("wait");
        copy(read, out, 1 << 20, Some(pidfd)).expect("copy");
        // The writer is still open: the copy ended on its own.
        drop(write);
        assert_eq!(std::fs::read_to_string(path).expect("read"), "last words\n");
    }
}
