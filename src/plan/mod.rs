//! The plan: schema, loading with locations, semantic validation, graphs.

pub mod checks;
pub mod diagnostic;
pub mod graph;
pub mod load;
#[cfg(test)]
mod preset_screens;
pub mod presets;
pub mod rate;
pub mod recover;
pub mod schema;
pub mod screen;
pub mod validate;

#[cfg(test)]
pub(crate) mod fuzz;

pub use diagnostic::{Diagnostic, Severity};
pub use schema::*;
pub use validate::{PoolSpec, ValidPlan, pool_settings};

use std::path::Path;

/// Read, parse and validate a plan file. Ok carries warnings; Err carries
/// every error (and the warnings).
pub fn load(path: &Path) -> Result<(ValidPlan, Vec<Diagnostic>), Vec<Diagnostic>> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| vec![load::read_error(&file, &e)])?;
    check(&file, &bytes)
}

/// Parse and validate the bytes of a plan read from `file`: what [`load`]
/// and `--validate-only` do once the file is read.
pub fn check(file: &str, bytes: &[u8]) -> Result<(ValidPlan, Vec<Diagnostic>), Vec<Diagnostic>> {
    let (plan, mut unknown) = recover::parse_all(file, bytes)?;
    // parse() proved the bytes are UTF-8.
    let text = String::from_utf8_lossy(bytes);
    let checked = validate::validate(file, &text, plan);
    if unknown.is_empty() {
        return checked;
    }
    // The plan parsed only without its unknown fields: report them with
    // whatever else is wrong, errors first.
    let rest = match checked {
        Ok((_, warnings)) => warnings,
        Err(diags) => diags,
    };
    unknown.extend(rest);
    unknown.sort_by_key(|d| (d.severity != Severity::Error, d.line.unwrap_or(usize::MAX)));
    Err(unknown)
}
