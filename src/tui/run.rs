//! The event loop: wait on input, snapshots, a 1 s clock, engine replies,
//! pane tails and signals; fold them into the [`App`]; draw when something
//! changed, at most once per frame. Drawing never awaits; only stepping
//! aside (attach, a shell, an editor) and suspend, which hand the terminal
//! away, wait on anything outside. git for the diff view runs on the
//! blocking pool and comes back as a message.

use super::app::{App, Effect};
use super::attach::{self, AttachPlan, Surroundings, run_attach};
use super::input::TerminalReader;
use super::keymap::Keymap;
use super::step_aside::{self, step_aside};
use super::terminal::TerminalGuard;
use super::theme::Theme;
use super::worker_server::{SessionCheck, WorkerServer};
use super::{QuitChoice, TuiOptions};
use crate::engine::command::{Command, Reply};
use crate::engine::link::EngineLink;
use crate::git::{BranchDiff, DiffLimits, Repo};
use color_eyre::eyre::{WrapErr, eyre};
use crossterm::event::Event;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

/// The shortest time between two frames (~60 fps).
const FRAME: Duration = Duration::from_millis(16);
/// How often the pane view is refreshed while visible.
const PANE_REFRESH: Duration = Duration::from_millis(500);

type PaneTail = (String, Vec<String>, Option<String>);
type DiffRead = (String, Result<BranchDiff, String>);

