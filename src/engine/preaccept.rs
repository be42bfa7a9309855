//! Pre-accepting an agent's dialog by setting a value in the agent's own
//! config file just before an attempt starts (`preaccept: [trust]` on a
//! profile). It is the one place switchboard writes outside the worktree:
//! only on the profile's opt-in, and every write is journaled. What to set,
//! and where, is preset data (`config/presets.yaml`); this module makes the
//! write careful: the rest of the file is kept, the agent's own lock is held
//! (a running agent of another task rewrites the same file), and the new
//! file is renamed into place, so a reader never sees half of it.

use crate::plan::presets::{ConfigEdit, ConfigFormat};
use serde_json::{Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// How long to wait for the agent's lock before writing without it.
const LOCK_WAIT: Duration = Duration::from_secs(5);
/// A lock older than this is abandoned (as the agent's lock library holds it).
const LOCK_STALE: Duration = Duration::from_secs(10);

/// One edit at a time in this process: a read-modify-write each.
static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[derive(Debug, thiserror::Error)]
pub enum PreacceptError {
    #[error("no config file: none of {0} has all its variables set")]
    NoFile(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a JSON object ({why}); left as it is")]
    NotJson { path: PathBuf, why: String },
    #[error("{path}: {key} is not an object; left as it is")]
    NotAnObject { path: PathBuf, key: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What one edit did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Preaccepted {
    /// What it skips, in the preset's words.
    pub skips: String,
    pub file: PathBuf,
    /// The values, as a person would write them:
    /// `projects["/w"].hasTrustDialogAccepted = true`.
    pub setting: String,
    /// False when the file already said so: nothing was written.
    pub written: bool,
}

/// Set `edit`'s value for each of `worktrees` (the worktree as switchboard
/// names it and as the agent's `getcwd` will, when they differ), in the
/// first of its files whose variables `lookup` knows.
pub fn apply(
    edit: &ConfigEdit,
    worktrees: &[String],
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Preaccepted, PreacceptError> {
    let file = edit
        .file
        .iter()
        .find_map(|template| expand(template, &lookup))
        .map(PathBuf::from)
        .ok_or_else(|| PreacceptError::NoFile(edit.file.join(", ")))?;
    let keys: Vec<Vec<String>> = worktrees
        .iter()
        .map(|w| {
            edit.key
                .iter()
                .map(|k| k.replace("{worktree}", w))
                .collect()
        })
        .collect();
    let setting = keys
        .iter()
        .map(|k| format!("{} = {}", key_words(k), edit.value))
        .collect::<Vec<_>>()
        .join(", ");
    let lock_path = edit
        .lock
        .as_ref()
        .map(|l| PathBuf::from(l.replace("{file}", &file.to_string_lossy())));
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent).map_err(|source| PreacceptError::Write {
            path: file.clone(),
            source,
        })?;
    }
    // Two attempts of this engine may write the same file at once.
    let _ours = WRITING.lock().unwrap_or_else(|p| p.into_inner());
    let _lock = lock_path.and_then(AgentLock::take);
    let written = match edit.format {
        ConfigFormat::Json => edit_json(&file, &keys, &edit.value)?,
    };
    Ok(Preaccepted {
        skips: edit.skips.clone(),
        file,
        setting,
        written,
    })
}

/// `$HOME/.claude.json` with the variables' values; None when one is unset
/// or empty.
pub(crate) fn expand(template: &str, lookup: &impl Fn(&str) -> Option<String>) -> Option<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let value = lookup(&after[..len]).filter(|v| !v.is_empty())?;
        out.push_str(&value);
        rest = &after[len..];
    }
    out.push_str(rest);
    Some(out)
}

/// `projects["/w"].hasTrustDialogAccepted`.
fn key_words(keys: &[String]) -> String {
    let mut out = String::new();
    for k in keys {
        if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(k);
        } else {
            out.push_str(&format!("[{}]", Value::from(k.as_str())));
        }
    }
    out
}

