//! Finding a real agent CLI for the end-to-end tests: from its environment
//! variable, else from the cache `.ci/run` installs the pinned version in.
//! Without one, the test says it is skipped (on stderr itself, so it shows
//! in a plain `cargo test`) and passes.

use std::path::PathBuf;
use std::process::Stdio;

/// Said on the test's stderr itself, not through the harness's capture.
pub fn say(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// The `preset`'s CLI (`program`, npm `package`) to run, or None with the
/// reason printed. `variable` names it explicitly.
pub fn find(preset: &str, program: &str, package: &str, variable: &str) -> Option<PathBuf> {
    // The version the preset's rules were captured on (.ci/run installs it).
    let tested = switchboard::plan::presets::all()[preset]
        .version_tested
        .clone();
    let path = match std::env::var_os(variable) {
        Some(p) => PathBuf::from(p),
        None => {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
            match cache {
                Some(c) => c.join("switchboard-ci/npm/node_modules/.bin").join(program),
                None => {
                    say(&format!("skipped: no {variable} and no HOME to look in"));
                    return None;
                }
            }
        }
    };
    let version = std::process::Command::new(&path)
        .arg("--version")
        .stdin(Stdio::null())
        .output();
    match version {
        Ok(out) if out.status.success() => {
            let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if !v.contains(&tested) {
                say(&format!(
                    "note: {} is {v}; the {preset} preset was captured on {tested}",
                    path.display()
                ));
            }
            Some(path)
        }
        _ => {
            say(&format!(
                "skipped: no {program} CLI at {} (set {variable}, or run .ci/run, which installs {package}@{tested})",
                path.display()
            ));
            None
        }
    }
}
