//! Fuzz properties of plan checking, as `--validate-only` and every run do it
//! ([`super::check`]: parse, recover past typos, validate): whatever the
//! bytes, it answers with a plan or diagnostics, never a panic or a hang.
//! Besides raw and mutated bytes, a generator writes plans that parse, with
//! hostile values everywhere, so the semantic checks run on them too; a plan
//! that passes is then listed and rendered as an instruction.

use super::schema::*;
use super::screen::Pattern;
use crate::fuzz::{config, hostile_text, mutated, within};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Check the bytes, then use a plan that passed as a run would.
fn check_and_use(bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let checked = within(move || super::check("fuzz.yaml", &bytes));
    let diags = match checked {
        Ok((valid, warnings)) => {
            valid_plan_holds(&valid)?;
            within(move || use_plan(&valid));
            warnings
        }
        Err(diags) => {
            prop_assert!(diags.iter().any(|d| d.is_error()), "Err without an error");
            diags
        }
    };
    for d in diags {
        let shown = d.to_string();
        prop_assert!(!shown.chars().any(char::is_control), "{shown:?}");
    }
    Ok(())
}

/// What the engine takes for granted of a plan that passed.
fn valid_plan_holds(valid: &super::ValidPlan) -> Result<(), TestCaseError> {
    let n = valid.plan.tasks.len();
    prop_assert!(n > 0);
    let mut order = valid.task_order.clone();
    order.sort_unstable();
    prop_assert_eq!(order, (0..n).collect::<Vec<_>>());
    let position = |t: usize| valid.task_order.iter().position(|&o| o == t);
    for (t, task) in valid.plan.tasks.iter().enumerate() {
        prop_assert_eq!(super::checks::id_problem(&task.task_id), None);
        prop_assert!(valid.group_of[t] < valid.plan.groups.len());
        for &d in &valid.deps[t] {
            prop_assert!(position(d) < position(t), "a dependency runs first");
        }
    }
    Ok(())
}

fn use_plan(valid: &super::ValidPlan) {
    let listing = crate::listing::listing(valid);
    let _ = crate::listing::render_text(&listing);
    for task in &valid.plan.tasks {
        let md = crate::instruction::render(task, &[], true);
        // The sim agent reads its outputs back from the instruction.
        let paths: Vec<&str> = task.outputs.iter().map(|o| o.path.as_str()).collect();
        assert_eq!(crate::instruction::parse_outputs(&md), paths);
    }
    let _ = crate::engine::history::snapshot(valid, "fuzz.yaml", &[], 0);
}

/// Plans worth mutating: the example, and one with many problems at once.
const SEEDS: [&[u8]; 4] = [
    include_bytes!("../../dispatcher.example.yaml"),
    include_bytes!("../../tests/fixtures/plans/invalid/many_problems.yaml"),
    include_bytes!("../../tests/fixtures/plans/invalid/several_typos.yaml"),
    include_bytes!("../../tests/fixtures/plans/valid/anchors_and_unicode.yaml"),
];

fn mutated_seed() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        mutated(SEEDS[0]),
        mutated(SEEDS[1]),
        mutated(SEEDS[2]),
        mutated(SEEDS[3]),
    ]
}

/// A number: small, on a boundary, or anything.
fn number() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => 0u64..5_000,
        1 => Just(u64::MAX),
        1 => (u64::MAX / 2)..u64::MAX,
        1 => (super::checks::MAX_MS - 2)..(super::checks::MAX_MS + 2),
        1 => any::<u64>(),
    ]
}

/// A name from `pool` (so references resolve and ids repeat), or any text.
fn name_in(pool: Vec<String>) -> impl Strategy<Value = String> {
    prop_oneof![3 => prop::sample::select(pool), 1 => hostile_text()]
}

fn names_in(pool: Vec<String>, most: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(name_in(pool), 0..most)
}

/// Minutes for a timeout: plausible, absurd, or not a number at all.
fn minutes() -> impl Strategy<Value = Option<f64>> {
    prop::option::of(prop_oneof![
        2 => 0.01f64..600.0,
        1 => any::<f64>(),
        1 => prop::sample::select(vec![0.0, -1.0, 1e300, f64::INFINITY, f64::NAN, 525_600.0]),
    ])
}

