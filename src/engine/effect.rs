//! What the engine's core asks the world to do ([`Effect`]), what comes back
//! to it ([`Input`]), and [`perform`], which turns one into the other through
//! the [`Os`]. The core never waits: it returns effects, and their results
//! arrive later as inputs.

use super::claims::{self, ClaimNews, ClaimWork};
use super::command::Reply;
use super::early_warning::{ScanRequest, ScanResult};
use super::error::EngineError;
use super::link::Request;
use super::os::Os;
use super::pool::PoolOrder;
use super::socket::SocketEvent;
use super::tasks::TaskIdx;
use super::workshop::{CheckResult, MergeReport, Spawned};
use crate::git::RebaseOutcome;
use crate::plan::ValidPlan;
use crate::tmux::PaneInfo;
use crate::worker::secret::AttemptSecret;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Lines of a changed pane's screen that prompt rules and the question
/// reader see: the last output line, and room for a question above its
/// menu of answers. Screen rules read the whole visible screen.
pub const TAIL_LINES: usize = 8;

#[derive(Debug)]
pub enum Effect {
    /// Worktree, instruction, tmux session with the shim, which gets
    /// `secret` to prove itself with.
    Spawn {
        task: TaskIdx,
        attempt: u32,
        profile: String,
        note: Option<String>,
        secret: AttemptSecret,
    },
    /// A pool worker takes the task: its worktree moves to the task's
    /// branch, the instruction is written, and its agent is started in its
    /// session (with `secret`), or the task is typed into its live agent
    /// (no secret here: the core tells the shim).
    PoolSpawn {
        task: TaskIdx,
        attempt: u32,
        profile: String,
        note: Option<String>,
        secret: Option<AttemptSecret>,
        order: PoolOrder,
    },
    Validate {
        task: TaskIdx,
        attempt: u32,
    },
    Merge {
        task: TaskIdx,
    },
    RemoveWorktree {
        task: TaskIdx,
    },
    /// A person asked to rebase a conflicted task and merge it again.
    Rebase {
        task: TaskIdx,
    },
    KillSession {
        session: String,
    },
    /// Type a line into a pane (a prompt rule's answer, a nudge, a typed
    /// prompt), and Enter in the same request when `enter`.
    SendLine {
        pane: String,
        text: String,
        enter: bool,
    },
    /// Press keys in a pane (tmux key names: a dialog's answer, a lone Enter).
    SendKeys {
        pane: String,
        keys: Vec<String>,
    },
    /// Read how a failed attempt's pane looked, for the next instruction.
    CaptureNote {
        task: TaskIdx,
        attempt: u32,
        pane: String,
        reason: String,
    },
    /// A front end asked for a pane's tail; its attempt's log once the
    /// pane is gone.
    PaneTail {
        task: TaskIdx,
        attempt: u32,
        pane: Option<String>,
        lines: u32,
        reply: oneshot::Sender<Reply>,
    },
    /// A front end asked for a task's detail (journal and logs).
    TaskDetail {
        task: TaskIdx,
        log_lines: u32,
        reply: oneshot::Sender<Reply>,
    },
    /// A halted worker that did not answer: `C-c`, then kill its session.
    HaltFallback {
        halt_id: u64,
        task: TaskIdx,
        pane: Option<String>,
        session: String,
    },
    /// One `list-panes -a` for every worker.
    ListPanes,
    /// The visible screens of the panes whose activity changed.
    CaptureTails {
        panes: Vec<String>,
    },
    /// Is a disconnected shim's process gone?
    CheckShim {
        task: TaskIdx,
        attempt: u32,
        /// The host the pid is on; None: this machine.
        host: Option<String>,
        pid: u32,
        tries: u32,
    },
    /// SIGKILL a worker judged DEAD: its agent's group and its shim.
    KillWorker {
        host: Option<String>,
        agent_pgid: Option<u32>,
        shim_pid: Option<u32>,
    },
    Scan(ScanRequest),
    /// The run finished: EXECUTION_LOG.md now, not only when the engine closes.
    WriteExecutionLog,
    /// Claim, renew, let go of or survey task claims (`engine::claims`).
    Claims(ClaimWork),
}

impl Effect {
    /// Session kills are awaited when the engine closes, so no session of a
    /// finished run outlives it.
    pub fn is_kill(&self) -> bool {
        // And worktree removals: a pool's are asked for at the run's end.
        matches!(
            self,
            Effect::KillSession { .. } | Effect::RemoveWorktree { .. }
        )
    }
}

