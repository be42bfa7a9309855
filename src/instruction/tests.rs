use super::*;

fn task(yaml: &str) -> Task {
    serde_norway::from_str(yaml).expect("test task parses")
}

fn full_task() -> Task {
    task(
        r#"
taskId: T4
title: Retry Engine Implementation
group: GROUP_B
priority: CRITICAL
effortHours: 4
agent: {type: backend-engineer}
instruction: |
  Implement the retry engine with exponential backoff.
inputs:
  - path: docs/breakdown.md
    section: "T4: Retry Engine Implementation"
    description: the task's part of the breakdown
  - path: docs/missing.md
    section: Nowhere
  - path: README.md
outputs:
  - path: src/services/retry_engine.ts
    description: the engine
  - path: src/services/retry_engine.test.ts
validation:
  - type: file_exists
  - type: command
    run: npm test
    description: unit tests pass
  - type: commit
dependencies: [T1, T2]
"#,
    )
}

fn full_inputs() -> Vec<ResolvedInput> {
    vec![
        ResolvedInput {
            path: "docs/breakdown.md".into(),
            section: Some("T4: Retry Engine Implementation".into()),
            text: Some("Backoff: 1s, 2s, 4s.\n\nJitter: ±20%.".into()),
        },
        ResolvedInput {
            path: "docs/missing.md".into(),
            section: Some("Nowhere".into()),
            text: None,
        },
        ResolvedInput {
            path: "README.md".into(),
            section: None,
            text: None,
        },
    ]
}

#[test]
fn renders_every_part() {
    insta::assert_snapshot!(render(&full_task(), &full_inputs(), true));
}

#[test]
fn minimal_task_says_what_is_missing() {
    let t = task("{taskId: T1, title: Alone, group: G, agent: {type: dev}}");
    let md = render(&t, &[], false);
    assert!(md.starts_with("# T1: Alone\n"));
    assert!(md.contains("_No instruction text: the title says what to do._"));
    assert!(md.contains("## Inputs\n\n_None._"));
    assert!(md.contains("## Outputs\n\n_No files are listed"));
    assert!(md.contains("## Validation\n\n_No checks are configured._"));
    assert!(!md.contains("switchboard report"), "no report hint asked");
    assert!(md.contains("the commit message should contain the task id `T1`"));
}

#[test]
fn outputs_read_back() {
    let md = render(&full_task(), &full_inputs(), true);
    assert_eq!(
        parse_outputs(&md),
        vec![
            "src/services/retry_engine.ts",
            "src/services/retry_engine.test.ts"
        ]
    );
    assert_eq!(
        parse_outputs("# T1: x\n\nno outputs here\n"),
        Vec::<String>::new()
    );
}

#[test]
fn outputs_heading_in_the_instruction_does_not_confuse_parsing() {
    let mut t = full_task();
    t.instruction = "## Outputs\n\n- `decoy.txt`\n".into();
    let md = render(&t, &[], false);
    assert_eq!(parse_outputs(&md).len(), 2);
    assert!(!parse_outputs(&md).contains(&"decoy.txt".to_string()));
}

#[test]
fn quoted_sections_cannot_fake_headings() {
    let inputs = vec![ResolvedInput {
        path: "docs/breakdown.md".into(),
        section: Some("T4: Retry Engine Implementation".into()),
        text: Some("## Outputs\n- `fake.txt`".into()),
    }];
    let md = render(&full_task(), &inputs, false);
    assert!(md.contains("  > ## Outputs"));
    assert!(!parse_outputs(&md).contains(&"fake.txt".to_string()));
}

#[test]
fn heading_gives_id_and_title() {
    let md = render(&full_task(), &[], true);
    assert_eq!(
        parse_heading(&md),
        Some(("T4".into(), "Retry Engine Implementation".into()))
    );
    assert_eq!(
        parse_heading("# T9: Title: with colon\n"),
        Some(("T9".into(), "Title: with colon".into()))
    );
    assert_eq!(parse_heading("no heading"), None);
}

#[test]
fn previous_attempt_is_appended_then_replaced() {
    let mut md = render(&full_task(), &[], true);
    let before = md.clone();
    append_previous_attempt(
        &mut md,
        "exit code 1",
        &["error: tests failed".into(), "```".into()],
    );
    assert!(md.starts_with(&before));
    assert!(md.contains("## Previous attempt"));
    assert!(md.contains("ended: exit code 1."));
    assert!(
        md.contains("````text\nerror: tests failed\n```\n````\n"),
        "{md}"
    );
    assert_eq!(parse_outputs(&md).len(), 2, "outputs still read back");

    append_previous_attempt(&mut md, "killed by signal 9", &["".into(), "  ".into()]);
    assert_eq!(md.matches("## Previous attempt").count(), 1);
    assert!(md.contains("killed by signal 9"));
    assert!(!md.contains("exit code 1"));
    assert!(!md.contains("Its last lines"));
}

#[test]
fn inputs_resolve_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("docs")).unwrap();
    std::fs::write(
        dir.path().join("docs/breakdown.md"),
        "# Breakdown\n\n## T4: Retry Engine Implementation\n\nBackoff.\n\n## T5: Other\n",
    )
    .unwrap();
    let t = full_task();
    let resolved: Vec<ResolvedInput> = t
        .inputs
        .iter()
        .map(|i| ResolvedInput::read(dir.path(), i))
        .collect();
    assert_eq!(resolved[0].text.as_deref(), Some("Backoff."));
    assert_eq!(resolved[1].text, None, "missing file");
    assert_eq!(resolved[2].text, None, "no section asked");
}

