//! Going on past a schema error, so one check names every typo: an unknown
//! key is renamed to its likely fix (or blanked out, with its nested lines)
//! and an unknown value replaced, then parsing starts again. Lines are kept,
//! so later locations stay true.

use super::diagnostic::Diagnostic;
use super::load::parse;
use super::schema::Plan;

/// Like [`parse`], but goes on past unknown keys and values. Ok carries the
/// errors of a plan that parsed once they were set aside; Err every schema
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
    // Bounded: each round mends one key or value, and there are fewer of
    // those than characters.
    for _ in 0..bytes.len() {
        let last = errors.last().expect("one error at least");
        // Read a misspelt key as its fix; if that key is there already (a
        // duplicate), set the misspelt one aside instead.
        let Some(text) = [true, false].into_iter().find_map(|rename_to_fix| {
            let mut mended = lines.clone();
            let text = mend(&mut mended, last, rename_to_fix).then(|| mended.join("\n"))?;
            // Mending must never be what breaks the YAML: that would report
            // an error the user did not make.
            serde_norway::from_str::<serde_norway::Value>(&text).ok()?;
            lines = mended;
            Some(text)
        }) else {
            return Err(stopped(errors));
        };
        match parse(file, text.as_bytes()) {
            Ok(plan) => return Ok((plan, errors)),
            Err(d) if errors.contains(&d) => return Err(stopped(errors)),
            Err(d) => errors.push(d),
        }
    }
    Err(stopped(errors))
}

/// The errors so far, and a word that there may be more behind the last.
fn stopped(mut errors: Vec<Diagnostic>) -> Vec<Diagnostic> {
    if let Some(last) = errors.last() {
        let note = Diagnostic::warning(
            &last.file,
            "the check stopped at the error above; fix it to see anything else that is wrong",
        )
        .at_opt(last.line.zip(last.column));
        errors.push(note);
    }
    errors
}

/// The name an "unknown field" or "unknown variant" error is about, the fix
/// it suggests, and the first name serde expected instead.
struct Unknown<'m> {
    field: bool,
    name: &'m str,
    fix: Option<&'m str>,
    first_expected: Option<&'m str>,
}

fn unknown(message: &str) -> Option<Unknown<'_>> {
    let (field, at) = match (
        message.find("unknown field `"),
        message.find("unknown variant `"),
    ) {
        (Some(at), _) => (true, at + "unknown field `".len()),
        (None, Some(at)) => (false, at + "unknown variant `".len()),
        (None, None) => return None,
    };
    let (name, rest) = message[at..].split_once('`')?;
    let fix = rest
        .split_once("did you mean `")
        .and_then(|(_, f)| f.split_once('`'))
        .map(|(f, _)| f);
    let first_expected = rest
        .split_once("expected ")
        .and_then(|(_, e)| e.split('`').nth(1));
    Some(Unknown {
        field,
        name,
        fix,
        first_expected,
    })
}

/// Set aside what `d` complains about; false when it cannot be.
fn mend(lines: &mut [String], d: &Diagnostic, rename_to_fix: bool) -> bool {
    let Some(u) = unknown(&d.message) else {
        return false;
    };
    let (Some(line), Some(column)) = (
        d.line.and_then(|l| l.checked_sub(1)),
        d.column.and_then(|c| c.checked_sub(1)),
    ) else {
        return false;
    };
    let replacement = match (u.field, u.fix) {
        (false, Some(fix)) => fix,
        (true, Some(fix)) if rename_to_fix => fix,
        (true, _) => return blank_unknown_key(lines, line, column, u.name).is_some(),
        (false, None) => match u.first_expected {
            Some(first) => first,
            None => return false,
        },
    };
    rename(lines, line, column, u.name, replacement)
}

/// Replace `name` where serde found it (maybe quoted) with `with`.
fn rename(lines: &mut [String], line: usize, column: usize, name: &str, with: &str) -> bool {
    let Some(text) = lines.get_mut(line) else {
        return false;
    };
    // serde counts columns in characters.
    let Some(at) = text.char_indices().nth(column).map(|(i, _)| i) else {
        return false;
    };
    let start = if text[at..].starts_with(['"', '\'']) {
        at + 1
    } else {
        at
    };
    if !text[start..].starts_with(name) {
        return false;
    }
    text.replace_range(start..start + name.len(), with);
    true
}

/// Blank the key at `line`/`column` with its nested lines; how many lines,
/// or None when the key is not alone at the start of its line (flow style
/// `{ a: 1 }`, a list item's first key).
fn blank_unknown_key(
    lines: &mut [String],
    line: usize,
    column: usize,
    field: &str,
) -> Option<usize> {
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
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[1].message.contains("unknown field `colour`"));
        assert!(errors[1].message.contains("(taskId T1)"));
        // And a word that the check stopped there.
        assert_eq!(errors[2].severity, crate::plan::Severity::Warning);
        assert!(errors[2].message.contains("the check stopped"));
        assert_eq!(errors[2].line, errors[1].line);
    }
}
