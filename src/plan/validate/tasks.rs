//! Tasks: ids safe and unique (also as tmux session names), a title, known
//! group and agent profile, values in range; outputs shared between tasks.

use super::{Pos, Report, has_control};
use crate::plan::checks::{did_you_mean, id_problem, path_problem};
use crate::plan::schema::{Plan, Task, Validation};
use std::collections::{BTreeMap, HashMap};

/// Check every task; the index of the first task with each id.
pub(super) fn check(
    plan: &Plan,
    group_index: &HashMap<&str, usize>,
    report: &mut Report,
) -> HashMap<String, usize> {
    let mut ids = TaskIds::default();
    for (i, t) in plan.tasks.iter().enumerate() {
        let pos = ids.check(i, t, report);
        title(t, pos, report);
        references(t, pos, plan, group_index, report);
        values(t, pos, report);
    }
    ids.index
}

/// The task ids met so far, to report duplicates and session name clashes.
#[derive(Default)]
struct TaskIds<'p> {
    index: HashMap<String, usize>,
    /// How many tasks so far had each id: the `n` of the next one's position.
    seen: HashMap<&'p str, usize>,
    /// tmux reads `.` and `:` in targets, so session names map them to `_`:
    /// `a.b` and `a_b` would share one session and kill each other's workers.
    session_of: HashMap<String, &'p str>,
}

impl<'p> TaskIds<'p> {
    /// Check task `i`'s id; where the task is declared.
    fn check(&mut self, i: usize, t: &'p Task, report: &mut Report) -> Pos {
        let n = self.seen.entry(&t.task_id).or_insert(0);
        let pos = report.task_at(&t.task_id, *n);
        if let Some(why) = id_problem(&t.task_id) {
            report.error(format!("task id '{}' {why}", t.task_id), pos);
        }
        if *n > 0 {
            report.error(format!("duplicate task id '{}'", t.task_id), pos);
        } else {
            self.index.insert(t.task_id.clone(), i);
            let session = crate::tmux::names::sanitize(&t.task_id);
            match self.session_of.get(session.as_str()) {
                Some(other) => report.error(
                    format!(
                        "task ids '{other}' and '{}' both become the tmux session name '{session}'; rename one",
                        t.task_id
                    ),
                    pos,
                ),
                None => {
                    self.session_of.insert(session, &t.task_id);
                }
            }
        }
        *n += 1;
        pos
    }
}

fn title(t: &Task, pos: Pos, report: &mut Report) {
    if t.title.trim().is_empty() {
        report.error(
            format!("task {}: the title is empty", t.task_id),
            report.key_at(pos, "title"),
        );
    }
    // Titles are drawn on terminals: an escape sequence in one would
    // rewrite the screen (or the window title) of whoever lists the plan.
    if has_control(&t.title) {
        report.error(
            format!("task {}: the title holds control characters", t.task_id),
            report.key_at(pos, "title"),
        );
    }
}

/// The task's group and agent profile exist.
fn references(
    t: &Task,
    pos: Pos,
    plan: &Plan,
    group_index: &HashMap<&str, usize>,
    report: &mut Report,
) {
    if !group_index.contains_key(t.group.as_str()) {
        report.error(
            format!(
                "task {}: unknown group '{}'{}",
                t.task_id,
                t.group,
                did_you_mean(&t.group, group_index.keys())
            ),
            report.key_at(pos, "group"),
        );
    }
    let picks = plan.settings.assignment.picks_profiles();
    // A pool's task starts on the pool's profile (checked with the pool).
    let pooled = super::pools::pool_settings(plan, t).is_some();
    let Some(kind) = t.agent_type() else {
        if pooled {
            return;
        }
        if !picks {
            report.error(
                format!(
                    "task {}: agent.type is missing; name its profile, or set \
                     `settings.assignment: capability` (or `round-robin`) and give it \
                     `needs:` so a profile is picked by its capabilities",
                    t.task_id
                ),
                report.key_at(pos, "agent").or(pos),
            );
            return;
        }
        let fit = plan
            .agents
            .values()
            .any(|a| t.needs.iter().all(|n| a.capabilities.contains(n)));
        if !fit {
            report.error(
                format!(
                    "task {}: no agent profile has every capability it needs ({}); \
                     add them to a profile's `capabilities`",
                    t.task_id,
                    t.needs.join(", ")
                ),
                report.key_at(pos, "needs"),
            );
        }
        return;
    };
    if !t.needs.is_empty() && !picks {
        report.warning(
            format!(
                "task {}: `needs` is read only by `settings.assignment: capability` or \
                 `round-robin`, for tasks without agent.type",
                t.task_id
            ),
            report.key_at(pos, "needs"),
        );
    }
    if !plan.agents.contains_key(kind) {
        report.error(
            format!(
                "task {}: unknown agent profile '{}'{}",
                t.task_id,
                kind,
                match did_you_mean(kind, plan.agents.keys()) {
                    hint if hint.is_empty() => " (not under `agents:`)".to_string(),
                    hint => hint,
                }
            ),
            report.key_at(pos, "agent"),
        );
    }
}

/// Effort, paths and validation commands switchboard can work with.
fn values(t: &Task, pos: Pos, report: &mut Report) {
    if let Some(command) = &t.command {
        let at = report.key_at(pos, "command");
        if command.trim().is_empty() {
            report.error(format!("task {}: its command is empty", t.task_id), at);
        } else if let Some(program) = crate::plan::checks::program_of(command)
            && !crate::plan::checks::program_found(program)
        {
            report.warning(
                format!("task {}: program '{program}' is not on PATH", t.task_id),
                at,
            );
        }
    }
    if let Some(why) = t
        .timeout_minutes
        .and_then(crate::plan::checks::timeout_problem)
    {
        report.error(
            format!("task {}: timeoutMinutes {why}", t.task_id),
            report.key_at(pos, "timeoutMinutes"),
        );
    }
    if let Some(h) = t.effort_hours
        && !(h.is_finite() && h >= 0.0)
    {
        report.error(
            format!("task {}: effortHours must be a number >= 0", t.task_id),
            report.key_at(pos, "effortHours"),
        );
    }
    let paths = t.outputs.iter().map(|o| ("output", &o.path));
    for (kind, path) in paths.chain(t.inputs.iter().map(|i| ("input", &i.path))) {
        if let Some(why) = path_problem(path) {
            report.error(
                format!("task {}: {kind} path '{path}' {why}", t.task_id),
                report.find("path", path).or(pos),
            );
        }
    }
    for v in &t.validation {
        if let Validation::Command { run, .. } = v
            && run.trim().is_empty()
        {
            report.error(
                format!(
                    "task {}: a `command` validation has an empty `run`",
                    t.task_id
                ),
                pos,
            );
        }
    }
}

/// Two tasks writing the same file will conflict when the second one merges,
/// unless one depends on the other; worth a warning, not a refusal.
pub(super) fn shared_outputs(tasks: &[Task], report: &mut Report) {
    let mut writers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for t in tasks {
        for o in &t.outputs {
            let list = writers.entry(o.path.as_str()).or_default();
            if !list.contains(&t.task_id.as_str()) {
                list.push(&t.task_id);
            }
        }
    }
    for (path, ids) in writers.into_iter().filter(|(_, ids)| ids.len() > 1) {
        report.warning(
            format!(
                "output '{path}' is written by several tasks ({}); their merges may conflict",
                ids.join(", ")
            ),
            None,
        );
    }
}
