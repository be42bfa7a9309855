//! Semantic checks of a parsed plan. Every problem is reported, not just the first.

use super::checks::{did_you_mean, path_problem, program_found, settings_problems};
use super::diagnostic::Diagnostic;
use super::graph;
use super::load::Locator;
use super::schema::{Plan, Task, Validation};
use std::collections::{BTreeMap, BTreeSet, HashMap};

// Kept here too: callers named them `validate::…` before they moved.
pub use super::checks::{id_problem, program_of};

/// A plan that passed every check, with its graphs resolved to indices.
#[derive(Debug, Clone)]
pub struct ValidPlan {
    pub plan: Plan,
    /// Task indices in dependency order (file order where free).
    pub task_order: Vec<usize>,
    /// Group indices in `after` order.
    pub group_order: Vec<usize>,
    /// `deps[i]`: indices of the tasks task `i` depends on.
    pub deps: Vec<Vec<usize>>,
    /// `group_of[i]`: index of task `i`'s group.
    pub group_of: Vec<usize>,
    /// `group_after[g]`: indices of the groups group `g` waits for.
    pub group_after: Vec<Vec<usize>>,
    task_index: HashMap<String, usize>,
}

impl ValidPlan {
    pub fn task(&self, id: &str) -> Option<&Task> {
        self.task_index.get(id).map(|&i| &self.plan.tasks[i])
    }
    pub fn task_idx(&self, id: &str) -> Option<usize> {
        self.task_index.get(id).copied()
    }
    pub fn group_idx(&self, id: &str) -> Option<usize> {
        self.plan.groups.iter().position(|g| g.id == id)
    }
    /// Tasks of group `g`, in dependency order.
    pub fn tasks_in_group(&self, g: usize) -> impl Iterator<Item = usize> + '_ {
        self.task_order
            .iter()
            .copied()
            .filter(move |&t| self.group_of[t] == g)
    }
}

