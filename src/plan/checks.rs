//! Small predicates a plan's values must pass: ids safe as branch, path and
//! tmux names; paths that stay inside the worktree; programs that exist.

use super::schema::Settings;
use std::path::Path;

/// A setting with a value switchboard cannot work with.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingProblem {
    /// The YAML key and the value as written, to find the line in the plan.
    pub key: &'static str,
    pub value: String,
    pub message: String,
}

/// Why a `timeoutMinutes` cannot be used, if it cannot. At most a year, as
/// every duration ([`MAX_MS`]): the engine adds it to the attempt's start.
pub fn timeout_problem(minutes: f64) -> Option<String> {
    if !(minutes.is_finite() && minutes > 0.0) {
        return Some(format!("must be a number of minutes > 0 (it is {minutes})"));
    }
    let most = MAX_MS / 60_000;
    (minutes > most as f64)
        .then(|| format!("must be at most a year, {most} minutes (it is {minutes})"))
}

/// Longer than any sane directory, far below tmux's 16 KB command.
const MAX_WORKSPACE_DIR: usize = 1024;

/// Every unusable value in `settings`, checked on the effective values (the
/// heartbeat thresholds default to multiples of the interval).
pub fn settings_problems(s: &Settings) -> Vec<SettingProblem> {
    let mut out = Vec::new();
    let mut push = |key, value: String, message: String| {
        out.push(SettingProblem {
            key,
            value,
            message,
        })
    };
    if s.max_parallel == 0 {
        push(
            "maxParallel",
            "0".into(),
            "settings.maxParallel must be at least 1".into(),
        );
    }
    if let Some(why) = id_problem_branch(&s.integration_branch) {
        push(
            "integrationBranch",
            s.integration_branch.clone(),
            format!(
                "settings.integrationBranch '{}' {why}",
                s.integration_branch
            ),
        );
    }
    if let Some(why) = s.timeout_minutes.and_then(timeout_problem) {
        push(
            "timeoutMinutes",
            format!("{}", s.timeout_minutes.unwrap_or_default()),
            format!("settings.timeoutMinutes {why}"),
        );
    }
    if let Some(why) = timeout_problem(s.check_timeout_minutes) {
        push(
            "checkTimeoutMinutes",
            format!("{}", s.check_timeout_minutes),
            format!("settings.checkTimeoutMinutes {why}"),
        );
    }
    if s.workspace_dir.trim().is_empty() {
        push(
            "workspaceDir",
            s.workspace_dir.clone(),
            "settings.workspaceDir is empty (worktrees would land in the repository root)".into(),
        );
    } else if s.workspace_dir.len() > MAX_WORKSPACE_DIR {
        // It is in every worker's tmux command, which tmux caps at 16 KB.
        push(
            "workspaceDir",
            s.workspace_dir.clone(),
            format!(
                "settings.workspaceDir is {} bytes long; at most {MAX_WORKSPACE_DIR}",
                s.workspace_dir.len()
            ),
        );
    }
    let hb = &s.heartbeat;
    if hb.interval_ms == 0 {
        push(
            "intervalMs",
            "0".into(),
            "settings.heartbeat.intervalMs must be at least 1".into(),
        );
    } else if hb.interval_ms <= MAX_MS {
        // (Over the limit, the interval is refused below, and the defaults
        // that multiply it would only add noise.)
        // Each light must come after the one before it, or a light never shows
        // (or, with lateAfterMs <= intervalMs, flickers between beats).
        let steps = [
            ("intervalMs", hb.interval_ms),
            ("lateAfterMs", hb.late_ms()),
            ("missingAfterMs", hb.missing_ms()),
            ("deadAfterMs", hb.dead_ms()),
        ];
        for pair in steps.windows(2) {
            let ((lo_key, lo), (hi_key, hi)) = (pair[0], pair[1]);
            let strict = lo_key == "intervalMs";
            if hi < lo || (strict && hi == lo) {
                let rel = if strict { "greater than" } else { "at least" };
                push(
                    hi_key,
                    hi.to_string(),
                    format!(
                        "settings.heartbeat.{hi_key} ({hi} ms) must be {rel} {lo_key} ({lo} ms)"
                    ),
                );
            }
        }
    }
    let r = &s.restart;
    let written = [
        ("intervalMs", "heartbeat.intervalMs", Some(hb.interval_ms)),
        ("lateAfterMs", "heartbeat.lateAfterMs", hb.late_after_ms),
        (
            "missingAfterMs",
            "heartbeat.missingAfterMs",
            hb.missing_after_ms,
        ),
        ("deadAfterMs", "heartbeat.deadAfterMs", hb.dead_after_ms),
        ("stallAfterMs", "stallAfterMs", Some(s.stall_after_ms)),
        ("backoffMs", "restart.backoffMs", Some(r.backoff_ms)),
        (
            "maxBackoffMs",
            "restart.maxBackoffMs",
            Some(r.max_backoff_ms),
        ),
        ("graceMs", "halt.graceMs", Some(s.halt.grace_ms)),
        ("claimLeaseMs", "claimLeaseMs", Some(s.claim_lease_ms)),
    ];
    for (key, path, ms) in written {
        if let Some(ms) = ms.filter(|&ms| ms > MAX_MS) {
            push(
                key,
                ms.to_string(),
                format!("settings.{path} ({ms} ms) is longer than a year ({MAX_MS} ms)"),
            );
        }
    }
    if s.claim_lease_ms < MIN_LEASE_MS {
        push(
            "claimLeaseMs",
            s.claim_lease_ms.to_string(),
            format!(
                "settings.claimLeaseMs ({} ms) must be at least {MIN_LEASE_MS} ms: an engine renews its claims every third of it",
                s.claim_lease_ms
            ),
        );
    }
    if r.backoff_ms > r.max_backoff_ms {
        push(
            "backoffMs",
            r.backoff_ms.to_string(),
            format!(
                "settings.restart.backoffMs ({} ms) is above maxBackoffMs ({} ms)",
                r.backoff_ms, r.max_backoff_ms
            ),
        );
    }
    if let Some(rate) = &s.spawn_rate
        && let Err(why) = super::rate::SpawnRate::parse(rate)
    {
        push(
            "spawnRate",
            rate.clone(),
            format!("settings.spawnRate {why}"),
        );
    }
    if let Some(b) = &s.budget {
        for why in budget_problems(b) {
            push("budget", String::new(), format!("settings.budget.{why}"));
        }
    }
    let rl = &s.rate_limit;
    if rl.backoff_ms == 0 || rl.backoff_ms > rl.max_backoff_ms || rl.max_backoff_ms > MAX_MS {
        push(
            "rateLimit",
            String::new(),
            format!(
                "settings.rateLimit: backoffMs ({} ms) must be at least 1 and at most \
                 maxBackoffMs ({} ms), itself at most a year",
                rl.backoff_ms, rl.max_backoff_ms
            ),
        );
    }
    out
}

