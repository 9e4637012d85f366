//! Swarm exploration: many generated scenarios, on all cores, every failure shrunk and
//! written out as a scenario file with its one-line replay command.
//!
//! The summary is a function of the seed range alone (wall time is reported apart), so
//! exploring the same range twice writes identical summaries.

use crate::check::check_all;
use crate::coverage::{self, Hits};
use crate::generate::{scenario, GenConfig};
use crate::guided::{entry_name, Corpus, Guide, ROUND};
use crate::scenario::Scenario;
use crate::shrink::{shrink, Budget, Shrunk};
use crate::summary::Summary;
use crate::trace::{Trace, What};
use crate::world::{run, RunOptions};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// What to explore.
#[derive(Clone, Debug)]
pub struct ExploreConfig {
    /// First seed.
    pub from: u64,
    /// Number of seeds in the range.
    pub seeds: u64,
    /// `(i, n)`: run only seeds with `seed % n == i` (CI matrix sharding).
    pub shard: (u64, u64),
    /// Scenario size and fault switch.
    pub gen: GenConfig,
    /// Where failing scenarios are written.
    pub out: Option<PathBuf>,
    /// Worker threads (default: all cores).
    pub threads: usize,
    /// What a failing scenario may spend on shrinking.
    pub shrink_budget: Budget,
    /// Which seeds are run twice and their traces compared ([`Recheck`]).
    pub recheck: Recheck,
    /// Guided exploration (`--guided`): scenarios mutated from a corpus ([`crate::guided`])
    /// instead of generated from each seed alone.
    pub guide: Option<Guide>,
    /// Stop starting seeds after this much wall time (`--budget-secs`: side-by-side
    /// measurements on equal budgets). With it, which seeds ran depends on the machine; the
    /// summary says how many did.
    pub budget: Option<std::time::Duration>,
}

/// Which seeds `explore` runs a second time to compare traces (FoundationDB re-runs its
/// simulations with the same seed; any difference is a failure of its own kind, because it
/// breaks every replay command the harness prints).
///
/// The in-process re-run shares the OS process with the first run: allocator, hash-map
/// seeds already drawn, statics. It finds what differs from one run to the next (unseeded
/// or hash-ordered state, wall-clock reads). The cross-process re-run replays the seed in a
/// fresh `rbee-sim` process and also finds what a fresh process does differently (state a
/// first run left behind: lazily initialised statics, global counters).
#[derive(Clone, Debug, Default)]
pub struct Recheck {
    /// Re-run in this process the seeds with `seed % every == 0` (0: none, 1: all).
    pub every: u64,
    /// Re-run in a fresh process of this `rbee-sim` binary the seeds with
    /// `seed % cross_every == 0` (0: none).
    pub cross_every: u64,
    /// The `rbee-sim` binary for cross-process re-runs.
    pub exe: Option<PathBuf>,
}

impl Recheck {
    fn in_process(&self, seed: u64) -> bool {
        self.every > 0 && seed % self.every == 0
    }

    fn cross_process(&self, seed: u64) -> bool {
        self.exe.is_some() && self.cross_every > 0 && seed % self.cross_every == 0
    }
}

/// Whether a seed's trace was compared with a second run, and where.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rechecked {
    /// Re-run in this process.
    pub in_process: bool,
    /// Re-run in a fresh process.
    pub cross_process: bool,
}

/// The result of one seed.
#[derive(Clone, Debug, Default)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Jobs in its scenario.
    pub jobs: usize,
    /// Events keepers received.
    pub events: usize,
    /// Simulated ms.
    pub sim_ms: u64,
    /// Violations per invariant.
    pub violations: BTreeMap<&'static str, usize>,
    /// How often each probe was hit.
    pub hits: Hits,
    /// The shrunk failing scenario and where it was written.
    pub failure: Option<(Shrunk, Option<PathBuf>)>,
    /// Which second runs the trace was compared with.
    pub rechecked: Rechecked,
    /// What the determinism check found (the first differing entries of both traces).
    pub divergence: Option<String>,
    /// Its jobs' abstract histories, by scenario index ([`crate::behaviour::job_histories`]).
    pub histories: Vec<String>,
    /// The scenario run (guided mode), for corpus entries and for failing mutants (a
    /// failing generated scenario is made again from its seed).
    pub mutant: Option<Scenario>,
    /// Whether it joined the guided corpus, and how it was made.
    pub kept: Option<Kept>,
}

