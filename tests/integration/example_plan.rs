//! `dispatcher.example.yaml`, the seed's 22-task plan, as the issue tabulates it.

use crate::common::{repo_root, switchboard, text};
use serde_json::Value;

const GROUP_D: &[&str] = &["T13", "T14", "T15", "T17", "T18", "T19"];
const GROUP_B: &[&str] = &["T4", "T5", "T6", "T7", "T8"];

/// (group, task, agent, effort hours, dependencies), in listing order.
fn table() -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    f64,
    Vec<&'static str>,
)> {
    let b = "backend-engineer";
    let f = "frontend-engineer";
    let mut rows = vec![
        ("GROUP_A", "T1", "database-engineer", 4.0, vec![]),
        ("GROUP_A", "T2", b, 3.0, vec![]),
        ("GROUP_A", "T3", b, 3.0, vec![]),
        ("GROUP_A", "T16", f, 4.0, vec![]),
    ];
    for (id, hours) in [
        ("T4", 4.0),
        ("T5", 4.0),
        ("T6", 3.0),
        ("T7", 4.0),
        ("T8", 2.0),
    ] {
        rows.push(("GROUP_B", id, b, hours, vec!["T1", "T2"]));
    }
    for (id, hours) in [("T9", 4.0), ("T10", 4.0), ("T11", 3.0), ("T12", 3.0)] {
        rows.push(("GROUP_C", id, b, hours, GROUP_B.to_vec()));
    }
    rows.extend([
        ("GROUP_D", "T13", b, 4.0, vec!["T9", "T10"]),
        ("GROUP_D", "T14", b, 4.0, vec!["T9"]),
        ("GROUP_D", "T15", b, 4.0, vec!["T10", "T11"]),
        ("GROUP_D", "T17", f, 4.0, vec!["T15", "T16"]),
        ("GROUP_D", "T18", f, 4.0, vec!["T14", "T15"]),
        ("GROUP_D", "T19", f, 4.0, vec!["T13", "T17", "T18"]),
        ("GROUP_E", "T20", b, 2.0, vec!["T8", "T9"]),
        ("GROUP_E", "T21", "qa-engineer", 6.0, GROUP_D.to_vec()),
        (
            "GROUP_E",
            "T22",
            "performance-engineer",
            4.0,
            GROUP_D.to_vec(),
        ),
    ]);
    rows
}

#[test]
fn validates_with_the_exact_summary() {
    switchboard()
        .current_dir(repo_root())
        .args(["--validate-only", "--plan", "dispatcher.example.yaml"])
        .assert()
        .code(0)
        .stdout("plan OK: 22 tasks in 5 groups\n")
        .stderr("");
}

#[test]
fn json_listing_matches_the_issue_table() {
    let out = switchboard()
        .current_dir(repo_root())
        .args(["--list", "--json", "--plan", "dispatcher.example.yaml"])
        .output()
        .expect("run switchboard");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listing: Value = serde_json::from_slice(&out.stdout).expect("--list --json is JSON");
    let groups = listing["groups"].as_array().expect("groups");
    let group_ids: Vec<&str> = groups.iter().filter_map(|g| g["id"].as_str()).collect();
    assert_eq!(
        group_ids,
        ["GROUP_A", "GROUP_B", "GROUP_C", "GROUP_D", "GROUP_E"]
    );

    let mut rows = Vec::new();
    for g in groups {
        for t in g["tasks"].as_array().expect("tasks") {
            let deps: Vec<&str> = t["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            rows.push((
                g["id"].as_str().expect("group id"),
                t["id"].as_str().expect("task id"),
                t["agent"].as_str().expect("agent"),
                t["effortHours"].as_f64().expect("effortHours"),
                deps,
            ));
        }
    }
    assert_eq!(rows.len(), 22);
    assert_eq!(rows, table());
}

#[test]
fn text_listing() {
    let out = switchboard()
        .current_dir(repo_root())
        .args(["--list", "--plan", "dispatcher.example.yaml"])
        .output()
        .expect("run switchboard");
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!(text(&out.stdout));
}