/// What is wrong with a budget, each starting with the key it is about.
pub fn budget_problems(b: &crate::plan::Budget) -> Vec<String> {
    let mut out = Vec::new();
    if !(b.max_usd.is_finite() && b.max_usd > 0.0) {
        out.push(format!(
            "maxUsd must be a number of dollars above 0, not {}",
            b.max_usd
        ));
    }
    if !(b.warn_at.is_finite() && b.warn_at > 0.0 && b.warn_at <= 1.0) {
        out.push(format!(
            "warnAt is a share of maxUsd, above 0 and at most 1 (0.8 warns at 80 %), not {}",
            b.warn_at
        ));
    }
    out
}

/// The longest duration a setting may hold. The engine adds durations to
/// clock readings and counts them in microseconds: within this bound (even
/// as the defaults' multiples of a heartbeat interval) that never overflows.
pub const MAX_MS: u64 = 365 * 24 * 3600 * 1000;

/// The shortest `claimLeaseMs`: renewed every third of it, a shorter lease
/// would have engines on other hosts take over work that is going on.
pub const MIN_LEASE_MS: u64 = 1_000;

/// Why an id may not be used as a branch, path component or tmux name.
pub fn id_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() {
        return Some("is empty");
    }
    if id.len() > 64 {
        return Some("is longer than 64 characters");
    }
    if id.starts_with('.') || id.starts_with('-') {
        return Some("starts with '.' or '-'");
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Some("has a character other than letters, digits, '-', '_' and '.'");
    }
    // git refuses these in ref names.
    if id.contains("..") || id.ends_with('.') || id.ends_with(".lock") {
        return Some("is not a valid git branch component ('..', trailing '.' or '.lock')");
    }
    None
}

/// Why a plan-relative path may not be used (it would leave the worktree).
pub fn path_problem(path: &str) -> Option<&'static str> {
    let p = Path::new(path);
    if path.is_empty() {
        Some("is empty")
    } else if path.chars().any(char::is_control) {
        // A newline would split SWITCHBOARD_OUTPUTS and the instruction's list.
        Some("has a control character (newline, tab, …)")
    } else if p.is_absolute() {
        Some("is absolute; paths are relative to the worktree")
    } else if p
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        Some("leaves the worktree through '..'")
    } else {
        None
    }
}

