//! Naming and quoting: which tmux sessions belong to this repository, and how to
//! put any string into a tmux command line safely. Pure functions, no tmux needed.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Every session we create starts with this, then the repo key.
const PREFIX: &str = "sb-";
/// Sanitized task ids never start with `-`, so `sb-<key>--…` cannot be a task.
const CONTROL_SUFFIX: &str = "-control";

/// A short stable id for a repository (8 hex chars), so several repositories can
/// share one tmux server without seeing each other's workers.
///
/// Hashes the canonical path (FNV-1a 64, folded to 32 bits): the same checkout
/// reached through a symlink gets the same key. A path that cannot be
/// canonicalized (already deleted) is hashed as given.
pub fn repo_key(repo_root: &Path) -> String {
    let canonical = repo_root
        .canonicalize()
        .unwrap_or_else(|_| repo_root.to_path_buf());
    let hash = fnv1a64(canonical.as_os_str().as_bytes());
    format!("{:08x}", (hash ^ (hash >> 32)) as u32)
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// Maps a task id to the part of a session name tmux accepts in targets: every
/// char outside `[A-Za-z0-9_-]` becomes `_` (tmux reads `.` and `:` in targets as
/// window and pane separators), and a leading `-` too (it would read as a flag,
/// and it keeps the control session's name out of reach).
pub fn sanitize(task_id: &str) -> String {
    let mut out: String = task_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        out.push('_');
    } else if out.starts_with('-') {
        out.replace_range(0..1, "_");
    }
    out
}

/// The tmux session of one task: `sb-<key>-<sanitized task id>`.
pub fn session_name(repo_key: &str, task_id: &str) -> String {
    format!("{PREFIX}{repo_key}-{}", sanitize(task_id))
}

/// The session of worker `n` of a pool (`slug`: `pool`, `pool-<GROUP>`):
/// `sb-<key>--<slug>-<n>`. The double dash keeps it apart from every task's
/// session (sanitized task ids never start with `-`).
pub fn pool_session_name(repo_key: &str, slug: &str, n: u32) -> String {
    format!("{PREFIX}{repo_key}--{}-{n}", sanitize(slug))
}

/// The session the control-mode client attaches to: `sb-<key>--control`.
pub fn control_session_name(repo_key: &str) -> String {
    format!("{PREFIX}{repo_key}-{CONTROL_SUFFIX}")
}

/// The control session of engine `n` of the repository (several engines
/// may share one repository and tmux server): engine 1's is
/// [`control_session_name`], engine n's `sb-<key>--control-<n>`.
pub fn engine_control_session_name(repo_key: &str, n: u32) -> String {
    match n {
        0 | 1 => control_session_name(repo_key),
        n => format!("{}-{n}", control_session_name(repo_key)),
    }
}

/// Whether a session on the server was made by switchboard for this repository
/// (a task's session or the control session).
pub fn is_ours(session: &str, repo_key: &str) -> bool {
    session
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_prefix(repo_key))
        .is_some_and(|rest| rest.len() > 1 && rest.starts_with('-'))
}

/// The (sanitized) task id of one of our task sessions; `None` for other
/// sessions and for the control session. Best effort: `a.b` and `a_b` both
/// come back as `a_b`, so callers match it against `sanitize(id)`.
pub fn task_of<'s>(session: &'s str, repo_key: &str) -> Option<&'s str> {
    let rest = session.strip_prefix(PREFIX)?.strip_prefix(repo_key)?;
    let task = rest.strip_prefix('-')?;
    (!task.is_empty() && !task.starts_with('-')).then_some(task)
}

