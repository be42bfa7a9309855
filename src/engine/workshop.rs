//! The engine's hands: blocking git, tmux and file work for one worker.
//!
//! Everything here runs on tokio's blocking pool (`spawn_blocking`); the
//! actor only ever sees the results as messages. Git calls that change shared
//! state (worktree registry, refs) are serialized by one lock.

mod pool;

use super::attempt_log;
use super::check_run;
use super::error::EngineError;
use super::preaccept::{self, Preaccepted};
use crate::git::{GitError, MergeOutcome, Preparation, RebaseOutcome, Repo};
use crate::instruction::{self, ResolvedInput};
use crate::plan::{Task, ValidPlan, Validation};
use crate::tmux::command::{NewPane, PaneLog, Tmux};
use crate::tmux::names;
use crate::worker::launch::{self, Launch};
use crate::worker::protocol::env;
use crate::worker::secret::AttemptSecret;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// Where a worker lives.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub worktree: PathBuf,
    pub branch: String,
    pub session: String,
    /// The host (`settings.hosts`) it runs on; None: this machine.
    pub host: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Spawned {
    pub placement: Placement,
    pub pane_id: String,
    /// The pane's first process: the shim, known before its hello.
    pub pane_pid: Option<u32>,
    /// The profile's `preaccept` writes, each done or why not (journaled).
    pub preaccepted: Vec<Result<Preaccepted, String>>,
    /// A pool worker moving on: where the previous task's uncommitted work
    /// was committed, in words.
    pub saved: Option<String>,
}

/// One validation check's result.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    pub check: String,
    pub ok: bool,
    pub detail: String,
}

/// The integration check's run on a merge result (journaled).
#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationCheck {
    pub command: String,
    pub ok: bool,
    /// How it ended, the last lines of its output, where the whole is.
    pub detail: String,
}

/// What a task's merge came to.
#[derive(Debug)]
pub enum MergeReport {
    /// What git did; `check` is the integration check that passed first.
    Done {
        outcome: MergeOutcome,
        check: Option<IntegrationCheck>,
    },
    /// The integration check failed on the merged tree: nothing moved.
    Blocked { check: IntegrationCheck },
}

impl From<MergeOutcome> for MergeReport {
    fn from(outcome: MergeOutcome) -> Self {
        MergeReport::Done {
            outcome,
            check: None,
        }
    }
}

/// How many times a checked merge is prepared and checked again when the
/// integration branch moved under it (another engine, a person).
const CHECKED_MERGE_ATTEMPTS: usize = 3;

pub struct Workshop {
    pub repo: Repo,
    pub plan: ValidPlan,
    pub tmux: Tmux,
    pub repo_key: String,
    /// The engine's socket, handed to shims.
    pub socket_path: PathBuf,
    /// This very binary: the shim and `switchboard report` are subcommands.
    pub exe: PathBuf,
    git_lock: Mutex<()>,
}

impl Workshop {
    pub fn new(
        repo: Repo,
        plan: ValidPlan,
        tmux: Tmux,
        socket_path: PathBuf,
        exe: PathBuf,
    ) -> Self {
        let repo_key = names::repo_key(&repo.root);
        Workshop {
            repo,
            plan,
            tmux,
            repo_key,
            socket_path,
            exe,
            git_lock: Mutex::new(()),
        }
    }

    fn settings(&self) -> &crate::plan::Settings {
        &self.plan.plan.settings
    }

    /// How long a check command may run (`settings.checkTimeoutMinutes`).
    fn check_limit(&self) -> Duration {
        Duration::from_secs_f64(self.settings().check_timeout_minutes * 60.0)
    }

    /// The worktree, branch and session of a task (its original agent type
    /// names them, so restarts and fallbacks continue in the same place).
    pub fn placement(&self, task: &Task) -> Placement {
        let kind = task.place_kind();
        Placement {
            worktree: self
                .repo
                .root
                .join(&self.settings().workspace_dir)
                .join(format!("agent-{}-{kind}", task.task_id)),
            branch: format!("agent/{}/{kind}", task.task_id),
            session: names::session_name(&self.repo_key, &task.task_id),
            host: None,
        }
    }

    /// Git work that changes shared state (the worktree registry, refs),
    /// one at a time: in this engine (the mutex), and across the engines
    /// of the repository (an exclusive `flock` of `.switchboard/git.lock`):
    /// git reads `.git/worktrees/` while another process writes it
    /// ("failed to read .git/worktrees/…/commondir").
    fn locked<T>(&self, f: impl FnOnce() -> T) -> T {
        let _guard = self.git_lock.lock().unwrap_or_else(|p| p.into_inner());
        let _across =
            super::claim_files::locked(&self.repo.root.join(".switchboard").join("git.lock"))
                .inspect_err(|e| tracing::warn!("git work without the engines' lock: {e}"));
        f()
    }

