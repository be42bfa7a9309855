//! `switchboard doctor`'s hosts part: each host of the plan reached (all at
//! once, one thread each), probed, and judged (verdict.rs).

use super::probe;
use super::ssh::{SshError, SshHost};
use super::verdict::{ThisBuild, Verdict, assess, unreachable};
use super::{Place, places};
use crate::engine::host_pick;
use crate::plan::ValidPlan;
use crate::plan::checks::program_of;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Reaching a host, and its probe, must each be over within this.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Each agent program of the profiles that may run on a machine with
/// `labels` (placement's rule: every host label a profile's `capabilities`
/// name), with those profiles. switchboard itself (the sim agent) is
/// checked on its own.
pub fn agent_programs(plan: &ValidPlan, labels: &[String]) -> BTreeMap<String, Vec<String>> {
    let settings = &plan.plan.settings;
    let mut programs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, profile) in &plan.plan.agents {
        let asks = host_pick::profile_labels(settings, profile);
        if !asks.iter().all(|a| labels.contains(a)) {
            continue;
        }
        if let Some(program) = program_of(&profile.command)
            .filter(|p| *p != "switchboard" && !p.ends_with("/switchboard") && probe::askable(p))
        {
            programs
                .entry(program.to_string())
                .or_default()
                .push(name.clone());
        }
    }
    programs
}

/// Check every host of the plan; print each one's block and a summary.
/// Returns how many are unusable.
pub fn run(plan: &ValidPlan, repo_dir: &Path) -> usize {
    let this = ThisBuild::current();
    let runtime = crate::engine::socket::runtime_dir();
    let verdicts: Vec<Verdict> = std::thread::scope(|s| {
        let handles: Vec<_> = places(&plan.plan.settings)
            .into_iter()
            .map(|place| {
                let (this, runtime) = (&this, &runtime);
                s.spawn(move || check(plan, &place, repo_dir, runtime, this))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a host check does not panic"))
            .collect()
    });
    let mut unusable = Vec::new();
    for v in &verdicts {
        print!("{}", v.render());
        let blockers = v.blockers();
        if !blockers.is_empty() {
            unusable.push(format!("{} ({})", v.name, blockers.join(", ")));
        }
    }
    let usable = verdicts.len() - unusable.len();
    if unusable.is_empty() {
        println!("hosts: {usable} usable");
    } else {
        println!("hosts: {usable} usable, unusable: {}", unusable.join("; "));
    }
    unusable.len()
}

fn check(
    plan: &ValidPlan,
    place: &Place,
    repo_dir: &Path,
    runtime: &std::io::Result<std::path::PathBuf>,
    this: &ThisBuild,
) -> Verdict {
    let labels = match place {
        Place::Local => &[][..],
        Place::Ssh(h) => &h.labels[..],
    };
    let programs = &agent_programs(plan, labels);
    let wanted: &[&str] = &programs.keys().map(String::as_str).collect::<Vec<_>>();
    let host = match place {
        Place::Local => {
            let dir = repo_dir.display().to_string();
            return match probe::local(&dir, wanted, STEP_TIMEOUT) {
                Ok(p) => assess(place, &p, None, this, programs),
                Err(e) => unreachable(super::LOCAL, "this machine", &e),
            };
        }
        Place::Ssh(h) => h,
    };
    let how = format!("ssh {}", host.ssh);
    let runtime = match runtime {
        Ok(dir) => dir,
        Err(e) => {
            let e = SshError::Io(std::io::Error::other(format!("no runtime directory: {e}")));
            return unreachable(&host.name, &how, &e);
        }
    };
    let ssh = match SshHost::new(&host.name, &host.ssh, runtime, Duration::from_secs(60)) {
        Ok(ssh) => ssh,
        Err(why) => {
            return unreachable(&host.name, &how, &SshError::Io(std::io::Error::other(why)));
        }
    };
    let start = Instant::now();
    let conn = match ssh.connect(STEP_TIMEOUT) {
        Ok(c) => c,
        Err(e) => return unreachable(&host.name, &how, &e),
    };
    let took = start.elapsed();
    let verdict = match probe::remote(&conn, host.workdir.as_deref(), wanted, STEP_TIMEOUT) {
        Ok(p) => assess(place, &p, Some(took), this, programs),
        Err(e) => unreachable(&host.name, &how, &e),
    };
    conn.close();
    verdict
}
