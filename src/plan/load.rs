//! Reading a plan file: bytes → YAML → [`Plan`], with `FILE:LINE:COL` diagnostics.

use super::checks::did_you_mean;
use super::diagnostic::Diagnostic;
use super::schema::Plan;
use std::path::Path;

/// Parse `text` (read from `file`) into a plan, or the one diagnostic that
/// stops parsing. Semantic checks are [`super::validate`]'s job.
pub fn parse(file: &str, bytes: &[u8]) -> Result<Plan, Diagnostic> {
    if let Some(pos) = bytes.iter().position(|&b| b == 0) {
        return Err(Diagnostic::error(
            file,
            format!("not a text file (NUL byte at offset {pos}); a plan is YAML"),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Diagnostic::error(
            file,
            format!(
                "not UTF-8 text (invalid byte at offset {}); a plan is YAML",
                e.valid_up_to()
            ),
        )
    })?;
    // A first pass into a generic value tells "not a map" apart from schema errors,
    // which serde would word as "invalid type: sequence, expected struct Plan".
    let value: serde_norway::Value =
        serde_norway::from_str(text).map_err(|e| yaml_error(file, &e))?;
    match value {
        serde_norway::Value::Null => {
            return Err(Diagnostic::error(
                file,
                "the plan is empty: expected a map with at least `tasks:`",
            ));
        }
        serde_norway::Value::Mapping(_) => {}
        other => {
            let kind = match other {
                serde_norway::Value::Sequence(_) => "a list",
                serde_norway::Value::String(_) => "a string",
                serde_norway::Value::Number(_) => "a number",
                serde_norway::Value::Bool(_) => "a boolean",
                _ => "not a map",
            };
            return Err(Diagnostic::error(
                file,
                format!(
                    "the plan is {kind}; expected a map with keys version, settings, agents, groups, tasks"
                ),
            )
            .at(1, 1));
        }
    }
    serde_norway::from_str(text).map_err(|e| name_the_task(yaml_error(file, &e), &value))
}

/// serde says where a schema error is as `tasks[4].agent`; add the task's id,
/// which is what the user knows it by.
fn name_the_task(mut d: Diagnostic, value: &serde_norway::Value) -> Diagnostic {
    let Some(rest) = d.message.strip_prefix("tasks[") else {
        return d;
    };
    let Some((index, _)) = rest.split_once(']') else {
        return d;
    };
    let id = index
        .parse::<usize>()
        .ok()
        .and_then(|i| value.get("tasks")?.get(i)?.get("taskId")?.as_str());
    if let (Some(id), Some(colon)) = (id, d.message.find(": ")) {
        d.message.insert_str(colon, &format!(" (taskId {id})"));
    }
    d
}

/// Read and parse a plan file from disk.
pub fn read(path: &Path) -> Result<Plan, Diagnostic> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| read_error(&file, &e))?;
    parse(&file, &bytes)
}

/// Says which file was looked for and how to name another: the default
/// `dispatcher.yaml` missing is the first thing a new user meets.
pub(super) fn read_error(file: &str, e: &std::io::Error) -> Diagnostic {
    let message = match e.kind() {
        std::io::ErrorKind::NotFound => "plan file not found (name another with --plan FILE; \
             README's plan reference shows the format, and `switchboard demo` a whole plan)"
            .to_string(),
        std::io::ErrorKind::IsADirectory => "this is a directory, not a plan file".to_string(),
        _ => format!("cannot read the plan: {e}"),
    };
    Diagnostic::error(file, message)
}

fn yaml_error(file: &str, err: &serde_norway::Error) -> Diagnostic {
    let loc = err.location();
    let mut message = err.to_string();
    // serde_norway puts " at line L column C" after the message; the location is
    // printed up front instead. Only that one is cut: a later "while parsing a
    // flow sequence at line …" says where the unclosed thing began, and helps.
    if let Some(l) = &loc {
        let at = format!(" at line {} column {}", l.line(), l.column());
        if let Some(cut) = message.find(&at) {
            message.replace_range(cut..cut + at.len(), "");
        }
    }
    if message.contains("found character that cannot start any token") {
        message.push_str(" (a tab? YAML indents with spaces only)");
    }
    shorten_unknown(&mut message);
    Diagnostic::error(file, message).at_opt(loc.map(|l| (l.line(), l.column())))
}

/// serde says "unknown field `x`, expected one of `a`, `b`, …" (or "unknown
/// variant"); when one of those is a likely typo fix, name it instead of the
/// whole list.
fn shorten_unknown(message: &mut String) {
    let Some((start, mark)) = ["unknown field `", "unknown variant `"]
        .iter()
        .find_map(|m| message.find(m).map(|at| (at, *m)))
    else {
        return;
    };
    let rest = &message[start + mark.len()..];
    let Some((field, expected)) = rest.split_once('`') else {
        return;
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let hint = did_you_mean(field, candidates);
    if hint.is_empty() {
        return;
    }
    let keep = start + mark.len() + field.len() + 1;
    message.truncate(keep);
    message.push_str(&hint.replace('\'', "`"));
}

/// Finds where an id is declared in the source, for semantic diagnostics
/// (serde keeps no positions once parsing succeeded).
pub struct Locator<'a> {
    lines: Vec<&'a str>,
}

