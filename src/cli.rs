//! Command-line interface: modes as flags (the seed's `--batch-group`, `--validate-only`)
//! plus subcommands for the pieces that run inside workers.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "A terminal control room for running many coding agents in parallel"
)]
pub struct Cli {
    #[command(subcommand)]
    pub verb: Option<Verb>,

    /// The plan file.
    #[arg(long, global = true, default_value = "dispatcher.yaml")]
    pub plan: PathBuf,

    /// Validate the plan and exit (0 valid, 2 not).
    #[arg(long, conflicts_with_all = ["list", "batch_group", "task", "all"])]
    pub validate_only: bool,

    /// List tasks by group in dependency order.
    #[arg(long, conflicts_with_all = ["batch_group", "task", "all"])]
    pub list: bool,

    /// Run one group's tasks to completion, headless.
    #[arg(long, value_name = "GROUP", conflicts_with_all = ["task", "all"])]
    pub batch_group: Option<String>,

    /// Run one task, headless.
    #[arg(long, value_name = "TASK", conflicts_with = "all")]
    pub task: Option<String>,

    /// Run the whole plan to completion, headless, group by group.
    #[arg(long)]
    pub all: bool,

    /// With --batch-group/--task: also run unfinished dependencies outside the selection.
    #[arg(long)]
    pub with_deps: bool,

    /// With --batch-group/--task/--all: after `switchboard halt`, wait for
    /// `switchboard resume` instead of ending the run (exit 130).
    #[arg(long)]
    pub wait_on_halt: bool,

    /// Machine-readable output: JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    /// A keymap file for the control room (see config/keymap.yaml).
    #[arg(long, global = true, value_name = "FILE")]
    pub keymap: Option<PathBuf>,

    /// A private tmux server (`tmux -L NAME`).
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_TMUX_SOCKET",
        value_name = "NAME"
    )]
    pub tmux_socket: Option<String>,
}

/// The word after `switchboard` (`switchboard halt`); without one, the flags
/// choose the mode. Not the engine's [`Command`](crate::engine::command::Command),
/// though `status`, `halt` and `resume` become one on the engine's socket.
#[derive(Debug, Subcommand)]
pub enum Verb {
    /// A scriptable fake coding agent, for demos and tests.
    SimAgent(SimAgentArgs),
    /// For agents: report a state to switchboard from inside a worker.
    Report(ReportArgs),
    /// For agents' hooks: read a hook's JSON payload on stdin and report what
    /// it says (the preset's `hooks`; switchboard installs them per worktree).
    Hook(HookArgs),
    /// Open the control room on a scratch repo with the example plan and fast sim agents.
    Demo,
    /// Show the running engine's state (per task: state, light, attempt, profile).
    Status,
    /// The halt cascade: stop every worker of the running engine, with proof.
    Halt,
    /// Reopen dispatch after a halt; halted tasks start again in their worktrees.
    Resume,
    /// Run a failed or conflicted task's checks again on its branch as it
    /// stands (after fixing it by hand); passing, it merges.
    Recheck(TaskArg),
    /// Rebase a conflicted task's branch onto the integration branch, then
    /// check and merge it (a rebase that conflicts too changes nothing).
    RebaseMerge(TaskArg),
    /// Mark a failed or conflicted task done by hand, with a reason; its
    /// dependents may run. Nothing is merged.
    MarkDone(MarkDoneArgs),
    /// Remove this repo's tmux sessions that no live engine owns.
    Clean(CleanArgs),
    /// Check each agent profile with a `preset` (program, version, flags, what
    /// to do once by hand), then each host: ssh, tmux, git, switchboard,
    /// agent programs, disk and memory.
    Doctor,
    /// The plan's other machines (`settings.hosts`).
    Hosts(HostsArgs),
    /// The pane's first process (started by switchboard, not by hand).
    #[command(hide = true)]
    Worker(WorkerArgs),
    /// Copies a worker pane's output to its attempt's log (run by tmux's
    /// pipe-pane, not by hand).
    #[command(hide = true)]
    PaneLog(PaneLogArgs),
    /// What the engine asks of a host (a JSON order on stdin, run over ssh
    /// by the engine, not by hand).
    #[command(hide = true)]
    HostWorker,
}

#[derive(Debug, Args, Clone)]
pub struct HostsArgs {
    #[command(subcommand)]
    pub action: HostsAction,
}

#[derive(Debug, Subcommand, Clone)]
pub enum HostsAction {
    /// Copy this build to a host's ~/.local/bin/switchboard with scp (same
    /// OS and CPU only), then check it runs there.
    Install {
        /// A host of settings.hosts; every host when left out.
        host: Option<String>,
    },
}

#[derive(Debug, Args, Clone)]
pub struct PaneLogArgs {
    /// Stop when the log holds this many bytes.
    #[arg(long)]
    pub max_bytes: u64,
    /// The pane's process: once it has ended and its last output is
    /// written, the copy ends.
    #[arg(long)]
    pub pid: Option<i32>,
    /// The log, appended to.
    pub file: PathBuf,
}

#[derive(Debug, Args, Clone)]
pub struct SimAgentArgs {
    /// Seconds of simulated work.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Exit 1 instead of finishing.
    #[arg(long)]
    pub fail: bool,
    /// Get killed by a signal after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub crash_after: Option<f64>,
    /// Stop printing and never exit.
    #[arg(long)]
    pub hang: bool,
    /// Print this question and wait for one line of input before going on.
    #[arg(long, value_name = "TEXT")]
    pub prompt: Option<String>,
    /// Ignore SIGINT (halt then needs SIGTERM or SIGKILL).
    #[arg(long)]
    pub ignore_sigint: bool,
    /// Do not call `switchboard report` (by default it does, inside a worker).
    #[arg(long)]
    pub no_report: bool,
    /// After the work, report this cost (`switchboard report usage --cost-usd`).
    #[arg(long, value_name = "USD")]
    pub cost_usd: Option<f64>,
    /// After the first step, print a provider's rate-limit error line for
    /// 1.6 s (as a real agent retrying a 429 does), then go on.
    #[arg(long)]
    pub rate_limit_line: bool,
}

