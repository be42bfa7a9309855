//! 200 tasks, 4 engines: what task claims cost each task when engines
//! compete for them. Four processes (this example run again as workers),
//! each an engine with its own seat, walk one 200-task plan in order as
//! their schedulers would: claim the next task (an `O_EXCL` create, then a
//! read of the journal lines written since it last looked), and on a claim
//! won journal its start and end under the journal's lock around a few
//! milliseconds of "work", then let go of the claim; a claim held by another
//! engine is passed over. An engine with nothing left to claim surveys the
//! claims and the journal (as every 500 ms in the engine) until the others'
//! tasks are done. Then the same plan with one engine alone, for the cost
//! without contention. Prints JSON: per task, the claim work of all engines
//! added up (won and lost claims, journal reads and appends, let-go, surveys).
//!
//! `cargo run --release --example claims_bench [-- --tasks 200 --engines 4 --work-ms 5]`

use std::collections::BTreeSet;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use switchboard::engine::claim_files::{ClaimDir, Seats};
use switchboard::engine::claims::{Acquired, ClaimStore};
use switchboard::engine::event::{Entry, Event};
use switchboard::engine::journal::Journal;
use switchboard::engine::snapshot::TaskState;

struct Args {
    tasks: usize,
    engines: usize,
    work_ms: u64,
}

fn args() -> Result<(Args, Option<PathBuf>), Box<dyn Error>> {
    let mut a = Args {
        tasks: 200,
        engines: 4,
        work_ms: 5,
    };
    let mut worker = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--tasks" => a.tasks = value.parse()?,
            "--engines" => a.engines = value.parse()?,
            "--work-ms" => a.work_ms = value.parse()?,
            "--worker" => worker = Some(PathBuf::from(value)),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok((a, worker))
}

