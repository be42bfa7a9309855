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

/// Like [`parse`], but goes on past unknown fields, so one run names every
/// typo: each unknown block-style key is blanked out (its lines kept, empty,
/// so later locations stay true) and parsing starts again. Ok carries the
/// unknown-field errors of a plan that parsed without them; Err every schema
/// error found before one that cannot be stepped over.
pub fn parse_all(file: &str, bytes: &[u8]) -> Result<(Plan, Vec<Diagnostic>), Vec<Diagnostic>> {
    let first = match parse(file, bytes) {
        Ok(plan) => return Ok((plan, Vec::new())),
        Err(d) => d,
    };
    // parse() failing on schema means the bytes were UTF-8 YAML.
    let mut lines: Vec<String> = String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_string)
        .collect();
    let mut errors = vec![first];
    // Bounded: each round blanks at least one line.
    for _ in 0..lines.len() {
        let last = errors.last().expect("one error at least");
        let Some(blanked) = blank_unknown_key(&mut lines, last) else {
            return Err(errors);
        };
        debug_assert!(blanked > 0);
        let text = lines.join("\n");
        // Blanking must never be what breaks the YAML: then stop, with what
        // was found, rather than report an error the user did not make.
        if serde_norway::from_str::<serde_norway::Value>(&text).is_err() {
            return Err(errors);
        }
        match parse(file, text.as_bytes()) {
            Ok(plan) => return Ok((plan, errors)),
            Err(d) => errors.push(d),
        }
    }
    Err(errors)
}

/// Blank the key an unknown-field error points at, with its nested lines;
/// how many lines, or None when the key is not alone at the start of its
/// line (flow style `{ a: 1 }`, a list item's first key).
fn blank_unknown_key(lines: &mut [String], d: &Diagnostic) -> Option<usize> {
    const MARK: &str = "unknown field `";
    let at = d.message.find(MARK)?;
    let field = d.message[at + MARK.len()..].split('`').next()?;
    let (line, column) = (d.line?.checked_sub(1)?, d.column?.checked_sub(1)?);
    let text = lines.get(line)?;
    let (indent, rest) = text.split_at_checked(column)?;
    let value = rest
        .strip_prefix(field)
        .and_then(|after| after.trim_start().strip_prefix(':'))?;
    if !indent.chars().all(|c| c == ' ') {
        return None;
    }
    // A key with no value on its line may hold a list written at its own
    // indent (`key:` then `- item` under it, unindented): that goes too.
    let block = value.split('#').next().unwrap_or("").trim().is_empty();
    let nested = lines[line + 1..]
        .iter()
        .take_while(|l| {
            let depth = l.len() - l.trim_start().len();
            l.trim().is_empty()
                || depth > column
                || (block && depth == column && l.trim_start().starts_with("- "))
        })
        .count();
    for l in &mut lines[line..=line + nested] {
        l.clear();
    }
    Some(nested + 1)
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
             see dispatcher.example.yaml)"
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
    shorten_unknown_field(&mut message);
    Diagnostic::error(file, message).at_opt(loc.map(|l| (l.line(), l.column())))
}

/// serde says "unknown field `x`, expected one of `a`, `b`, …"; when one of
/// those is a likely typo fix, name it instead of the whole list.
fn shorten_unknown_field(message: &mut String) {
    let Some(start) = message.find("unknown field `") else {
        return;
    };
    let rest = &message[start + "unknown field `".len()..];
    let Some((field, expected)) = rest.split_once('`') else {
        return;
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let hint = did_you_mean(field, candidates);
    if hint.is_empty() {
        return;
    }
    let keep = start + "unknown field `".len() + field.len() + 1;
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
    use super::parse_all;

    const HEAD: &str = "groups:\n  - id: G1\nagents:\n  a:\n    command: x\n";

    #[test]
    fn an_unknown_key_is_stepped_over_with_its_nested_lines() {
        let text = format!(
            "{HEAD}extra:\n  nested:\n    - 1\n\n  more: 2\ntasks:\n  - taskId: T1\n    title: t\n    group: G1\n    agent: {{ type: a }}\n"
        );
        let (plan, errors) = parse_all("p.yaml", text.as_bytes()).expect("parses without it");
        assert_eq!(plan.tasks.len(), 1);
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].line, errors[0].column), (Some(6), Some(1)));
    }

    #[test]
    fn an_unknown_key_takes_its_unindented_list_with_it() {
        let text = format!(
            "{HEAD}tasks:\n  - taskId: T1\n    title: t\n    group: G1\n    agent: {{ type: a }}\n    dependecies:\n    - T0\n    - T9\n    priority: HIGH\n"
        );
        let (plan, errors) = parse_all("p.yaml", text.as_bytes()).expect("parses without it");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].message.contains("did you mean `dependencies`"));
        assert_eq!(plan.tasks[0].priority.as_str(), "HIGH");
    }

    #[test]
    fn a_flow_style_unknown_key_stops_the_search_with_what_was_found() {
        let text = format!(
            "{HEAD}extar: 1\ntasks:\n  - {{ taskId: T1, title: t, group: G1, agent: {{ type: a }}, colour: red }}\n"
        );
        let errors = parse_all("p.yaml", text.as_bytes()).expect_err("flow key stays");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[1].message.contains("unknown field `colour`"));
        assert!(errors[1].message.contains("(taskId T1)"));
    }
}