/// A guided seed that joined the corpus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kept {
    /// The entry it is a mutant of (`None`: generated).
    pub parent: Option<String>,
    /// The mutation operators applied.
    pub operators: Vec<&'static str>,
    /// Behaviours it reached first.
    pub new: usize,
}

/// Runs one generated scenario (and its second runs, per `recheck`); no shrinking.
fn run_seed(scenario: &Scenario, recheck: &Recheck) -> SeedResult {
    let trace = run(scenario, RunOptions::new(scenario.seed));
    let mut rechecked = Rechecked::default();
    let mut divergence = None;
    if recheck.in_process(scenario.seed) {
        rechecked.in_process = true;
        let again = run(scenario, RunOptions::new(scenario.seed));
        if let Some(v) = crate::check::determinism(&trace, &again).first() {
            divergence = Some(format!("in-process re-run: {}", v.message));
        }
    }
    if divergence.is_none() && recheck.cross_process(scenario.seed) {
        rechecked.cross_process = true;
        divergence = cross_process_divergence(scenario, &trace, recheck);
    }
    let mut violations = BTreeMap::new();
    for (name, v) in check_all(scenario, &trace) {
        if !v.is_empty() {
            violations.insert(name, v.len());
        }
    }
    if divergence.is_some() {
        violations.insert("determinism", 1);
    }
    SeedResult {
        seed: scenario.seed,
        jobs: scenario.jobs.len(),
        events: trace
            .entries
            .iter()
            .filter(|e| matches!(e.what, What::Received { .. }))
            .count(),
        sim_ms: trace.end(),
        violations,
        hits: coverage::hits(scenario, &trace),
        failure: None,
        rechecked,
        divergence,
        histories: crate::behaviour::job_histories(scenario, &trace),
        mutant: None,
        kept: None,
    }
}

/// Replays `scenario` in a fresh `rbee-sim` process and compares its trace hash with
/// `trace`'s; the divergence, if any (or why the child could not be run).
///
/// The scenario goes to a file of its own (`tempfile`): explorations running side by side
/// in one process (the tests of one binary) re-run the same seeds, and a shared name let one
/// remove the file another's child was about to read.
fn cross_process_divergence(
    scenario: &Scenario,
    trace: &Trace,
    recheck: &Recheck,
) -> Option<String> {
    use std::io::Write as _;
    let exe = recheck.exe.as_ref()?;
    let written = tempfile::Builder::new()
        .prefix(&format!("rbee-sim-recheck-seed-{}-", scenario.seed))
        .suffix(".toml")
        .tempfile()
        .and_then(|mut file| {
            file.write_all(scenario.to_toml().as_bytes())?;
            file.flush()?;
            Ok(file)
        });
    let file = match written {
        Ok(file) => file,
        Err(e) => {
            return Some(format!(
                "cross-process re-run: cannot write the scenario: {e}"
            ))
        }
    };
    let out = std::process::Command::new(exe)
        .arg("replay")
        .arg(file.path())
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            return Some(format!(
                "cross-process re-run: cannot run {}: {e}",
                exe.display()
            ))
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ours = trace.hash();
    let Some(theirs) = stdout.lines().last().and_then(|l| l.strip_prefix("trace ")) else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Some(format!(
            "cross-process re-run: hash {ours} here, none from the fresh process ({}; {why})",
            out.status
        ));
    };
    (theirs != ours).then(|| {
        format!("cross-process re-run: hash {ours} here, {theirs} in a fresh process (rbee-sim replay FILE --trace OUT shows that run's trace)")
    })
}

