//! Entry point: parse the command line, pick a mode, map results to exit codes.

use std::path::PathBuf;
use std::process::ExitCode;
use switchboard::cli::{Cli, Verb};
use switchboard::engine::EngineOptions;
use switchboard::engine::command::Command;
use switchboard::{engine_client, headless, listing, plan};

fn main() -> ExitCode {
    let cli = Cli::parse_checked();
    match &cli.verb {
        Some(Verb::SimAgent(args)) => return switchboard::sim_agent::run(args),
        Some(Verb::Report(args)) => return switchboard::worker::report::run(args),
        Some(Verb::Hook(args)) => {
            return switchboard::worker::hooks::run(&args.preset, args.payload.as_deref());
        }
        Some(Verb::Worker(args)) => return switchboard::worker::shim::run(args),
        Some(Verb::PaneLog(args)) => return switchboard::pane_log::run(args),
        Some(Verb::HostWorker) => return switchboard::hosts::on_host::run(),
        Some(Verb::Status) => return runtime(|| engine_client::status(cli.json)),
        Some(Verb::Halt) => return runtime(|| engine_client::halt(cli.json)),
        Some(Verb::Resume) => return runtime(engine_client::resume),
        Some(Verb::Recheck(args)) => {
            let command = Command::Recheck {
                task: args.task.clone(),
            };
            return recover(&cli, command);
        }
        Some(Verb::RebaseMerge(args)) => {
            let command = Command::RebaseMerge {
                task: args.task.clone(),
            };
            return recover(&cli, command);
        }
        Some(Verb::MarkDone(args)) => {
            let command = Command::MarkDone {
                task: args.task.clone(),
                reason: args.reason.clone(),
            };
            return recover(&cli, command);
        }
        Some(Verb::Clean(args)) => return clean(&cli, args),
        Some(Verb::Demo) => return demo(&cli),
        Some(Verb::Hosts(args)) => {
            let switchboard::cli::HostsAction::Install { host } = &args.action;
            return match load_plan(&cli) {
                Some(plan) => {
                    switchboard::hosts::install::run(&plan.plan.settings, host.as_deref())
                }
                None => ExitCode::from(2),
            };
        }
        Some(Verb::Doctor) => {
            return match load_plan(&cli) {
                Some(plan) => switchboard::doctor::run(&plan),
                None => ExitCode::from(2),
            };
        }
        None => {}
    }
    if let Err(e) = color_eyre::install() {
        eprintln!("switchboard: {e}");
    }
    if cli.validate_only || cli.list {
        return plan_only(&cli);
    }
    if cli.batch_group.is_some() || cli.task.is_some() || cli.all {
        return batch(&cli);
    }
    control_room(&cli)
}

/// The engine options for a plan in the current repository.
fn engine_options(
    cli: &Cli,
    valid: plan::ValidPlan,
    root: PathBuf,
    tmux_socket: Option<String>,
) -> Result<EngineOptions, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find my own executable: {e}"))?;
    let tmux_socket = tmux_socket
        .or_else(|| cli.tmux_socket.clone())
        .or_else(|| valid.plan.settings.tmux.socket.clone());
    Ok(EngineOptions {
        repo_root: root,
        plan_name: cli
            .plan
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        plan: valid,
        tmux_socket,
        exe,
        select: Vec::new(),
        exit_when_done: false,
        wait_on_halt: cli.wait_on_halt,
    })
}

fn tui_options(cli: &Cli) -> switchboard::tui::TuiOptions {
    switchboard::tui::TuiOptions {
        keymap_path: cli.keymap.clone(),
        ..Default::default()
    }
}

fn needs_terminal(what: &str) -> bool {
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return false;
    }
    eprintln!(
        "{what}: the control room needs a terminal; for scripts use --batch-group GROUP, --task TASK or --all"
    );
    true
}

