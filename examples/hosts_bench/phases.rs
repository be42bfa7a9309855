//! The benchmark's two runs of the engine: 60 workers spread over this
//! machine and the hosts (spawned, polled, halted), then tasks one at a
//! time on each machine in turn (exit to merge). Figures are read from the
//! journal (`ts_ms`, `host`) and the halt report, by machine.

use crate::engine_run::{Repo, now_ms, wait_for};
use crate::netns::Lab;
use color_eyre::eyre::{Result, WrapErr, bail, eyre};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use switchboard::hosts::control;
use switchboard::hosts::ssh::SshHost;
use switchboard::tmux::ControlClient;

/// Workers on each machine in the spread run.
const PER_MACHINE: usize = 20;
/// Tasks on each machine in the merge run.
const MERGES_PER_MACHINE: usize = 5;
/// `list-panes -a` calls timed on each machine (after 5 not timed).
const POLLS: usize = 200;
/// A hang guard, not a timing.
const GUARD: Duration = Duration::from_secs(300);
const POLL_SESSION: &str = "bench--poll";

pub struct Bench<'a> {
    pub lab: &'a Lab,
    pub bin: PathBuf,
    pub dir: PathBuf,
    pub runtime: &'a tokio::runtime::Runtime,
}

pub struct Spread {
    pub spawn: Value,
    pub halt: Value,
    pub poll: Value,
    /// What the engine left of itself once it exited (should be nothing).
    pub left: Vec<String>,
}

impl Bench<'_> {
    fn repo(&self, name: &str, plan: &str) -> Result<Repo> {
        let hosts: Vec<String> = self.lab.hosts.iter().map(|h| h.name.clone()).collect();
        Repo::new(
            self.dir.join(name),
            plan,
            &self.bin,
            &self.lab.runtime,
            &hosts,
        )
    }

    /// 20 workers on each machine: until all run, the poll's cost with
    /// them, then a halt of them all.
    pub fn spawn_poll_halt(&self) -> Result<Spread> {
        let workers = PER_MACHINE * (1 + self.lab.hosts.len());
        let repo = self.repo("spread", &spread_plan(self.lab, workers))?;
        let t0 = now_ms();
        let mut engine = repo.start(&["--batch-group", "G1"])?;
        wait_for("every worker's agent to be heard", GUARD, || {
            engine.check_alive()?;
            Ok(first_ts(&repo.journal(), "report").len() >= workers)
        })?;
        let spawn = spawn_figures(&repo.journal(), t0, workers);
        let status = repo.json(&["status", "--json"])?;
        let poll = self.runtime.block_on(self.poll_cost(&repo, &status))?;
        let started = Instant::now();
        let report = repo.json(&["halt", "--json"])?;
        let round_trip = round(started.elapsed().as_secs_f64() * 1000.0);
        engine.wait(GUARD)?;
        Ok(Spread {
            spawn,
            halt: halt_figures(&report, round_trip),
            poll,
            left: repo.leftovers(),
        })
    }

    /// `list-panes -a` over a control client of each machine's tmux
    /// server of the run's workers; a host's over an ssh master of its own.
    async fn poll_cost(&self, repo: &Repo, status: &Value) -> Result<Value> {
        let mut out = Map::new();
        out.insert("calls".into(), json!(POLLS));
        let local = ControlClient::connect(Some(repo.tmux_socket()), POLL_SESSION).await?;
        out.insert("local".into(), time_lists(&local).await?);
        drop(local);
        let runtime_dir = self.lab.runtime.join("bench");
        std::fs::create_dir_all(&runtime_dir)?;
        let hosts = status["hosts"].as_array().cloned().unwrap_or_default();
        for host in hosts {
            let (Some(name), Some(socket)) = (host["name"].as_str(), host["tmux_socket"].as_str())
            else {
                bail!("status --json: a host without name or tmux_socket: {host}");
            };
            let ssh = SshHost::new(name, &self.lab.ssh(name), &runtime_dir, GUARD)
                .map_err(|e| eyre!(e))?;
            let conn = tokio::task::spawn_blocking(move || ssh.connect(Duration::from_secs(30)))
                .await?
                .wrap_err_with(|| format!("reaching {name}"))?;
            let client = control::connect(&conn, Some(socket), POLL_SESSION).await?;
            out.insert(name.into(), time_lists(&client).await?);
            drop(client);
            tokio::task::spawn_blocking(move || conn.close()).await?;
        }
        Ok(Value::Object(out))
    }

    /// Tasks one after another (each depends on the one before), taking
    /// turns: this machine, then each host.
    pub fn merge(&self) -> Result<(Value, Vec<String>)> {
        let repo = self.repo("merge", &merge_plan(self.lab, MERGES_PER_MACHINE))?;
        let engine = repo.start(&["--batch-group", "G1"])?;
        let code = engine.wait(GUARD)?;
        if code != Some(0) {
            bail!("the merge run ended with {code:?}:\n{}", repo.log_tail());
        }
        Ok((merge_figures(&repo.journal()), repo.leftovers()))
    }
}