/// Explores the configured seeds; `progress` is called after each seed.
///
/// Two phases, so that which failures are shrunk never depends on thread timing: every
/// seed runs first (the search), then the lowest `shrink_budget.seeds` failing seeds are
/// shrunk and the rest are written as generated ([`Shrunk::describe`] says "not shrunk").
pub fn explore(cfg: &ExploreConfig, progress: &(dyn Fn() + Sync)) -> Vec<SeedResult> {
    let seeds: Vec<u64> = (cfg.from..cfg.from.saturating_add(cfg.seeds))
        .filter(|s| s % cfg.shard.1.max(1) == cfg.shard.0)
        .collect();
    #[allow(
        clippy::disallowed_methods,
        reason = "the wall-clock budget decides only how many seeds start, never what a run does"
    )]
    let deadline = cfg.budget.map(|b| std::time::Instant::now() + b);
    #[allow(clippy::disallowed_methods, reason = "as above")]
    let over = || deadline.is_some_and(|d| std::time::Instant::now() >= d);
    let mut results = match &cfg.guide {
        None => on_threads(cfg.threads, seeds, &over, |seed| {
            let result = run_seed(&scenario(seed, cfg.gen), &cfg.recheck);
            progress();
            result
        }),
        Some(guide) => guided_search(cfg, guide, &seeds, &over, progress),
    };
    let failing: Vec<usize> = (0..results.len())
        .filter(|&i| !results[i].violations.is_empty())
        .collect();
    let ranked: Vec<(usize, usize)> = failing.iter().copied().enumerate().collect();
    let shrunk = on_threads(cfg.threads, ranked, &|| false, |(rank, i)| {
        let result = &results[i];
        let generated = result
            .mutant
            .clone()
            .unwrap_or_else(|| scenario(result.seed, cfg.gen));
        let small = if rank < cfg.shrink_budget.seeds {
            shrink_failure(&generated, result, cfg)
        } else {
            Shrunk {
                scenario: generated,
                runs: 0,
                complete: false,
                elapsed: std::time::Duration::ZERO,
            }
        };
        let path = cfg
            .out
            .as_ref()
            .map(|dir| write_failure(dir, &small, result));
        (small, path)
    });
    for (i, failure) in failing.into_iter().zip(shrunk) {
        results[i].failure = Some(failure);
    }
    results
}

/// The guided search ([`crate::guided`]): rounds of [`ROUND`] seeds, each round's
/// scenarios made from the corpus as the round began, run on all threads, offered to the
/// corpus in seed order (failing runs are not: a corpus of failures would breed the same
/// failure). The corpus starts from `guide.initial`, which runs first and counts no seed
/// unless it fails: an entry that fails on this tree is a finding (the tree broke what the
/// corpus once reached), so it is reported first, as a failure under its scenario's own
/// seed, shrunk and written like any other, and it does not join the corpus.
fn guided_search(
    cfg: &ExploreConfig,
    guide: &Guide,
    seeds: &[u64],
    over: &(dyn Fn() -> bool + Sync),
    progress: &(dyn Fn() + Sync),
) -> Vec<SeedResult> {
    let mut corpus = Corpus::default();
    let initial: Vec<usize> = (0..guide.initial.len()).collect();
    let ran = on_threads(cfg.threads, initial, &|| false, |i| {
        run_seed(&guide.initial[i].1, &Recheck::default())
    });
    let mut results = Vec::with_capacity(seeds.len());
    for ((name, s), mut r) in guide.initial.iter().zip(ran) {
        if r.violations.is_empty() {
            corpus.offer(name.clone(), s, &r.histories, &r.hits, true);
        } else {
            r.seed = s.seed;
            r.mutant = Some(s.clone());
            results.push(r);
        }
    }
    for round in seeds.chunks(ROUND) {
        let plan = corpus.plan(guide.target);
        if over() {
            break;
        }
        let ran = on_threads(cfg.threads, round.to_vec(), over, |seed| {
            let c = corpus.candidate(&plan, seed, cfg.gen);
            let result = run_seed(&c.scenario, &cfg.recheck);
            progress();
            (c, result)
        });
        for (c, mut r) in ran {
            let is_mutant = c.parent.is_some();
            if r.violations.is_empty() {
                let before = corpus.entries.len();
                if corpus.offer(
                    entry_name(r.seed),
                    &c.scenario,
                    &r.histories,
                    &r.hits,
                    false,
                ) {
                    r.kept = Some(Kept {
                        parent: c.parent.clone(),
                        operators: c.operators.clone(),
                        new: corpus.entries[before].new,
                    });
                }
            }
            if r.kept.is_some() || (is_mutant && !r.violations.is_empty()) {
                r.mutant = Some(c.scenario);
            }
            results.push(r);
        }
    }
    results
}

