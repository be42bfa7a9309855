//! `switchboard --list`: tasks by group in dependency order, as text or JSON.

use crate::plan::ValidPlan;
use serde::Serialize;

#[derive(Serialize)]
pub struct Listing<'a> {
    pub groups: Vec<GroupListing<'a>>,
}

#[derive(Serialize)]
pub struct GroupListing<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub tasks: Vec<TaskListing<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskListing<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub agent: &'a str,
    pub effort_hours: Option<f64>,
    pub priority: &'static str,
    pub dependencies: &'a [String],
}

pub fn listing(plan: &ValidPlan) -> Listing<'_> {
    let groups = plan
        .group_order
        .iter()
        .map(|&g| {
            let group = &plan.plan.groups[g];
            let tasks = plan
                .tasks_in_group(g)
                .map(|t| {
                    let task = &plan.plan.tasks[t];
                    TaskListing {
                        id: &task.task_id,
                        title: &task.title,
                        agent: task.place_kind(),
                        effort_hours: task.effort_hours,
                        priority: task.priority.as_str(),
                        dependencies: &task.dependencies,
                    }
                })
                .collect();
            GroupListing {
                id: &group.id,
                title: &group.title,
                tasks,
            }
        })
        .collect();
    Listing { groups }
}

/// The widest a title column gets in `--list`.
const MAX_TITLE: usize = 60;

pub fn render_text(listing: &Listing) -> String {
    let id_w = width(listing, |t| t.id.len()).max(4);
    // Columns line up for titles of ordinary length; a longer one is cut
    // (with …) rather than padding every row to its width.
    let title_w = width(listing, |t| t.title.chars().count()).clamp(5, MAX_TITLE);
    let agent_w = width(listing, |t| t.agent.len()).max(5);
    let mut out = String::new();
    for g in &listing.groups {
        out.push_str(&format!("{}  {}\n", g.id, g.title));
        for t in &g.tasks {
            let effort = t
                .effort_hours
                .map(|h| format!("{h}h"))
                .unwrap_or_else(|| "-".into());
            let deps = if t.dependencies.is_empty() {
                "-".to_string()
            } else {
                t.dependencies.join(", ")
            };
            let title = if t.title.chars().count() > MAX_TITLE {
                let cut: String = t.title.chars().take(MAX_TITLE - 1).collect();
                format!("{cut}…")
            } else {
                t.title.to_string()
            };
            out.push_str(&format!(
                "  {:id_w$}  {:title_w$}  {:agent_w$}  {:>5}  {:8}  after: {}\n",
                t.id, title, t.agent, effort, t.priority, deps
            ));
        }
    }
    out
}

fn width(listing: &Listing, f: impl Fn(&TaskListing) -> usize) -> usize {
    listing
        .groups
        .iter()
        .flat_map(|g| g.tasks.iter())
        .map(f)
        .max()
        .unwrap_or(0)
}
