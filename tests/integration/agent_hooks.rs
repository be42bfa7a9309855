//! An agent's status hooks end to end: switchboard writes the preset's hook
//! settings into the worktree, the agent's hook runs `switchboard hook`, and
//! the engine hears the turn end at once. The agent here is a script that
//! does what Claude Code does with those settings (the real CLI runs in the
//! `real_claude` tests).

use crate::harness::{Sandbox, plan, stderr};

const PROMPT: &str = "7af67f96-0ce7-422d-bfff-5c376e807898";

fn hooked_plan() -> String {
    let transcript = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/agents/claude-2.1.197/hooks-transcript-bypass.jsonl"
    );
    // It stays at its "prompt" after its turn, as an interactive agent does:
    // only the engine's close ends it.
    let agent = format!(
        r#"  hooked:
    preset: claude
    command: |
      grep -q 'hook claude' .claude/settings.local.json || exit 3
      echo '{{"hook_event_name":"UserPromptSubmit","prompt":"go"}}' | switchboard hook claude
      echo a > a.txt && git add -A && git commit -qm 'a.txt'
      echo '{{"hook_event_name":"Stop","last_assistant_message":"Done: a.txt.","prompt_id":"{PROMPT}","transcript_path":"{transcript}"}}' | switchboard hook claude
      exec sleep 600
"#
    );
    let task = r#"  - taskId: A
    title: "Task A"
    group: G1
    agent: { type: hooked }
    outputs: [{ path: "a.txt" }]
"#;
    plan("", task).replacen("agents:\n", &format!("agents:\n{agent}"), 1)
}

#[test]
fn a_stop_hook_ends_the_turn_and_the_task_merges_with_its_usage() {
    let sb = Sandbox::new(&hooked_plan());
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    sb.assert_nothing_left_now("after the run");
    let said: Vec<String> = sb
        .events("report")
        .iter()
        .map(|e| e["state"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(said, ["BUSY", "IDLE"]);
    assert_eq!(sb.events("turn_finished").len(), 1);
    let usage = sb.events("usage");
    assert_eq!(usage.len(), 1, "{usage:?}");
    assert_eq!(usage[0]["input_tokens"], 300);
    assert_eq!(usage[0]["output_tokens"], 60);
    assert!(usage[0].get("cost_usd").is_none(), "not reported, never 0");
    assert_eq!(sb.state_of("A").as_deref(), Some("done"));
    // The hook settings stay out of the work: `git add -A` did not take them.
    let mut files = sb.integration_files();
    files.sort();
    assert_eq!(files, ["README.md", "a.txt", "dispatcher.yaml"]);
}