fn settings() -> BoxedStrategy<Settings> {
    let heartbeat = (
        number(),
        prop::option::of(number()),
        prop::option::of(number()),
        prop::option::of(number()),
    )
        .prop_map(|(interval_ms, late, missing, dead)| HeartbeatSettings {
            interval_ms,
            late_after_ms: late,
            missing_after_ms: missing,
            dead_after_ms: dead,
        });
    let restart = (any::<u32>(), number(), number(), any::<u32>()).prop_map(
        |(max, backoff, max_backoff, nudges)| RestartSettings {
            max_restarts: max % 8,
            backoff_ms: backoff,
            max_backoff_ms: max_backoff,
            max_nudges: nudges % 8,
        },
    );
    (
        prop_oneof![0usize..100, Just(usize::MAX)],
        prop_oneof!["[a-z]{1,8}(/[a-z]{1,8})?", hostile_text()],
        prop_oneof![Just(".switchboard/workspaces".to_string()), hostile_text()],
        heartbeat,
        number(),
        restart,
        any::<u32>(),
        number(),
        prop::option::of(hostile_text()),
        any::<bool>(),
        minutes(),
        prop::collection::vec(host(), 0..3),
    )
        .prop_map(
            |(
                max_parallel,
                branch,
                dir,
                heartbeat,
                stall,
                restart,
                fallbacks,
                grace,
                socket,
                rm,
                timeout_minutes,
                hosts,
            )| {
                Settings {
                    max_parallel,
                    integration_branch: branch,
                    workspace_dir: dir,
                    heartbeat,
                    stall_after_ms: stall,
                    restart,
                    max_fallbacks: fallbacks,
                    halt: HaltSettings { grace_ms: grace },
                    tmux: TmuxSettings { socket },
                    remove_merged_worktrees: rm,
                    timeout_minutes,
                    hosts,
                    ..Settings::default()
                }
            },
        )
        .boxed()
}

/// A host entry: ssh lines as written (options, quotes, shell syntax) or
/// hostile, names that may collide or be `local`.
fn host() -> BoxedStrategy<Host> {
    let ssh = prop_oneof![
        2 => prop::sample::select(vec![
            "big1", "dev@big1", "-p 2222 dev@big1", "-F ~/.ssh/c big1", "-fN big1",
            "'big1", "-p", "big1 rm -rf /", "-o ControlPath=x -- big1", "ssh://u@[::1]:22",
        ])
        .prop_map(str::to_string),
        1 => hostile_text(),
    ];
    let name = prop_oneof![
        2 => prop::sample::select(vec!["big1", "big2", "local", "a.b"]).prop_map(str::to_string),
        1 => hostile_text(),
    ];
    (
        name,
        ssh,
        prop::option::of(prop_oneof![0usize..20, Just(usize::MAX)]),
        prop::collection::vec(hostile_text(), 0..2),
        prop::option::of(hostile_text()),
    )
        .prop_map(|(name, ssh, max_parallel, labels, workdir)| Host {
            name,
            ssh,
            max_parallel,
            labels,
            workdir,
        })
        .boxed()
}

fn agent(profiles: Vec<String>) -> BoxedStrategy<AgentProfile> {
    let command = prop_oneof![
        Just("true".to_string()),
        Just("for i in 1 2; do sleep 1; done".to_string()),
        hostile_text(),
    ];
    let rule = (hostile_text(), prop::option::of(hostile_text()))
        .prop_map(|(pattern, send)| PromptRule { pattern, send });
    let texts = || prop::collection::vec(hostile_text(), 0..3);
    let word = |known: Vec<&'static str>| {
        prop::option::of(prop_oneof![
            3 => prop::sample::select(known).prop_map(str::to_string),
            1 => hostile_text(),
        ])
    };
    let preset = (
        word(vec!["claude", "codex", "gemini", "opencode", "aider"]),
        word(vec!["interactive", "headless"]),
        prop::option::of(hostile_text()),
        prop::collection::vec(
            prop_oneof![3 => Just("trust".to_string()), 1 => hostile_text()],
            0..2,
        ),
    );
    (
        command,
        prop::collection::btree_map(hostile_text(), hostile_text(), 0..3),
        names_in(profiles, 3),
        prop::collection::vec(rule, 0..3),
        minutes(),
        (texts(), texts()),
        preset,
    )
        .prop_map(
            |(
                command,
                env,
                fallbacks,
                prompt_rules,
                timeout_minutes,
                (busy, idle),
                (preset, mode, model, preaccept),
            )| AgentProfile {
                command,
                preset,
                mode,
                model,
                env,
                fallbacks,
                prompt_rules,
                timeout_minutes,
                screen: ScreenRules {
                    busy: busy.into_iter().map(Pattern::text).collect(),
                    idle: idle.into_iter().map(Pattern::text).collect(),
                    ..ScreenRules::default()
                },
                type_prompt: None,
                submit: None,
                hooks: None,
                preaccept,
                max_parallel: None,
                capabilities: Vec::new(),
                budget: None,
            },
        )
        .boxed()
}

