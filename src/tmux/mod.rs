//! tmux: one-off commands, the control-mode client, and session naming (DESIGN §5).

pub mod error;
pub mod names;

pub use error::{Result, TmuxError};
