//! Helpers shared by the integration tests: the binary, fixture paths, checks.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// The built binary, with the variables a worker would set removed: these
/// tests may themselves run inside a switchboard worker.
pub fn switchboard() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SWITCHBOARD_") {
            cmd.env_remove(key);
        }
    }
    cmd.env_remove("RUST_BACKTRACE").env("NO_COLOR", "1");
    cmd
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/fixtures/plans/<kind>`.
pub fn plans(kind: &str) -> PathBuf {
    repo_root().join("tests/fixtures/plans").join(kind)
}

/// Every `*.yaml` in `dir`, sorted, as file names.
pub fn yaml_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    names.sort();
    names
}

/// The substrings in `NAME.expected` next to `NAME.yaml`: one a line, blank
/// lines ignored. None when there is no such file.
pub fn expected_substrings(dir: &Path, yaml: &str) -> Option<Vec<String>> {
    let path = dir.join(yaml.replace(".yaml", ".expected"));
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect(),
    )
}

/// What must never reach a user, whatever the input.
pub fn crash_signs(stderr: &str) -> Option<&'static str> {
    ["panicked", "RUST_BACKTRACE", "stack backtrace"]
        .into_iter()
        .find(|sign| stderr.contains(sign))
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
