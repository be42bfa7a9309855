//! Entry point: parse the command line, pick a mode, map results to exit codes.

use clap::Parser;
use std::process::ExitCode;
use switchboard::cli::{Cli, Command};
use switchboard::{listing, plan};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::SimAgent(args)) => return switchboard::sim_agent::run(args),
        Some(Command::Report(args)) => return switchboard::worker::report::run(args),
        Some(Command::Worker(args)) => return switchboard::worker::shim::run(args),
        None => {}
    }
    if cli.validate_only || cli.list {
        return plan_only(&cli);
    }
    eprintln!("switchboard: choose a mode: --validate-only, --list (see --help)");
    ExitCode::from(2)
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
        println!(
            "plan OK: {} tasks in {} groups",
            valid.plan.tasks.len(),
            valid.plan.groups.len()
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