/// Each sample's milliseconds, warmed up first.
async fn time_lists(client: &ControlClient) -> Result<Value> {
    let mut panes = 0;
    for _ in 0..5 {
        client.list_panes().await?;
    }
    let mut samples = Vec::with_capacity(POLLS);
    for _ in 0..POLLS {
        let started = Instant::now();
        panes = client.list_panes().await?.len();
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let mut v = stats(samples, 3);
    v["panes"] = json!(panes);
    Ok(v)
}

/// Where an entry's worker runs: a host's name, or `local`.
fn machine(e: &Value) -> String {
    e["host"].as_str().unwrap_or("local").to_string()
}

/// The first `ts_ms` of `event` for each task.
fn first_ts(journal: &[Value], event: &str) -> BTreeMap<String, u64> {
    let mut at = BTreeMap::new();
    for e in journal.iter().filter(|e| e["event"] == event) {
        if let (Some(task), Some(ts)) = (e["task"].as_str(), e["ts_ms"].as_u64()) {
            at.entry(task.to_string()).or_insert(ts);
        }
    }
    at
}

fn spawn_figures(journal: &[Value], t0: u64, workers: usize) -> Value {
    let heard = first_ts(journal, "report");
    let run_started = journal
        .iter()
        .find(|e| e["event"] == "run_started")
        .and_then(|e| e["ts_ms"].as_u64())
        .unwrap_or(t0);
    let mut by_machine: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    for e in journal.iter().filter(|e| e["event"] == "spawned") {
        let (Some(task), Some(ts)) = (e["task"].as_str(), e["ts_ms"].as_u64()) else {
            continue;
        };
        let heard = heard.get(task).copied().unwrap_or(ts);
        by_machine.entry(machine(e)).or_default().push((ts, heard));
    }
    let since = |ts: u64| ts.saturating_sub(t0);
    let mut per_machine = Map::new();
    for (name, mut spawns) in by_machine {
        spawns.sort();
        let gaps: Vec<f64> = spawns
            .windows(2)
            .map(|w| (w[1].0 - w[0].0) as f64)
            .collect();
        per_machine.insert(
            name,
            json!({
                "workers": spawns.len(),
                "first_spawned_ms": since(spawns[0].0),
                "last_spawned_ms": since(spawns[spawns.len() - 1].0),
                "all_running_ms": since(spawns.iter().map(|s| s.1).max().unwrap_or(0)),
                "between_spawns_ms_median": stats(gaps, 0)["median"],
            }),
        );
    }
    json!({
        "workers": workers,
        "engine_up_ms": since(run_started),
        "all_running_ms": since(heard.values().copied().max().unwrap_or(t0)),
        "per_machine": per_machine,
    })
}

fn halt_figures(report: &Value, round_trip_ms: f64) -> Value {
    let mut by_machine: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for w in report["workers"].as_array().into_iter().flatten() {
        by_machine.entry(machine(w)).or_default().push(w);
    }
    let mut per_machine = Map::new();
    for (name, workers) in by_machine {
        let field =
            |key: &str| -> Vec<f64> { workers.iter().filter_map(|w| w[key].as_f64()).collect() };
        let acked = workers.iter().filter(|w| w["acked"] == true).count();
        per_machine.insert(
            name,
            json!({
                "acked": format!("{acked}/{}", workers.len()),
                "ack_ms": stats(field("ack_ms"), 2),
                "stop_ms": stats(field("stop_ms"), 2),
            }),
        );
    }
    json!({
        "total_workers": report["total_workers"],
        "acks_received": report["acks_received"],
        "all_acked": report["all_acked"],
        "total_latency_ms": report["total_latency_ms"],
        "command_round_trip_ms": round_trip_ms,
        "per_machine": per_machine,
    })
}

/// By machine, from the engine's journal: a task's end (its agent said
/// done, or exited: the task goes to `validating`) until its merge, in
/// two parts: the checks (for a host's task, its work saved there and its
/// branch fetched back first) and the merge; and its start (`assigned`
/// until `spawned`: for a host's, the push of the integration branch and
/// the host's switchboard making the worktree and session).
fn merge_figures(journal: &[Value]) -> Value {
    let state = |name: &str| -> BTreeMap<String, u64> {
        let mut at = BTreeMap::new();
        for e in journal
            .iter()
            .filter(|e| e["event"] == "state" && e["state"] == name)
        {
            if let (Some(task), Some(ts)) = (e["task"].as_str(), e["ts_ms"].as_u64()) {
                at.entry(task.to_string()).or_insert(ts);
            }
        }
        at
    };
    let (assigned, ended, merging) = (state("assigned"), state("validating"), state("merging"));
    let merged = first_ts(journal, "merged");
    let mut by_machine: BTreeMap<String, [Vec<f64>; 4]> = BTreeMap::new();
    for e in journal.iter().filter(|e| e["event"] == "spawned") {
        let (Some(task), Some(spawned)) = (e["task"].as_str(), e["ts_ms"].as_u64()) else {
            continue;
        };
        let [start, whole, checks, merge] = by_machine.entry(machine(e)).or_default();
        let span = |from: Option<&u64>, to: Option<&u64>| Some(to?.checked_sub(*from?)? as f64);
        start.extend(span(assigned.get(task), Some(&spawned)));
        whole.extend(span(ended.get(task), merged.get(task)));
        checks.extend(span(ended.get(task), merging.get(task)));
        merge.extend(span(merging.get(task), merged.get(task)));
    }
    let per_machine: Map<String, Value> = by_machine
        .into_iter()
        .map(|(name, [start, whole, checks, merge])| {
            let v = json!({
                "tasks": whole.len(),
                "end_to_merged_ms": stats(whole, 0),
                "of_which_checks_ms": stats(checks, 0),
                "of_which_merge_ms": stats(merge, 0),
                "assigned_to_spawned_ms": stats(start, 0),
            });
            (name, v)
        })
        .collect();
    json!({ "merged": merged.len(), "per_machine": per_machine })
}

/// Median, p95 and max (nearest rank), rounded to `digits` decimals.
fn stats(mut v: Vec<f64>, digits: i32) -> Value {
    v.sort_by(f64::total_cmp);
    let scale = 10f64.powi(digits);
    let at = |q: f64| {
        let i = ((v.len() as f64 - 1.0) * q).round() as usize;
        v.get(i).map(|x| (x * scale).round() / scale)
    };
    json!({ "median": at(0.5), "p95": at(0.95), "max": at(1.0) })
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `workers` sim agents that run until halted, spread evenly: this
/// machine and each host take as many.
fn spread_plan(lab: &Lab, workers: usize) -> String {
    let per = workers / (1 + lab.hosts.len());
    let hosts: String = lab
        .hosts
        .iter()
        .map(|h| {
            lab.host_yaml(&h.name)
                .replace(" }\n", &format!(", maxParallel: {per} }}\n"))
        })
        .collect();
    let tasks: String = (1..=workers)
        .map(|i| {
            format!(
                "  - {{ taskId: W{i}, title: worker {i}, group: G1, agent: {{ type: sim }}, \
                 outputs: [ {{ path: w{i}.txt }} ] }}\n"
            )
        })
        .collect();
    format!(
        "version: 1\nsettings:\n  maxParallel: {per}\n  restart: {{ maxRestarts: 0 }}\n  \
         maxFallbacks: 0\n  halt: {{ graceMs: 2000 }}\n  hosts:\n{hosts}\
         agents:\n  sim: {{ command: \"switchboard sim-agent --duration 600\" }}\n\
         groups:\n  - id: G1\ntasks:\n{tasks}"
    )
}

/// `per` one-second tasks on each machine, one at a time: each depends on
/// the one before; a host's profile asks for that host's label, the
/// others go to this machine (first on a tie of room).
fn merge_plan(lab: &Lab, per: usize) -> String {
    let names: Vec<&str> = lab.hosts.iter().map(|h| h.name.as_str()).collect();
    let hosts: String = names
        .iter()
        .map(|n| {
            lab.host_yaml(n)
                .replace(" }\n", &format!(", maxParallel: 1, labels: [{n}] }}\n"))
        })
        .collect();
    let command = "switchboard sim-agent --duration 1";
    let mut agents = format!("  sim: {{ command: \"{command}\" }}\n");
    for n in &names {
        agents.push_str(&format!(
            "  sim_{n}: {{ command: \"{command}\", capabilities: [{n}] }}\n"
        ));
    }
    let profiles: Vec<String> = std::iter::once("sim".to_string())
        .chain(names.iter().map(|n| format!("sim_{n}")))
        .collect();
    let tasks: String = (1..=per * profiles.len())
        .map(|i| {
            let profile = &profiles[(i - 1) % profiles.len()];
            let after = if i > 1 {
                format!(", dependencies: [M{}]", i - 1)
            } else {
                String::new()
            };
            format!(
                "  - {{ taskId: M{i}, title: merge {i}, group: G1, agent: {{ type: {profile} }}, \
                 outputs: [ {{ path: m{i}.txt }} ]{after} }}\n"
            )
        })
        .collect();
    format!(
        "version: 1\nsettings:\n  maxParallel: 1\n  restart: {{ maxRestarts: 0 }}\n  \
         maxFallbacks: 0\n  hosts:\n{hosts}agents:\n{agents}groups:\n  - id: G1\ntasks:\n{tasks}"
    )
}