/// Everything the core reacts to.
#[derive(Debug)]
pub enum Input {
    /// A front end's command.
    Request(Request),
    /// A shim connected, spoke or hung up.
    Socket(SocketEvent),
    Spawned {
        task: TaskIdx,
        attempt: u32,
        result: Result<Spawned, EngineError>,
    },
    Validated {
        task: TaskIdx,
        attempt: u32,
        results: Vec<CheckResult>,
    },
    Merged {
        task: TaskIdx,
        result: Result<MergeReport, EngineError>,
    },
    Removed {
        task: TaskIdx,
        result: Result<(), EngineError>,
    },
    Rebased {
        task: TaskIdx,
        result: Result<RebaseOutcome, EngineError>,
    },
    Panes {
        panes: Vec<PaneInfo>,
        /// When the list was asked for.
        listed_ms: u64,
    },
    PanesFailed,
    Tails {
        tails: HashMap<String, Vec<String>>,
    },
    Note {
        task: TaskIdx,
        attempt: u32,
        note: String,
    },
    ShimChecked {
        task: TaskIdx,
        attempt: u32,
        alive: bool,
        tries: u32,
    },
    /// A tmux fallback kill of a halted worker finished.
    FallbackDone {
        halt_id: u64,
        task: TaskIdx,
    },
    /// A conflict early-warning scan finished.
    Scanned(ScanResult),
    /// The time the core asked to be woken at has come (`due_ms`).
    Tick {
        due_ms: u64,
    },
    /// Claim work came back.
    Claims(ClaimNews),
}

/// The end of an attempt's log and its path, for a pane that cannot be
/// read (`why`); a line that says so when there is no log either.
fn logged_tail(
    os: &dyn Os,
    task: &crate::plan::Task,
    attempt: u32,
    lines: u32,
    why: &str,
) -> Reply {
    if attempt == 0 {
        return Reply::PaneTail {
            lines: vec![format!("({} has not run yet)", task.task_id)],
            log: None,
        };
    }
    let file = super::detail::shown_path(&task.task_id, attempt);
    match os.log_tail(task, attempt, lines as usize) {
        Some(tail) => {
            let capped = tail.capped();
            let mut lines = tail.lines;
            if capped {
                lines.push(format!(
                    "(the log stopped at its cap of {} bytes)",
                    tail.size
                ));
            }
            Reply::PaneTail {
                lines,
                log: Some(file),
            }
        }
        None => Reply::PaneTail {
            lines: vec![format!("(pane unavailable: {why}; no log at {file})")],
            log: None,
        },
    }
}

