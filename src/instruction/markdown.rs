//! Just enough Markdown for instructions: find a heading's section (skipping
//! fenced code), and write and read back inline code spans.

/// The text under the Markdown heading titled `heading` (ATX, `#` to `######`),
/// up to the next heading of the same or a higher level. The title matches
/// exactly (trimmed) first, then ignoring case. Headings inside fenced code
/// blocks are not headings. Blank lines around the text are dropped.
pub fn markdown_section(doc: &str, heading: &str) -> Option<String> {
    let lines: Vec<&str> = doc.lines().collect();
    let all = headings(&lines);
    let wanted = heading.trim();
    let k = all.iter().position(|h| h.2 == wanted).or_else(|| {
        let wanted = wanted.to_lowercase();
        all.iter().position(|h| h.2.to_lowercase() == wanted)
    })?;
    Some(body(&lines, &all, k))
}

/// The section under the last heading of exactly this `level` and `title`:
/// for reading back a generated document whose earlier, free-form parts may
/// hold a heading of the same name.
pub(super) fn last_section(doc: &str, level: usize, title: &str) -> Option<String> {
    let lines: Vec<&str> = doc.lines().collect();
    let all = headings(&lines);
    let k = all.iter().rposition(|h| h.1 == level && h.2 == title)?;
    Some(body(&lines, &all, k))
}

/// The lines under heading `all[k]`, up to the next heading of the same or a
/// higher level, without the blank lines around them.
fn body(lines: &[&str], all: &[(usize, usize, &str)], k: usize) -> String {
    let (start, level, _) = all[k];
    let end = all[k + 1..]
        .iter()
        .find(|h| h.1 <= level)
        .map_or(lines.len(), |h| h.0);
    let body = &lines[start + 1..end];
    let first = body.iter().position(|l| !l.trim().is_empty());
    let last = body.iter().rposition(|l| !l.trim().is_empty());
    match (first, last) {
        (Some(a), Some(b)) => body[a..=b].join("\n"),
        _ => String::new(),
    }
}

/// `(line index, level, title)` of every ATX heading outside code fences.
pub(super) fn headings<'a>(lines: &[&'a str]) -> Vec<(usize, usize, &'a str)> {
    let mut out = Vec::new();
    let mut fence = Fence::default();
    for (i, line) in lines.iter().enumerate() {
        if fence.code(line) {
            continue;
        }
        let trimmed = line.trim_start_matches(' ');
        let level = trimmed.chars().take_while(|&c| c == '#').count();
        let rest = &trimmed[level..];
        if (1..=6).contains(&level) && (rest.is_empty() || rest.starts_with([' ', '\t'])) {
            // An optional closing run of '#' after a space is not part
            // of the title ("## Setup ##"), but "## C#" keeps its '#'.
            let mut title = rest.trim();
            let stripped = title.trim_end_matches('#');
            if stripped.is_empty() || stripped.ends_with([' ', '\t']) {
                title = stripped.trim_end();
            }
            out.push((i, level, title));
        }
    }
    out
}

/// Fenced code blocks, followed line by line: the open fence's character and length.
#[derive(Default)]
struct Fence(Option<(char, usize)>);

impl Fence {
    /// Whether `line` is code (a fence, inside one, or indented as code)
    /// rather than a line that may be a heading.
    fn code(&mut self, line: &str) -> bool {
        let trimmed = line.trim_start_matches(' ');
        if line.len() - trimmed.len() > 3 {
            return true;
        }
        let run = |c: char| trimmed.chars().take_while(|&x| x == c).count();
        let marker = ['`', '~'].into_iter().find(|&c| run(c) >= 3);
        match (self.0, marker) {
            (None, Some(c)) => self.0 = Some((c, run(c))),
            (Some((c, n)), Some(m))
                if m == c && run(c) >= n && trimmed.trim_end().len() == run(c) =>
            {
                self.0 = None
            }
            (Some(_), _) => {}
            (None, None) => return false,
        }
        true
    }
}

/// The line that closes a code fence `text` leaves open, if it does: free
/// text followed by generated Markdown must not swallow it as code.
pub(super) fn closing_fence(text: &str) -> Option<String> {
    let mut fence = Fence::default();
    for line in text.lines() {
        fence.code(line);
    }
    fence.0.map(|(c, n)| c.to_string().repeat(n))
}

/// `text` as a Markdown code span, with a longer delimiter when it holds
/// backticks and one space of padding where CommonMark would eat one.
pub fn code_span(text: &str) -> String {
    let ticks = "`".repeat(longest_run(text, '`') + 1);
    let pad = text.starts_with('`')
        || text.ends_with('`')
        || (text.starts_with(' ') && text.ends_with(' ') && !text.trim().is_empty());
    let space = if pad { " " } else { "" };
    format!("{ticks}{space}{text}{space}{ticks}")
}

