//! The sim agent (`switchboard sim-agent`): a scriptable fake coding agent for
//! demos and tests. Like a real one it reads `TASK_INSTRUCTION.md`, prints
//! progress, writes the task's outputs, commits them and reports; switches make
//! it fail, crash, hang, ask a question or shrug off Ctrl-C on purpose.

mod output;

/// `println!` that does not panic when stdout is gone (Rust ignores SIGPIPE):
/// the agent quits as a SIGPIPE'd process would.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::sim_agent::say_line(format_args!($($arg)*))
    };
}
use say;

use crate::cli::SimAgentArgs;
use crate::instruction;
use crate::plan::checks::path_problem;
use crate::worker::protocol::env;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// Progress lines come at least this often, so a stall detector sees life.
const MAX_QUIET: f64 = 0.4;
/// A `switchboard report` call that takes longer than this is abandoned.
const REPORT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
enum SimError {
    #[error(
        "no {} in {dir}: run me in a task's worktree, where switchboard writes it",
        instruction::FILE_NAME
    )]
    NoInstruction { dir: String },
    #[error("cannot read {}: {source}", instruction::FILE_NAME)]
    ReadInstruction { source: std::io::Error },
    #[error("--{flag} must be a number of seconds >= 0, not {value}")]
    BadSeconds { flag: &'static str, value: f64 },
    #[error("refusing to write '{path}': it {why}")]
    UnsafeOutput { path: String, why: String },
    #[error("cannot write '{path}': {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("simulated failure (--fail); nothing committed")]
    Asked,
    #[error("git {action} failed: {detail}")]
    Git {
        action: &'static str,
        detail: String,
    },
}

/// What the sim agent works on, gathered before it starts.
struct Job {
    id: String,
    title: String,
    outputs: Vec<String>,
    attempt: Option<String>,
    /// Call `switchboard report` (inside a worker, unless --no-report).
    report: bool,
}

