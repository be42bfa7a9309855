//! `TASK_INSTRUCTION.md`: what an agent reads in its worktree, and the few
//! Markdown helpers to build it (quote an input's section) and read it back
//! (the sim agent takes its outputs from the `## Outputs` list).
//!
//! Everything here is a pure function of its arguments except
//! [`ResolvedInput::read`], the one convenience that touches the disk.

mod markdown;

pub use markdown::{code_span, markdown_section};

use crate::plan::{Input, Task, Validation};
use markdown::{closing_fence, code_block, headings, last_section, one_line, parse_code_span};
use std::fmt::Write as _;
use std::path::Path;

/// The file name, in the root of the task's worktree.
pub const FILE_NAME: &str = "TASK_INSTRUCTION.md";

/// An input of a task with its referenced section looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedInput {
    pub path: String,
    pub section: Option<String>,
    /// The section's text; None when the file or the heading is missing.
    pub text: Option<String>,
}

impl ResolvedInput {
    /// Look `input` up under `root` (the worktree). A missing or unreadable
    /// file is not an error here: the instruction says so, the agent copes.
    pub fn read(root: &Path, input: &Input) -> Self {
        let text = input.section.as_deref().and_then(|heading| {
            let doc = std::fs::read_to_string(root.join(&input.path)).ok()?;
            markdown_section(&doc, heading)
        });
        ResolvedInput {
            path: input.path.clone(),
            section: input.section.clone(),
            text,
        }
    }
}

/// The whole instruction for `task`. `report_hint`: tell the agent how to use
/// `switchboard report` (only useful when it runs inside a worker).
pub fn render(task: &Task, inputs: &[ResolvedInput], report_hint: bool) -> String {
    let id = &task.task_id;
    let mut md = format!("# {id}: {}\n\n", task.title);
    let mut facts = vec![
        format!("Group {}", task.group),
        format!("priority {}", task.priority.as_str()),
    ];
    if let Some(h) = task.effort_hours {
        facts.push(format!("about {h} h"));
    }
    if !task.dependencies.is_empty() {
        facts.push(format!(
            "builds on {} (already merged into this branch)",
            task.dependencies.join(", ")
        ));
    }
    let _ = writeln!(md, "{}.\n", facts.join(" · "));
    match task.instruction.trim() {
        "" => md.push_str("_No instruction text: the title says what to do._\n"),
        text => {
            md.push_str(&format!("{text}\n"));
            if let Some(fence) = closing_fence(text) {
                let _ = writeln!(md, "{fence}");
            }
        }
    }

    md.push_str("\n## Inputs\n\n");
    if inputs.is_empty() {
        md.push_str("_None._\n");
    }
    for input in inputs {
        let _ = write!(md, "- {}", code_span(&input.path));
        let description = task
            .inputs
            .iter()
            .find(|i| i.path == input.path && i.section == input.section)
            .and_then(|i| i.description.as_deref());
        if let Some(d) = description {
            let _ = write!(md, ": {}", one_line(d));
        }
        md.push('\n');
        match (&input.section, &input.text) {
            (None, _) => {}
            (Some(heading), Some(text)) => {
                let _ = writeln!(md, "\n  Section \"{}\":\n", one_line(heading));
                for line in text.lines() {
                    let _ = match line {
                        "" => writeln!(md, "  >"),
                        _ => writeln!(md, "  > {line}"),
                    };
                }
                md.push('\n');
            }
            (Some(heading), None) => {
                let _ = writeln!(
                    md,
                    "  _(section \"{}\" not found: the file or the heading is missing)_",
                    one_line(heading)
                );
            }
        }
    }

    md.push_str("\n## Outputs\n\n");
    if task.outputs.is_empty() {
        md.push_str("_No files are listed: commit what the instruction asks for._\n");
    }
    for o in &task.outputs {
        // `- `path`` at the start of its line: parse_outputs (the sim agent)
        // reads it back. A description on a line of its own could start
        // with a heading or a fence.
        let _ = match &o.description {
            Some(d) => writeln!(md, "- {}: {}", code_span(&o.path), one_line(d)),
            None => writeln!(md, "- {}", code_span(&o.path)),
        };
    }

    md.push_str("\n## Validation\n\n");
    if task.validation.is_empty() {
        md.push_str("_No checks are configured._\n");
    }
    for v in &task.validation {
        let description = match v {
            Validation::FileExists { description }
            | Validation::Command { description, .. }
            | Validation::Commit { description } => description,
        };
        let note = description
            .as_deref()
            .map(|d| format!(" ({})", one_line(d)))
            .unwrap_or_default();
        let _ = match v {
            Validation::Command { run, .. } => {
                // (`run: |` ends with a line break.)
                let run = run.trim_end_matches(['\n', '\r']);
                if run.contains(['\n', '\r']) {
                    // A script goes in a code block under its item…
                    let block = code_block(run, "sh", "  ");
                    writeln!(md, "- command: this script exits 0{note}\n\n{block}")
                } else {
                    // … one line in a code span fenced for its backticks.
                    writeln!(md, "- command: {} exits 0{note}", code_span(run))
                }
            }
            _ => writeln!(md, "- {}{note}", v.describe()),
        };
    }

    md.push_str("\n## Reporting\n\n");
    if report_hint {
        md.push_str(
            "Tell switchboard how it is going with `switchboard report` (it is on your PATH):\n\n\
             - `switchboard report start` when you begin\n\
             - `switchboard report done --message \"…\"` when the work is finished and committed\n\
             - `switchboard report wait --message \"your question\"` when you need an answer from a person\n\
             - `switchboard report help --message \"…\"` when you are stuck\n\
             - `switchboard report error --message \"…\"` when something failed that you cannot fix\n\
             - `switchboard report skip --message \"why\"` when the task should not be done\n\n",
        );
    }
    // A title may hold backticks: each span gets a fence longer than any run in it.
    let _ = writeln!(
        md,
        "Commit your work; the commit message should contain the task id {} \
         (for example {}).",
        code_span(id),
        code_span(&format!("feat({id}): {}", task.title))
    );
    md
}