/// Shrinks one failing seed's scenario. Still failing means failing one of the same
/// invariants: the shrinker must not wander off to another bug. A divergence is re-checked
/// the way it was found.
fn shrink_failure(scenario: &Scenario, result: &SeedResult, cfg: &ExploreConfig) -> Shrunk {
    let recheck = Recheck {
        every: u64::from(result.rechecked.in_process),
        cross_every: u64::from(result.rechecked.cross_process),
        exe: cfg.recheck.exe.clone(),
    };
    let same_bug = |s: &Scenario| {
        run_seed(s, &recheck)
            .violations
            .keys()
            .any(|k| result.violations.contains_key(k))
    };
    shrink(scenario, &mut { same_bug }, cfg.shrink_budget)
}

/// `work` applied to every item on `threads` threads, until `over` says stop (the items
/// not started then give nothing); the results in the items' order.
fn on_threads<T: Copy + Sync, R: Send>(
    threads: usize,
    items: Vec<T>,
    over: &(dyn Fn() -> bool + Sync),
    work: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            #[allow(
                clippy::disallowed_methods,
                reason = "each thread runs whole simulations, one at a time: a run never sees another thread"
            )]
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&item) = items.get(i) else { break };
                if over() {
                    break;
                }
                let out = work(item);
                done.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((i, out));
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, out)| out).collect()
}

/// The command that reproduces a failing seed's shrunk scenario. A determinism failure only
/// shows when the scenario runs twice, so its line asks `replay` for the two runs (in one
/// fresh process: what differs between runs and what a first run leaves behind).
pub fn replay_command(file: &str, determinism: bool) -> String {
    let twice = if determinism {
        " --check-determinism"
    } else {
        ""
    };
    format!("rbee-sim replay {file}{twice}")
}

fn write_failure(dir: &std::path::Path, shrunk: &Shrunk, result: &SeedResult) -> PathBuf {
    let scenario = &shrunk.scenario;
    let path = dir.join(format!("seed-{}.toml", scenario.seed));
    let found: Vec<String> = result
        .violations
        .iter()
        .map(|(k, n)| format!("{k} ({n})"))
        .collect();
    let diverged = result
        .divergence
        .as_ref()
        .map_or(String::new(), |d| format!("# {}\n", d.replace('\n', " ")));
    let text = format!(
        "# Found by `rbee-sim explore` at seed {}; violated: {}.\n{diverged}# Shrunk to {}. Replay: {}\n{}",
        scenario.seed,
        found.join(", "),
        shrunk.describe(),
        replay_command(
            &path.display().to_string(),
            result.divergence.is_some()
        ),
        scenario.to_toml()
    );
    if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, text)) {
        eprintln!("warning: cannot write {}: {e}", path.display());
    }
    path
}

/// Every probe's hits summed over `results` (unhit probes as 0).
pub fn total_hits(results: &[SeedResult]) -> Hits {
    let mut total = coverage::zero();
    for r in results {
        coverage::add(&mut total, &r.hits);
    }
    total
}

/// The probes hit fewer than `min` times over `results`, with their hits.
pub fn under_covered(results: &[SeedResult], min: u64) -> Vec<(&'static str, u64)> {
    total_hits(results)
        .into_iter()
        .filter(|(_, n)| *n < min)
        .collect()
}

/// The deterministic summary of a range, as a person reads it ([`Summary::text`]).
pub fn summary(cfg: &ExploreConfig, results: &[SeedResult]) -> String {
    Summary::of(cfg, results).text()
}

#[cfg(test)]
mod tests {
    use super::replay_command;

    /// A determinism failure does not show in one run: the printed line must ask for two,
    /// or replaying it would pass and the failure would look unreproducible.
    #[test]
    fn a_determinism_failure_replays_with_two_runs() {
        assert_eq!(
            replay_command("out/seed-7.toml", true),
            "rbee-sim replay out/seed-7.toml --check-determinism"
        );
        assert_eq!(
            replay_command("out/seed-7.toml", false),
            "rbee-sim replay out/seed-7.toml"
        );
    }
}
