//! Every fixture plan through the real binary: invalid ones exit 2 with their
//! expected messages, valid ones exit 0 with `plan OK`.

use crate::common::{crash_signs, expected_substrings, plans, switchboard, text, yaml_files};
use switchboard::plan::Settings;

/// Each invalid fixture, checked with `--validate-only` and `--list --json`;
/// all failures are collected so one run shows every broken fixture.
#[test]
fn invalid_plans_exit_2_with_their_messages() {
    let dir = plans("invalid");
    let mut failures = Vec::new();
    for name in yaml_files(&dir) {
        let expected = expected_substrings(&dir, &name).unwrap_or_default();
        for mode in [&["--validate-only"][..], &["--list", "--json"][..]] {
            let out = switchboard()
                .current_dir(&dir)
                .args(mode)
                .args(["--plan", &name])
                .output()
                .expect("run switchboard");
            let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
            let what = format!("{name} ({})", mode.join(" "));
            if out.status.code() != Some(2) {
                failures.push(format!("{what}: exit {:?}, want 2", out.status.code()));
            }
            if !stdout.is_empty() {
                failures.push(format!("{what}: printed on stdout: {stdout}"));
            }
            if let Some(sign) = crash_signs(&stderr) {
                failures.push(format!("{what}: stderr shows `{sign}`:\n{stderr}"));
            }
            for want in &expected {
                if !stderr.contains(want.as_str()) {
                    failures.push(format!("{what}: stderr lacks\n  {want}\ngot:\n{stderr}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

#[test]
fn invalid_fixtures_come_in_pairs() {
    let dir = plans("invalid");
    let yamls = yaml_files(&dir);
    assert!(yamls.len() >= 15, "only {} invalid fixtures", yamls.len());
    for name in &yamls {
        let expected = expected_substrings(&dir, name)
            .unwrap_or_else(|| panic!("{name} has no .expected file"));
        assert!(!expected.is_empty(), "{name}.expected is empty");
    }
    for entry in std::fs::read_dir(&dir).expect("list fixtures") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if let Some(stem) = name.strip_suffix(".expected") {
            assert!(
                dir.join(format!("{stem}.yaml")).exists(),
                "{name} has no plan"
            );
        }
    }
}

#[test]
fn valid_plans_pass() {
    let dir = plans("valid");
    let names = yaml_files(&dir);
    assert!(names.len() >= 3);
    for name in names {
        let out = switchboard()
            .current_dir(&dir)
            .args(["--validate-only", "--plan", &name])
            .output()
            .expect("run switchboard");
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{name}: {stderr}");
        assert!(stdout.starts_with("plan OK: "), "{name}: {stdout}");
        assert_eq!(crash_signs(&stderr), None, "{name}: {stderr}");
        // Warnings are allowed only where the fixture expects them.
        match expected_substrings(&dir, &name) {
            Some(expected) => {
                for want in expected {
                    assert!(
                        stderr.contains(&want),
                        "{name}: stderr lacks {want}:\n{stderr}"
                    );
                }
            }
            None => assert_eq!(stderr, "", "{name}: unexpected warnings"),
        }

        let out = switchboard()
            .current_dir(&dir)
            .args(["--list", "--json", "--plan", &name])
            .output()
            .expect("run switchboard");
        assert_eq!(out.status.code(), Some(0), "{name} --list --json");
        let listing: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("--list --json prints JSON");
        assert!(listing["groups"].is_array(), "{name}: {listing}");
    }
}

/// `full.yaml` must keep using every setting and optional field: a setting
/// added to the schema without a fixture value fails here.
#[test]
fn full_fixture_sets_everything() {
    let (valid, warnings) =
        switchboard::plan::load(&plans("valid").join("full.yaml")).expect("full.yaml is valid");
    assert!(warnings.is_empty(), "{warnings:?}");
    let set = serde_json::to_value(&valid.plan.settings).expect("settings to JSON");
    let default = serde_json::to_value(Settings::default()).expect("defaults to JSON");
    let mut same = Vec::new();
    same_leaves("settings", &set, &default, &mut same);
    assert!(
        same.is_empty(),
        "full.yaml leaves these at their defaults: {same:?}"
    );

    let plan = serde_json::to_value(&valid.plan).expect("plan to JSON");
    for pointer in [
        "/version",
        "/agents/builder/env/RUST_LOG",
        "/agents/builder/fallbacks/0",
        "/agents/builder/promptRules/0/match",
        "/agents/builder/promptRules/0/send",
        "/agents/builder/timeoutMinutes",
        "/agents/builder/maxParallel",
        "/agents/builder/capabilities/0",
        "/agents/builder/budget/maxUsd",
        "/agents/builder/screen/busy/0",
        "/agents/builder/screen/idle/0",
        "/tasks/0/timeoutMinutes",
        "/tasks/0/command",
        "/groups/1/title",
        "/groups/1/after/0",
        "/tasks/0/priority",
        "/tasks/0/effortHours",
        "/tasks/0/instruction",
        "/tasks/0/inputs/0/path",
        "/tasks/0/inputs/0/section",
        "/tasks/0/inputs/0/description",
        "/tasks/0/outputs/0/description",
        "/tasks/0/validation/0/description",
        "/tasks/0/validation/1/run",
        "/tasks/0/validation/2/type",
        "/tasks/1/dependencies/0",
    ] {
        let value = plan.pointer(pointer);
        assert!(
            value.is_some_and(|v| !v.is_null()),
            "full.yaml has nothing at {pointer}"
        );
    }
    let kinds: Vec<&str> = plan["tasks"][0]["validation"]
        .as_array()
        .expect("validation list")
        .iter()
        .filter_map(|v| v["type"].as_str())
        .collect();
    assert_eq!(kinds, ["file_exists", "command", "commit"]);
}

/// Paths of leaves where `a` equals `b` (objects walked key by key).
fn same_leaves(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    match (a, b) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (key, value) in a {
                let default = b.get(key).unwrap_or(&serde_json::Value::Null);
                same_leaves(&format!("{path}.{key}"), value, default, out);
            }
        }
        _ if a == b => out.push(path.to_string()),
        _ => {}
    }
}

#[test]
fn groups_are_listed_in_after_order() {
    let out = switchboard()
        .current_dir(plans("valid"))
        .args(["--list", "--json", "--plan", "groups_out_of_order.yaml"])
        .output()
        .expect("run switchboard");
    let listing: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let ids: Vec<&str> = listing["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["id"].as_str())
        .collect();
    assert_eq!(ids, ["FIRST", "MIDDLE", "LAST"]);
}