/// `" (did you mean 'X'?)"` for the candidate closest to a misspelt `name`,
/// or "" when none is close enough to be a likely typo. Digits must agree:
/// `T7` for `T1` is another task, not a typo; so is `GROUP_C` for `GROUP_A`.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a (impl AsRef<str> + ?Sized + 'a)>,
) -> String {
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let length = name.chars().count();
    // The distance costs the product of the lengths: past an id's longest,
    // a name is no typo worth the time (a hostile plan's are megabytes).
    if length > SUGGEST_UP_TO {
        return String::new();
    }
    let limit = (length / 3).max(1);
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| c.as_ref())
        // Lengths further apart than the limit are further apart than that.
        .filter(|c| c.chars().count().abs_diff(length) <= limit)
        .filter(|c| digits(c) == digits(name) && !siblings(c, name))
        .map(|c| (strsim::osa_distance(&lower, &c.to_lowercase()), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, c)| (d, c.to_string()))
        .map(|(_, c)| format!(" (did you mean '{c}'?)"))
        .unwrap_or_default()
}

/// The longest name [`did_you_mean`] looks for a fix of: an id's limit.
const SUGGEST_UP_TO: usize = 64;

/// Names in one series: equal but for a last character that follows a
/// separator (`GROUP_A`, `GROUP_C`).
fn siblings(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len()
        && a.len() >= 2
        && a[..a.len() - 1] == b[..b.len() - 1]
        && matches!(a[a.len() - 2], b'_' | b'-' | b'.')
}

/// Branch names may hold '/', unlike ids; each component must still be safe.
pub fn id_problem_branch(branch: &str) -> Option<&'static str> {
    if branch.is_empty() {
        return Some("is empty");
    }
    branch.split('/').find_map(id_problem)
}

/// The program an `sh -c` command line would run, skipping `VAR=value`
/// assignments and `exec`/`env` prefixes. None when it cannot be told simply,
/// as when the command opens with shell syntax (`for …; do …; done`, `{ …; }`).
pub fn program_of(command: &str) -> Option<&str> {
    command
        .split_whitespace()
        .map(|w| w.trim_matches(|c| c == '"' || c == '\''))
        .find(|w| !(w.contains('=') || *w == "exec" || *w == "env"))
        .filter(|w| !w.is_empty() && !w.contains(['$', '`', '(', ';', '|', '&']))
        .filter(|w| !SHELL_KEYWORDS.contains(w))
}

/// Reserved words that can open a shell command: syntax, not a program to look for.
const SHELL_KEYWORDS: [&str; 14] = [
    "!", "{", "(", "((", "[[", "case", "coproc", "for", "function", "if", "select", "time",
    "until", "while",
];

