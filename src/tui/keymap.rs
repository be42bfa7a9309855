//! Key bindings: `config/keymap.yaml` (built in) overlaid by an optional user
//! file, turning key presses into [`Action`]s.

use super::action::Action;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_norway::Value;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The defaults, compiled in so the binary works without its config directory.
const DEFAULT_KEYMAP: &str = include_str!("../../config/keymap.yaml");
const BUILT_IN: &str = "<built-in config/keymap.yaml>";

#[derive(Debug, thiserror::Error)]
pub enum KeymapError {
    #[error("{file}: cannot read the keymap: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: not a valid keymap: {message}")]
    Syntax { file: PathBuf, message: String },
    #[error("{file}: unknown action `{action}` (known: {known})")]
    UnknownAction {
        file: PathBuf,
        action: String,
        known: String,
    },
    #[error("{file}: action `{action}`: invalid key `{key}`: {reason}")]
    InvalidKey {
        file: PathBuf,
        action: String,
        key: String,
        reason: String,
    },
    #[error("{file}: key `{key}` is bound to both `{first}` and `{second}`")]
    Conflict {
        file: PathBuf,
        key: String,
        first: String,
        second: String,
    },
}

/// One key as written in the keymap: a code plus Ctrl/Alt. Shift is part of
/// the character ("H"), as terminals report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeySpec {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

impl KeySpec {
    pub fn from_event(event: &KeyEvent) -> KeySpec {
        KeySpec {
            code: event.code,
            ctrl: event.modifiers.contains(KeyModifiers::CONTROL),
            alt: event.modifiers.contains(KeyModifiers::ALT),
        }
    }

