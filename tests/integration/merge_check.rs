//! The merge queue's integration check (issue 13 item 6) on sim agents: a
//! check that fails on the merged tree blocks the merge and says why; after
//! a fix in the task's worktree, `recheck` merges it.

use crate::harness::{Sandbox, git, plan, stderr};

/// A and B are fine alone; together they need `reconciled.txt`. B comes
/// after A, so A merges first and B's merge is the one the check refuses.
const CHECK: &str = r#"  integrationCheck: "if [ -f a.txt ] && [ -f b.txt ] && [ ! -f reconciled.txt ]; then echo 'a.txt and b.txt together need reconciled.txt' >&2; exit 1; fi""#;

const TASKS: &str = r#"  - taskId: A
    title: Task A
    group: G1
    agent: { type: quick }
    outputs: [{ path: a.txt }]
    validation: [{ type: file_exists }, { type: commit }]
  - taskId: B
    title: Task B
    group: G1
    agent: { type: quick }
    outputs: [{ path: b.txt }]
    validation: [{ type: file_exists }, { type: commit }]
    dependencies: [A]
"#;

#[test]
fn a_failing_integration_check_blocks_the_merge_until_a_fix_is_rechecked() {
    let sb = Sandbox::new(&plan(CHECK, TASKS));
    let out = sb.run(&["--batch-group", "G1"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(sb.state_of("A").as_deref(), Some("done"));
    assert_eq!(sb.state_of("B").as_deref(), Some("merge-blocked"));
    // The summary says why, and the journal has the check's output.
    assert!(err.contains("merge-blocked"), "{err}");
    assert!(err.contains("failed on the merged tree"), "{err}");
    let checks = sb.events("integration_check");
    let failed: Vec<_> = checks.iter().filter(|e| e["ok"] == false).collect();
    assert_eq!(failed.len(), 1, "{checks:?}");
    assert_eq!(failed[0]["task"], "B");
    let detail = failed[0]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("together need reconciled.txt"), "{detail}");
    assert!(checks.iter().any(|e| e["task"] == "A" && e["ok"] == true));
    // The integration branch did not move for B.
    let files = sb.integration_files();
    assert!(files.contains(&"a.txt".to_string()), "{files:?}");
    assert!(!files.contains(&"b.txt".to_string()), "{files:?}");
    // The check's worktree is gone; the user's checkout was never touched.
    assert!(!sb.repo.join(".switchboard/checks/B").exists());
    let worktrees = git(&sb.repo, &["worktree", "list", "--porcelain"]);
    assert!(!worktrees.contains(".switchboard/checks"), "{worktrees}");
    assert_eq!(git(&sb.repo, &["branch", "--show-current"]).trim(), "main");
    assert!(!sb.repo.join("a.txt").exists());

    // The fix, in B's worktree; then only its checks and the merge run.
    let worktree = sb.repo.join(".switchboard/workspaces/agent-B-quick");
    std::fs::write(worktree.join("reconciled.txt"), "a and b agree\n").unwrap();
    git(&worktree, &["add", "reconciled.txt"]);
    git(&worktree, &["commit", "-q", "-m", "B: reconcile with A"]);
    let out = sb.run(&["recheck", "B"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("B: done"));
    let files = sb.integration_files();
    for f in ["a.txt", "b.txt", "reconciled.txt"] {
        assert!(files.contains(&f.to_string()), "{f} in {files:?}");
    }
    assert!(!sb.repo.join(".switchboard/checks/B").exists());
    sb.assert_nothing_left_now("after the recheck");
}

/// A check that hangs is stopped at `checkTimeoutMinutes` with everything it
/// started, and the merge is blocked saying so, instead of the merge queue
/// waiting for it forever.
#[test]
fn a_hanging_integration_check_is_stopped_at_its_time_limit() {
    let settings =
        "  integrationCheck: \"sleep 600 & sleep 600; wait\"\n  checkTimeoutMinutes: 0.02";
    let sb = Sandbox::new(&plan(settings, TASKS));
    let out = sb.run(&["--batch-group", "G1"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(sb.state_of("A").as_deref(), Some("merge-blocked"));
    assert_eq!(sb.state_of("B").as_deref(), Some("skipped"));
    let checks = sb.events("integration_check");
    assert_eq!(checks.len(), 1, "{checks:?}");
    let detail = checks[0]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("timed out after"), "{detail}");
    assert!(!sb.repo.join(".switchboard/checks/A").exists());
    // Nothing of the check outlived it (A's kept pane stays, as after a
    // conflict, until it is rechecked).
    let left = sb.live_processes();
    assert!(left.is_empty(), "processes left: {left:?}");
}
