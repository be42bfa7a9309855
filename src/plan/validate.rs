//! Semantic checks of a parsed plan. Every problem is reported, not just the first.

use super::diagnostic::Diagnostic;
use super::graph;
use super::load::Locator;
use super::schema::{Plan, Task};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

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

/// Why an id may not be used as a branch, path component or tmux name.
pub fn id_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() {
        return Some("is empty");
    }
    if id.len() > 64 {
        return Some("is longer than 64 characters");
    }
    if id.starts_with('.') || id.starts_with('-') {
        return Some("starts with '.' or '-'");
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Some("has a character other than letters, digits, '-', '_' and '.'");
    }
    // git refuses these in ref names.
    if id.contains("..") || id.ends_with('.') || id.ends_with(".lock") {
        return Some("is not a valid git branch component ('..', trailing '.' or '.lock')");
    }
    None
}

/// Why a plan-relative path may not be used (it would leave the worktree).
fn path_problem(path: &str) -> Option<&'static str> {
    let p = Path::new(path);
    if path.is_empty() {
        Some("is empty")
    } else if p.is_absolute() {
        Some("is absolute; paths are relative to the worktree")
    } else if p
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        Some("leaves the worktree through '..'")
    } else {
        None
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
    if plan.settings.max_parallel == 0 {
        diags.push(err("settings.maxParallel must be at least 1".into(), None));
    }
    if let Some(why) = id_problem_branch(&plan.settings.integration_branch) {
        diags.push(err(
            format!(
                "settings.integrationBranch '{}' {why}",
                plan.settings.integration_branch
            ),
            None,
        ));
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
                diags.push(err(
                    format!("group cycle in `after`: {}", path.join(" -> ")),
                    group_pos(path[0], 0),
                ));
            }
            (0..plan.groups.len()).collect()
        }
    };

    // Agent profiles: names and fallbacks.
    for (name, profile) in &plan.agents {
        if let Some(why) = id_problem(name) {
            diags.push(err(format!("agent profile name '{name}' {why}"), None));
        }
        if profile.command.trim().is_empty() {
            diags.push(err(
                format!("agent profile '{name}' has an empty command"),
                None,
            ));
        }
        for fb in &profile.fallbacks {
            if !plan.agents.contains_key(fb) {
                diags.push(err(
                    format!("agent profile '{name}' falls back to unknown profile '{fb}'"),
                    None,
                ));
            }
        }
        if let Some(program) = program_of(&profile.command)
            && !program_found(program)
        {
            diags.push(Diagnostic::warning(
                file,
                format!("agent profile '{name}': program '{program}' is not on PATH"),
            ));
        }
    }

    // Tasks: ids, duplicates, references.
    let mut task_index: HashMap<String, usize> = HashMap::new();
    let mut task_seen: HashMap<&str, usize> = HashMap::new();
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
        }
        *n += 1;
        if !group_index.contains_key(t.group.as_str()) {
            diags.push(err(
                format!("task {}: unknown group '{}'", t.task_id, t.group),
                pos,
            ));
        }
        if !plan.agents.contains_key(&t.agent.kind) {
            diags.push(err(
                format!(
                    "task {}: unknown agent profile '{}' (not under `agents:`)",
                    t.task_id, t.agent.kind
                ),
                pos,
            ));
        }
        for o in &t.outputs {
            if let Some(why) = path_problem(&o.path) {
                diags.push(err(
                    format!("task {}: output path '{}' {why}", t.task_id, o.path),
                    pos,
                ));
            }
        }
        for input in &t.inputs {
            if let Some(why) = path_problem(&input.path) {
                diags.push(err(
                    format!("task {}: input path '{}' {why}", t.task_id, input.path),
                    pos,
                ));
            }
        }
    }
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
                    format!("task {}: unknown dependency '{d}'", t.task_id),
                    task_pos(&t.task_id, 0),
                )),
            }
        }
    }
    let task_order = match graph::topo_order(&deps) {
        Ok(order) => order,
        Err(cycles) => {
            for c in cycles {
                let path: Vec<&str> = c.iter().map(|&i| plan.tasks[i].task_id.as_str()).collect();
                diags.push(err(
                    format!("dependency cycle: {}", path.join(" -> ")),
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

/// Branch names may hold '/', unlike ids; each component must still be safe.
fn id_problem_branch(branch: &str) -> Option<&'static str> {
    if branch.is_empty() {
        return Some("is empty");
    }
    branch.split('/').find_map(id_problem)
}

/// The program an `sh -c` command line would run, skipping `VAR=value`
/// assignments and `exec`/`env` prefixes. None when it cannot be told simply.
pub fn program_of(command: &str) -> Option<&str> {
    command
        .split_whitespace()
        .map(|w| w.trim_matches(|c| c == '"' || c == '\''))
        .find(|w| !(w.contains('=') || *w == "exec" || *w == "env"))
        .filter(|w| !w.is_empty() && !w.contains(['$', '`', '(', ';', '|', '&']))
}

/// Whether `program` can be run: switchboard itself is always found (the
/// engine puts its own directory on workers' PATH).
fn program_found(program: &str) -> bool {
    if program == "switchboard" {
        return true;
    }
    if program.contains('/') {
        return Path::new(program).is_absolute() && is_executable(Path::new(program))
            || !Path::new(program).is_absolute();
    }
    let builtins = [
        "cd", "echo", "true", "false", "exit", "test", "[", "sleep", "printf", ":", ".",
    ];
    if builtins.contains(&program) {
        return true;
    }
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| is_executable(&dir.join(program))))
        .unwrap_or(false)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(id_problem("T1"), None);
        assert_eq!(id_problem("a.b-c_d"), None);
        assert!(id_problem("").is_some());
        assert!(id_problem(".x").is_some());
        assert!(id_problem("-x").is_some());
        assert!(id_problem("a/b").is_some());
        assert!(id_problem("a b").is_some());
        assert!(id_problem("$(rm -rf ~)").is_some());
        assert!(id_problem("a..b").is_some());
        assert!(id_problem(&"x".repeat(65)).is_some());
    }

    #[test]
    fn programs() {
        assert_eq!(program_of("claude --print"), Some("claude"));
        assert_eq!(program_of("FOO=1 exec aider --yes"), Some("aider"));
        assert_eq!(program_of("$HOME/bin/x"), None);
        assert!(program_found("sh"));
        assert!(!program_found("definitely-not-a-program-xyz"));
    }
}