/// Whether `program` can be run: switchboard itself is always found (the
/// engine puts its own directory on workers' PATH).
pub fn program_found(program: &str) -> bool {
    if program == "switchboard" {
        return true;
    }
    if program.contains('/') {
        return Path::new(program).is_absolute() && is_executable(Path::new(program))
            || !Path::new(program).is_absolute();
    }
    let builtins = [
        "cd", "echo", "true", "false", "exit", "test", "[", "sleep", "printf", ":", ".",
    ];
    if builtins.contains(&program) {
        return true;
    }
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| is_executable(&dir.join(program))))
        .unwrap_or(false)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(id_problem("T1"), None);
        assert_eq!(id_problem("a.b-c_d"), None);
        assert!(id_problem("").is_some());
        assert!(id_problem(".x").is_some());
        assert!(id_problem("-x").is_some());
        assert!(id_problem("a/b").is_some());
        assert!(id_problem("a b").is_some());
        assert!(id_problem("$(rm -rf ~)").is_some());
        assert!(id_problem("a..b").is_some());
        assert!(id_problem(&"x".repeat(65)).is_some());
    }

    #[test]
    fn paths() {
        assert_eq!(path_problem("src/a.rs"), None);
        assert_eq!(path_problem("docs/café.md"), None);
        assert!(path_problem("").is_some());
        assert!(path_problem("/etc/passwd").is_some());
        assert!(path_problem("a/../../b").is_some());
        assert!(path_problem("a\nb").is_some());
    }

    #[test]
    fn suggestions() {
        let names = ["GROUP_A", "GROUP_B", "backend-engineer"];
        assert_eq!(did_you_mean("GRUP_A", names), " (did you mean 'GROUP_A'?)");
        assert_eq!(did_you_mean("group_b", names), " (did you mean 'GROUP_B'?)");
        assert_eq!(
            did_you_mean("backend-enginer", names),
            " (did you mean 'backend-engineer'?)"
        );
        assert_eq!(did_you_mean("ghost", names), "");
        let long = "x".repeat(65);
        assert_eq!(
            did_you_mean(&long, [&"x".repeat(66)]),
            "",
            "too long to be a typo"
        );
        assert_eq!(did_you_mean("T7", ["T1", "T17"]), "");
        assert_eq!(did_you_mean("GROUP_C", names), "");
        assert_eq!(
            did_you_mean("maxParallek", ["maxParallel"]),
            " (did you mean 'maxParallel'?)"
        );
        // A swap of two letters is one edit.
        assert_eq!(
            did_you_mean("titel", ["taskId", "title"]),
            " (did you mean 'title'?)"
        );
    }

    #[test]
    fn default_settings_are_usable() {
        assert_eq!(settings_problems(&Settings::default()), vec![]);
    }

    #[test]
    fn a_workspace_dir_must_fit_a_tmux_command() {
        let mut s = Settings {
            workspace_dir: "w".repeat(MAX_WORKSPACE_DIR),
            ..Settings::default()
        };
        assert_eq!(settings_problems(&s), vec![]);
        s.workspace_dir.push('w');
        let problems = settings_problems(&s);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(
            problems[0].message,
            "settings.workspaceDir is 1025 bytes long; at most 1024"
        );
    }

    #[test]
    fn heartbeat_thresholds_must_increase() {
        let mut s = Settings::default();
        s.heartbeat.missing_after_ms = Some(1500); // below the default late (2000)
        let problems = settings_problems(&s);
        assert_eq!(problems.len(), 1, "{problems:?}"); // dead (3 × 1500) is fine
        assert_eq!(problems[0].key, "missingAfterMs");
        assert!(
            problems[0]
                .message
                .contains("at least lateAfterMs (2000 ms)")
        );
        s.heartbeat.missing_after_ms = None;
        s.heartbeat.late_after_ms = Some(1000);
        assert_eq!(settings_problems(&s)[0].key, "lateAfterMs");
    }

    /// Found by the engine fuzz property: a timeout of 1e300 minutes passed,
    /// and the attempt's deadline (its start plus that) overflowed.
    #[test]
    fn timeouts_over_a_year_are_refused() {
        assert_eq!(timeout_problem(525_600.0), None);
        assert!(timeout_problem(525_600.1).is_some());
        assert!(timeout_problem(1e300).is_some());
        assert!(timeout_problem(f64::INFINITY).is_some());
        assert!(timeout_problem(0.0).is_some());
    }

    #[test]
    fn durations_over_a_year_are_refused() {
        let mut s = Settings::default();
        s.heartbeat.interval_ms = u64::MAX;
        s.halt.grace_ms = MAX_MS + 1;
        s.stall_after_ms = MAX_MS;
        let keys: Vec<&str> = settings_problems(&s).iter().map(|p| p.key).collect();
        assert_eq!(keys, ["intervalMs", "graceMs"]);
    }

    #[test]
    fn programs() {
        assert_eq!(program_of("claude --print"), Some("claude"));
        assert_eq!(program_of("FOO=1 exec aider --yes"), Some("aider"));
        assert_eq!(program_of("$HOME/bin/x"), None);
        assert_eq!(program_of("FOO=1 BAR=x claude -p"), Some("claude"));
        assert_eq!(program_of("FOO=1"), None);
        assert!(program_found("sh"));
        assert!(!program_found("definitely-not-a-program-xyz"));
    }

    #[test]
    fn a_shell_keyword_is_not_a_program() {
        for command in [
            "for i in 1 2 3; do claude -p \"step $i\"; done",
            "while true; do aider --yes; done",
            "until test -f done; do sleep 1; done",
            "if [ -f x ]; then claude; fi",
            "case $MODE in fast) aider;; esac",
            "{ claude; echo done; }",
            "( cd sub && claude )",
            "! claude",
            "FOO=1 for i in 1; do claude; done",
        ] {
            assert_eq!(program_of(command), None, "{command}");
        }
        // A keyword after the program is only an argument.
        assert_eq!(program_of("FOO=1 claude --for x"), Some("claude"));
    }
}
