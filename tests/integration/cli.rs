//! Command-line behaviour around the plan: missing files, warnings.

use crate::common::{crash_signs, plans, switchboard, text};

#[test]
fn missing_plan_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = switchboard()
        .current_dir(dir.path())
        .args(["--validate-only", "--plan", "no-such-plan.yaml"])
        .output()
        .expect("run switchboard");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("no-such-plan.yaml: plan file not found"),
        "{stderr}"
    );
    assert!(stderr.contains("--plan FILE"), "{stderr}");
    assert_eq!(crash_signs(&stderr), None);
}

#[test]
fn default_plan_name_is_dispatcher_yaml() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = switchboard()
        .current_dir(dir.path())
        .arg("--list")
        .output()
        .expect("run switchboard");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("dispatcher.yaml: plan file not found"));
}

#[test]
fn a_directory_is_not_a_plan() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = switchboard()
        .args(["--validate-only", "--plan"])
        .arg(dir.path())
        .output()
        .expect("run switchboard");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is a directory"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn agent_program_not_on_path_warns_but_passes() {
    let out = switchboard()
        .current_dir(plans("valid"))
        .args(["--validate-only", "--plan", "agent_not_on_path.yaml"])
        .output()
        .expect("run switchboard");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: agent profile 'ghost'"),
        "{stderr}"
    );
    assert!(stderr.contains("is not on PATH"), "{stderr}");
    assert!(text(&out.stdout).starts_with("plan OK: 1 task"));
}

/// A flag the chosen mode would ignore is refused, naming the flag and the
/// mode (issue 12: `clean --json` printed text).
#[test]
fn flags_a_mode_ignores_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases: [(&[&str], &str); 6] = [
        (
            &["clean", "--json"],
            "--json does nothing for `switchboard clean`",
        ),
        (
            &["status", "--plan", "p.yaml"],
            "--plan does nothing for `switchboard status`",
        ),
        (
            &["--with-deps"],
            "--with-deps does nothing for the control room",
        ),
        (
            &["--all", "--with-deps"],
            "--with-deps does nothing for a headless run",
        ),
        (
            &["--validate-only", "--keymap", "k.yaml"],
            "--keymap does nothing for --validate-only",
        ),
        (
            &["report", "busy", "--json"],
            "--json does nothing for `switchboard report`",
        ),
    ];
    for (args, said) in cases {
        let out = switchboard()
            .current_dir(dir.path())
            .args(args)
            .output()
            .expect("run switchboard");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
    }
}
