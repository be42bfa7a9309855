//! Which tasks' work is already in the integration branch, as git tells it:
//! the journal is a record, git is the truth. switchboard's merges are
//! commits `Merge <TASK>: <title>` on the integration branch's first-parent
//! line, whose second parent is the task branch's tip at the time.

use super::run::checked;
use super::{Repo, Result};
use std::collections::BTreeMap;

impl Repo {
    /// Of `tasks` (task id, branch), those merged into `integration`, with
    /// their merge commit: a `Merge <ID>: …` commit whose second parent is
    /// the branch's tip, or has it as an ancestor.
    pub fn merged_tasks(
        &self,
        integration: &str,
        tasks: &[(&str, &str)],
    ) -> Result<BTreeMap<String, String>> {
        let Some(head) = self.branch_oid(integration)? else {
            return Ok(BTreeMap::new());
        };
        let mut cmd = self.git();
        cmd.args([
            "log",
            "--first-parent",
            "--merges",
            "--format=%H%x00%P%x00%s",
            "--grep=^Merge ",
            &head,
        ]);
        let out = checked(&mut cmd)?;
        let text = String::from_utf8_lossy(&out.stdout);
        // The newest merge of each task id: (merge commit, merged tip).
        let mut merges: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
        for line in text.lines() {
            let mut fields = line.split('\0');
            let (Some(commit), Some(parents), Some(subject)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let Some(id) = subject
                .strip_prefix("Merge ")
                .and_then(|rest| rest.split_once(": "))
                .map(|(id, _)| id)
            else {
                continue;
            };
            if let Some(theirs) = parents.split(' ').nth(1) {
                merges.entry(id).or_insert((commit, theirs));
            }
        }
        let branches: Vec<&str> = tasks.iter().map(|(_, b)| *b).collect();
        let tips = self.branch_heads(&branches)?;
        let mut merged = BTreeMap::new();
        for (id, branch) in tasks {
            let (Some(&(commit, theirs)), Some(tip)) = (merges.get(id), tips.get(*branch)) else {
                continue;
            };
            if tip == theirs || self.is_ancestor(tip, theirs)? {
                merged.insert(id.to_string(), commit.to_string());
            }
        }
        Ok(merged)
    }
}