    /// `task`'s own worktree on its branch (made from the integration
    /// branch when the branch does not exist).
    pub fn add_own_worktree(&self, task: &Task) -> Result<(), GitError> {
        let p = self.placement(task);
        let integration = &self.settings().integration_branch;
        self.locked(|| self.repo.add_worktree(&p.worktree, &p.branch, integration))
            .map(|_| ())
    }

    /// Prepare the repository for a run: integration branch, excludes.
    pub fn prepare(&self) -> Result<(), EngineError> {
        self.locked(|| {
            // And the agents' hook settings that switchboard writes.
            let mut excluded = vec![".switchboard/", "TASK_INSTRUCTION.md"];
            let hooks = self
                .plan
                .plan
                .agents
                .values()
                .filter_map(|a| a.hooks.as_ref());
            excluded.extend(hooks.filter_map(|h| h.file.as_deref()));
            self.repo.ensure_excluded(&excluded)?;
            self.repo
                .ensure_branch(&self.settings().integration_branch, "HEAD")?;
            Ok(())
        })
    }

    /// Worktree, instruction file, tmux session with the shim in its pane.
    /// The shim's `secret` goes in its launch file, never on its command
    /// line (which `ps` shows to every user) nor in the session's environment.
    pub fn spawn(
        &self,
        task: &Task,
        attempt: u32,
        profile: &str,
        previous: Option<&str>,
        secret: &AttemptSecret,
    ) -> Result<Spawned, EngineError> {
        let placement = self.placement(task);
        let integration = &self.settings().integration_branch;
        self.locked(|| {
            self.repo
                .add_worktree(&placement.worktree, &placement.branch, integration)
        })
        .map_err(EngineError::Worktree)?;
        self.write_instruction(task, &placement.worktree, previous)?;
        let (pane, preaccepted) =
            self.start_agent(task, attempt, profile, secret, &placement, None)?;
        Ok(Spawned {
            placement,
            pane_id: pane.id,
            pane_pid: pane.pid,
            preaccepted,
            saved: None,
        })
    }

    /// `TASK_INSTRUCTION.md` in `worktree`, with how the previous attempt
    /// ended (`previous`).
    fn write_instruction(
        &self,
        task: &Task,
        worktree: &Path,
        previous: Option<&str>,
    ) -> Result<(), EngineError> {
        let mut md = instruction::render(task, &self.resolve_inputs(task, worktree), true);
        if let Some(note) = previous {
            md.push_str(note);
        }
        std::fs::write(worktree.join(instruction::FILE_NAME), md).map_err(|source| {
            EngineError::Io {
                what: "cannot write TASK_INSTRUCTION.md".into(),
                source,
            }
        })
    }

    /// The agent's hooks, `preaccept` writes and launch file for the
    /// worktree of `place`, then its shim in a pane: a new session `place.session`,
    /// or, with `respawn`, that pane of it started again.
    pub(super) fn start_agent(
        &self,
        task: &Task,
        attempt: u32,
        profile: &str,
        secret: &AttemptSecret,
        place: &Placement,
        respawn: Option<&str>,
    ) -> Result<(NewPane, Vec<Result<Preaccepted, String>>), EngineError> {
        let worktree = &place.worktree;
        let (launch, agent) = self.launch(task, profile, secret)?;
        install_hooks(agent, worktree, &self.exe)?;
        let preaccepted = preaccept(agent, worktree);
        let launch_path = self.launch_path(task, attempt);
        launch.write(&launch_path)?;
        let envs: Vec<(String, String)> = vec![
            (env::SOCKET.into(), self.socket_path.display().to_string()),
            (env::TASK.into(), task.task_id.clone()),
            (env::ATTEMPT.into(), attempt.to_string()),
            ("PATH".into(), worker_path(&self.exe)),
        ];
        let argv = shim_argv(
            &self.exe,
            &launch_path,
            self.settings().heartbeat.interval_ms,
        );
        let log = pane_log(&self.repo.root, task, attempt, &self.exe);
        let label = shim_label(task, attempt);
        let started = match respawn {
            Some(pane) => self
                .tmux
                .respawn_pane(pane, &label, &log, worktree, &envs, &argv),
            None => {
                // A previous attempt's kept (dead) pane makes way for this one.
                if self.tmux.has_session(&place.session).unwrap_or(false) {
                    let _ = self.tmux.kill_session(&place.session);
                }
                self.tmux.new_labelled_session(
                    &place.session,
                    Some(&label),
                    Some(&log),
                    worktree,
                    &envs,
                    &argv,
                    (200, 50),
                )
            }
        };
        let pane = started.inspect_err(|_| {
            // No shim will read it.
            let _ = std::fs::remove_file(&launch_path);
        })?;
        Ok((pane, preaccepted))
    }