/// Check `plan` (parsed from `file`, whose text is `text`). Ok carries the
/// warnings; Err carries errors and warnings, errors first.
pub fn validate(
    file: &str,
    text: &str,
    plan: Plan,
) -> Result<(ValidPlan, Vec<Diagnostic>), Vec<Diagnostic>> {
    let loc = Locator::new(text);
    let mut diags = Vec::new();
    let task_pos = |id: &str, n: usize| loc.find("taskId", id, n);
    let group_pos = |id: &str, n: usize| loc.find("id", id, n);
    let err = |msg: String, pos: Option<(usize, usize)>| Diagnostic::error(file, msg).at_opt(pos);

    if plan.version != 1 {
        diags.push(err(
            format!(
                "unsupported plan version {} (this switchboard reads version 1)",
                plan.version
            ),
            loc.find("version", &plan.version.to_string(), 0),
        ));
    }
    if plan.tasks.is_empty() {
        diags.push(err("the plan has no tasks".into(), None));
    }
    for p in settings_problems(&plan.settings) {
        diags.push(err(p.message, loc.find(p.key, &p.value, 0)));
    }

    // Groups: ids, duplicates, `after` references and cycles.
    let mut group_index: HashMap<&str, usize> = HashMap::new();
    let mut group_seen: HashMap<&str, usize> = HashMap::new();
    for (i, g) in plan.groups.iter().enumerate() {
        let n = group_seen.entry(&g.id).or_insert(0);
        if let Some(why) = id_problem(&g.id) {
            diags.push(err(
                format!("group id '{}' {why}", g.id),
                group_pos(&g.id, *n),
            ));
        }
        if *n > 0 {
            diags.push(err(
                format!("duplicate group id '{}'", g.id),
                group_pos(&g.id, *n),
            ));
        } else {
            group_index.insert(&g.id, i);
        }
        if has_control(&g.title) {
            diags.push(err(
                format!("group {}: the title holds control characters", g.id),
                group_pos(&g.id, *n),
            ));
        }
        *n += 1;
    }
    let mut group_after = vec![Vec::new(); plan.groups.len()];
    for (i, g) in plan.groups.iter().enumerate() {
        for a in &g.after {
            match group_index.get(a.as_str()) {
                Some(&j) => group_after[i].push(j),
                None => diags.push(err(
                    format!("group '{}' is after unknown group '{a}'", g.id),
                    group_pos(&g.id, 0),
                )),
            }
        }
    }
    let group_order = match graph::topo_order(&group_after) {
        Ok(order) => order,
        Err(cycles) => {
            for c in cycles {
                let path: Vec<&str> = c.iter().map(|&i| plan.groups[i].id.as_str()).collect();
                let what = match path.as_slice() {
                    [one, _] => format!("group {one} is after itself"),
                    _ => "group cycle in `after`".into(),
                };
                diags.push(err(
                    format!("{what}: {}", path.join(" -> ")),
                    group_pos(path[0], 0),
                ));
            }
            (0..plan.groups.len()).collect()
        }
    };

    // Agent profiles: names and fallbacks.
    for (name, profile) in &plan.agents {
        let pos = loc.find(name, "", 0);
        if let Some(why) = id_problem(name) {
            diags.push(err(format!("agent profile name '{name}' {why}"), pos));
        }
        if profile.command.trim().is_empty() {
            diags.push(err(
                format!("agent profile '{name}' has an empty command"),
                pos,
            ));
        }
        for fb in &profile.fallbacks {
            if fb == name {
                diags.push(err(
                    format!("agent profile '{name}' falls back to itself"),
                    pos,
                ));
            } else if !plan.agents.contains_key(fb) {
                diags.push(err(
                    format!(
                        "agent profile '{name}' falls back to unknown profile '{fb}'{}",
                        did_you_mean(fb, plan.agents.keys())
                    ),
                    pos,
                ));
            }
        }
        if let Some(program) = program_of(&profile.command)
            && !program_found(program)
        {
            diags.push(
                Diagnostic::warning(
                    file,
                    format!("agent profile '{name}': program '{program}' is not on PATH"),
                )
                .at_opt(pos),
            );
        }
    }

    // Tasks: ids, duplicates, references.
    let mut task_index: HashMap<String, usize> = HashMap::new();
    let mut task_seen: HashMap<&str, usize> = HashMap::new();
    // tmux reads `.` and `:` in targets, so session names map them to `_`:
    // `a.b` and `a_b` would share one session and kill each other's workers.
    let mut session_of: HashMap<String, &str> = HashMap::new();
    for (i, t) in plan.tasks.iter().enumerate() {
        let n = task_seen.entry(&t.task_id).or_insert(0);
        let pos = task_pos(&t.task_id, *n);
        if let Some(why) = id_problem(&t.task_id) {
            diags.push(err(format!("task id '{}' {why}", t.task_id), pos));
        }
        if *n > 0 {
            diags.push(err(format!("duplicate task id '{}'", t.task_id), pos));
        } else {
            task_index.insert(t.task_id.clone(), i);
            let session = crate::tmux::names::sanitize(&t.task_id);
            match session_of.get(session.as_str()) {
                Some(other) => diags.push(err(
                    format!(
                        "task ids '{other}' and '{}' both become the tmux session name '{session}'; rename one",
                        t.task_id
                    ),
                    pos,
                )),
                None => {
                    session_of.insert(session, &t.task_id);
                }
            }
        }
        *n += 1;
        // The key a problem is in, within this task's map; else the task's id.
        let key_pos = |key: &str| pos.and_then(|p| loc.key_in_block(p, key)).or(pos);
        if t.title.trim().is_empty() {
            diags.push(err(
                format!("task {}: the title is empty", t.task_id),
                key_pos("title"),
            ));
        }
        // Titles are drawn on terminals: an escape sequence in one would
        // rewrite the screen (or the window title) of whoever lists the plan.
        if has_control(&t.title) {
            diags.push(err(
                format!("task {}: the title holds control characters", t.task_id),
                key_pos("title"),
            ));
        }
        if !group_index.contains_key(t.group.as_str()) {
            diags.push(err(
                format!(
                    "task {}: unknown group '{}'{}",
                    t.task_id,
                    t.group,
                    did_you_mean(&t.group, group_index.keys())
                ),
                key_pos("group"),
            ));
        }
        if !plan.agents.contains_key(&t.agent.kind) {
            diags.push(err(
                format!(
                    "task {}: unknown agent profile '{}'{}",
                    t.task_id,
                    t.agent.kind,
                    match did_you_mean(&t.agent.kind, plan.agents.keys()) {
                        hint if hint.is_empty() => " (not under `agents:`)".to_string(),
                        hint => hint,
                    }
                ),
                key_pos("agent"),
            ));
        }
        if let Some(h) = t.effort_hours
            && !(h.is_finite() && h >= 0.0)
        {
            diags.push(err(
                format!("task {}: effortHours must be a number >= 0", t.task_id),
                key_pos("effortHours"),
            ));
        }
        let paths = t.outputs.iter().map(|o| ("output", &o.path));
        for (kind, path) in paths.chain(t.inputs.iter().map(|i| ("input", &i.path))) {
            if let Some(why) = path_problem(path) {
                diags.push(err(
                    format!("task {}: {kind} path '{path}' {why}", t.task_id),
                    loc.find("path", path, 0).or(pos),
                ));
            }
        }
        for v in &t.validation {
            if let Validation::Command { run, .. } = v
                && run.trim().is_empty()
            {
                diags.push(err(
                    format!(
                        "task {}: a `command` validation has an empty `run`",
                        t.task_id
                    ),
                    pos,
                ));
            }
        }
    }
    diags.extend(shared_outputs(file, &plan.tasks));
    let mut deps = vec![Vec::new(); plan.tasks.len()];
    for (i, t) in plan.tasks.iter().enumerate() {
        let mut listed = BTreeSet::new();
        for d in &t.dependencies {
            if !listed.insert(d) {
                continue;
            }
            match task_index.get(d) {
                Some(&j) => deps[i].push(j),
                None => diags.push(err(
                    format!(
                        "task {}: unknown dependency '{d}'{}",
                        t.task_id,
                        did_you_mean(d, task_index.keys())
                    ),
                    task_pos(&t.task_id, 0)
                        .and_then(|p| loc.key_in_block(p, "dependencies"))
                        .or(task_pos(&t.task_id, 0)),
                )),
            }
        }
    }
    let task_order = match graph::topo_order(&deps) {
        Ok(order) => order,
        Err(cycles) => {
            for c in cycles {
                let path: Vec<&str> = c.iter().map(|&i| plan.tasks[i].task_id.as_str()).collect();
                // A closed path of two entries is `[a, a]`: say it plainly.
                let what = match path.as_slice() {
                    [one, _] => format!("task {one} depends on itself"),
                    _ => "dependency cycle".into(),
                };
                diags.push(err(
                    format!("{what}: {}", path.join(" -> ")),
                    task_pos(path[0], 0),
                ));
            }
            (0..plan.tasks.len()).collect()
        }
    };

    // A dependency in a group that comes (transitively) after the task's own
    // group can never be met: that group waits for this one to finish.
    let group_of: Vec<usize> = plan
        .tasks
        .iter()
        .map(|t| {
            group_index
                .get(t.group.as_str())
                .copied()
                .unwrap_or(usize::MAX)
        })
        .collect();
    for (i, t) in plan.tasks.iter().enumerate() {
        for &j in &deps[i] {
            let (gi, gj) = (group_of[i], group_of[j]);
            if gi == usize::MAX || gj == usize::MAX || gi == gj {
                continue;
            }
            if graph::reachable(&group_after, gj).contains(&gi) {
                diags.push(err(
                    format!(
                        "task {} (group {}) depends on {} of the later group {}",
                        t.task_id, t.group, plan.tasks[j].task_id, plan.tasks[j].group
                    ),
                    task_pos(&t.task_id, 0),
                ));
            }
        }
    }

    diags.sort_by_key(|d| d.severity);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    let valid = ValidPlan {
        plan,
        task_order,
        group_order,
        deps,
        group_of,
        group_after,
        task_index,
    };
    Ok((valid, diags))
}

/// Two tasks writing the same file will conflict when the second one merges,
/// unless one depends on the other; worth a warning, not a refusal.
fn shared_outputs(file: &str, tasks: &[Task]) -> Vec<Diagnostic> {
    let mut writers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for t in tasks {
        for o in &t.outputs {
            let list = writers.entry(o.path.as_str()).or_default();
            if !list.contains(&t.task_id.as_str()) {
                list.push(&t.task_id);
            }
        }
    }
    writers
        .into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(path, ids)| {
            Diagnostic::warning(
                file,
                format!(
                    "output '{path}' is written by several tasks ({}); their merges may conflict",
                    ids.join(", ")
                ),
            )
        })
        .collect()
}

/// Control characters (escape sequences, bells, newlines) in a one-line text.
fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}
