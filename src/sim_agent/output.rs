//! What the sim agent leaves behind: output files that name the task, and
//! the commit that holds them.

use super::{Job, SimError, say};
use std::path::Path;
use std::process::{Command, Stdio};

/// Write one output with content that names the task, refusing any path that
/// leads out of the current directory (also through a symlink).
pub(super) fn write(job: &Job, path: &str) -> Result<(), SimError> {
    let err = |source| SimError::Write {
        path: path.into(),
        source,
    };
    let target = Path::new(path);
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(err)?;
        let inside = match (parent.canonicalize(), Path::new(".").canonicalize()) {
            (Ok(p), Ok(root)) => p.starts_with(root),
            _ => false,
        };
        if !inside {
            return Err(SimError::UnsafeOutput {
                path: path.into(),
                why: "leads out of the worktree through a symlink".into(),
            });
        }
    }
    if target.symlink_metadata().is_ok_and(|m| m.is_symlink()) {
        return Err(SimError::UnsafeOutput {
            path: path.into(),
            why: "is a symlink".into(),
        });
    }
    std::fs::write(target, content(job, path)).map_err(err)
}

/// Plausible file content for `path`'s kind, naming the task.
fn content(job: &Job, path: &str) -> String {
    let (id, title) = (&job.id, &job.title);
    let by = match &job.attempt {
        Some(a) => format!("Written by the switchboard sim agent, attempt {a}."),
        None => "Written by the switchboard sim agent.".into(),
    };
    let quoted = serde_json::to_string(title).unwrap_or_else(|_| "\"\"".into());
    let ext = Path::new(path)
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let ident: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    match ext.as_str() {
        "sql" => format!(
            "-- {id}: {title}\n-- {by}\n\nCREATE TABLE IF NOT EXISTS sim_{} (id BIGINT PRIMARY KEY);\n",
            ident.to_lowercase()
        ),
        "ts" | "tsx" | "js" | "jsx" | "mjs" => {
            format!(
                "// {id}: {title}\n// {by}\n\nexport const task = {{ id: \"{id}\", title: {quoted} }};\n"
            )
        }
        "rs" => format!("//! {id}: {title}\n//! {by}\n\npub const TASK_ID: &str = \"{id}\";\n"),
        "py" => format!("\"\"\"{id}: {title}\n\n{by}\n\"\"\"\n\nTASK_ID = \"{id}\"\n"),
        "sh" | "yaml" | "yml" | "toml" => format!("# {id}: {title}\n# {by}\n"),
        "md" => format!("# {id}: {title}\n\n{by}\n"),
        "json" => serde_json::json!({ "task": id, "title": title, "note": by }).to_string() + "\n",
        _ => format!("{id}: {title}\n{by}\n"),
    }
}

/// `git add` the outputs and commit them as `feat(<TASK>): <title>`; explicit
/// argv, no shell. Nothing new (a restart redoing the same work) is not an error.
pub(super) fn commit(job: &Job) -> Result<(), SimError> {
    if !job.outputs.is_empty() {
        git("add", &[&["add", "--"][..], &paths(job)].concat())?;
        let unchanged = Command::new("git")
            .args(["diff", "--cached", "--quiet", "--"])
            .args(&job.outputs)
            .status()
            .is_ok_and(|s| s.success());
        if unchanged {
            say!("[sim] {} nothing new to commit", job.id);
            return Ok(());
        }
    }
    let mut argv: Vec<&str> = Vec::new();
    if !has_identity() {
        argv.extend(["-c", "user.name=switchboard-sim"]);
        argv.extend(["-c", "user.email=sim@switchboard.invalid"]);
    }
    // Fake work is never signed: a pinentry prompt would hang the pane.
    argv.extend(["-c", "commit.gpgsign=false", "commit", "-q"]);
    let subject = format!("feat({}): {}", job.id, job.title);
    argv.extend([
        "-m",
        &subject,
        "-m",
        "Simulated work by switchboard sim-agent.",
    ]);
    if job.outputs.is_empty() {
        // No files to show for it, but the `commit` validation wants a commit.
        argv.push("--allow-empty");
    } else {
        argv.push("--");
        argv.extend(paths(job));
    }
    git("commit", &argv)
}

fn paths(job: &Job) -> Vec<&str> {
    job.outputs.iter().map(String::as_str).collect()
}

fn git(action: &'static str, argv: &[&str]) -> Result<(), SimError> {
    let out = Command::new("git")
        .args(argv)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| SimError::Git {
            action,
            detail: e.to_string(),
        })?;
    if out.status.success() {
        return Ok(());
    }
    let detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(SimError::Git { action, detail })
}

fn has_identity() -> bool {
    ["user.name", "user.email"].iter().all(|key| {
        Command::new("git")
            .args(["config", "--get", key])
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success() && !o.stdout.trim_ascii().is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_fits_the_file_kind_and_names_the_task() {
        let job = Job {
            id: "T4".into(),
            title: "Retry \"Engine\"".into(),
            outputs: vec![],
            attempt: Some("2".into()),
            report: false,
        };
        let sql = content(&job, "db/001.sql");
        assert!(sql.starts_with("-- T4: Retry \"Engine\"\n"));
        assert!(sql.contains("attempt 2"));
        let ts = content(&job, "src/a.TS");
        assert!(ts.contains(r#"title: "Retry \"Engine\"""#), "{ts}");
        let json: serde_json::Value =
            serde_json::from_str(&content(&job, "x.json")).expect("JSON output is JSON");
        assert_eq!(json["task"], "T4");
        assert!(content(&job, "Makefile").starts_with("T4: "));
    }
}