/// Run the control room until the person quits; returns what they chose to do
/// with the running workers (the caller carries it out, e.g. by a halt).
///
/// Terminal modes are restored on every way out: return, error, panic.
/// SIGTSTP (and Ctrl-Z) suspend to the shell; SIGTERM and SIGHUP leave with
/// [`QuitChoice::LeaveRunning`]. Note tokio keeps those handlers installed for
/// the rest of the process once this has run.
pub async fn run(link: EngineLink, options: TuiOptions) -> color_eyre::Result<QuitChoice> {
    // The keymap first: a bad file is reported before the screen is taken.
    let keymap = Keymap::load(options.keymap_path.as_deref())?;
    let mut snapshots = link.snapshots.clone();
    let first = snapshots.borrow_and_update().clone();
    let mut app = App::new(first, keymap, Theme::from_env(), &options);
    app.utc_offset_secs = chrono::Local::now().offset().local_minus_utc();

    let mut tstp = signal(SignalKind::from_raw(nix::libc::SIGTSTP)).wrap_err("SIGTSTP handler")?;
    let mut cont = signal(SignalKind::from_raw(nix::libc::SIGCONT)).wrap_err("SIGCONT handler")?;
    let mut term_sig = signal(SignalKind::terminate()).wrap_err("SIGTERM handler")?;
    let mut hup = signal(SignalKind::hangup()).wrap_err("SIGHUP handler")?;

    let mut terminal = TerminalGuard::enter(options.mouse).wrap_err("taking the terminal")?;
    let size = terminal.terminal().size()?;
    app.resize(size.width, size.height);

    let mut input = TerminalReader::start();
    let (reply_tx, mut replies) = mpsc::channel::<(Command, Reply)>(64);
    let (want_pane, mut pane_tails) = spawn_pane_tailer(link.clone(), options.pane_tail_lines);
    let (attach_tx, mut attach_done) = mpsc::channel(4);
    let (asked_tx, mut asked) = mpsc::channel::<(String, Asked)>(4);
    let (diff_tx, mut diffs) = mpsc::channel::<DiffRead>(4);
    let repo = options.repo.clone().unwrap_or_else(|| PathBuf::from("."));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    let mut received_at = Instant::now();
    let mut engine_alive = true;
    let mut dirty = true;
    let mut last_frame = Instant::now() - FRAME;
    loop {
        if dirty && last_frame.elapsed() >= FRAME {
            terminal
                .terminal()
                .draw(|frame| frame.render_widget(&app, frame.area()))
                .wrap_err("drawing")?;
            if std::mem::take(&mut app.bell) && options.bell {
                terminal.bell()?;
            }
            dirty = false;
            last_frame = Instant::now();
        }
        let frame_wait = FRAME.saturating_sub(last_frame.elapsed());

        let mut effects = Vec::new();
        tokio::select! {
            event = input.recv() => {
                let Some(event) = event else {
                    return Err(eyre!("terminal input closed"));
                };
                // Take every event already read before drawing again.
                let mut next = Some(event);
                while let Some(event) = next {
                    effects.extend(on_event(&mut app, event));
                    next = input.try_recv();
                }
                dirty = true;
            }
            changed = snapshots.changed(), if engine_alive => {
                if changed.is_ok() {
                    effects.extend(app.on_snapshot(snapshots.borrow_and_update().clone()));
                    received_at = Instant::now();
                } else if options.take_over {
                    return Ok(QuitChoice::EngineGone);
                } else {
                    engine_alive = false;
                    app.set_status("the engine has stopped; showing its last state");
                }
                dirty = true;
            }
            _ = tick.tick() => {
                let local = received_at.elapsed().as_millis() as u64;
                app.set_now(app.snapshot.now_ms + local);
                dirty = true;
            }
            Some((command, reply)) = replies.recv() => {
                app.on_reply(&command, reply);
                dirty = true;
            }
            Some((task, answer)) = asked.recv() => {
                let beside = attach_tx.clone();
                let step = (&mut terminal, &mut input, beside);
                if let Some(Effect::Call(command)) = attach(&mut app, step, task, answer).await? {
                    call(&link, &reply_tx, command);
                }
                dirty = true;
            }
            Some((task, problem)) = attach_done.recv() => {
                app.set_status(match problem {
                    Some(problem) => format!("{task}: {problem}"),
                    None => format!("back from {task}'s session"),
                });
                dirty = true;
            }
            Some((task, lines, log)) = pane_tails.recv() => {
                app.on_pane_tail(&task, lines, log);
                dirty = true;
            }
            Some((task, result)) = diffs.recv() => {
                app.on_diff(&task, result);
                dirty = true;
            }
            _ = tstp.recv() => effects.push(Effect::Suspend),
            _ = cont.recv() => {
                // Continued after someone else stopped us: the shell may have
                // reset the terminal modes, so take it again and redraw all.
                terminal.resume()?;
                dirty = true;
            }
            _ = term_sig.recv() => return Ok(QuitChoice::LeaveRunning),
            _ = hup.recv() => return Ok(QuitChoice::LeaveRunning),
            _ = tokio::time::sleep(frame_wait), if dirty => {}
        }

        for effect in effects {
            match effect {
                Effect::Quit(choice) => return Ok(choice),
                Effect::Call(command) => call(&link, &reply_tx, command),
                Effect::Attach {
                    task,
                    session,
                    server,
                } => {
                    if let Some(host) = server.host() {
                        app.set_status(format!("asking {host} for {task}'s session…"));
                    }
                    ask_attach(task, session, server, asked_tx.clone());
                }
                Effect::ReadDiff {
                    task,
                    branch,
                    integration,
                    worktree,
                } => {
                    let (tx, repo) = (diff_tx.clone(), Repo::at(repo.clone()));
                    tokio::task::spawn_blocking(move || {
                        let worktree = worktree.as_deref();
                        let limits = DiffLimits::default();
                        let result = repo
                            .branch_diff(&integration, &branch, worktree, limits)
                            .map_err(|e| e.to_string());
                        if tx.blocking_send((task, result)).is_err() {
                            tracing::debug!("a diff read after the TUI left");
                        }
                    });
                }
                Effect::OpenShell { task, dir } => {
                    if worktree_is_there(&mut app, &task, &dir) {
                        let shell = std::env::var("SHELL").ok();
                        let program = step_aside::shell(shell.as_deref(), &dir, &task);
                        let name = program.program.clone();
                        let run = move || program.run();
                        if let Err(e) = step_aside(&mut terminal, &mut input, run).await? {
                            app.set_status(format!("cannot run {name}: {e}"));
                        }
                    }
                }
                Effect::OpenEditor {
                    task,
                    dir,
                    file,
                    line,
                } => {
                    if worktree_is_there(&mut app, &task, &dir) {
                        let editor = std::env::var("EDITOR").ok();
                        let program = step_aside::editor(editor.as_deref(), &dir, &file, line);
                        let name = program.program.clone();
                        let run = move || program.run();
                        match step_aside(&mut terminal, &mut input, run).await? {
                            Ok(status) if status.success() => {}
                            Ok(status) => app.set_status(format!("{name} on {file}: {status}")),
                            Err(e) => app.set_status(format!("cannot run {name}: {e}")),
                        }
                    }
                }
                Effect::Suspend => {
                    input.pause().await;
                    terminal.suspend_process()?;
                    input.resume();
                }
                Effect::Redraw => terminal.terminal().clear()?,
            }
        }
        want_pane.send_if_modified(|current| {
            let wanted = app.pane_task();
            let changed = *current != wanted;
            *current = wanted;
            changed
        });
    }
}

