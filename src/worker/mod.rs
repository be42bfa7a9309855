//! Worker side: the shim (pane process), its wire protocol, and `switchboard report`.

pub mod protocol;
pub mod report;
pub mod shim;
