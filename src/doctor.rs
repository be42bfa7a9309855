//! `switchboard doctor`: for each agent profile of a plan with a `preset`,
//! is its program there, which version, does it accept every flag the
//! preset uses (read from its `--help`, never by starting a session), and
//! what a person must do once by hand; then each host of the plan, this
//! machine first (`hosts::doctor`).

use crate::plan::ValidPlan;
use crate::plan::presets::{self, Preset};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// A program's `--help` or `--version` must answer within this.
const ASK_TIMEOUT: Duration = Duration::from_secs(20);

pub fn run(plan: &ValidPlan) -> ExitCode {
    let presets = presets::all();
    let mut problems = 0;
    let mut checked = 0;
    for (name, profile) in &plan.plan.agents {
        let Some(preset) = profile.preset.as_ref().and_then(|p| presets.get(p)) else {
            continue;
        };
        checked += 1;
        println!("agent profile '{name}' (preset {}):", preset.program);
        problems += check(preset);
    }
    if checked == 0 {
        println!("no agent profile of this plan has a `preset`: nothing to check");
    }
    let here = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let unusable = crate::hosts::doctor::run(plan, &here);
    if problems > 0 {
        println!("{problems} problem(s) found");
    }
    if problems > 0 || unusable > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints what it finds; returns how many problems.
fn check(preset: &Preset) -> usize {
    let Some(path) = find_on_path(&preset.program) else {
        println!("  ✗ {} is not on PATH", preset.program);
        println!("  once by hand: install it; then {}", preset.once_by_hand);
        return 1;
    };
    println!("  ✓ {} found at {}", preset.program, path.display());
    let mut problems = 0;
    match preset
        .version
        .split_first()
        .map(|(_, args)| ask(&path, args))
    {
        Some(Ok(text)) => {
            let first = text.lines().next().unwrap_or("").trim();
            let tested = &preset.version_tested;
            let same = first.contains(tested.as_str());
            let mark = if same { "✓" } else { "!" };
            let note = if same {
                String::new()
            } else {
                format!(" (presets tested with {tested})")
            };
            println!("  {mark} version: {first}{note}");
        }
        Some(Err(e)) => println!("  ! version unknown: {e}"),
        None => {}
    }
    for argv in &preset.help {
        let key = argv.join(" ");
        let Some(wanted) = preset.flags_required.get(&key) else {
            continue;
        };
        let help = match ask(&path, &argv[1..]) {
            Ok(text) => text,
            Err(e) => {
                problems += 1;
                println!("  ✗ `{key}` failed: {e}");
                continue;
            }
        };
        let missing: Vec<&str> = wanted
            .iter()
            .map(String::as_str)
            .filter(|flag| !has_token(&help, flag))
            .collect();
        if missing.is_empty() {
            println!("  ✓ `{key}` lists {}", wanted.join(" "));
        } else {
            problems += missing.len();
            println!(
                "  ✗ `{key}` does not list {}: this version may not run as the preset does",
                missing.join(" ")
            );
        }
    }
    println!("  once by hand: {}", preset.once_by_hand);
    problems
}

/// `flag` as a whole token of `help` (`-p, --print` holds `-p`).
pub(crate) fn has_token(help: &str, flag: &str) -> bool {
    help.split(|c: char| {
        c.is_whitespace() || matches!(c, ',' | '[' | ']' | '(' | ')' | '=' | '<' | '|')
    })
    .any(|t| t == flag)
}

fn find_on_path(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Run `program args` with no input and a time limit; its stdout and stderr.
fn ask(program: &std::path::Path, args: &[String]) -> Result<String, String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > ASK_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer in {} s", ASK_TIMEOUT.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(e.to_string()),
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::has_token;

    #[test]
    fn flags_are_whole_tokens_of_the_help() {
        let help = "  -p, --print   Print\n  --model <model>\n  --output-format=<fmt>";
        assert!(has_token(help, "-p"));
        assert!(has_token(help, "--print"));
        assert!(has_token(help, "--model"));
        assert!(has_token(help, "--output-format"));
        assert!(!has_token(help, "--pri"));
        assert!(!has_token(help, "-m"));
    }
}
