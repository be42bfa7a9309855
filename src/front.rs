//! The interactive front end: `switchboard` with no mode opens the control
//! room on the plan. It embeds an engine, or attaches over the control socket
//! when this repository already has a live one.

use crate::engine::command::{Command, Reply};
use crate::engine::link::EngineLink;
use crate::engine::{self, EngineOptions, remote, socket};
use crate::tui::{self, QuitChoice, TuiOptions};
use color_eyre::eyre::{Result, WrapErr};
use std::process::ExitCode;

/// What happens to the workers when the control room closes.
pub struct Closing {
    pub choice: QuitChoice,
    pub interrupted: bool,
    /// This window was attached to another process's engine.
    pub attached: bool,
    /// Workers still running in tmux when the engine closed.
    pub live_workers: usize,
}

/// Run the control room; `options.select` chooses what starts at once.
pub async fn run(options: EngineOptions, tui_options: TuiOptions) -> Result<Closing> {
    let key = crate::tmux::names::repo_key(&options.repo_root);
    let tui_options = TuiOptions {
        repo: Some(options.repo_root.clone()),
        ..tui_options
    };
    // Another switchboard owns the engine: be a second window onto it. If that
    // engine stops (its window closed), take its workers over with our own.
    while let Ok(path) = socket::socket_path(&key)
        && path.exists()
        && let Ok(link) = remote::connect(&path).await
    {
        let watching = TuiOptions {
            take_over: true,
            ..tui_options.clone()
        };
        let choice = tui::run(link.clone(), watching)
            .await
            .wrap_err("the control room (attached to this repository's engine)")?;
        match choice {
            QuitChoice::EngineGone => {
                eprintln!(
                    "switchboard: the engine of this repository stopped; taking over its workers"
                );
                // Its socket file may linger a moment after its process.
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                continue;
            }
            QuitChoice::HaltWorkers => report_halt(&link).await,
            QuitChoice::LeaveRunning => {}
        }
        return Ok(Closing {
            choice,
            interrupted: false,
            attached: true,
            live_workers: 0,
        });
    }
    let engine = engine::start(options).await?;
    let result = tui::run(engine.link.clone(), tui_options).await;
    let choice = result.as_ref().copied().unwrap_or(QuitChoice::LeaveRunning);
    let halt = choice == QuitChoice::HaltWorkers;
    let _ = engine.link.call(Command::Shutdown { halt }).await;
    let outcome = engine
        .done
        .await
        .wrap_err("the engine stopped unexpectedly")?;
    if let Some(report) = &outcome.snapshot.last_halt
        && halt
    {
        eprint!("{}", crate::engine_client::halt_text(report));
    }
    result.wrap_err("the control room")?;
    let live_workers = outcome
        .snapshot
        .tasks
        .iter()
        .filter(|t| t.state.is_active())
        .count();
    Ok(Closing {
        choice,
        interrupted: outcome.interrupted,
        attached: false,
        live_workers,
    })
}

async fn report_halt(link: &EngineLink) {
    match link.call(Command::Halt).await {
        Reply::Halt(report) => eprint!("{}", crate::engine_client::halt_text(&report)),
        Reply::Error { message } => eprintln!("switchboard: halt: {message}"),
        _ => {}
    }
}

/// Exit code and a line on how to come back: `again` is the command line
/// that reopens this control room (its plan and tmux server).
pub fn farewell(closing: &Closing, again: &str) -> ExitCode {
    match closing.choice {
        QuitChoice::LeaveRunning | QuitChoice::EngineGone
            if closing.attached || closing.live_workers == 0 =>
        {
            ExitCode::SUCCESS
        }
        QuitChoice::LeaveRunning | QuitChoice::EngineGone => {
            eprintln!(
                "switchboard: {} left running in tmux; run `{again}` here again to re-adopt them",
                crate::engine::words::count(closing.live_workers, "worker")
            );
            ExitCode::SUCCESS
        }
        QuitChoice::HaltWorkers => ExitCode::SUCCESS,
    }
}

/// `switchboard`, plus the options that differ from the defaults.
pub fn reopen_command(plan: &std::path::Path, tmux_socket: Option<&str>) -> String {
    let mut line = String::from("switchboard");
    if plan != std::path::Path::new("dispatcher.yaml") {
        line.push_str(" --plan ");
        line.push_str(&crate::tmux::names::shell_word(&plan.display().to_string()));
    }
    if let Some(name) = tmux_socket {
        line.push_str(" --tmux-socket ");
        line.push_str(&crate::tmux::names::shell_word(name));
    }
    line
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_reopen_command_names_only_what_differs() {
        use std::path::Path;
        assert_eq!(
            super::reopen_command(Path::new("dispatcher.yaml"), None),
            "switchboard"
        );
        assert_eq!(
            super::reopen_command(Path::new("my plan.yaml"), Some("ci")),
            "switchboard --plan 'my plan.yaml' --tmux-socket ci"
        );
        let line = super::reopen_command(Path::new("it's $(x).yaml"), None);
        let words = shlex::split(&line).expect("shell words");
        assert_eq!(words, ["switchboard", "--plan", "it's $(x).yaml"]);
    }
}