fn group(groups: Vec<String>) -> BoxedStrategy<Group> {
    (name_in(groups.clone()), hostile_text(), names_in(groups, 3))
        .prop_map(|(id, title, after)| Group {
            id,
            title,
            after,
            integration_check: None,
            pool: None,
        })
        .boxed()
}

fn validation() -> BoxedStrategy<Validation> {
    let description = || prop::option::of(hostile_text());
    prop_oneof![
        description().prop_map(|description| Validation::FileExists { description }),
        (hostile_text(), description())
            .prop_map(|(run, description)| Validation::Command { run, description }),
        description().prop_map(|description| Validation::Commit { description }),
    ]
    .boxed()
}

/// Names the tasks of one plan draw from.
#[derive(Debug, Clone)]
struct Pools {
    tasks: Vec<String>,
    groups: Vec<String>,
    profiles: Vec<String>,
}

fn task(pools: Pools) -> BoxedStrategy<Task> {
    let input = (
        hostile_text(),
        prop::option::of(hostile_text()),
        prop::option::of(hostile_text()),
    )
        .prop_map(|(path, section, description)| Input {
            path,
            section,
            description,
        });
    let output = (hostile_text(), prop::option::of(hostile_text()))
        .prop_map(|(path, description)| Output { path, description });
    let priority = prop::sample::select(vec![
        Priority::Critical,
        Priority::High,
        Priority::Medium,
        Priority::Low,
    ]);
    (
        (
            name_in(pools.tasks.clone()),
            hostile_text(),
            name_in(pools.groups),
            priority,
            prop::option::of(any::<f64>()),
            name_in(pools.profiles),
        ),
        (
            hostile_text(),
            prop::collection::vec(input, 0..3),
            prop::collection::vec(output, 0..3),
            prop::collection::vec(validation(), 0..3),
            names_in(pools.tasks, 4),
            minutes(),
            prop::option::of(prop_oneof![Just("true".to_string()), hostile_text()]),
        ),
    )
        .prop_map(
            |(
                (task_id, title, group, priority, effort_hours, kind),
                (instruction, inputs, outputs, validation, dependencies, timeout_minutes, command),
            )| Task {
                task_id,
                title,
                group,
                priority,
                effort_hours,
                agent: TaskAgent { kind },
                needs: Vec::new(),
                instruction,
                inputs,
                outputs,
                validation,
                dependencies,
                timeout_minutes,
                command,
            },
        )
        .boxed()
}

/// A pool of names: mostly like real ids, some hostile.
fn pool(most: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop_oneof![3 => "[A-Z][A-Za-z0-9_-]{0,6}", 1 => hostile_text()],
        1..most,
    )
}

/// A plan that serde accepts, with hostile values in every field.
fn hostile_plan() -> impl Strategy<Value = Plan> {
    (pool(10), pool(4), pool(4)).prop_flat_map(|(tasks, groups, profiles)| {
        let pools = Pools {
            tasks,
            groups: groups.clone(),
            profiles: profiles.clone(),
        };
        let agents =
            prop::collection::vec((name_in(profiles.clone()), agent(profiles.clone())), 0..4)
                .prop_map(BTreeMap::from_iter);
        (
            prop_oneof![4 => Just(1u32), 1 => any::<u32>()],
            settings(),
            agents,
            prop::collection::vec(group(groups), 0..5),
            prop::collection::vec(task(pools), 0..10),
        )
            .prop_map(|(version, settings, agents, groups, tasks)| Plan {
                version,
                settings,
                agents,
                groups,
                tasks,
            })
    })
}

