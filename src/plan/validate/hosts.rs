//! `settings.hosts`: names safe in paths and socket names, unique and not
//! `local`; an `ssh` that reads as ssh options and one destination; limits,
//! labels and workdirs switchboard can use.

use super::Report;
use crate::hosts::ssh_args::SshArgs;
use crate::hosts::{name_problem, workdir_problem};
use crate::plan::checks::id_problem;
use crate::plan::schema::Plan;
use std::collections::HashMap;

pub(super) fn check(plan: &Plan, report: &mut Report) {
    let hosts = &plan.settings.hosts;
    let mut seen: HashMap<&str, (usize, usize)> = HashMap::new();
    for (i, host) in hosts.iter().enumerate() {
        let copy = seen.get(host.name.as_str()).map_or(0, |&(_, n)| n);
        let pos = report.loc.find_anywhere("name", &host.name, copy);
        let whose = if name_problem(&host.name).is_none() {
            format!("settings.hosts[{i}] ({})", host.name)
        } else {
            format!("settings.hosts[{i}]")
        };
        if let Some(why) = name_problem(&host.name) {
            report.error(format!("{whose}: host name '{}' {why}", host.name), pos);
        }
        match seen.get_mut(host.name.as_str()) {
            Some((first, n)) => {
                report.error(
                    format!(
                        "{whose}: duplicate host name '{}' (settings.hosts[{first}] has it)",
                        host.name
                    ),
                    pos,
                );
                *n += 1;
            }
            None => {
                seen.insert(&host.name, (i, 1));
            }
        }
        if let Err(why) = SshArgs::parse(&host.ssh) {
            report.error(format!("{whose}: ssh {why}"), report.key_at(pos, "ssh"));
        }
        if host.max_parallel == Some(0) {
            report.error(
                format!("{whose}: maxParallel must be at least 1"),
                report.key_at(pos, "maxParallel"),
            );
        }
        for label in &host.labels {
            if let Some(why) = id_problem(label) {
                report.error(
                    format!("{whose}: label '{label}' {why}"),
                    report.key_at(pos, "labels"),
                );
            }
        }
        if let Some(why) = host.workdir.as_deref().and_then(workdir_problem) {
            report.error(
                format!("{whose}: workdir {why}"),
                report.key_at(pos, "workdir"),
            );
        }
    }
    let pooled = plan.settings.pool.is_some() || plan.groups.iter().any(|g| g.pool.is_some());
    if !hosts.is_empty() && pooled {
        report.warning(
            "settings.hosts: pool workers stay on this machine; the hosts take the other tasks"
                .into(),
            report.find("hosts", ""),
        );
    }
}

#[cfg(test)]
mod tests {
    /// Every diagnostic `--validate-only` prints for a plan with `hosts`.
    fn diagnostics(hosts: &str) -> Vec<String> {
        let yaml = format!(
            "settings:\n  hosts:\n{hosts}agents: {{ a: {{ command: \"true\" }} }}\n\
             groups: [ {{ id: G }} ]\n\
             tasks:\n  - {{ taskId: T1, title: t, group: G, agent: {{ type: a }} }}\n"
        );
        match crate::plan::check("t.yaml", yaml.as_bytes()) {
            Ok((_, warnings)) => warnings.iter().map(|d| d.to_string()).collect(),
            Err(diags) => diags.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn good_hosts_pass_without_a_word() {
        let d = diagnostics(
            "    - { name: big1, ssh: \"dev@big1\", maxParallel: 16, labels: [bigmem] }\n\
             \x20   - name: big2\n      ssh: \"-p 2222 -F ~/.ssh/work_config big2\"\n      workdir: \"~/work/myrepo\"\n",
        );
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn each_problem_names_its_host_and_line() {
        let d = diagnostics(
            "    - { name: big1, ssh: \"dev@big1\" }\n\
             \x20   - { name: big1, ssh: \"\" }\n\
             \x20   - { name: local, ssh: x }\n\
             \x20   - { name: \"../etc\", ssh: \"x; rm -rf ~\" }\n\
             \x20   - { name: b3, ssh: \"-f b3\", maxParallel: 0, labels: [\"a b\"], workdir: \"~bob\" }\n",
        );
        let want = [
            "t.yaml:4:9: settings.hosts[1] (big1): duplicate host name 'big1' (settings.hosts[0] has it)",
            "t.yaml:4:21: settings.hosts[1] (big1): ssh is empty: write the destination",
            "t.yaml:5:9: settings.hosts[2]: host name 'local' is reserved for this machine",
            "t.yaml:6:9: settings.hosts[3]: host name '../etc' must start with a letter or a digit",
            "t.yaml:6:25: settings.hosts[3]: ssh has 'rm' after the destination 'x;'",
            "t.yaml:7:19: settings.hosts[4] (b3): ssh has the option -f, which switchboard cannot take",
            "t.yaml:7:33: settings.hosts[4] (b3): maxParallel must be at least 1",
            "t.yaml:7:49: settings.hosts[4] (b3): label 'a b' has a character other than",
            "t.yaml:7:66: settings.hosts[4] (b3): workdir may start with `~/` (the host's home), not `~user`",
        ];
        for w in want {
            assert!(d.iter().any(|m| m.contains(w)), "missing {w}\n{d:#?}");
        }
        assert_eq!(
            d.iter().filter(|m| !m.contains("warning")).count(),
            9,
            "{d:#?}"
        );
    }

    #[test]
    fn an_unknown_host_key_says_the_likely_one() {
        let d = diagnostics("    - { name: big1, ssh: big1, maxParalel: 2 }\n");
        assert!(
            d.iter().any(|m| m.contains("did you mean `maxParallel`")),
            "{d:#?}"
        );
    }
}
