//! Times the conflict early warning (`merge-tree --write-tree`) and a full
//! checkout-free merge on a synthetic repository of 10k files; prints JSON.
//!
//! `cargo run --release --example merge_tree_bench [-- <files>]`

use std::error::Error;
use std::path::Path;
use std::process::Command;
use std::time::Instant;
use switchboard::git::{MergeOutcome, Repo};

const ROUNDS: usize = 21;

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
    let setup = Instant::now();
    for i in 0..files {
        let path = root.join(format!("d{:03}/f{i:05}.txt", i % 100));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, format!("file {i}\nline two\n"))?;
    }
    git(&root, &["add", "-A"])?;
    git(&root, &["commit", "-q", "-m", "base"])?;
    let setup_ms = setup.elapsed().as_secs_f64() * 1e3;

    let repo = Repo::discover(&root)?;
    repo.ensure_branch("integration", "HEAD")?;
    let edits: [(&str, &[&str]); 3] = [
        ("agent/A/code", &["d000/f00000.txt", "d001/f00001.txt"]),
        ("agent/B/code", &["d002/f00002.txt"]),
        ("agent/C/code", &["d000/f00000.txt"]),
    ];
    for (branch, paths) in edits {
        let wt = dir.path().join(branch.replace('/', "-"));
        repo.add_worktree(&wt, branch, "integration")?;
        for path in paths {
            std::fs::write(wt.join(path), format!("edited on {branch}\n"))?;
        }
        repo.commit_all(&wt, branch)?;
    }

    let clean_ms = median_ms(|| repo.conflicts_between("agent/A/code", "agent/B/code"))?;
    let conflict_ms = median_ms(|| repo.conflicts_between("agent/A/code", "agent/C/code"))?;
    let start = Instant::now();
    let outcome = repo.merge_into("integration", "agent/A/code", "Merge A")?;
    let merge_ms = start.elapsed().as_secs_f64() * 1e3;
    let conflicts = repo.conflicts_between("integration", "agent/C/code")?;

    let report = serde_json::json!({
        "files": files,
        "rounds": ROUNDS,
        "setup_ms": round(setup_ms),
        "conflict_check_clean_median_ms": round(clean_ms),
        "conflict_check_conflicting_median_ms": round(conflict_ms),
        "merge_into_ms": round(merge_ms),
        "merged": matches!(outcome, MergeOutcome::Merged { .. }),
        "conflicts_after_merge": conflicts,
    });
    println!("{report}");
    Ok(())
}

/// Median wall time of `ROUNDS` calls, in milliseconds.
fn median_ms<T, E: Error + 'static>(
    mut f: impl FnMut() -> Result<T, E>,
) -> Result<f64, Box<dyn Error>> {
    let mut times = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[ROUNDS / 2])
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
