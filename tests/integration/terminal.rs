//! The control room in a real terminal for the integration tests: a window
//! of a private tmux server of its own, driven by keys and read back with
//! `capture-pane`.

use crate::harness::{Sandbox, bin, stderr};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long one step may take before the test gives up. A hang guard, not a
/// timing assertion: the machine is small and shared.
pub const STEP: Duration = Duration::from_secs(60);

/// The task states the Workers table can show, to find a row's state word.
const STATES: &str = "pending ready assigned running validating merging waiting done failed \
                      conflict halted skipped cancelled";

/// Reverse video: how the Workers table marks the selected row (the theme's
/// `selected()` style, the same with or without colour).
const REVERSED: &str = "\x1b[7m";

/// A terminal for the control room: one 160×48 window in a tmux server of
/// its own, distinct from the sandbox's worker server. Killed on drop, even
/// when the test fails.
pub struct Terminal {
    server: String,
}

impl Terminal {
    /// Start `switchboard` (no mode: the control room) in the sandbox's repo.
    /// The pane stays open after it exits, with `EXITED <code>` below its output.
    pub fn open(sb: &Sandbox) -> Terminal {
        Terminal::open_as(sb, "outer")
    }

    /// Another window, on a tmux server of its own named by `which`.
    pub fn open_as(sb: &Sandbox, which: &str) -> Terminal {
        Terminal::open_with(sb, which, &[])
    }

    /// A window whose switchboard also gets `env` (arguments of `env`:
    /// `NAME=value`, or `-u NAME` to unset one).
    pub fn open_with(sb: &Sandbox, which: &str, env: &[&str]) -> Terminal {
        // The sandbox's variables go to switchboard alone, not to the shell
        // around it: `live_processes` finds processes by them, and must see
        // only what switchboard started.
        let script = r#"r="$1" s="$2"; shift 2; XDG_RUNTIME_DIR="$r" SWITCHBOARD_TMUX_SOCKET="$s" env "$@" "$0"; echo EXITED $?; sleep 600"#;
        let runtime = sb.runtime.to_string_lossy();
        let mut argv = vec!["sh", "-c", script, bin(), &runtime, &sb.tmux];
        argv.extend_from_slice(env);
        Terminal::open_running(sb, which, &argv)
    }

    /// A window on a tmux server of its own named by `which`, its session
    /// `ui` running `argv` in the sandbox's repo.
    pub fn open_running(sb: &Sandbox, which: &str, argv: &[&str]) -> Terminal {
        let term = Terminal {
            server: format!("{}-{which}", sb.tmux),
        };
        let repo = sb.repo.to_string_lossy();
        let mut args = vec![
            "new-session",
            "-d",
            "-s",
            "ui",
            "-x",
            "160",
            "-y",
            "48",
            "-c",
            &repo,
        ];
        args.extend_from_slice(argv);
        term.tmux(&args);
        term
    }

    /// The tmux server `server` (one switchboard's workers run on), killed
    /// on drop as a terminal's is.
    pub fn of_server(server: &str) -> Terminal {
        Terminal {
            server: server.to_string(),
        }
    }

    /// The tmux server (`-L` name) this terminal's window is on.
    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn tmux(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("tmux");
        cmd.arg("-L")
            .arg(&self.server)
            .args(args)
            .env_remove("TMUX");
        // These tests may run inside a switchboard worker: the new server
        // would pass that worker's variables on to the control room. Nor
        // may a caller's Anthropic or Claude settings reach a test's agent.
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if ["SWITCHBOARD_", "ANTHROPIC_", "CLAUDE_"]
                .iter()
                .any(|p| k.starts_with(p))
            {
                cmd.env_remove(key);
            }
        }
        let out = cmd.stdin(Stdio::null()).output().expect("tmux runs");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            stderr(&out).trim()
        );
        out
    }

    /// Press keys, each a tmux key name ("j", "Enter", "Escape", "Tab").
    pub fn press(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "ui"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Type `text` literally.
    pub fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "ui", "-l", text]);
    }

    pub fn screen(&self) -> Screen {
        let out = self.tmux(&["capture-pane", "-p", "-e", "-t", "ui"]);
        Screen::new(&String::from_utf8_lossy(&out.stdout))
    }

    /// Poll the screen until `cond` holds; panic with the last screen if it
    /// never does.
    pub fn wait(&self, what: &str, cond: impl Fn(&Screen) -> bool) -> Screen {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if cond(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < STEP,
                "timed out waiting for {what}; the screen:\n{}",
                screen.text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.server, "kill-server"])
            .env_remove("TMUX")
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_file(switchboard::tmux::private_server::socket_file(&self.server));
    }
}

/// One capture of the pane: the text, and the same lines with their styles.
pub struct Screen {
    pub plain: Vec<String>,
    styled: Vec<String>,
}

/// A row of the Workers table.
#[derive(Debug)]
pub struct Row {
    pub id: String,
    pub state: String,
    pub selected: bool,
}

impl Screen {
    pub fn new(captured: &str) -> Screen {
        let styled: Vec<String> = captured.lines().map(str::to_string).collect();
        let plain = styled.iter().map(|l| strip_escapes(l)).collect();
        Screen { plain, styled }
    }

    pub fn text(&self) -> String {
        self.plain.join("\n")
    }

    pub fn contains(&self, needle: &str) -> bool {
        self.plain.iter().any(|l| l.contains(needle))
    }

    /// The run phase in the header's first line (`… │ RUNNING │ …`).
    pub fn phase_is(&self, phase: &str) -> bool {
        self.plain
            .first()
            .is_some_and(|l| l.split('│').any(|field| field.trim() == phase))
    }

    /// The bottom line: key hints, a status message, or the filter prompt.
    pub fn footer(&self) -> &str {
        self.plain.last().map_or("", String::as_str)
    }

    /// The Workers panel's title line.
    pub fn workers_title(&self) -> &str {
        self.plain
            .iter()
            .find(|l| l.starts_with("┌ Workers "))
            .map_or("", String::as_str)
    }

    /// The task rows of the Workers table, top to bottom.
    pub fn workers(&self) -> Vec<Row> {
        let Some(top) = self.plain.iter().position(|l| l.starts_with("┌ Workers ")) else {
            return Vec::new();
        };
        // Below the title: the column header, then one line per task.
        (top + 2..self.plain.len())
            .take_while(|&i| !self.plain[i].starts_with('└'))
            .filter_map(|i| {
                let line = &self.plain[i];
                let mut words = line.trim_start_matches(['│', '!', ' ']).split_whitespace();
                let id = words.next()?.to_string();
                let state = words
                    .find(|w| STATES.split_whitespace().any(|s| s == *w))?
                    .to_string();
                Some(Row {
                    id,
                    state,
                    selected: self.styled[i].contains(REVERSED),
                })
            })
            .collect()
    }

    pub fn ids(&self) -> Vec<String> {
        self.workers().into_iter().map(|r| r.id).collect()
    }

    pub fn state_of(&self, id: &str) -> Option<String> {
        self.workers()
            .into_iter()
            .find(|r| r.id == id)
            .map(|r| r.state)
    }

    pub fn selected(&self) -> Vec<String> {
        self.workers()
            .into_iter()
            .filter(|r| r.selected)
            .map(|r| r.id)
            .collect()
    }
}

/// `line` without its escape sequences (CSI, OSC, two-byte ESC x).
pub fn strip_escapes(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\x07' || (c == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}