#[derive(Debug, Args, Clone)]
pub struct CleanArgs {
    /// Also remove the worktrees of merged tasks.
    #[arg(long)]
    pub worktrees: bool,
    /// With --worktrees: remove unmerged worktrees too (their branches stay).
    #[arg(long)]
    pub force: bool,
    /// Also remove the attempts' pane logs (.switchboard/logs/<TASK>.<n>.log),
    /// except those of workers left running.
    #[arg(long)]
    pub logs: bool,
}

#[derive(Debug, Args, Clone)]
pub struct TaskArg {
    /// The task's id.
    pub task: String,
}

#[derive(Debug, Args, Clone)]
pub struct MarkDoneArgs {
    /// The task's id.
    pub task: String,
    /// Why it is done (journaled).
    #[arg(long, short)]
    pub reason: String,
}

#[derive(Debug, Args, Clone)]
pub struct HookArgs {
    /// The preset whose hooks call this (`claude`, `codex`).
    pub preset: String,
    /// The event's JSON payload, for agents that pass it as an argument
    /// (codex's notify); without it, it is read from stdin.
    pub payload: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    /// start, done, wait, error, help, skip, busy (at work), idle (turn
    /// finished: the checks run), or usage (tokens and cost only).
    pub state: crate::worker::protocol::ReportState,
    #[arg(long, short)]
    pub message: Option<String>,
    /// Tokens the agent read so far in this report's span (summed per task).
    #[arg(long)]
    pub input_tokens: Option<u64>,
    /// Tokens the agent wrote.
    #[arg(long)]
    pub output_tokens: Option<u64>,
    /// What it cost, in US dollars.
    #[arg(long)]
    pub cost_usd: Option<f64>,
}

#[derive(Debug, Args, Clone)]
pub struct WorkerArgs {
    /// The agent command line, run with `sh -c`.
    #[arg(long, required_unless_present = "launch", conflicts_with = "launch")]
    pub command: Option<String>,
    /// A launch file (the engine's way): the agent's command line and the
    /// environment it adds, read once and removed.
    #[arg(long, value_name = "FILE")]
    pub launch: Option<std::path::PathBuf>,
    #[arg(long, default_value_t = 1000)]
    pub heartbeat_ms: u64,
    /// Grace before SIGTERM (and twice that before SIGKILL) when the shim
    /// itself is told to end (SIGHUP/SIGTERM: the pane is being killed).
    #[arg(long, default_value_t = 2000)]
    pub stop_grace_ms: u64,
}

impl Cli {
    /// Parse the command line, refusing flags the chosen mode would ignore
    /// (`switchboard clean --json` would print text; better to say so).
    pub fn parse_checked() -> Cli {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command().get_matches();
        let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        if let Err(message) = cli.refuse_ignored(&matches) {
            Cli::command()
                .error(clap::error::ErrorKind::ArgumentConflict, message)
                .exit();
        }
        cli
    }

    fn refuse_ignored(&self, matches: &clap::ArgMatches) -> Result<(), String> {
        use clap::parser::ValueSource;
        let (name, m) = matches
            .subcommand()
            .map_or(("", matches), |(name, sub)| (name, sub));
        let given = |id: &str| m.value_source(id) == Some(ValueSource::CommandLine);
        let headless = self.batch_group.is_some() || self.task.is_some() || self.all;
        let used: &[&str] = match name {
            "status" | "halt" => &["json"],
            "clean" => &["plan", "tmux_socket"],
            "demo" => &["keymap", "tmux_socket"],
            "doctor" | "hosts" => &["plan"],
            // Without a running engine they start one of their own.
            "recheck" | "rebase-merge" | "mark-done" => &["plan", "tmux_socket"],
            "" if self.validate_only => &["plan"],
            "" if self.list => &["plan", "json"],
            // The whole plan has nothing outside it to pull in.
            "" if self.all => &["plan", "json", "tmux_socket", "wait_on_halt"],
            "" if headless => &["plan", "json", "tmux_socket", "with_deps", "wait_on_halt"],
            "" => &["plan", "keymap", "tmux_socket"],
            _ => &[],
        };
        let flags = [
            ("plan", "--plan"),
            ("json", "--json"),
            ("keymap", "--keymap"),
            ("tmux_socket", "--tmux-socket"),
            ("with_deps", "--with-deps"),
            ("wait_on_halt", "--wait-on-halt"),
        ];
        let what = if name.is_empty() {
            match (self.validate_only, self.list, headless) {
                (true, _, _) => "--validate-only".to_string(),
                (_, true, _) => "--list".to_string(),
                (_, _, true) => "a headless run".to_string(),
                _ => "the control room".to_string(),
            }
        } else {
            format!("`switchboard {name}`")
        };
        for (id, flag) in flags {
            let known = m.try_get_raw(id).is_ok();
            if known && given(id) && !used.contains(&id) {
                let hint = match id {
                    "with_deps" => " (it goes with --batch-group or --task)",
                    "wait_on_halt" => " (it goes with --batch-group, --task or --all)",
                    _ => "",
                };
                return Err(format!("{flag} does nothing for {what}{hint}"));
            }
        }
        Ok(())
    }
}