/// `plan` with sound ids, references, paths and settings, and its free
/// text (titles without control characters, instructions, descriptions,
/// commands, prompt rules, env) as hostile as it came: a plan that passes,
/// so what runs on a valid plan gets hostile text too.
fn tamed(mut plan: Plan) -> Plan {
    let blank_to = |text: &mut String, default: &str| {
        if text.trim().is_empty() {
            *text = default.to_string();
        }
    };
    plan.version = 1;
    plan.settings = Settings::default();
    let sound_minutes = |m: Option<f64>| m.filter(|&m| super::checks::timeout_problem(m).is_none());
    let mut profile = plan.agents.into_values().next().unwrap_or(AgentProfile {
        command: String::new(),
        preset: None,
        mode: None,
        model: None,
        env: BTreeMap::new(),
        fallbacks: Vec::new(),
        prompt_rules: Vec::new(),
        timeout_minutes: None,
        screen: ScreenRules::default(),
        type_prompt: None,
        submit: None,
        hooks: None,
        preaccept: Vec::new(),
        max_parallel: None,
        capabilities: Vec::new(),
        budget: None,
    });
    blank_to(&mut profile.command, "true");
    // A preset stays only as the agent it names, in a mode it has.
    let presets = ["claude", "codex", "gemini", "opencode", "aider"];
    profile.preset = profile.preset.filter(|p| presets.contains(&p.as_str()));
    profile.mode = profile
        .mode
        .filter(|m| profile.preset.is_some() && ["interactive", "headless"].contains(&m.as_str()));
    // Only claude's trust can be pre-accepted.
    profile.preaccept.retain(|p| p == "trust");
    if profile.preset.as_deref() != Some("claude") {
        profile.preaccept.clear();
    }
    profile.fallbacks.clear();
    profile.timeout_minutes = sound_minutes(profile.timeout_minutes);
    plan.agents = BTreeMap::from([("a".to_string(), profile)]);
    plan.groups = (0..2)
        .map(|g| Group {
            id: format!("G{g}"),
            title: plan
                .groups
                .get(g)
                .map_or(String::new(), |g| g.title.replace(char::is_control, "")),
            after: if g == 0 {
                Vec::new()
            } else {
                vec!["G0".into()]
            },
            integration_check: None,
            pool: None,
        })
        .collect();
    let group_of = |i: usize| i % 2;
    for (i, t) in plan.tasks.iter_mut().enumerate() {
        t.task_id = format!("T{i}");
        t.group = format!("G{}", group_of(i));
        t.agent.kind = "a".into();
        t.title = t.title.replace(char::is_control, "");
        blank_to(&mut t.title, "t");
        t.effort_hours = t.effort_hours.filter(|h| h.is_finite() && *h >= 0.0);
        t.timeout_minutes = sound_minutes(t.timeout_minutes);
        if let Some(command) = &mut t.command {
            blank_to(command, "true");
        }
        // Earlier tasks of the same or an earlier group, picked by the names drawn.
        let earlier: Vec<usize> = (0..i).filter(|&j| group_of(j) <= group_of(i)).collect();
        t.dependencies = t
            .dependencies
            .iter()
            .filter(|_| !earlier.is_empty())
            .map(|d| format!("T{}", earlier[d.len() % earlier.len()]))
            .collect();
        let paths = t.inputs.iter_mut().map(|x| &mut x.path);
        for (k, path) in paths
            .chain(t.outputs.iter_mut().map(|o| &mut o.path))
            .enumerate()
        {
            if super::checks::path_problem(path).is_some() {
                *path = format!("p{i}-{k}.txt");
            }
        }
        for v in &mut t.validation {
            if let Validation::Command { run, .. } = v {
                blank_to(run, "true");
            }
        }
    }
    plan
}

/// Settings the validator accepts, at their edges: a parallelism of one or
/// of usize::MAX, heartbeats from a millisecond to a year apart, no backoff
/// or a year of it, timeouts of seconds or of 1e300 minutes.
fn sound_settings() -> BoxedStrategy<Settings> {
    use super::checks::{MAX_MS, settings_problems};
    let ms = || prop_oneof![3 => 1u64..5_000, 1 => Just(MAX_MS), 1 => 1u64..=MAX_MS];
    (
        prop_oneof![1usize..8, Just(usize::MAX)],
        prop::option::of(prop::array::uniform4(ms())),
        ms(),
        (0u32..4, ms(), ms(), 0u32..3),
        0u32..3,
        prop_oneof![Just(0u64), ms()],
        prop::option::of(prop_oneof![0.001f64..10.0, Just(525_600.0), Just(1e300)]),
        any::<bool>(),
    )
        .prop_map(
            |(
                max_parallel,
                beats,
                stall,
                (restarts, a, b, nudges),
                fallbacks,
                grace,
                timeout,
                rm,
            )| {
                let mut s = Settings {
                    max_parallel,
                    stall_after_ms: stall,
                    max_fallbacks: fallbacks,
                    remove_merged_worktrees: rm,
                    timeout_minutes: timeout,
                    ..Settings::default()
                };
                if let Some(mut beats) = beats {
                    beats.sort_unstable();
                    s.heartbeat = HeartbeatSettings {
                        interval_ms: beats[0],
                        late_after_ms: Some(beats[1]),
                        missing_after_ms: Some(beats[2]),
                        dead_after_ms: Some(beats[3]),
                    };
                }
                s.restart = RestartSettings {
                    max_restarts: restarts,
                    backoff_ms: a.min(b),
                    max_backoff_ms: a.max(b),
                    max_nudges: nudges,
                };
                s.halt.grace_ms = grace;
                // Heartbeats drawn equal (interval = late) are refused, and
                // timeouts over a year: the defaults then.
                if !settings_problems(&s).is_empty() {
                    s.heartbeat = HeartbeatSettings::default();
                }
                if !settings_problems(&s).is_empty() {
                    s.timeout_minutes = None;
                }
                s
            },
        )
        .boxed()
}