/// Read `file` (missing or empty: `{}`), set every key path, and write it
/// back when that changed anything. Keys are written in sorted order
/// (serde_json's map); every other value is kept.
fn edit_json(file: &Path, keys: &[Vec<String>], value: &Value) -> Result<bool, PreacceptError> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(PreacceptError::Read {
                path: file.to_path_buf(),
                source,
            });
        }
    };
    let mut doc = if text.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_str(&text).map_err(|e| PreacceptError::NotJson {
            path: file.to_path_buf(),
            why: e.to_string(),
        })?
    };
    let mut changed = false;
    for path in keys {
        changed |= set_json(&mut doc, path, value).map_err(|key| PreacceptError::NotAnObject {
            path: file.to_path_buf(),
            key,
        })?;
    }
    if changed {
        let mut bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
        bytes.push(b'\n');
        write_atomically(file, &bytes)?;
    }
    Ok(changed)
}

/// Set `doc[keys…] = value`, making the objects on the way. Whether it
/// changed anything; Err names the first key whose value is not an object.
fn set_json(doc: &mut Value, keys: &[String], value: &Value) -> Result<bool, String> {
    let Some((last, path)) = keys.split_last() else {
        return Ok(false);
    };
    // The keys walked so far, to name the one that is not an object.
    let named = |walked: &[String]| {
        if walked.is_empty() {
            "the document".to_string()
        } else {
            key_words(walked)
        }
    };
    let mut here = doc;
    let mut walked = Vec::new();
    for k in path {
        let Value::Object(map) = here else {
            return Err(named(&walked));
        };
        walked.push(k.clone());
        here = map
            .entry(k.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    let Value::Object(map) = here else {
        return Err(named(&walked));
    };
    if map.get(last) == Some(value) {
        return Ok(false);
    }
    map.insert(last.clone(), value.clone());
    Ok(true)
}

/// Write a sibling temp file (the original's permissions, else 0600), then
/// rename it over `file`. A symlinked file is written where the link points.
fn write_atomically(file: &Path, bytes: &[u8]) -> Result<(), PreacceptError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let target = match std::fs::symlink_metadata(file) {
        Ok(m) if m.file_type().is_symlink() => {
            std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf())
        }
        _ => file.to_path_buf(),
    };
    let mode = std::fs::metadata(&target)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o600);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = target.with_file_name(format!(".{name}.switchboard-{}.tmp", std::process::id()));
    let fail = |source| PreacceptError::Write {
        path: target.clone(),
        source,
    };
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&temp)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&temp, &target)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written.map_err(fail)
}

/// The agent's own lock on its config file: a directory made with `mkdir`
/// (as claude's lock library makes it), removed on drop. Abandoned when
/// older than [`LOCK_STALE`]; after [`LOCK_WAIT`] the write goes ahead
/// without it (logged).
struct AgentLock(PathBuf);

impl AgentLock {
    fn take(path: PathBuf) -> Option<AgentLock> {
        let start = Instant::now();
        loop {
            match std::fs::create_dir(&path) {
                Ok(()) => return Some(AgentLock(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok());
                    if age.is_some_and(|a| a > LOCK_STALE) {
                        let _ = std::fs::remove_dir(&path);
                    } else if start.elapsed() > LOCK_WAIT {
                        tracing::warn!(
                            "{} is still held after {LOCK_WAIT:?}: writing without it",
                            path.display()
                        );
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(e) => {
                    tracing::warn!("cannot take {}: {e}: writing without it", path.display());
                    return None;
                }
            }
        }
    }
}

impl Drop for AgentLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trust() -> ConfigEdit {
        let presets = crate::plan::presets::all();
        match presets["claude"].preaccept.get("trust") {
            Some(crate::plan::presets::Preaccept::Write(edit)) => edit.clone(),
            other => panic!("claude's trust is not writable: {other:?}"),
        }
    }

    fn home(dir: &Path) -> impl Fn(&str) -> Option<String> + '_ {
        move |name: &str| (name == "HOME").then(|| dir.display().to_string())
    }