/// `switchboard` with no mode: the full-screen control room.
fn control_room(cli: &Cli) -> ExitCode {
    if needs_terminal("switchboard") {
        return ExitCode::from(2);
    }
    let (options, _guard) = match prepare(cli) {
        Ok(p) => p,
        Err(code) => return code,
    };
    runtime(|| async {
        let again = switchboard::front::reopen_command(&cli.plan, cli.tmux_socket.as_deref());
        match switchboard::front::run(options, tui_options(cli)).await {
            Ok(closing) => switchboard::front::farewell(&closing, &again),
            Err(e) => {
                eprintln!("switchboard: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}

/// `switchboard demo`: scratch repo, example plan, everything selected.
fn demo(cli: &Cli) -> ExitCode {
    if needs_terminal("switchboard demo") {
        return ExitCode::from(2);
    }
    let demo = match switchboard::demo::create() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("switchboard demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let valid = match plan::load(&demo.repo.join("dispatcher.yaml")) {
        Ok((v, _)) => v,
        Err(diags) => {
            diags.iter().for_each(|d| eprintln!("{d}"));
            return ExitCode::FAILURE;
        }
    };
    let _guard = switchboard::logging::init(&demo.repo);
    let mut options = match engine_options(
        cli,
        valid,
        demo.repo.clone(),
        Some(demo.tmux_socket.clone()),
    ) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("switchboard demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    options.plan_name = "demo: dispatcher.example.yaml".into();
    options.select = (0..options.plan.plan.tasks.len()).collect();
    let mut live_workers = 0;
    let code = runtime(|| async {
        match switchboard::front::run(options, tui_options(cli)).await {
            Ok(closing) => {
                live_workers = closing.live_workers;
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("switchboard demo: {e:#}");
                ExitCode::FAILURE
            }
        }
    });
    switchboard::demo::offer_cleanup(&demo, live_workers);
    code
}

/// Run an async entry point on a small runtime (2 cores: 2 workers).
fn runtime<F, Fut>(f: F) -> ExitCode
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ExitCode>,
{
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(f()),
        Err(e) => {
            eprintln!("switchboard: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Load the plan, printing every diagnostic to stderr; None when it has errors.
fn load_plan(cli: &Cli) -> Option<plan::ValidPlan> {
    match plan::load(&cli.plan) {
        Ok((valid, warnings)) => {
            for w in warnings {
                eprintln!("{w}");
            }
            Some(valid)
        }
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            let errors = diags.iter().filter(|d| d.is_error()).count();
            eprintln!(
                "plan invalid: {errors} error{}",
                if errors == 1 { "" } else { "s" }
            );
            None
        }
    }
}

fn plan_only(cli: &Cli) -> ExitCode {
    let Some(valid) = load_plan(cli) else {
        return ExitCode::from(2);
    };
    if cli.validate_only {
        let (tasks, groups) = (valid.plan.tasks.len(), valid.plan.groups.len());
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        println!(
            "plan OK: {tasks} task{} in {groups} group{}",
            plural(tasks),
            plural(groups)
        );
        return ExitCode::SUCCESS;
    }
    let list = listing::listing(&valid);
    if cli.json {
        match serde_json::to_string(&list) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("switchboard: cannot encode the listing: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", listing::render_text(&list));
    }
    ExitCode::SUCCESS
}

fn clean(cli: &Cli, args: &switchboard::cli::CleanArgs) -> ExitCode {
    // The plan is optional here: clean must work even when it no longer loads.
    let settings = plan::load(&cli.plan)
        .map(|(p, _)| p.plan.settings)
        .unwrap_or_default();
    let tmux_socket = cli.tmux_socket.clone().or(settings.tmux.socket.clone());
    let opts = switchboard::clean::CleanOptions {
        tmux_socket,
        workspace_dir: &settings.workspace_dir,
        integration_branch: &settings.integration_branch,
        worktrees: args.worktrees,
        force: args.force,
        logs: args.logs,
    };
    runtime(|| switchboard::clean::run(opts))
}

/// The repository the current directory is in.
fn repo_root() -> Result<PathBuf, String> {
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    switchboard::git::Repo::discover(&cwd)
        .map(|r| r.root)
        .map_err(|e| e.to_string())
}

/// What every engine mode needs: the plan, the repository, the log file, and
/// the engine's options. Errors are printed; the `Err` is the exit code.
fn prepare(
    cli: &Cli,
) -> Result<
    (
        EngineOptions,
        Option<tracing_appender::non_blocking::WorkerGuard>,
    ),
    ExitCode,
> {
    let valid = load_plan(cli).ok_or(ExitCode::from(2))?;
    let fail = |e: String| {
        eprintln!("switchboard: {e}");
        ExitCode::from(2)
    };
    let root = repo_root().map_err(fail)?;
    let guard = switchboard::logging::init(&root);
    let options = engine_options(cli, valid, root, None).map_err(fail)?;
    Ok((options, guard))
}

/// A recovery command: the running engine's, or one started for it.
fn recover(cli: &Cli, command: Command) -> ExitCode {
    let mut guard = None;
    let code = runtime(|| {
        switchboard::recover::run(command, || {
            let (options, g) = prepare(cli)?;
            guard = g;
            Ok(options)
        })
    });
    drop(guard);
    code
}

fn batch(cli: &Cli) -> ExitCode {
    let (options, _guard) = match prepare(cli) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let sel = headless::Selection {
        group: cli.batch_group.clone(),
        task: cli.task.clone(),
        all: cli.all,
        with_deps: cli.with_deps,
    };
    runtime(|| headless::run(options, &sel, cli.json))
}