/// A plan that passes: hostile free text, sound ids and references, and
/// settings at their edges (for the engine's properties).
pub(crate) fn sound_plan() -> BoxedStrategy<Plan> {
    (hostile_plan(), sound_settings())
        .prop_map(|(plan, settings)| Plan {
            settings,
            ..tamed(plan)
        })
        .boxed()
}

/// Misspellings the recovering parser should step over, and one it cannot.
const TYPOS: [(&str, &str); 5] = [
    ("title:", "titel:"),
    ("dependencies:", "dependecies:"),
    ("maxParallel:", "maxParalel:"),
    ("command:", "comand:"),
    ("path:", "colour:"),
];

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn fuzz_plan_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        check_and_use(bytes)?;
    }

    #[test]
    fn fuzz_plan_mutated(bytes in mutated_seed()) {
        check_and_use(bytes)?;
    }
}

// Fewer cases: each plan holds dozens of values, some of them huge.
proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn fuzz_plan_hostile_text_in_a_sound_plan(plan in hostile_plan().prop_map(tamed)) {
        let Ok(yaml) = serde_norway::to_string(&plan) else {
            return Ok(());
        };
        check_and_use(yaml.into_bytes())?;
    }

    #[test]
    fn fuzz_plan_hostile_values(
        plan in hostile_plan(),
        typo in prop::option::of((0..TYPOS.len(), any::<prop::sample::Index>())),
    ) {
        let Ok(mut yaml) = serde_norway::to_string(&plan) else {
            return Ok(());
        };
        if let Some((k, at)) = typo {
            let (from, to) = TYPOS[k];
            let found: Vec<usize> = yaml.match_indices(from).map(|(i, _)| i).collect();
            if !found.is_empty() {
                let i = found[at.index(found.len())];
                yaml.replace_range(i..i + from.len(), to);
            }
        }
        check_and_use(yaml.into_bytes())?;
    }
}

/// Inputs the properties above once failed on, kept as plain tests.
mod regressions {
    fn errors(yaml: &str) -> Vec<String> {
        let diags = super::super::check("r.yaml", yaml.as_bytes()).expect_err("invalid");
        diags.iter().map(|d| d.message.clone()).collect()
    }

    const TASKS: &str = "agents: { a: { command: \"true\" } }\ngroups: [{ id: G }]\ntasks: [{ taskId: T, title: t, group: G, agent: { type: a } }]\n";

    /// `2 * intervalMs` (the default lateAfterMs) overflowed.
    #[test]
    fn a_huge_heartbeat_interval_is_refused() {
        let yaml =
            format!("settings: {{ heartbeat: {{ intervalMs: 18446744073709551615 }} }}\n{TASKS}");
        assert_eq!(
            errors(&yaml),
            [
                "settings.heartbeat.intervalMs (18446744073709551615 ms) is longer than a year (31536000000 ms)"
            ]
        );
    }

    /// The "did you mean" search compared every pair of names in full:
    /// two long unknown names took seconds (minutes in a debug build).
    #[test]
    fn a_huge_unknown_name_is_not_searched_for_a_fix() {
        let group = "g".repeat(100_000);
        let yaml = format!(
            "agents: {{ a: {{ command: \"true\" }} }}\ngroups: [{{ id: {group} }}]\n\
             tasks: [{{ taskId: T, title: t, group: {group}h, agent: {{ type: a }} }}]\n"
        );
        let errors = crate::fuzz::within(move || errors(&yaml));
        assert_eq!(errors.len(), 2, "the id too long, the group unknown");
        assert!(errors[1].ends_with("h'"), "no suggestion");
    }
}