/// Whether `s` is a tmux pane id (`%` and digits), the only way we target panes.
pub fn is_pane_id(s: &str) -> bool {
    s.strip_prefix('%')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Quotes one argument for tmux's command language (control-mode lines,
/// `source-file`), so it arrives as exactly one argument with its text intact.
///
/// Plain text goes in single quotes, where tmux expands nothing: no `$VAR`, no
/// `~`, no `\` escapes, and `;`, `#`, `{` are just characters. A single quote
/// and control characters go in adjacent double-quoted pieces (`"'"`, `"\n"`,
/// `"\033"`), because a raw newline would end the control-mode line. tmux glues
/// adjacent quoted pieces into one word, as a shell does. NUL cannot reach tmux
/// (its strings are C strings) and is dropped.
///
/// Quoting protects the parser only: commands that expand formats
/// (`display-message`, `-F`) still read `#{…}` in the argument's text.
pub fn quote(arg: &str) -> String {
    #[derive(PartialEq)]
    enum Open {
        None,
        Single,
        Double,
    }
    let mut out = String::with_capacity(arg.len() + 2);
    let mut open = Open::None;
    for ch in arg.chars().filter(|&c| c != '\0') {
        let plain = ch != '\'' && !ch.is_ascii_control();
        let want = if plain { Open::Single } else { Open::Double };
        if open != want {
            match open {
                Open::Single => out.push('\''),
                Open::Double => out.push('"'),
                Open::None => {}
            }
            out.push(if plain { '\'' } else { '"' });
            open = want;
        }
        match ch {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii_control() => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    match open {
        Open::None => out.push_str("''"),
        Open::Single => out.push('\''),
        Open::Double => out.push('"'),
    }
    out
}

/// `word` as one POSIX shell word (shlex's quoting), for text that tmux
/// hands to `sh -c` (`pipe-pane`, `display-popup`, `new-window` commands)
/// and for commands shown to people. A NUL (which no path or name holds)
/// cannot be quoted: it is left out.
pub fn shell_word(word: &str) -> String {
    shlex::try_quote(&word.replace('\0', ""))
        .map(|w| w.into_owned())
        .unwrap_or_default()
}

/// `text` as it must be written where tmux expands formats and then
/// `strftime` (`pipe-pane`'s command): `#` as `##`, `%` as `%%`, so it
/// arrives unchanged.
pub fn format_literal(text: &str) -> String {
    text.replace('#', "##").replace('%', "%%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_key_is_stable_short_hex_and_follows_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let key = repo_key(dir.path());
        assert_eq!(key.len(), 8);
        assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(key, repo_key(dir.path()));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path(), &link).unwrap();
        assert_eq!(repo_key(&link), key);
        assert_ne!(
            repo_key(Path::new("/nonexistent/a")),
            repo_key(Path::new("/nonexistent/b"))
        );
    }

    #[test]
    fn fnv_matches_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn session_names_are_target_safe() {
        assert_eq!(session_name("0123abcd", "T-1_a"), "sb-0123abcd-T-1_a");
        assert_eq!(session_name("k", "a.b:c d/é"), "sb-k-a_b_c_d__");
        assert_eq!(session_name("k", ""), "sb-k-_");
        assert_eq!(session_name("k", "-control"), "sb-k-_control");
        assert_ne!(session_name("k", "-control"), control_session_name("k"));
    }

    #[test]
    fn ours_and_task_of() {
        let key = "0123abcd";
        let s = session_name(key, "T1");
        assert!(is_ours(&s, key));
        assert_eq!(task_of(&s, key), Some("T1"));
        let c = control_session_name(key);
        assert!(is_ours(&c, key));
        assert_eq!(task_of(&c, key), None);
        assert!(!is_ours("sb-ffffffff-T1", key));
        assert!(!is_ours("sb-0123abcd", key));
        assert!(!is_ours("sb-0123abcdT1", key));
        assert!(!is_ours("main", key));
        assert_eq!(task_of("sb-0123abcd-", key), None);
    }

    #[test]
    fn pane_ids() {
        assert!(is_pane_id("%0"));
        assert!(is_pane_id("%123"));
        assert!(!is_pane_id("%"));
        assert!(!is_pane_id("%1a"));
        assert!(!is_pane_id("1"));
        assert!(!is_pane_id("=sess:"));
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("plain-1.log"), "plain-1.log");
        for word in ["", "a b", "it's", "$(x)`y`;", "a\nb", "\"q\" \\ #{x} %Y"] {
            assert_eq!(
                shlex::split(&shell_word(word)),
                Some(vec![word.to_string()]),
                "{word:?}"
            );
        }
        assert_eq!(format_literal("#{x} %Y ##"), "##{x} %%Y ####");
    }

    #[test]
    fn quote_shapes() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("\0"), "''");
        assert_eq!(quote("abc"), "'abc'");
        assert_eq!(quote("it's"), "'it'\"'\"'s'");
        assert_eq!(quote("'"), "\"'\"");
        assert_eq!(quote("a\nb"), "'a'\"\\n\"'b'");
        assert_eq!(quote("\x1b[0m"), "\"\\033\"'[0m'");
        assert_eq!(quote("\x1f\x7f"), "\"\\037\\177\"");
        assert_eq!(quote("$HOME ~ ; #{x} \\"), "'$HOME ~ ; #{x} \\'");
    }

    proptest::proptest! {
        /// The quoted form never carries a raw line break or NUL, which would
        /// split or cut a control-mode line whatever the quoting.
        #[test]
        fn quoted_is_one_line(s in "\\PC*|[\\x00-\\x7f]*") {
            let q = quote(&s);
            proptest::prop_assert!(!q.contains(['\n', '\r', '\0']));
            proptest::prop_assert!(q.starts_with(['\'', '"']));
        }
    }
}