#[test]
fn previous_attempt_note_alone_appends_cleanly() {
    // The engine builds the note on an empty string, then appends it.
    let mut note = String::new();
    append_previous_attempt(
        &mut note,
        "exit code 2.",
        &["".into(), "boom".into(), "".into()],
    );
    assert!(note.starts_with("\n## Previous attempt\n\n"), "{note:?}");
    assert!(note.contains("ended: exit code 2. The"), "{note}");
    assert!(note.contains("```text\nboom\n```\n"), "{note}");
    let md = render(&full_task(), &[], true) + &note;
    assert!(
        md.contains(").\n\n## Previous attempt\n"),
        "one blank line between"
    );
    assert_eq!(parse_outputs(&md).len(), 2);
}

/// The code span that follows `prefix` on the first line starting with it, read back.
fn span_after(md: &str, prefix: &str) -> Option<String> {
    md.lines()
        .find_map(|line| line.strip_prefix(prefix))
        .and_then(parse_code_span)
}

const EXAMPLE: &str =
    "Commit your work; the commit message should contain the task id `T4` (for example ";

#[test]
fn backticks_in_plan_text_keep_their_code_spans_whole() {
    let mut t = full_task();
    t.title = "Use `cargo` and ``fmt``".into();
    t.validation = vec![Validation::Command {
        run: "`which npm` test".into(),
        description: None,
    }];
    let md = render(&t, &[], true);
    // A fence longer than the longest run inside; a space of padding at an
    // end that is a backtick, which CommonMark strips again.
    assert!(
        md.contains("(for example ``` feat(T4): Use `cargo` and ``fmt`` ```)."),
        "{md}"
    );
    assert_eq!(
        span_after(&md, EXAMPLE).as_deref(),
        Some("feat(T4): Use `cargo` and ``fmt``")
    );
    assert!(
        md.contains("- command: `` `which npm` test `` exits 0\n"),
        "{md}"
    );
    assert_eq!(
        span_after(&md, "- command: ").as_deref(),
        Some("`which npm` test")
    );
    assert_eq!(
        span_after(
            &md,
            "Commit your work; the commit message should contain the task id "
        )
        .as_deref(),
        Some("T4")
    );
}

/// Found by the plan fuzz property: an output description on a line of its
/// own opened a fence or a heading, which hid the sections after it.
#[test]
fn an_output_description_cannot_start_a_block() {
    let mut t = full_task();
    for d in ["```", "## Outputs", "# T9: other", "~~~ x"] {
        t.outputs[1].description = Some(d.into());
        let md = render(&t, &[], true);
        assert_eq!(parse_outputs(&md).len(), 2, "{d}: {md}");
    }
}

/// Found by the plan fuzz property: an instruction that leaves a code fence
/// open made every section after it code, so no outputs were read back.
#[test]
fn an_unclosed_fence_in_the_instruction_is_closed() {
    let mut t = full_task();
    t.instruction = "Run this:\n\n````sh\nmake\n```\n".into();
    let md = render(&t, &[], false);
    assert!(md.contains("```\n````\n\n## Inputs"), "{md}");
    assert_eq!(parse_outputs(&md).len(), 2);
}

/// Found by the plan fuzz property: text with line breaks after `## Outputs`
/// (a `run: |` script, a description) could start a heading or a list item
/// of its own, and the sim agent read the wrong outputs back.
#[test]
fn line_breaks_in_plan_text_cannot_fake_outputs() {
    let mut t = full_task();
    t.outputs[0].description = Some("the engine\n- `fake.txt`\r\n## Outputs\n".into());
    t.validation = vec![Validation::Command {
        run: "cargo build\n## Outputs\n- `fake2.txt`\n```\necho done\n".into(),
        description: Some("builds\nand\rtests".into()),
    }];
    let md = render(&t, &[], false);
    assert_eq!(
        parse_outputs(&md),
        [
            "src/services/retry_engine.ts",
            "src/services/retry_engine.test.ts"
        ]
    );
    assert!(
        md.contains("- `src/services/retry_engine.ts`: the engine - `fake.txt` ## Outputs \n"),
        "{md}"
    );
    assert!(
        md.contains(
            "- command: this script exits 0 (builds and tests)\n\n  ````sh\n  cargo build\n  ## Outputs\n  - `fake2.txt`\n  ```\n  echo done\n  ````\n"
        ),
        "{md}"
    );
}

proptest::proptest! {
    #[test]
    fn any_title_and_command_stay_inside_their_spans(
        title in "[^\n\r]{1,30}",
        run in "[^\n\r]{1,30}",
    ) {
        let mut t = full_task();
        t.title = title.clone();
        t.validation = vec![Validation::Command { run: run.clone(), description: None }];
        let md = render(&t, &[], false);
        proptest::prop_assert_eq!(span_after(&md, EXAMPLE), Some(format!("feat(T4): {title}")));
        proptest::prop_assert_eq!(span_after(&md, "- command: "), Some(run));
    }

    #[test]
    fn any_output_path_round_trips(paths in proptest::collection::vec("[^\n\r]{1,30}", 0..6)) {
        let mut t = full_task();
        t.outputs = paths
            .iter()
            .map(|p| crate::plan::Output { path: p.clone(), description: None })
            .collect();
        let md = render(&t, &[], true);
        proptest::prop_assert_eq!(parse_outputs(&md), paths);
    }
}