fn main() -> Result<(), Box<dyn Error>> {
    let (a, worker) = args()?;
    if let Some(dot) = worker {
        return work(&dot, &a);
    }
    let contended = run(&a, a.engines)?;
    let alone = run(&a, 1)?;
    let per_task = |r: &Totals| r.claim_us as f64 / a.tasks as f64;
    let report = serde_json::json!({
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "tasks": a.tasks,
        "engines": a.engines,
        "work_ms_per_task": a.work_ms,
        "claim_work_per_task_us": {
            "engines_competing": round(per_task(&contended)),
            "one_engine_alone": round(per_task(&alone)),
            "contention_overhead": round(per_task(&contended) - per_task(&alone)),
        },
        "lost_claims_per_task": round(contended.lost as f64 / a.tasks as f64),
        "runs_per_task": round(contended.runs as f64 / a.tasks as f64),
        "acquire_won_us": contended.won.summary(),
        "acquire_lost_us": contended.lost_us.summary(),
        "journal_append_us": contended.append.summary(),
        "release_us": contended.release.summary(),
        "survey_us": contended.survey.summary(),
        "wall_s": { "engines_competing": round(contended.wall_s), "one_engine_alone": round(alone.wall_s) },
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[derive(Default)]
struct Samples(Vec<u64>);

impl Samples {
    fn add(&mut self, since: Instant) -> u64 {
        let us = since.elapsed().as_micros() as u64;
        self.0.push(us);
        us
    }

    fn summary(&self) -> serde_json::Value {
        let mut v = self.0.clone();
        v.sort();
        let at = |q: f64| {
            v.get(((v.len() as f64 - 1.0) * q).round() as usize)
                .copied()
        };
        serde_json::json!({ "n": v.len(), "p50": at(0.5), "p99": at(0.99), "max": v.last() })
    }

    fn parse(text: &str) -> Samples {
        Samples(text.split(',').filter_map(|n| n.parse().ok()).collect())
    }
}

#[derive(Default)]
struct Totals {
    claim_us: u64,
    lost: u64,
    runs: u64,
    won: Samples,
    lost_us: Samples,
    append: Samples,
    release: Samples,
    survey: Samples,
    wall_s: f64,
}

/// `engines` workers on a fresh `.switchboard/`, started together.
fn run(a: &Args, engines: usize) -> Result<Totals, Box<dyn Error>> {
    let dir = tempfile::TempDir::new()?;
    let dot = dir.path().join(".switchboard");
    std::fs::create_dir_all(&dot)?;
    let exe = std::env::current_exe()?;
    let children: Vec<_> = (0..engines)
        .map(|_| {
            Command::new(&exe)
                .args(["--worker", &dot.display().to_string()])
                .args(["--tasks", &a.tasks.to_string()])
                .args(["--work-ms", &a.work_ms.to_string()])
                .stdout(std::process::Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    // All of them ready, then go at once.
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    std::fs::write(dot.join("go"), b"")?;
    let mut t = Totals::default();
    for child in children {
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err("a worker failed".into());
        }
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let (key, value) = line.split_once('=').unwrap_or((line, ""));
            let samples = Samples::parse(value);
            match key {
                "claim_us" => t.claim_us += value.parse::<u64>()?,
                "lost" => t.lost += value.parse::<u64>()?,
                "runs" => t.runs += value.parse::<u64>()?,
                "won" => t.won.0.extend(samples.0),
                "lost_us" => t.lost_us.0.extend(samples.0),
                "append" => t.append.0.extend(samples.0),
                "release" => t.release.0.extend(samples.0),
                "survey" => t.survey.0.extend(samples.0),
                _ => {}
            }
        }
    }
    t.wall_s = start.elapsed().as_secs_f64();
    Ok(t)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One engine: claims tasks in plan order until every task is done.
fn work(dot: &Path, a: &Args) -> Result<(), Box<dyn Error>> {
    let seat = Seats::lock(dot)?.take(|n| Ok(dot.join(format!("{n}.sock"))))?;
    let me = seat.tag.id;
    let store = ClaimDir::new(dot, seat.tag, 60_000);
    let (mut journal, _) = Journal::open(&dot.join("journal.jsonl"))?;
    while !dot.join("go").exists() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let ids: Vec<String> = (1..=a.tasks).map(|i| format!("T{i}")).collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut theirs: BTreeSet<String> = BTreeSet::new();
    let mut offset = 0;
    let (mut claim_us, mut lost, mut runs) = (0u64, 0u64, 0u64);
    let mut s = Totals::default();
    let fold = |tail: switchboard::engine::journal::Tail, done: &mut BTreeSet<String>| {
        for (_, e) in tail.lines {
            let ended = matches!(
                e.event,
                Event::State {
                    state: TaskState::Done,
                    ..
                }
            );
            if ended && let Some(t) = e.task {
                done.insert(t);
            }
        }
        tail.offset
    };
    loop {
        let next = ids
            .iter()
            .find(|t| !done.contains(*t) && !theirs.contains(*t));
        let Some(id) = next else {
            if done.len() == ids.len() {
                break;
            }
            // The others' tasks: look again, as the engine's survey does.
            std::thread::sleep(Duration::from_millis(5));
            let t0 = Instant::now();
            let survey = store.survey(offset, true);
            offset = fold(survey.tail, &mut done);
            let held: BTreeSet<String> = survey.claims.into_iter().map(|c| c.claim.task).collect();
            theirs.retain(|t| held.contains(t));
            claim_us += s.survey.add(t0);
            continue;
        };
        let id = id.clone();
        let t0 = Instant::now();
        let result = store.acquire(&id, now_ms());
        offset = fold(store.journal_since(offset), &mut done);
        match result {
            Acquired::Won | Acquired::TakenOver { .. } if !done.contains(&id) => {
                claim_us += s.won.add(t0);
                runs += 1;
                let at = now_ms();
                let entry = |state| {
                    let event = Event::State {
                        state,
                        profile: "sim".into(),
                        reason: None,
                    };
                    let mut e = Entry::new(event, at).task(&id, 1);
                    e.engine = Some(me);
                    e
                };
                let t1 = Instant::now();
                journal.append(&entry(TaskState::Assigned))?;
                claim_us += s.append.add(t1);
                std::thread::sleep(Duration::from_millis(a.work_ms));
                let t2 = Instant::now();
                journal.append(&entry(TaskState::Done))?;
                claim_us += s.append.add(t2);
                let t3 = Instant::now();
                store.release(&id);
                claim_us += s.release.add(t3);
                done.insert(id);
            }
            Acquired::Won | Acquired::TakenOver { .. } => {
                claim_us += s.won.add(t0);
                store.release(&id);
            }
            _ => {
                claim_us += s.lost_us.add(t0);
                lost += 1;
                theirs.insert(id);
            }
        }
    }
    store.leave();
    let list = |v: &Samples| v.0.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    println!("claim_us={claim_us}\nlost={lost}\nruns={runs}");
    println!(
        "won={}\nlost_us={}\nappend={}",
        list(&s.won),
        list(&s.lost_us),
        list(&s.append)
    );
    println!("release={}\nsurvey={}", list(&s.release), list(&s.survey));
    Ok(())
}