/// Send `command` to the engine; its reply comes back on `replies`.
fn call(link: &EngineLink, replies: &mpsc::Sender<(Command, Reply)>, command: Command) {
    let (link, tx) = (link.clone(), replies.clone());
    tokio::spawn(async move {
        let reply = link.call(command.clone()).await;
        if tx.send((command, reply)).await.is_err() {
            tracing::debug!("reply after the TUI left");
        }
    });
}

/// What asking for a worker's session found: how to show it, or why not.
enum Asked {
    Show(AttachPlan),
    /// The session is gone (the task ended since).
    Gone,
    Refused(String),
}

/// Ask, off the async threads, whether the worker's session is there
/// (tmux here, or over ssh on its host: bounded, the loop draws meanwhile)
/// and how to show it; the answer comes back on `asked`.
fn ask_attach(
    task: String,
    session: String,
    server: WorkerServer,
    asked: mpsc::Sender<(String, Asked)>,
) {
    tokio::spawn(async move {
        let answer = tokio::task::spawn_blocking(move || {
            let env = Surroundings::from_env();
            match server.check(&session, &env) {
                SessionCheck::There => {}
                SessionCheck::Gone => return Asked::Gone,
                SessionCheck::Unanswered(why) => return Asked::Refused(why),
            }
            let argv = match server.attach_argv(&session, &env) {
                Ok(argv) => argv,
                Err(why) => return Asked::Refused(why),
            };
            let client = attach::find_client(&env);
            let version = env.tmux.as_ref().and_then(|_| attach::tmux_version());
            Asked::Show(attach::plan(argv, &env, client.as_ref(), version))
        })
        .await
        .unwrap_or_else(|e| Asked::Refused(format!("attach failed: {e}")));
        if asked.send((task, answer)).await.is_err() {
            tracing::debug!("an attach answer after the TUI left");
        }
    });
}