impl<'a> Locator<'a> {
    pub fn new(text: &'a str) -> Self {
        Locator {
            lines: text.lines().collect(),
        }
    }

    /// Where `key:` is written inside the map that starts at `at` (a position
    /// from [`Self::find`]): on that line (flow style), or on the lines below
    /// it indented at least as far. For pointing at the key a problem is in,
    /// rather than at the task's id.
    pub fn key_in_block(&self, at: (usize, usize), key: &str) -> Option<(usize, usize)> {
        let (line, column) = at;
        let first = self.lines.get(line.checked_sub(1)?)?;
        let pattern = format!("{key}:");
        let on_first = first
            .char_indices()
            .skip(column)
            .find(|(i, _)| {
                first[*i..].starts_with(&pattern)
                    && !first[..*i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
            })
            .map(|(i, _)| (line, first[..i].chars().count() + 1));
        on_first.or_else(|| {
            self.lines[line..]
                .iter()
                .enumerate()
                .take_while(|(_, l)| {
                    l.trim().is_empty() || l.len() - l.trim_start().len() + 1 >= column
                })
                .find_map(|(k, l)| {
                    let indent = l.len() - l.trim_start().len();
                    l.trim_start()
                        .starts_with(&pattern)
                        .then_some((line + 1 + k, indent + 1))
                })
        })
    }

    /// Like [`Self::find`], but also inside flow maps (`- { name: big1, … }`):
    /// `key: value` anywhere on a line, after a line start, a space, `{` or `,`.
    pub fn find_anywhere(&self, key: &str, value: &str, n: usize) -> Option<(usize, usize)> {
        let pattern = format!("{key}:");
        let mut found = Vec::new();
        for (i, line) in self.lines.iter().enumerate() {
            for (at, _) in line.match_indices(&pattern) {
                let after_key = line[..at]
                    .chars()
                    .next_back()
                    .is_none_or(|c| c.is_whitespace() || c == '{' || c == ',');
                let written = line[at + pattern.len()..]
                    .split([',', '}', '#'])
                    .next()
                    .unwrap_or("")
                    .trim()
                    .trim_matches(|c| c == '"' || c == '\'');
                if after_key && written == value {
                    found.push((i + 1, line[..at].chars().count() + 1));
                    if found.len() > n {
                        return found.pop();
                    }
                }
            }
        }
        None
    }

    /// The 1-based line and column of `key: value` (value maybe quoted), the `n`th
    /// such occurrence (0-based), so duplicates point at the second copy.
    pub fn find(&self, key: &str, value: &str, n: usize) -> Option<(usize, usize)> {
        self.lines
            .iter()
            .enumerate()
            .filter_map(|(i, line)| {
                let trimmed = line.trim_start().trim_start_matches("- ").trim_start();
                let rest = trimmed.strip_prefix(key)?.trim_start().strip_prefix(':')?;
                let found = rest
                    .split('#')
                    .next()?
                    .trim()
                    .trim_matches(|c| c == '"' || c == '\'');
                (found == value).then(|| (i + 1, line.len() - trimmed.len() + 1))
            })
            .nth(n)
    }
}

#[cfg(test)]
mod tests {
    use super::Locator;

    #[test]
    fn a_key_is_found_in_its_own_task_only() {
        let text = "tasks:\n  - taskId: A\n    title: a\n  - taskId: B\n    group: G9\n  - { taskId: C, group: G8 }\n";
        let loc = Locator::new(text);
        let a = loc.find("taskId", "A", 0).expect("A");
        assert_eq!(loc.key_in_block(a, "group"), None, "B's group is not A's");
        let b = loc.find("taskId", "B", 0).expect("B");
        assert_eq!(loc.key_in_block(b, "group"), Some((5, 5)));
        // Flow style: on the same line, after the anchor (C's `taskId`).
        assert_eq!(loc.key_in_block((6, 7), "group"), Some((6, 18)));
    }

    #[test]
    fn an_entry_is_found_in_flow_maps_too() {
        let text =
            "hosts:\n  - { name: a, ssh: x }\n  - name: \"b\"\n  - {name: a}\n  - hostname: a\n";
        let loc = Locator::new(text);
        assert_eq!(loc.find_anywhere("name", "a", 0), Some((2, 7)));
        assert_eq!(loc.find_anywhere("name", "b", 0), Some((3, 5)));
        assert_eq!(loc.find_anywhere("name", "a", 1), Some((4, 6)));
        assert_eq!(
            loc.find_anywhere("name", "a", 2),
            None,
            "hostname is another key"
        );
    }
}