/// The content of the code span opening `line` (CommonMark: the closing run
/// has the opening run's length; one space inside each end is padding unless
/// the content is all spaces).
pub(super) fn parse_code_span(line: &str) -> Option<String> {
    let n = line.chars().take_while(|&c| c == '`').count();
    if n == 0 {
        return None;
    }
    let rest = &line[n..];
    let mut at = 0;
    while let Some(found) = rest[at..].find('`') {
        let start = at + found;
        let len = rest[start..].chars().take_while(|&c| c == '`').count();
        if len == n {
            let inner = &rest[..start];
            let padded = inner.len() > 1
                && inner.starts_with(' ')
                && inner.ends_with(' ')
                && !inner.trim().is_empty();
            let inner = if padded {
                &inner[1..inner.len() - 1]
            } else {
                inner
            };
            return Some(inner.to_string());
        }
        at = start + len;
    }
    None
}

/// `text` as a fenced code block, each line after `indent` (to sit under a
/// list item): the fence is longer than any run of backticks inside, so no
/// line of the text can close it, and headings in it are not headings.
pub(super) fn code_block(text: &str, info: &str, indent: &str) -> String {
    let fence = "`".repeat(longest_run(text, '`').max(2) + 1);
    let mut out = format!("{indent}{fence}{info}\n");
    for line in text.replace("\r\n", "\n").split(['\n', '\r']) {
        out.push_str(indent);
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(indent);
    out.push_str(&fence);
    out
}

/// Plan text shown inside one Markdown line (a description, a heading
/// quoted in a sentence): its line breaks become spaces, or a "description"
/// could start a heading or a list item of its own.
pub(super) fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains(['\n', '\r']) {
        text.replace("\r\n", " ").replace(['\n', '\r'], " ").into()
    } else {
        text.into()
    }
}

/// The longest run of `c` in `text` (to pick a delimiter longer than it).
pub(super) fn longest_run(text: &str, c: char) -> usize {
    text.split(|x| x != c).map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DOC: &str = "\
intro

# T1: Schema

Design the tables.

## Details ##

- one
- two

```sh
# not a heading
## T2: Service
```

# T2: Service

Build it.
### deep
still T2
";

    #[test]
    fn section_runs_to_the_next_heading_of_its_level() {
        let t1 = markdown_section(DOC, "T1: Schema").unwrap();
        assert!(t1.starts_with("Design the tables."));
        assert!(t1.contains("## Details ##"));
        assert!(t1.contains("# not a heading"), "fenced code is kept: {t1}");
        assert!(t1.ends_with("```"));
        assert_eq!(
            markdown_section(DOC, "T2: Service").unwrap(),
            "Build it.\n### deep\nstill T2"
        );
    }

    #[test]
    fn subsection_ends_at_a_higher_heading() {
        let details = markdown_section(DOC, "Details").unwrap();
        assert!(details.starts_with("- one"));
        assert!(details.ends_with("```"), "{details}");
        assert_eq!(markdown_section(DOC, "deep").unwrap(), "still T2");
    }

    #[test]
    fn headings_in_fences_are_not_found() {
        assert_eq!(markdown_section(DOC, "not a heading"), None);
        // The fenced "## T2: Service" does not cut T1 short nor match first.
        assert_eq!(
            markdown_section(DOC, "t2: service").unwrap(),
            "Build it.\n### deep\nstill T2"
        );
    }

    #[test]
    fn exact_title_wins_over_case_insensitive() {
        let doc = "## setup\nlower\n## Setup\nupper\n";
        assert_eq!(markdown_section(doc, "Setup").unwrap(), "upper");
        assert_eq!(markdown_section(doc, "SETUP").unwrap(), "lower");
        assert_eq!(markdown_section(doc, "  Setup ").unwrap(), "upper");
    }

    #[test]
    fn heading_edge_cases() {
        assert_eq!(markdown_section("#NoSpace\nx", "NoSpace"), None);
        assert_eq!(markdown_section("####### seven\nx", "seven"), None);
        assert_eq!(
            markdown_section("    # indented code\nx", "indented code"),
            None
        );
        assert_eq!(markdown_section("## C#\nsharp", "C#").unwrap(), "sharp");
        assert_eq!(
            markdown_section("## Empty\n\n## Next\n", "Empty").unwrap(),
            ""
        );
        assert_eq!(markdown_section("", "x"), None);
    }

    #[test]
    fn code_spans() {
        assert_eq!(code_span("src/a.rs"), "`src/a.rs`");
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("`a"), "`` `a ``");
        assert_eq!(
            parse_code_span("`src/a.rs` trailing words").unwrap(),
            "src/a.rs"
        );
        assert_eq!(parse_code_span("no span"), None);
        assert_eq!(parse_code_span("`unclosed"), None);
    }

    proptest! {
        #[test]
        fn code_span_round_trips(text in "[^\n\r]{1,40}") {
            prop_assert_eq!(parse_code_span(&code_span(&text)), Some(text));
        }
    }
}