/// Show a worker's session: beside the control room (a tmux popup or
/// window, whose end is reported on the channel) or, outside tmux, by
/// handing it the terminal until the person detaches. A session that is
/// gone (the task ended since) opens the task's detail instead: the effect
/// to carry out for that.
async fn attach(
    app: &mut App,
    (terminal, input, beside): (&mut TerminalGuard, &mut TerminalReader, BesideDone),
    task: String,
    answer: Asked,
) -> color_eyre::Result<Option<Effect>> {
    let command = match answer {
        Asked::Gone => {
            app.set_status(format!("{task}'s tmux session is gone: its detail instead"));
            return Ok(Some(app.open_detail(task)));
        }
        Asked::Refused(why) => {
            app.refuse(&task, format!("cannot attach to {task}: {why}"));
            return Ok(None);
        }
        Asked::Show(AttachPlan::Foreground(command)) => command,
        Asked::Show(AttachPlan::Beside {
            command,
            how,
            until_closed,
        }) => {
            app.set_status(format!("{task} {how}"));
            spawn_beside(task, command, until_closed, beside);
            return Ok(None);
        }
    };
    let (program, shown) = (command.program.clone(), command.args.join(" "));
    let run = move || run_attach(&command);
    match step_aside(terminal, input, run).await? {
        Ok(status) if status.success() => {}
        Ok(status) => app.set_status(format!("{program} {shown}: {status}")),
        Err(e) => app.set_status(format!("cannot run {program}: {e}")),
    }
    Ok(None)
}

/// Where a popup or window attach says how it ended: the task, and what
/// went wrong, if anything.
type BesideDone = mpsc::Sender<(String, Option<String>)>;

/// Run a popup or window attach without the terminal; what went wrong, if
/// anything, comes back on `done` for the footer.
fn spawn_beside(
    task: String,
    command: attach::AttachCommand,
    until_closed: bool,
    done: BesideDone,
) {
    tokio::spawn(async move {
        let out = tokio::process::Command::new(&command.program)
            .args(&command.args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .output()
            .await;
        let problem = match out {
            // A window is open now: nothing to say until it closes.
            Ok(out) if out.status.success() && !until_closed => return,
            Ok(out) if out.status.success() => None,
            // display-popup ends with its command's status: the nested
            // attach's, whose message was in the popup.
            Ok(out) if out.stderr.is_empty() => Some(format!("tmux attach ended: {}", out.status)),
            Ok(out) => Some(format!(
                "tmux {}: {}",
                command.args.get(2).map_or("", String::as_str),
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => Some(format!("cannot run tmux: {e}")),
        };
        let _ = done.send((task, problem)).await;
    });
}

/// A merged task's worktree is removed: say so instead of failing to start
/// a program in it.
fn worktree_is_there(app: &mut App, task: &str, dir: &Path) -> bool {
    let there = dir.is_dir();
    if !there {
        app.set_status(format!(
            "{task}'s worktree is gone ({}): merged tasks' worktrees are removed",
            dir.display()
        ));
    }
    there
}

fn on_event(app: &mut App, event: Event) -> Option<Effect> {
    match event {
        Event::Key(key) => app.on_key(key),
        Event::Mouse(mouse) => {
            app.on_mouse(mouse);
            None
        }
        Event::Resize(width, height) => {
            app.resize(width, height);
            None
        }
        _ => None,
    }
}

/// Fetch the wanted worker's pane tail every [`PANE_REFRESH`] through the
/// engine, off the render path. Ends when the TUI drops its sender.
fn spawn_pane_tailer(
    link: EngineLink,
    lines: u32,
) -> (watch::Sender<Option<String>>, mpsc::Receiver<PaneTail>) {
    let (want_tx, mut want) = watch::channel::<Option<String>>(None);
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(PANE_REFRESH);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let task = want.borrow_and_update().clone();
            let Some(task) = task else {
                if want.changed().await.is_err() {
                    return;
                }
                continue;
            };
            tokio::select! {
                changed = want.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    every.reset_immediately();
                    continue;
                }
                _ = every.tick() => {}
            }
            let lines = match link
                .call(Command::PaneTail {
                    task: task.clone(),
                    lines,
                })
                .await
            {
                Reply::PaneTail { lines, log } => (lines, log),
                Reply::Error { message } => (vec![format!("(pane unavailable: {message})")], None),
                other => {
                    tracing::debug!("unexpected pane-tail reply: {other:?}");
                    continue;
                }
            };
            if tx.send((task, lines.0, lines.1)).await.is_err() {
                return;
            }
        }
    });
    (want_tx, rx)
}
