//! The shim (`switchboard worker`): the pane's first process. It starts the
//! agent as a foreground job, relays beats, reports, halts and the exit to the
//! engine, and ends once the engine has recorded the exit (`bye`).
//!
//! Ordering the engine can rely on, per shim:
//! - every connection starts with `hello`;
//! - `halt_ack` is sent before any signal for that halt, and before its `halted`;
//! - a `halted` whose cascade stopped the agent comes before the `exit`;
//! - a report the agent saw acknowledged comes before the `exit`;
//! - `exit` comes once the agent is reaped and every process it left (in its
//!   group or escaped from it) is gone, and is repeated after each reconnect
//!   until `bye`.

use super::agent::{self, AgentEvent, StopRequest};
use super::job::{self, Terminal};
use super::launch::{Launch, LaunchError};
use super::protocol::{EngineMessage, ExitStatus, ShimMessage, StopSignal, env};
use super::report::ReportSocket;
use super::secret::AttemptSecret;
use super::uplink::{Identity, Uplink};
use crate::cli::WorkerArgs;
use std::ffi::OsStr;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

/// How long an exited shim waits for `bye`: long enough for a restarted
/// engine to come back and collect the exit.
const BYE_WAIT: Duration = Duration::from_secs(600);
/// After SIGHUP/SIGTERM the pane is going away: a short last chance.
const ENDING_BYE_WAIT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("{0} is not set (the shim is started by switchboard, not by hand)")]
    MissingEnv(&'static str),
    #[error("{name} is not a number: {value:?}")]
    BadNumber { name: &'static str, value: String },
    #[error("cannot start the shim's runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot watch signals: {0}")]
    Signals(std::io::Error),
    #[error("{0}")]
    Launch(#[from] LaunchError),
}

/// What the engine told the shim through its environment and launch file.
#[derive(Debug, Clone)]
struct Setup {
    agent: Launch,
    engine_socket: PathBuf,
    task: String,
    attempt: u32,
    pane_id: Option<String>,
    secret: AttemptSecret,
}

impl Setup {
    fn from_env(args: &WorkerArgs) -> Result<Setup, ShimError> {
        let var = |name: &'static str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or(ShimError::MissingEnv(name))
        };
        let engine_socket = PathBuf::from(var(env::SOCKET)?);
        let task = var(env::TASK)?;
        let attempt = var(env::ATTEMPT)?;
        let mut agent = match (&args.launch, &args.command) {
            (Some(path), _) => Launch::take(path)?,
            (None, command) => Launch {
                command: command.clone().unwrap_or_default(),
                env: Vec::new(),
                secret: None,
            },
        };
        // From the launch file; by hand (and in tests) from the environment.
        let secret = match agent.secret.take() {
            Some(s) if !s.is_empty() => s,
            _ => var(env::SECRET)?,
        };
        let secret = AttemptSecret::new(secret);
        Ok(Setup {
            agent,
            engine_socket,
            task,
            attempt: attempt.parse().map_err(|_| ShimError::BadNumber {
                name: env::ATTEMPT,
                value: attempt.clone(),
            })?,
            pane_id: std::env::var("TMUX_PANE").ok().filter(|v| !v.is_empty()),
            secret,
        })
    }
}

pub fn run(args: &WorkerArgs) -> ExitCode {
    let result = Setup::from_env(args).and_then(|setup| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ShimError::Runtime)
            .map(|runtime| runtime.block_on(shim(setup, args)))
    });
    match result {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(e)) | Err(e) => {
            say(&format!("worker cannot run: {e}"));
            ExitCode::from(2)
        }
    }
}