pub fn run(args: &SimAgentArgs) -> ExitCode {
    if args.ignore_sigint {
        ignore_sigint();
    }
    let (job, duration, crash_after) = match prepare(args) {
        Ok(ready) => ready,
        Err(e) => {
            eprintln!("switchboard sim-agent: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(after) = crash_after {
        crash_later(&job.id, after);
    }
    job.report("start", None);
    match work(&job, args, duration) {
        Ok(()) => {
            if let Some(usd) = args.cost_usd {
                job.report_with("usage", &["--cost-usd", &usd.to_string()]);
            }
            job.report("done", Some("simulated work committed"));
            say!("[sim] {} done", job.id);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("[sim] {} error: {e}", job.id);
            job.report("error", Some(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

/// The job, the work's duration and when to crash, or why not to start.
fn prepare(args: &SimAgentArgs) -> Result<(Job, Duration, Option<Duration>), SimError> {
    let seconds = |flag, value: f64| {
        Duration::try_from_secs_f64(value).map_err(|_| SimError::BadSeconds { flag, value })
    };
    let duration = seconds("duration", args.duration)?;
    let crash_after = match args.crash_after {
        Some(after) => Some(seconds("crash-after", after)?),
        None => None,
    };
    let dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let md =
        std::fs::read_to_string(instruction::FILE_NAME).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => SimError::NoInstruction {
                dir: dir.display().to_string(),
            },
            _ => SimError::ReadInstruction { source },
        })?;
    let heading = instruction::parse_heading(&md);
    let from_env = |key| std::env::var(key).ok().filter(|v| !v.trim().is_empty());
    let id = from_env(env::TASK)
        .or_else(|| heading.as_ref().map(|h| h.0.clone()))
        .unwrap_or_else(|| "TASK".into());
    let title = from_env(env::TITLE)
        .or_else(|| heading.map(|h| h.1))
        .unwrap_or_else(|| "untitled task".into());
    let outputs: Vec<String> = match std::env::var(env::OUTPUTS) {
        Ok(list) => list
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        Err(_) => instruction::parse_outputs(&md),
    };
    for path in &outputs {
        if let Some(why) = path_problem(path) {
            return Err(SimError::UnsafeOutput {
                path: path.clone(),
                why: why.into(),
            });
        }
    }
    let job = Job {
        id,
        title: title.replace(['\n', '\r'], " "),
        outputs,
        attempt: from_env(env::ATTEMPT),
        report: !args.no_report && from_env(env::REPORT_SOCKET).is_some(),
    };
    Ok((job, duration, crash_after))
}

/// The steps, paced over `duration`, then the commit.
fn work(job: &Job, args: &SimAgentArgs, duration: Duration) -> Result<(), SimError> {
    let id = &job.id;
    say!(
        "[sim] {id}: {} ({} output{}, {:.1}s of work{})",
        job.title,
        job.outputs.len(),
        if job.outputs.len() == 1 { "" } else { "s" },
        duration.as_secs_f64(),
        job.attempt
            .as_deref()
            .map(|a| format!(", attempt {a}"))
            .unwrap_or_default(),
    );
    let mut activities = vec![
        format!("reading {}", instruction::FILE_NAME),
        format!("planning: {}", job.title),
    ];
    activities.extend(job.outputs.iter().map(|o| format!("writing {o}")));
    activities.extend([
        "running the checks".to_string(),
        "reviewing the diff".into(),
    ]);
    // Capped so the u32 division below stays sound for absurd durations.
    let steps = activities
        .len()
        .max((duration.as_secs_f64() / MAX_QUIET).ceil() as usize)
        .min(1_000_000);
    let slice = duration / steps as u32;
    let mut written = 0;
    let mut next = Instant::now();
    for step in 0..steps {
        // Spread the activities evenly over the steps; each appears at least once.
        let a = step * activities.len() / steps;
        say!("[sim] {id} step {}/{steps}: {}", step + 1, activities[a]);
        if (2..2 + job.outputs.len()).contains(&a) && written == a - 2 {
            output::write(job, &job.outputs[written])?;
            written += 1;
        }
        if step == 0 {
            if args.rate_limit_line {
                // As a real CLI does while it retries: the line stays at the
                // bottom of the screen for a while (1.6 s).
                for _ in 0..4 {
                    say!(
                        "[sim] {id} API Error: 429 rate_limit_error (Too Many Requests); retrying"
                    );
                    std::thread::sleep(Duration::from_secs_f64(MAX_QUIET));
                }
                next = Instant::now();
            }
            if args.hang {
                hang();
            }
            if let Some(question) = &args.prompt {
                ask(job, question);
                next = Instant::now();
            }
        }
        next += slice;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    if args.fail {
        return Err(SimError::Asked);
    }
    if args.crash_after.is_some() {
        // The work ended before the crash: idle (visibly) until it comes.
        loop {
            say!("[sim] {id} waiting for the crash…");
            std::thread::sleep(Duration::from_secs_f64(MAX_QUIET));
        }
    }
    say!("[sim] {id} committing");
    output::commit(job)
}

impl Job {
    /// `switchboard report STATE [--message M]`; its failure only gets a line:
    /// an agent's work does not depend on being heard.
    fn report(&self, state: &str, message: Option<&str>) {
        match message {
            Some(m) => self.report_with(state, &["--message", m]),
            None => self.report_with(state, &[]),
        }
    }

    /// `switchboard report STATE ARGS…`.
    fn report_with(&self, state: &str, args: &[&str]) {
        if !self.report {
            return;
        }
        let mut cmd = match std::env::current_exe() {
            Ok(exe) => Command::new(exe),
            Err(e) => return eprintln!("[sim] report {state} failed: {e}"),
        };
        cmd.args(["report", state]);
        cmd.args(args);
        let mut child = match cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => return eprintln!("[sim] report {state} failed: {e}"),
        };
        let deadline = Instant::now() + REPORT_TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        match status {
            Some(s) if s.success() => say!("[sim] reported {state}"),
            Some(s) => {
                let why = stderr.lines().next().unwrap_or("no message");
                eprintln!("[sim] report {state} failed ({s}): {why}");
            }
            None => eprintln!("[sim] report {state} timed out"),
        }
    }
}

/// Print the question (no newline, like a real prompt), read one line.
fn ask(job: &Job, question: &str) {
    job.report("wait", Some(question));
    let mut out = std::io::stdout().lock();
    if write!(out, "{question} ")
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(141);
    }
    drop(out);
    let mut answer = String::new();
    let got = std::io::stdin().lock().read_line(&mut answer);
    if !std::io::stdin().is_terminal() {
        // A terminal echoes the typed newline; a pipe does not.
        say!("");
    }
    match got {
        Ok(0) | Err(_) => say!("[sim] {} no answer (stdin closed); going on", job.id),
        Ok(_) => say!("[sim] {} got the answer: {}", job.id, answer.trim_end()),
    }
    job.report("start", Some("got an answer"));
}

pub(crate) fn say_line(line: std::fmt::Arguments) {
    if writeln!(std::io::stdout().lock(), "{line}").is_err() {
        std::process::exit(141);
    }
}

fn hang() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn ignore_sigint() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: SIG_IGN installs no handler code; nothing else touches SIGINT here.
    if let Err(e) = unsafe { signal(Signal::SIGINT, SigHandler::SigIgn) } {
        eprintln!("[sim] cannot ignore SIGINT: {e}");
    }
}

/// Kill this process with SIGKILL after `after`, wherever the work is.
fn crash_later(id: &str, after: Duration) {
    let id = id.to_string();
    std::thread::spawn(move || {
        std::thread::sleep(after);
        eprintln!("[sim] {id} crashing now (--crash-after)");
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        std::process::abort();
    });
}