    pub fn parse(text: &str) -> Result<KeySpec, String> {
        let (mut ctrl, mut alt, mut rest) = (false, false, text);
        loop {
            let lower = rest.to_ascii_lowercase();
            if rest.chars().count() > 1 && lower.starts_with("ctrl-") {
                (ctrl, rest) = (true, &rest[5..]);
            } else if rest.chars().count() > 1 && lower.starts_with("alt-") {
                (alt, rest) = (true, &rest[4..]);
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (None, _) => return Err("empty key".into()),
            (Some(c), None) if ctrl => KeyCode::Char(c.to_ascii_lowercase()),
            (Some(c), None) => KeyCode::Char(c),
            _ => named_key(&rest.to_ascii_lowercase())
                .ok_or_else(|| format!("`{rest}` is neither one character nor a key name"))?,
        };
        Ok(KeySpec { code, ctrl, alt })
    }
}

fn named_key(name: &str) -> Option<KeyCode> {
    Some(match name {
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "enter" | "return" => KeyCode::Enter,
        "esc" | "escape" => KeyCode::Esc,
        "tab" => KeyCode::Tab,
        "backtab" => KeyCode::BackTab,
        "space" => KeyCode::Char(' '),
        "backspace" => KeyCode::Backspace,
        "delete" | "del" => KeyCode::Delete,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        "pageup" | "pgup" => KeyCode::PageUp,
        "pagedown" | "pgdn" => KeyCode::PageDown,
        f if f.starts_with('f') => {
            KeyCode::F(f[1..].parse().ok().filter(|n| (1..=12).contains(n))?)
        }
        _ => return None,
    })
}

impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("Ctrl-")?;
        }
        if self.alt {
            f.write_str("Alt-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c) if self.ctrl => write!(f, "{}", c.to_ascii_uppercase()),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::BackTab => f.write_str("BackTab"),
            KeyCode::Backspace => f.write_str("Backspace"),
            KeyCode::Delete => f.write_str("Del"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            KeyCode::F(n) => write!(f, "F{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Keys to actions, and back (for the help overlay and the footer).
#[derive(Debug, Clone)]
pub struct Keymap {
    keys: HashMap<Action, Vec<KeySpec>>,
    lookup: HashMap<KeySpec, Action>,
}

impl Keymap {
    /// The built-in bindings.
    pub fn defaults() -> Keymap {
        // The built-in file is covered by a unit test, so this parse cannot
        // fail in a released build; an empty map keeps the type honest.
        Keymap::from_yaml(DEFAULT_KEYMAP, Path::new(BUILT_IN), None).unwrap_or_else(|e| {
            tracing::error!("built-in keymap invalid: {e}");
            Keymap {
                keys: HashMap::new(),
                lookup: HashMap::new(),
            }
        })
    }

    /// The defaults overlaid by the file at `path`, if one is given.
    pub fn load(path: Option<&Path>) -> Result<Keymap, KeymapError> {
        let Some(path) = path else {
            return Ok(Keymap::defaults());
        };
        let text = std::fs::read_to_string(path).map_err(|source| KeymapError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        Keymap::from_yaml(&text, path, Some(Keymap::defaults()))
    }

    /// Parse `text`; with a `base`, the file only overrides the actions it names.
    pub fn from_yaml(text: &str, file: &Path, base: Option<Keymap>) -> Result<Keymap, KeymapError> {
        let syntax = |message: String| KeymapError::Syntax {
            file: file.to_path_buf(),
            message,
        };
        let value: Value = serde_norway::from_str(text).map_err(|e| syntax(e.to_string()))?;
        let mapping = match value {
            Value::Mapping(m) => m,
            Value::Null => Default::default(),
            _ => return Err(syntax("expected a mapping of action: [keys]".into())),
        };
        let mut keys = base.map(|b| b.keys).unwrap_or_default();
        let mut owner: HashMap<KeySpec, Action> = HashMap::new();
        for (name, list) in mapping {
            let name = scalar(&name).ok_or_else(|| syntax("an action name must be text".into()))?;
            let action = Action::from_name(&name).ok_or_else(|| KeymapError::UnknownAction {
                file: file.to_path_buf(),
                action: name.clone(),
                known: Action::ALL.map(Action::name).join(", "),
            })?;
            let items = match list {
                Value::Sequence(items) => items,
                Value::Null => Vec::new(),
                single => vec![single],
            };
            let mut specs = Vec::new();
            for item in items {
                let invalid = |key: String, reason: String| KeymapError::InvalidKey {
                    file: file.to_path_buf(),
                    action: name.clone(),
                    key,
                    reason,
                };
                let text = scalar(&item)
                    .ok_or_else(|| invalid(format!("{item:?}"), "a key must be text".into()))?;
                let spec = KeySpec::parse(&text).map_err(|reason| invalid(text.clone(), reason))?;
                if let Some(first) = owner.insert(spec, action).filter(|a| *a != action) {
                    return Err(KeymapError::Conflict {
                        file: file.to_path_buf(),
                        key: text,
                        first: first.name().into(),
                        second: action.name().into(),
                    });
                }
                specs.push(spec);
            }
            // A key the file binds is taken from whichever default action had it.
            for other in keys.values_mut() {
                other.retain(|k| !specs.contains(k));
            }
            keys.insert(action, specs);
        }
        let lookup = keys
            .iter()
            .flat_map(|(a, ks)| ks.iter().map(move |k| (*k, *a)))
            .collect();
        Ok(Keymap { keys, lookup })
    }

    pub fn action(&self, event: &KeyEvent) -> Option<Action> {
        self.lookup.get(&KeySpec::from_event(event)).copied()
    }

    pub fn keys(&self, action: Action) -> &[KeySpec] {
        self.keys.get(&action).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The keys of `action` as people read them: "↓, j".
    pub fn describe(&self, action: Action) -> String {
        let keys: Vec<String> = self.keys(action).iter().map(|k| k.to_string()).collect();
        keys.join(", ")
    }

    /// The first key of `action`, for the footer; None when unbound.
    pub fn first(&self, action: Action) -> Option<String> {
        self.keys(action).first().map(|k| k.to_string())
    }
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyEvent;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn built_in_keymap_parses_and_binds_every_action() {
        let map = Keymap::from_yaml(DEFAULT_KEYMAP, Path::new(BUILT_IN), None).expect("defaults");
        for a in Action::ALL {
            assert!(!map.keys(a).is_empty(), "{} has no key", a.name());
        }
        assert_eq!(
            map.action(&key(KeyCode::Char('j'), KeyModifiers::NONE)),
            Some(Action::SelectNext)
        );
        assert_eq!(
            map.action(&key(KeyCode::Down, KeyModifiers::NONE)),
            Some(Action::SelectNext)
        );
        assert_eq!(
            map.action(&key(KeyCode::Char('H'), KeyModifiers::SHIFT)),
            Some(Action::Halt)
        );
        assert_eq!(
            map.action(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(
            map.action(&key(KeyCode::Char('/'), KeyModifiers::NONE)),
            Some(Action::Filter)
        );
        assert_eq!(map.describe(Action::SelectNext), "↓, j");
        assert_eq!(map.describe(Action::Quit), "q, Ctrl-C");
    }

    #[test]
    fn user_file_overrides_only_named_actions_and_steals_keys() {
        let user = "help: [h]\nkill: [X, ctrl-k]\n";
        let map = Keymap::from_yaml(user, Path::new("mine.yaml"), Some(Keymap::defaults()))
            .expect("user map");
        assert_eq!(
            map.action(&key(KeyCode::Char('h'), KeyModifiers::NONE)),
            Some(Action::Help)
        );
        assert_eq!(map.describe(Action::ScrollLeft), "←");
        assert_eq!(
            map.action(&key(KeyCode::Char('x'), KeyModifiers::NONE)),
            None
        );
        assert_eq!(
            map.action(&key(KeyCode::Char('k'), KeyModifiers::CONTROL)),
            Some(Action::Kill)
        );
        assert_eq!(
            map.action(&key(KeyCode::Char('j'), KeyModifiers::NONE)),
            Some(Action::SelectNext)
        );
    }

    #[test]
    fn parse_names_and_modifiers() {
        assert_eq!(
            KeySpec::parse("pagedown").map(|k| k.code),
            Ok(KeyCode::PageDown)
        );
        assert_eq!(KeySpec::parse("F5").map(|k| k.code), Ok(KeyCode::F(5)));
        let alt = KeySpec::parse("alt-ctrl-X").expect("alt-ctrl");
        assert!(alt.alt && alt.ctrl && alt.code == KeyCode::Char('x'));
        assert_eq!(KeySpec::parse("-").map(|k| k.code), Ok(KeyCode::Char('-')));
        assert!(KeySpec::parse("f13").is_err());
        assert!(KeySpec::parse("banana").is_err());
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let path = Path::new("/tmp/keys.yaml");
        let err = Keymap::from_yaml("kill: [banana]\n", path, None).expect_err("bad key");
        let text = err.to_string();
        assert!(
            text.contains("/tmp/keys.yaml") && text.contains("banana") && text.contains("kill"),
            "{text}"
        );

        let err = Keymap::from_yaml("explode: [e]\n", path, None).expect_err("bad action");
        assert!(err.to_string().contains("explode"), "{err}");

        let err = Keymap::from_yaml("kill: [k]\nhelp: [k]\n", path, None).expect_err("conflict");
        let text = err.to_string();
        assert!(
            text.contains("`k`") && text.contains("kill") && text.contains("help"),
            "{text}"
        );

        let err = Keymap::from_yaml("kill: [x\n", path, None).expect_err("syntax");
        assert!(err.to_string().starts_with("/tmp/keys.yaml"), "{err}");
    }

    #[test]
    fn load_reads_a_file_and_reports_a_missing_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("keymap.yaml");
        std::fs::write(&file, "quit: [Q]\n").expect("write");
        let map = Keymap::load(Some(&file)).expect("load");
        assert_eq!(
            map.action(&key(KeyCode::Char('Q'), KeyModifiers::SHIFT)),
            Some(Action::Quit)
        );
        let err = Keymap::load(Some(&dir.path().join("nope.yaml"))).expect_err("missing");
        assert!(err.to_string().contains("nope.yaml"));
    }
}