/// The paths listed under `## Outputs`, as [`render`] writes them. The last
/// such heading counts: the plan's instruction text, copied in above it, may
/// have an "Outputs" heading of its own.
pub fn parse_outputs(instruction_md: &str) -> Vec<String> {
    let Some(section) = last_section(instruction_md, 2, "Outputs") else {
        return Vec::new();
    };
    section
        .lines()
        .filter_map(|line| parse_code_span(line.strip_prefix("- ")?))
        .collect()
}

/// The task id and title from the first `# ID: title` heading.
pub fn parse_heading(instruction_md: &str) -> Option<(String, String)> {
    let lines: Vec<&str> = instruction_md.lines().collect();
    let &(_, _, title) = headings(&lines).iter().find(|(_, level, _)| *level == 1)?;
    let (id, title) = title.split_once(':')?;
    Some((id.trim().to_string(), title.trim().to_string()))
}

/// Add (or replace) the note on how the previous attempt ended, with the last
/// lines it printed, so a restarted agent can pick up where that one stopped.
/// On an empty `md` this makes the note alone, ready to be appended to an
/// instruction (it starts with a blank line).
pub fn append_previous_attempt(md: &mut String, how_it_ended: &str, last_lines: &[String]) {
    const HEADING: &str = "## Previous attempt";
    // Only the latest attempt is worth reading: drop an earlier note. It is
    // always last, since it is only ever appended.
    if let Some(at) = md.find(&format!("\n{HEADING}\n")) {
        md.truncate(at + 1);
    }
    if !md.is_empty() && !md.ends_with('\n') {
        md.push('\n');
    }
    let _ = writeln!(
        md,
        "\n{HEADING}\n\nA previous attempt at this task ended: {}. \
         The worktree still holds whatever it wrote or committed; carry on from there.",
        how_it_ended.trim().trim_end_matches('.')
    );
    // A captured pane ends in blank rows; they say nothing.
    let first = last_lines.iter().position(|l| !l.trim().is_empty());
    let last = last_lines.iter().rposition(|l| !l.trim().is_empty());
    if let (Some(a), Some(b)) = (first, last) {
        let body = last_lines[a..=b].join("\n");
        let _ = writeln!(
            md,
            "\nIts last lines of output:\n\n{}",
            code_block(&body, "text", "")
        );
    }
}

#[cfg(test)]
mod tests;