async fn shim(setup: Setup, args: &WorkerArgs) -> Result<u8, ShimError> {
    if let Err(e) = job::ignore_job_control_signals() {
        tracing::warn!("cannot ignore job-control signals: {e}");
    }
    if let Err(e) = job::become_subreaper() {
        tracing::warn!("cannot become a subreaper: {e}");
    }
    // Registered before the agent exists, so its exit cannot be missed.
    let sigchld = signal(SignalKind::child()).map_err(ShimError::Signals)?;
    let mut sighup = signal(SignalKind::hangup()).map_err(ShimError::Signals)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(ShimError::Signals)?;

    let shim_pid = std::process::id();
    let mut identity = Identity {
        task: setup.task.clone(),
        attempt: setup.attempt,
        shim_pid,
        agent_pid: None,
        pane_id: setup.pane_id.clone(),
        secret: setup.secret.clone(),
    };
    // The report socket must exist before the agent starts (it is in the
    // agent's environment), and the uplink needs the agent's pid for its
    // hello: so the uplink is started after the agent, and the report socket
    // queues into a channel the uplink drains once it starts.
    let (uplink, connector) = Uplink::new();
    let report_path = ReportSocket::path_for(&setup.engine_socket, shim_pid);
    let report_socket = match ReportSocket::bind(report_path.clone(), uplink.clone()) {
        Ok(socket) => Some(socket),
        Err(e) => {
            say(&format!(
                "cannot open the report socket {}: {e}; `switchboard report` will not work",
                report_path.display()
            ));
            None
        }
    };

    let terminal = Terminal::acquire();
    let command = &setup.agent.command;
    let mut envs: Vec<(&str, &OsStr)> = setup
        .agent
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), OsStr::new(v)))
        .collect();
    if let Some(socket) = &report_socket {
        envs.push((env::REPORT_SOCKET, socket.path().as_os_str()));
    }
    let agent = match job::spawn_agent(command, envs, terminal.as_ref()) {
        Ok(pid) => Some(pid),
        Err(e) => {
            say(&format!("cannot start the agent (sh -c {command:?}): {e}"));
            None
        }
    };
    identity.agent_pid = agent.and_then(|pid| u32::try_from(pid.as_raw()).ok());
    let mut from_engine = connector.start(
        setup.engine_socket.clone(),
        identity,
        Duration::from_millis(args.heartbeat_ms),
    );

    let (stop_tx, stop_rx) = mpsc::channel(16);
    let (event_tx, mut events) = mpsc::channel(16);
    agent::spawn_keeper(agent, sigchld, stop_rx, event_tx);

    let stop_grace = Duration::from_millis(args.stop_grace_ms);
    let mut exited: Option<ExitStatus> = None;
    let mut ending = false;
    let bye_deadline = tokio::time::sleep(BYE_WAIT);
    tokio::pin!(bye_deadline);
    loop {
        tokio::select! {
            Some(event) = events.recv() => match event {
                AgentEvent::Stopped { halt_id, stop_ms, signal } => {
                    say(&format!("agent stopped ({}) in {stop_ms} ms", describe_stop(signal)));
                    if let Some(halt_id) = halt_id {
                        uplink.send(ShimMessage::Halted { halt_id, stop_ms, signal });
                    }
                }
                AgentEvent::Exited(status) => {
                    if let Some(t) = &terminal {
                        t.reclaim();
                    }
                    say(&format!("agent exited: {}", status.describe()));
                    uplink.agent_gone();
                    uplink.send(ShimMessage::Exit { status });
                    exited = Some(status);
                    let wait = if ending { ENDING_BYE_WAIT } else { BYE_WAIT };
                    bye_deadline.as_mut().reset(tokio::time::Instant::now() + wait);
                }
            },
            Some(message) = from_engine.recv() => match message {
                EngineMessage::Halt { halt_id, grace_ms } => {
                    // Acknowledge before anything slow.
                    uplink.send(ShimMessage::HaltAck { halt_id });
                    let request = StopRequest {
                        halt_id: Some(halt_id),
                        grace: Duration::from_millis(grace_ms),
                        received: Instant::now(),
                    };
                    if stop_tx.send(request).await.is_err() {
                        tracing::warn!("the agent keeper is gone; halt {halt_id} not run");
                    }
                }
                EngineMessage::Reassign { task, attempt, secret } => {
                    // A pool worker's live agent takes its next task: its
                    // reports and exit are that task's from now on.
                    say(&format!("next task: {task} (attempt {attempt})"));
                    uplink.rebind(task, attempt, secret);
                }
                EngineMessage::Bye if exited.is_some() => break,
                EngineMessage::Bye => tracing::warn!("bye before the agent exited; ignored"),
            },
            _ = sighup.recv() => end(&mut ending, exited.is_some(), &stop_tx, stop_grace, bye_deadline.as_mut()).await,
            _ = sigterm.recv() => end(&mut ending, exited.is_some(), &stop_tx, stop_grace, bye_deadline.as_mut()).await,
            _ = &mut bye_deadline, if exited.is_some() => {
                tracing::warn!("no bye from the engine; ending anyway");
                break;
            }
        }
    }
    drop(report_socket);
    Ok(exited.map_or(1, |status| job::exit_code(&status)))
}

/// SIGHUP or SIGTERM: the pane is going away. Stop the agent as a halt
/// would (its exit is still reported), then leave without the long wait.
async fn end(
    ending: &mut bool,
    exited: bool,
    stop_tx: &mpsc::Sender<StopRequest>,
    grace: Duration,
    bye_deadline: std::pin::Pin<&mut tokio::time::Sleep>,
) {
    if *ending {
        return;
    }
    *ending = true;
    if exited {
        let soon = tokio::time::Instant::now() + ENDING_BYE_WAIT;
        if soon < bye_deadline.deadline() {
            bye_deadline.reset(soon);
        }
        return;
    }
    let request = StopRequest {
        halt_id: None,
        grace,
        received: Instant::now(),
    };
    if stop_tx.send(request).await.is_err() {
        tracing::warn!("the agent keeper is gone; cannot stop the agent");
    }
}

fn describe_stop(signal: StopSignal) -> &'static str {
    match signal {
        StopSignal::None => "it had already exited",
        StopSignal::Sigint => "SIGINT",
        StopSignal::Sigterm => "SIGTERM",
        StopSignal::Sigkill => "SIGKILL",
    }
}

/// One line in the pane. Never panics: after SIGHUP the terminal is gone.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "[switchboard] {line}");
}
