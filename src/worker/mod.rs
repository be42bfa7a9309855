//! Worker side: the shim (pane process), its wire protocol, and `switchboard report`.

mod agent;
pub mod hooks;
mod job;
pub mod launch;
pub mod protocol;
pub mod report;
pub mod rollout;
pub mod secret;
pub mod shim;
mod tree;
mod uplink;
