//! The README documents what the code has: every setting, every sim-agent flag.

use crate::common::repo_root;
use clap::CommandFactory;
use switchboard::plan::Settings;

fn readme() -> String {
    std::fs::read_to_string(repo_root().join("README.md")).expect("README.md")
}

/// Dotted keys of every setting, from the serialized defaults.
fn setting_keys(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
    if let serde_json::Value::Object(map) = value {
        for (key, inner) in map {
            let path = format!("{prefix}{key}");
            match inner {
                serde_json::Value::Object(_) => setting_keys(&format!("{path}."), inner, out),
                _ => out.push(path),
            }
        }
    }
}

#[test]
fn every_setting_is_documented() {
    let readme = readme();
    let mut keys = Vec::new();
    setting_keys(
        "",
        &serde_json::to_value(Settings::default()).expect("JSON"),
        &mut keys,
    );
    assert!(keys.len() >= 15, "{keys:?}");
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| !readme.contains(&format!("| `{k}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "README's settings table lacks {missing:?}"
    );
}

#[test]
fn every_sim_agent_flag_is_documented() {
    let readme = readme();
    let cli = switchboard::cli::Cli::command();
    let sim = cli
        .find_subcommand("sim-agent")
        .expect("sim-agent subcommand");
    let flags: Vec<String> = sim
        .get_arguments()
        .filter(|a| !a.is_global_set())
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    assert!(flags.len() >= 7, "{flags:?}");
    let missing: Vec<&String> = flags
        .iter()
        .filter(|flag| !readme.contains(&format!("| `{flag}")))
        .collect();
    assert!(
        missing.is_empty(),
        "README's sim agent table lacks {missing:?}"
    );
}
