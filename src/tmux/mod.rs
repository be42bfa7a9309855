//! tmux: one-off commands, the control-mode client, and session naming (DESIGN §5).

pub mod command;
pub mod control;
mod control_io;
pub mod error;
mod framing;
pub mod names;
pub mod panes;
pub mod private_server;

pub use command::Tmux;
pub use control::ControlClient;
pub use error::{Result, TmuxError};
pub use panes::PaneInfo;
pub use private_server::PrivateServer;
