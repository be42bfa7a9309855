//! Engine seats: `.switchboard/engines/<n>` holds engine n's pid, host,
//! process start time and sockets. A new engine takes the smallest free
//! number, or the seat of an engine whose process is gone, under
//! `engines/.lock`; a closing engine sweeps the seats of engines that died.

use super::claim_files::{alive, here, locked, read_json, replace, tag};
use super::claims::EngineTag;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// The content of `engines/<n>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seat {
    #[serde(flatten)]
    pub tag: EngineTag,
    /// The socket its shims and front ends reach it on.
    pub socket: PathBuf,
    /// The repository's well-known socket, when this engine answers on it
    /// too (it was the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<PathBuf>,
}

pub(super) fn engines_dir(dot: &Path) -> PathBuf {
    dot.join("engines")
}

/// Every seat whose engine still runs.
pub fn live_engines(dot: &Path) -> Vec<Seat> {
    let here = here();
    let Ok(dir) = std::fs::read_dir(engines_dir(dot)) else {
        return Vec::new();
    };
    let mut seats: Vec<Seat> = dir
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(is_seat_name))
        .filter_map(|e| read_json::<Seat>(&e.path()).ok().flatten())
        .filter(|s| alive(&s.tag, &here))
        .collect();
    seats.sort_by_key(|s| s.tag.id);
    seats
}

fn is_seat_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
}

/// The seats' lock, held while an engine takes its seat and binds its
/// sockets, so that engines starting at once do not race for either.
pub struct Seats {
    dir: PathBuf,
    _lock: File,
}

impl Seats {
    pub fn lock(dot: &Path) -> io::Result<Seats> {
        let dir = engines_dir(dot);
        std::fs::create_dir_all(&dir)?;
        let lock = locked(&dir.join(".lock"))?;
        Ok(Seats { dir, _lock: lock })
    }

    /// The smallest number whose seat is free or whose engine is gone;
    /// `socket` names the socket engine n listens on.
    pub fn take(&self, socket: impl Fn(u32) -> io::Result<PathBuf>) -> io::Result<Seat> {
        let here = here();
        for n in 1..=u32::MAX {
            let path = self.dir.join(n.to_string());
            let taken = match read_json::<Seat>(&path) {
                Ok(Some(seat)) => alive(&seat.tag, &here),
                Ok(None) => false,
                // Unreadable: a seat written by something else; skip it.
                Err(_) => path.exists(),
            };
            if taken {
                continue;
            }
            let seat = Seat {
                tag: tag(n),
                socket: socket(n)?,
                first: None,
            };
            self.write(&seat)?;
            return Ok(seat);
        }
        Err(io::Error::other("no free engine number"))
    }

    /// Write `seat` again (it became the first engine).
    pub fn write(&self, seat: &Seat) -> io::Result<()> {
        let path = self.dir.join(seat.tag.id.to_string());
        replace(&path, &serde_json::to_vec(seat).map_err(io::Error::other)?)
    }

    /// Seats of engines that are gone from this host (killed, crashed):
    /// removed, with their socket files. Their tmux control sessions are
    /// the caller's to close.
    pub fn sweep(&self) -> Vec<Seat> {
        let here = here();
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut gone = Vec::new();
        for e in dir.flatten() {
            if !e.file_name().to_str().is_some_and(is_seat_name) {
                continue;
            }
            let Ok(Some(seat)) = read_json::<Seat>(&e.path()) else {
                continue;
            };
            if seat.tag.host != here || alive(&seat.tag, &here) {
                continue;
            }
            let _ = std::fs::remove_file(&seat.socket);
            // The well-known socket, unless a live engine answers there now.
            if let Some(first) = &seat.first
                && std::os::unix::net::UnixStream::connect(first).is_err()
            {
                let _ = std::fs::remove_file(first);
            }
            let _ = std::fs::remove_file(e.path());
            gone.push(seat);
        }
        gone
    }
}
