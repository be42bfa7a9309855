//! tmux: one-off commands, the control-mode client, and session naming (DESIGN §5).

pub mod command;
pub mod error;
pub mod names;
pub mod private_server;

pub use command::Tmux;
pub use error::{Result, TmuxError};
pub use private_server::PrivateServer;
