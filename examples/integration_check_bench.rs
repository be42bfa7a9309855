//! Times what `settings.integrationCheck` adds to one merge, apart from the
//! check's own command: the merge computed without moving the branch, a
//! temporary detached worktree at the result, `sh -c true` in it, its
//! removal, and the compare-and-swap. Against a plain `merge_into`, on a
//! synthetic repository; prints JSON.
//!
//! `cargo run --release --example integration_check_bench [-- <files>]`

use std::error::Error;
use std::path::Path;
use std::process::Command;
use std::time::Instant;
use switchboard::git::{Preparation, Repo};

const ROUNDS: usize = 11;

fn main() -> Result<(), Box<dyn Error>> {
    let files: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 10_000,
    };
    let dir = tempfile::TempDir::new()?;
    let root = dir.path().join("repo");
    git(dir.path(), &["init", "-q", "-b", "main", "repo"])?;
    git(&root, &["config", "user.name", "bench"])?;
    git(&root, &["config", "user.email", "bench@localhost"])?;
    git(&root, &["config", "commit.gpgsign", "false"])?;
    for i in 0..files {
        let path = root.join(format!("d{:03}/f{i:05}.txt", i % 100));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, format!("file {i}\nline two\n"))?;
    }
    git(&root, &["add", "-A"])?;
    git(&root, &["commit", "-q", "-m", "base"])?;
    let repo = Repo::discover(&root)?;
    repo.ensure_branch("integration", "HEAD")?;

    let mut plain = Vec::new();
    let mut checked = Vec::new();
    for round in 0..ROUNDS * 2 {
        // A task branch with one new file, from the integration head.
        let branch = format!("agent/T{round}/code");
        git(&root, &["branch", &branch, "integration"])?;
        let wt = dir.path().join(format!("wt{round}"));
        repo.add_worktree(&wt, &branch, "integration")?;
        std::fs::write(wt.join(format!("t{round}.txt")), "work\n")?;
        repo.commit_all(&wt, &branch)?;
        repo.remove_worktree(&wt, true)?;

        let start = Instant::now();
        if round % 2 == 0 {
            repo.merge_into("integration", &branch, "Merge")?;
            plain.push(start.elapsed().as_secs_f64() * 1e3);
        } else {
            let Preparation::Ready(p) = repo.prepare_merge("integration", &branch, "Merge")? else {
                return Err("expected a clean merge".into());
            };
            let tree =
                repo.add_detached_worktree(&root.join(".switchboard/checks/T"), &p.commit)?;
            let ok = Command::new("sh")
                .args(["-c", "true"])
                .current_dir(tree.path())
                .status()?
                .success();
            tree.remove();
            if ok {
                repo.publish_merge(&p)?;
            }
            checked.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    let (plain, checked) = (median(plain), median(checked));
    let report = serde_json::json!({
        "files": files,
        "rounds": ROUNDS,
        "plain_merge_median_ms": round(plain),
        "checked_merge_median_ms": round(checked),
        "added_per_merge_ms": round(checked - plain),
    });
    println!("{report}");
    Ok(())
}

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn round(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}

fn git(dir: &Path, args: &[&str]) -> Result<(), Box<dyn Error>> {
    let status = Command::new("git").arg("-C").arg(dir).args(args).status()?;
    if !status.success() {
        return Err(format!("git {args:?} failed: {status}").into());
    }
    Ok(())
}
