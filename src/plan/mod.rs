//! The plan: schema, loading with locations, semantic validation, graphs.

pub mod checks;
pub mod diagnostic;
pub mod graph;
pub mod load;
pub mod schema;
pub mod validate;

pub use diagnostic::{Diagnostic, Severity};
pub use schema::*;
pub use validate::ValidPlan;

use std::path::Path;

/// Read, parse and validate a plan file. Ok carries warnings; Err carries
/// every error (and the warnings).
pub fn load(path: &Path) -> Result<(ValidPlan, Vec<Diagnostic>), Vec<Diagnostic>> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| vec![load::read_error(&file, &e)])?;
    let plan = load::parse(&file, &bytes).map_err(|d| vec![d])?;
    // parse() proved the bytes are UTF-8.
    let text = String::from_utf8_lossy(&bytes);
    validate::validate(&file, &text, plan)
}