    /// What the shim of `task`'s attempt with `profile` starts, and that
    /// profile: the command, its environment (from the plan, of any size:
    /// the launch file carries it, the tmux command line only short values
    /// and paths) and the attempt's secret.
    pub fn launch(
        &self,
        task: &Task,
        profile: &str,
        secret: &AttemptSecret,
    ) -> Result<(Launch, &crate::plan::AgentProfile), EngineError> {
        let agent = self
            .plan
            .plan
            .agents
            .get(profile)
            .ok_or_else(|| EngineError::UnknownProfile(profile.to_string()))?;
        // What comes from the plan, of any size, goes through the launch
        // file; the tmux command line carries only short values and paths.
        let mut agent_env = vec![
            (env::TITLE.into(), task.title.clone()),
            (
                env::OUTPUTS.into(),
                task.outputs
                    .iter()
                    .map(|o| o.path.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        ];
        // An agent's `git commit` may start a detached `git gc --auto` /
        // `git maintenance`, which the shim ends with the agent's process
        // tree, mid-way, leaving ref locks that fail later merges. Agents'
        // git does no automatic maintenance (unless the user configures git
        // through the environment already); the user's own git still does.
        if std::env::var_os("GIT_CONFIG_COUNT").is_none() {
            agent_env.extend(
                [
                    ("GIT_CONFIG_COUNT", "2"),
                    ("GIT_CONFIG_KEY_0", "gc.auto"),
                    ("GIT_CONFIG_VALUE_0", "0"),
                    ("GIT_CONFIG_KEY_1", "maintenance.auto"),
                    ("GIT_CONFIG_VALUE_1", "false"),
                ]
                .map(|(k, v)| (k.to_string(), v.to_string())),
            );
        }
        agent_env.extend(agent.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let launch = Launch {
            // The task's own command stands in for its own profile's only.
            command: match &task.command {
                Some(own) if profile == task.agent.kind => own.clone(),
                _ => agent.command.clone(),
            },
            env: agent_env,
            secret: Some(secret.as_str().to_string()),
        };
        Ok((launch, agent))
    }

    /// The launch file of `task`'s attempt `attempt`, under `.switchboard/`
    /// (excluded from git, in the user's own repository).
    fn launch_path(&self, task: &Task, attempt: u32) -> PathBuf {
        launch_file(&self.repo.root, task, attempt)
    }

    fn resolve_inputs(&self, task: &Task, worktree: &Path) -> Vec<ResolvedInput> {
        resolve_inputs(task, worktree)
    }
}

/// The launch file of `task`'s attempt `attempt` in the repository at `root`.
pub fn launch_file(root: &Path, task: &Task, attempt: u32) -> PathBuf {
    root.join(".switchboard")
        .join(launch::DIR)
        .join(format!("{}-{attempt}.json", task.task_id))
}

/// Where `task`'s attempt `attempt` copies its pane's output, in the
/// repository at `root`, by `exe`'s `pane-log`; its directory made (without
/// it the pipe's shell fails and nothing is kept, while the attempt still
/// runs).
pub fn pane_log(root: &Path, task: &Task, attempt: u32, exe: &Path) -> PaneLog {
    if let Err(e) = std::fs::create_dir_all(attempt_log::dir(root)) {
        tracing::warn!("cannot create the attempt logs' directory: {e}");
    }
    PaneLog {
        path: attempt_log::path(root, &task.task_id, attempt),
        copier: vec![
            exe.display().to_string(),
            "pane-log".into(),
            "--max-bytes".into(),
            attempt_log::MAX_BYTES.to_string(),
        ],
    }
}

/// `task`'s inputs, read from its worktree.
pub fn resolve_inputs(task: &Task, worktree: &Path) -> Vec<ResolvedInput> {
    task.inputs
        .iter()
        .map(|input| ResolvedInput::read(worktree, input))
        .collect()
}

/// The pane's label (its status line) for a worker.
pub fn shim_label(task: &Task, attempt: u32) -> String {
    format!("switchboard {} attempt {attempt}", task.task_id)
}

/// The shim's command line: this binary's `worker` with its launch file.
pub fn shim_argv(exe: &Path, launch_path: &Path, heartbeat_ms: u64) -> Vec<String> {
    vec![
        exe.display().to_string(),
        "worker".into(),
        "--launch".into(),
        launch_path.display().to_string(),
        "--heartbeat-ms".into(),
        heartbeat_ms.to_string(),
    ]
}

/// The agent's hook settings (a preset's `hooks`) in its worktree, calling
/// `exe`'s `hook` subcommand.
pub fn install_hooks(
    agent: &crate::plan::AgentProfile,
    worktree: &Path,
    exe: &Path,
) -> Result<(), EngineError> {
    if let (Some(hooks), Some(preset)) = (&agent.hooks, &agent.preset) {
        hooks
            .install(worktree, exe, preset)
            .map_err(|source| EngineError::Io {
                what: format!(
                    "cannot write the agent's hook settings {}",
                    hooks.file.as_deref().unwrap_or_default()
                ),
                source,
            })?;
    }
    Ok(())
}

/// PATH for workers: `exe`'s directory first, so agents can call
/// `switchboard report` even when switchboard is not installed.
pub fn worker_path(exe: &Path) -> String {
    let own = exe
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    match std::env::var("PATH") {
        Ok(p) if !p.is_empty() => format!("{own}:{p}"),
        _ => format!("{own}:/usr/local/bin:/usr/bin:/bin"),
    }
}

/// The profile's opted-in `preaccept` settings, written to the agent's
/// own config for this worktree (outside it: see `engine::preaccept`).
/// The worktree goes in as named and as the agent's `getcwd` will see
/// it. A failure is reported, not fatal: the dialog then waits for a
/// person, as a prompt rule flags it.
pub fn preaccept(
    agent: &crate::plan::AgentProfile,
    worktree: &Path,
) -> Vec<Result<Preaccepted, String>> {
    let edits = match crate::plan::presets::preaccept_edits(agent) {
        Ok(edits) => edits,
        Err(whys) => return whys.into_iter().map(Err).collect(),
    };
    if edits.is_empty() {
        return Vec::new();
    }
    let mut worktrees = vec![worktree.display().to_string()];
    if let Ok(real) = worktree.canonicalize()
        && real != worktree
    {
        worktrees.push(real.display().to_string());
    }
    let lookup = |name: &str| {
        agent
            .env
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
    };
    edits
        .iter()
        .map(|(name, edit)| {
            let done = preaccept::apply(edit, &worktrees, lookup)
                .map_err(|e| format!("could not pre-accept {}: {e}", edit.skips));
            match &done {
                Ok(p) => tracing::info!(
                    "preaccept {name}: {} in {} ({})",
                    p.setting,
                    p.file.display(),
                    if p.written { "written" } else { "already set" }
                ),
                Err(e) => tracing::warn!("preaccept {name}: {e}"),
            }
            done
        })
        .collect()
}

impl Workshop {
    /// Save uncommitted work, then run every validation check in the worktree.
    pub fn validate(&self, task: &Task, attempt: u32) -> Vec<CheckResult> {
        let p = match self.ensure_home(task) {
            Ok(p) => p,
            Err(e) => {
                return vec![CheckResult {
                    check: "worktree".into(),
                    ok: false,
                    detail: e.to_string(),
                }];
            }
        };
        let mut results = Vec::new();
        match self.repo.commit_all(
            &p.worktree,
            &format!(
                "switchboard: save {}'s uncommitted work (attempt {attempt})",
                task.task_id
            ),
        ) {
            Ok(Some(oid)) => results.push(CheckResult {
                check: "uncommitted work".into(),
                ok: true,
                detail: format!("committed by switchboard as {}", &oid[..oid.len().min(10)]),
            }),
            Ok(None) => {}
            Err(e) => results.push(CheckResult {
                check: "uncommitted work".into(),
                ok: false,
                detail: e.to_string(),
            }),
        }
        for v in &task.validation {
            let (ok, detail) = match v {
                Validation::FileExists { .. } => {
                    let missing: Vec<&str> = task
                        .outputs
                        .iter()
                        .filter(|o| !p.worktree.join(&o.path).exists())
                        .map(|o| o.path.as_str())
                        .collect();
                    if missing.is_empty() {
                        (true, format!("{} output(s) present", task.outputs.len()))
                    } else {
                        (false, format!("missing: {}", missing.join(", ")))
                    }
                }
                Validation::Command { run, .. } => {
                    check_run::run_check(run, &p.worktree, self.check_limit())
                }
                Validation::Commit { .. } => {
                    let integration = &self.settings().integration_branch;
                    match self.repo.branch_has_commit_mentioning(
                        &p.branch,
                        integration,
                        &task.task_id,
                    ) {
                        Ok(true) => (
                            true,
                            format!("a commit on {} names {}", p.branch, task.task_id),
                        ),
                        Ok(false) => (
                            false,
                            format!("no commit on {} names {}", p.branch, task.task_id),
                        ),
                        Err(e) => (false, e.to_string()),
                    }
                }
            };
            results.push(CheckResult {
                check: v.describe(),
                ok,
                detail,
            });
        }
        results
    }

    /// Merges of every engine on the repository go one at a time (an
    /// exclusive `flock` of `.switchboard/merge.lock`, held from the merge's
    /// computation to the branch's move): engines merging at once then never
    /// find the branch moved under them, and none gives up on its retries.
    pub fn merge(&self, task: &Task) -> Result<MergeReport, EngineError> {
        let lock = self.repo.root.join(".switchboard").join("merge.lock");
        let _turn = super::claim_files::locked(&lock).map_err(|source| EngineError::Io {
            what: format!("cannot lock {}", lock.display()),
            source,
        })?;
        self.merge_now(task)
    }

    fn merge_now(&self, task: &Task) -> Result<MergeReport, EngineError> {
        let p = self.placement(task);
        let message = format!("Merge {}: {}", task.task_id, task.title);
        let target = &self.settings().integration_branch;
        let Some(command) = self.integration_check(task) else {
            let outcome = self.locked(|| self.repo.merge_into(target, &p.branch, &message))?;
            return Ok(outcome.into());
        };
        let mut attempt = 1;
        loop {
            let prepared =
                match self.locked(|| self.repo.prepare_merge(target, &p.branch, &message))? {
                    Preparation::Ready(prepared) => prepared,
                    Preparation::UpToDate => return Ok(MergeOutcome::UpToDate.into()),
                    Preparation::Conflict { files } => {
                        return Ok(MergeOutcome::Conflict { files }.into());
                    }
                };
            // The git lock is not held while the check runs: it may take
            // minutes, and spawns need the lock. The compare-and-swap below
            // catches a branch moved meanwhile.
            let check = self.check_merged_tree(task, command, &prepared.commit)?;
            if !check.ok {
                return Ok(MergeReport::Blocked { check });
            }
            match self.locked(|| self.repo.publish_merge(&prepared)) {
                Ok(()) => {
                    let outcome = MergeOutcome::Merged {
                        commit: prepared.commit,
                    };
                    let check = Some(check);
                    return Ok(MergeReport::Done { outcome, check });
                }
                Err(GitError::RefMoved { .. }) if attempt < CHECKED_MERGE_ATTEMPTS => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The command that must pass on `task`'s merge result: its group's,
    /// else the plan's. Blank means none (a group may turn it off).
    fn integration_check<'a>(&'a self, task: &Task) -> Option<&'a str> {
        let group = self.plan.plan.groups.iter().find(|g| g.id == task.group);
        group
            .and_then(|g| g.integration_check.as_deref())
            .or(self.settings().integration_check.as_deref())
            .filter(|c| !c.trim().is_empty())
    }

    /// Run `command` in a temporary detached worktree at `commit` (under
    /// `.switchboard/checks/`), removed afterwards whatever happened; its
    /// whole output goes to `.switchboard/logs/<TASK>.integration.log`.
    fn check_merged_tree(
        &self,
        task: &Task,
        command: &str,
        commit: &str,
    ) -> Result<IntegrationCheck, EngineError> {
        let name = names::sanitize(&task.task_id);
        let path = self.repo.root.join(".switchboard/checks").join(&name);
        let log = format!(".switchboard/{}/{name}.integration.log", attempt_log::DIR);
        let tree = self.locked(|| self.repo.add_detached_worktree(&path, commit))?;
        let (ok, detail) = check_run::run_integration_check(
            command,
            tree.path(),
            &self.repo.root.join(&log),
            &log,
            self.check_limit(),
        );
        self.locked(|| tree.remove());
        Ok(IntegrationCheck {
            command: command.to_string(),
            ok,
            detail,
        })
    }

    pub fn rebase(&self, task: &Task) -> Result<RebaseOutcome, EngineError> {
        let p = self.ensure_home(task)?;
        let onto = &self.settings().integration_branch;
        Ok(self.locked(|| self.repo.rebase_onto(&p.worktree, onto))?)
    }

    pub fn remove_worktree(&self, task: &Task) -> Result<(), EngineError> {
        let p = self.home(task);
        Ok(self.locked(|| self.repo.remove_worktree(&p.worktree, true))?)
    }

    pub fn kill_session(&self, session: &str) {
        if let Err(e) = self.tmux.kill_session(session) {
            tracing::debug!("kill-session {session}: {e}");
        }
    }
}