    #[test]
    fn trust_is_added_and_everything_else_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".claude.json");
        let before = json!({
            "hasCompletedOnboarding": true,
            "customApiKeyResponses": {"approved": ["abcdefghijABCDEFGHIJ"], "rejected": []},
            "projects": {"/elsewhere": {"allowedTools": ["Bash"], "hasTrustDialogAccepted": false}},
            "numStartups": 7
        });
        std::fs::write(&file, serde_json::to_string(&before).unwrap()).unwrap();
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o640))
            .unwrap();
        let done = apply(&trust(), &["/w/agent-T1-claude".into()], home(dir.path())).unwrap();
        assert_eq!(done.file, file);
        assert!(done.written);
        assert_eq!(
            done.setting,
            r#"projects["/w/agent-T1-claude"].hasTrustDialogAccepted = true"#
        );
        let after: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let mut expected = before.clone();
        expected["projects"]["/w/agent-T1-claude"] = json!({"hasTrustDialogAccepted": true});
        assert_eq!(after, expected);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&file).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o640);
        // No temp file or lock left beside it; a second run writes nothing.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, [".claude.json"]);
        let again = apply(&trust(), &["/w/agent-T1-claude".into()], home(dir.path())).unwrap();
        assert!(!again.written);
    }

    #[test]
    fn config_dir_wins_over_home_and_a_missing_file_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("cfg");
        let lookup = |name: &str| match name {
            "CLAUDE_CONFIG_DIR" => Some(config.display().to_string()),
            "HOME" => Some("/nonexistent-home".into()),
            _ => None,
        };
        let worktrees = ["/w/a".to_string(), "/real/w/a".to_string()];
        let done = apply(&trust(), &worktrees, lookup).unwrap();
        assert_eq!(done.file, config.join(".claude.json"));
        let after: Value =
            serde_json::from_str(&std::fs::read_to_string(&done.file).unwrap()).unwrap();
        assert_eq!(
            after,
            json!({"projects": {
                "/w/a": {"hasTrustDialogAccepted": true},
                "/real/w/a": {"hasTrustDialogAccepted": true}
            }})
        );
        let none = apply(&trust(), &worktrees, |_: &str| None).unwrap_err();
        assert!(none.to_string().contains("$HOME/.claude.json"), "{none}");
    }

    #[test]
    fn a_file_it_cannot_read_as_json_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".claude.json");
        for text in ["{\"projects\": ", "[1, 2]", "{\"projects\": 3}"] {
            std::fs::write(&file, text).unwrap();
            let err = apply(&trust(), &["/w".into()], home(dir.path())).unwrap_err();
            assert!(
                matches!(
                    err,
                    PreacceptError::NotJson { .. } | PreacceptError::NotAnObject { .. }
                ),
                "{text}: {err}"
            );
            assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
        }
    }

    #[test]
    fn a_symlinked_config_stays_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("dotfiles.json");
        std::fs::write(&real, "{\"theme\": \"dark\"}").unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join(".claude.json")).unwrap();
        apply(&trust(), &["/w".into()], home(dir.path())).unwrap();
        let link = std::fs::symlink_metadata(dir.path().join(".claude.json")).unwrap();
        assert!(link.file_type().is_symlink());
        let after: Value = serde_json::from_str(&std::fs::read_to_string(&real).unwrap()).unwrap();
        assert_eq!(after["theme"], "dark");
        assert_eq!(after["projects"]["/w"]["hasTrustDialogAccepted"], true);
    }

    #[test]
    fn the_agents_lock_is_waited_for_and_a_stale_one_abandoned() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join(".claude.json.lock");
        // Held by "the agent": released from another thread a moment later.
        std::fs::create_dir(&lock).unwrap();
        let releaser = {
            let lock = lock.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                std::fs::remove_dir(&lock).unwrap();
            })
        };
        apply(&trust(), &["/w".into()], home(dir.path())).unwrap();
        releaser.join().unwrap();
        assert!(!lock.exists(), "switchboard's own hold is released");
        // Stale: made long ago and never released.
        std::fs::create_dir(&lock).unwrap();
        let old = SystemTime::now() - Duration::from_secs(60);
        std::fs::File::open(&lock)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let done = apply(&trust(), &["/w2".into()], home(dir.path())).unwrap();
        assert!(done.written);
        assert!(!lock.exists());
    }

    #[test]
    fn variables_expand_and_unset_ones_skip_the_candidate() {
        let lookup = |name: &str| match name {
            "A" => Some("/a".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        assert_eq!(expand("$A/x.json", &lookup).as_deref(), Some("/a/x.json"));
        assert_eq!(expand("/plain", &lookup).as_deref(), Some("/plain"));
        assert_eq!(expand("$EMPTY/x", &lookup), None);
        assert_eq!(expand("$B/x", &lookup), None);
    }
}