/// Carry out one effect; its result, if any, is the input to feed back.
/// Blocking git and file work runs on tokio's blocking pool.
pub async fn perform(
    os: Arc<dyn Os>,
    plan: Arc<ValidPlan>,
    effect: Effect,
    now_ms: impl Fn() -> u64,
) -> Option<Input> {
    let blocking = |f: Box<dyn FnOnce() -> Input + Send>| async move {
        tokio::task::spawn_blocking(f).await.ok()
    };
    match effect {
        Effect::Spawn {
            task,
            attempt,
            profile,
            note,
            secret,
        } => {
            blocking(Box::new(move || {
                let t = &plan.plan.tasks[task.0];
                let result = os.spawn(t, attempt, &profile, note.as_deref(), &secret);
                Input::Spawned {
                    task,
                    attempt,
                    result,
                }
            }))
            .await
        }
        Effect::PoolSpawn {
            task,
            attempt,
            profile,
            note,
            secret,
            order,
        } => {
            blocking(Box::new(move || {
                let t = &plan.plan.tasks[task.0];
                let result = os.pool_spawn(
                    t,
                    attempt,
                    &profile,
                    note.as_deref(),
                    secret.as_ref(),
                    &order,
                );
                Input::Spawned {
                    task,
                    attempt,
                    result,
                }
            }))
            .await
        }
        Effect::Validate { task, attempt } => {
            blocking(Box::new(move || Input::Validated {
                task,
                attempt,
                results: os.validate(&plan.plan.tasks[task.0], attempt),
            }))
            .await
        }
        Effect::Merge { task } => {
            blocking(Box::new(move || Input::Merged {
                task,
                result: os.merge(&plan.plan.tasks[task.0]),
            }))
            .await
        }
        Effect::Rebase { task } => {
            blocking(Box::new(move || Input::Rebased {
                task,
                result: os.rebase(&plan.plan.tasks[task.0]),
            }))
            .await
        }
        Effect::RemoveWorktree { task } => {
            blocking(Box::new(move || Input::Removed {
                task,
                result: os.remove_worktree(&plan.plan.tasks[task.0]),
            }))
            .await
        }
        Effect::Scan(req) => blocking(Box::new(move || Input::Scanned(os.scan(req)))).await,
        Effect::WriteExecutionLog => {
            let _ = tokio::task::spawn_blocking(move || os.write_execution_log()).await;
            None
        }
        Effect::KillSession { session } => {
            if let Err(e) = os.close_session(&session).await {
                tracing::debug!("kill-session {session}: {e}");
            }
            None
        }
        Effect::SendLine { pane, text, enter } => {
            if let Err(e) = os.send_text(&pane, &text, enter).await {
                tracing::warn!("typing into {pane}: {e}");
            }
            None
        }
        Effect::SendKeys { pane, keys } => {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            if let Err(e) = os.send_keys(&pane, &keys).await {
                tracing::warn!("keys to {pane}: {e}");
            }
            None
        }
        Effect::CaptureNote {
            task,
            attempt,
            pane,
            reason,
        } => {
            let lines = os.capture_tail(&pane, 40).await.unwrap_or_default();
            let mut note = String::new();
            crate::instruction::append_previous_attempt(&mut note, &reason, &lines);
            Some(Input::Note {
                task,
                attempt,
                note,
            })
        }
        Effect::PaneTail {
            task,
            attempt,
            pane,
            lines,
            reply,
        } => {
            let captured = match &pane {
                Some(pane) => os
                    .capture_tail(pane, lines)
                    .await
                    .map_err(|e| e.to_string()),
                None => Err("no pane".to_string()),
            };
            let answer = match captured {
                Ok(lines) => Reply::PaneTail { lines, log: None },
                Err(why) => {
                    let read = tokio::task::spawn_blocking(move || {
                        let t = &plan.plan.tasks[task.0];
                        logged_tail(os.as_ref(), t, attempt, lines, &why)
                    });
                    read.await.unwrap_or_else(|e| Reply::Error {
                        message: format!("cannot read the log: {e}"),
                    })
                }
            };
            let _ = reply.send(answer);
            None
        }
        Effect::TaskDetail {
            task,
            log_lines,
            reply,
        } => {
            let built = tokio::task::spawn_blocking(move || {
                os.task_detail(&plan.plan.tasks[task.0], log_lines as usize)
            });
            let _ = reply.send(match built.await {
                Ok(detail) => Reply::TaskDetail(Box::new(detail)),
                Err(e) => Reply::Error {
                    message: format!("cannot read the detail: {e}"),
                },
            });
            None
        }
        Effect::HaltFallback {
            halt_id,
            task,
            pane,
            session,
        } => {
            if let Some(pane) = &pane {
                let _ = os.send_keys(pane, &["C-c"]).await;
            }
            if let Err(e) = os.kill_session(&session).await {
                tracing::debug!("halt fallback kill-session {session}: {e}");
            }
            Some(Input::FallbackDone { halt_id, task })
        }
        Effect::ListPanes => {
            let listed_ms = now_ms();
            Some(match os.list_panes().await {
                Ok(panes) => Input::Panes { panes, listed_ms },
                Err(e) => {
                    tracing::warn!("tmux poll: {e}");
                    Input::PanesFailed
                }
            })
        }
        Effect::CaptureTails { panes } => {
            let mut tails = HashMap::new();
            for pane in panes {
                if let Ok(lines) = os.capture_screen(&pane).await {
                    tails.insert(pane, lines);
                }
            }
            Some(Input::Tails { tails })
        }
        Effect::CheckShim {
            task,
            attempt,
            host,
            pid,
            tries,
        } => {
            // On a host the question goes over ssh: off the event loop.
            let alive = match host {
                None => os.process_alive(None, pid),
                Some(host) => {
                    tokio::task::spawn_blocking(move || os.process_alive(Some(&host), pid))
                        .await
                        .unwrap_or(true)
                }
            };
            Some(Input::ShimChecked {
                task,
                attempt,
                alive,
                tries,
            })
        }
        Effect::KillWorker {
            host,
            agent_pgid,
            shim_pid,
        } => {
            os.kill_worker(host.as_deref(), agent_pgid, shim_pid);
            None
        }
        Effect::Claims(work) => {
            let done = tokio::task::spawn_blocking(move || claims::perform(os.claims(), work));
            done.await.ok().flatten().map(Input::Claims)
        }
    }
}
