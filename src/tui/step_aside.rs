//! Stepping aside: the control room gives the terminal to a program in the
//! foreground (`tmux attach`, a shell in a task's worktree, an editor on one
//! of its files) and takes it back when that program exits. Which shell and
//! which editor is worked out here, from `$SHELL` and `$EDITOR`, as argv:
//! nothing goes through a shell's parsing.

use super::input::TerminalReader;
use super::terminal::TerminalGuard;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// Hand the terminal to `run` (blocking, on tokio's blocking pool) and take
/// it back afterwards, whatever `run` did. The outer error is the terminal's
/// (the control room cannot go on); the inner one is the program's.
pub async fn step_aside<F>(
    terminal: &mut TerminalGuard,
    input: &mut TerminalReader,
    run: F,
) -> io::Result<io::Result<ExitStatus>>
where
    F: FnOnce() -> io::Result<ExitStatus> + Send + 'static,
{
    // Nothing in this process may read the terminal while the program does.
    input.pause().await;
    terminal.suspend()?;
    let result = tokio::task::spawn_blocking(run)
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)));
    terminal.resume()?;
    input.resume();
    Ok(result)
}

/// A program to run in the foreground, in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Foreground {
    pub program: String,
    pub args: Vec<String>,
    pub dir: PathBuf,
    /// Printed on the restored terminal before the program starts.
    pub banner: Option<String>,
}

impl Foreground {
    /// Run it with the terminal (blocking: call through [`step_aside`]).
    pub fn run(&self) -> io::Result<ExitStatus> {
        if let Some(banner) = &self.banner {
            println!("{banner}");
        }
        Command::new(&self.program)
            .args(&self.args)
            .current_dir(&self.dir)
            .status()
    }
}

/// `$SHELL` (else `/bin/sh`) in `dir`, the task's worktree.
pub fn shell(shell_env: Option<&str>, dir: &Path, task: &str) -> Foreground {
    let program = shell_env
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("/bin/sh");
    Foreground {
        program: program.to_string(),
        args: Vec::new(),
        dir: dir.to_path_buf(),
        banner: Some(format!(
            "switchboard: a shell in {task}'s worktree, {}. Exit it to return to the control room.",
            dir.display()
        )),
    }
}

/// Editors known to take `+LINE` before the file.
const PLUS_LINE: [&str; 9] = [
    "vi",
    "vim",
    "nvim",
    "view",
    "nano",
    "emacs",
    "emacsclient",
    "kak",
    "micro",
];

/// `$EDITOR` (else `vi`) on `file` of the worktree `dir`, at `line` when the
/// editor is known to take `+LINE`. `$EDITOR` may carry arguments
/// (`code --wait`): it is split at white space, as most tools do. The file
/// is given as an absolute path, so a file named like an option stays a file.
pub fn editor(editor_env: Option<&str>, dir: &Path, file: &str, line: Option<u32>) -> Foreground {
    let mut words: Vec<String> = editor_env
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if words.is_empty() {
        words.push("vi".into());
    }
    let program = words.remove(0);
    let mut args = words;
    let name = Path::new(&program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(line) = line
        && PLUS_LINE.contains(&name.as_str())
    {
        args.push(format!("+{line}"));
    }
    let path = std::path::absolute(dir.join(file)).unwrap_or_else(|_| dir.join(file));
    args.push(path.display().to_string());
    Foreground {
        program,
        args,
        dir: dir.to_path_buf(),
        banner: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_is_the_person_s_or_sh() {
        let dir = Path::new("/w/agent-T4-dev");
        let s = shell(Some("/usr/bin/fish"), dir, "T4");
        assert_eq!(
            (s.program.as_str(), s.dir.as_path()),
            ("/usr/bin/fish", dir)
        );
        assert!(
            s.banner
                .as_deref()
                .is_some_and(|b| b.contains("T4's worktree"))
        );
        assert_eq!(shell(None, dir, "T4").program, "/bin/sh");
        assert_eq!(shell(Some(" "), dir, "T4").program, "/bin/sh");
    }

    #[test]
    fn the_editor_opens_the_file_by_its_full_path_at_its_line() {
        let dir = Path::new("/w/agent-T4-dev");
        let e = editor(Some("nvim"), dir, "src/retry.rs", Some(14));
        assert_eq!(e.program, "nvim");
        assert_eq!(e.args, ["+14", "/w/agent-T4-dev/src/retry.rs"]);
        let e = editor(Some("code --wait"), dir, "-rf", Some(3));
        assert_eq!(e.program, "code");
        assert_eq!(e.args, ["--wait", "/w/agent-T4-dev/-rf"]);
        let e = editor(None, dir, "a.txt", None);
        assert_eq!((e.program.as_str(), e.args.len()), ("vi", 1));
        let e = editor(Some("/usr/bin/vim -u NONE"), dir, "a.txt", Some(2));
        assert_eq!(e.args, ["-u", "NONE", "+2", "/w/agent-T4-dev/a.txt"]);
    }
}
