//! Swarm exploration: many generated scenarios, on all cores, every failure shrunk and
//! written out as a scenario file with its one-line replay command.
//!
//! The summary is a function of the seed range alone (wall time is reported apart), so
//! exploring the same range twice writes identical summaries.

use crate::check::{check_all, CHECKERS};
use crate::generate::{scenario_tree, shrink, GenConfig};
use crate::scenario::Scenario;
use crate::trace::What;
use crate::world::{run, RunOptions};
use proptest::strategy::ValueTree;
use std::collections::BTreeMap;
use std::fmt::Write;
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
    /// Runs a failing scenario may spend on shrinking.
    pub shrink_budget: usize,
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
    /// The (shrunk) failing scenario and where it was written.
    pub failure: Option<(Scenario, Option<PathBuf>)>,
}

/// Runs one generated scenario: (result without failure, violation count).
fn run_seed(scenario: &Scenario) -> SeedResult {
    let trace = run(scenario, RunOptions::new(scenario.seed));
    let mut violations = BTreeMap::new();
    for (name, v) in check_all(scenario, &trace) {
        if !v.is_empty() {
            violations.insert(name, v.len());
        }
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
        failure: None,
    }
}

fn fails(s: &Scenario) -> bool {
    !run_seed(s).violations.is_empty()
}

/// Explores the configured seeds; `progress` is called after each seed.
pub fn explore(cfg: &ExploreConfig, progress: &(dyn Fn() + Sync)) -> Vec<SeedResult> {
    let seeds: Vec<u64> = (cfg.from..cfg.from.saturating_add(cfg.seeds))
        .filter(|s| s % cfg.shard.1.max(1) == cfg.shard.0)
        .collect();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(seeds.len()));
    std::thread::scope(|scope| {
        for _ in 0..cfg.threads.max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = seeds.get(i) else { break };
                let mut tree = scenario_tree(seed, cfg.gen);
                let mut result = run_seed(&tree.current());
                if !result.violations.is_empty() {
                    let small = shrink(&mut tree, fails, cfg.shrink_budget);
                    let path = cfg
                        .out
                        .as_ref()
                        .map(|dir| write_failure(dir, &small, &result));
                    result.failure = Some((small, path));
                }
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(result);
                progress();
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|r| r.seed);
    results
}

fn write_failure(dir: &std::path::Path, scenario: &Scenario, result: &SeedResult) -> PathBuf {
    let path = dir.join(format!("seed-{}.toml", scenario.seed));
    let found: Vec<String> = result
        .violations
        .iter()
        .map(|(k, n)| format!("{k} ({n})"))
        .collect();
    let text = format!(
        "# Found by `rbee-sim explore` at seed {}; violated: {}.\n# Shrunk to {} job(s). Replay: rbee-sim replay {}\n{}",
        scenario.seed,
        found.join(", "),
        scenario.jobs.len(),
        path.display(),
        scenario.to_toml()
    );
    if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, text)) {
        eprintln!("warning: cannot write {}: {e}", path.display());
    }
    path
}

/// The deterministic summary of a range: totals and violations per invariant.
pub fn summary(cfg: &ExploreConfig, results: &[SeedResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "== explore seeds {}..{} (shard {}/{}), up to {} jobs, faults {}",
        cfg.from,
        cfg.from.saturating_add(cfg.seeds),
        cfg.shard.0,
        cfg.shard.1,
        cfg.gen.max_jobs,
        if cfg.gen.faults { "on" } else { "off" }
    );
    let total = |f: fn(&SeedResult) -> u64| results.iter().map(f).sum::<u64>();
    let _ = writeln!(out, "{:<22} {}", "seeds run", results.len());
    let _ = writeln!(out, "{:<22} {}", "jobs", total(|r| r.jobs as u64));
    let _ = writeln!(
        out,
        "{:<22} {}",
        "events received",
        total(|r| r.events as u64)
    );
    let _ = writeln!(out, "{:<22} {} ms", "simulated time", total(|r| r.sim_ms));
    let failing = results.iter().filter(|r| !r.violations.is_empty()).count();
    let _ = writeln!(out, "{:<22} {}", "failing seeds", failing);
    for (name, _) in CHECKERS {
        let n: usize = results.iter().filter_map(|r| r.violations.get(name)).sum();
        let _ = writeln!(out, "  {name:<20} {n}");
    }
    for r in results {
        if let Some((s, path)) = &r.failure {
            let file = path
                .as_ref()
                .map_or("<not written: use --out DIR>".into(), |p| {
                    p.display().to_string()
                });
            let _ = writeln!(
                out,
                "seed {} failed ({} job(s) after shrinking): rbee-sim replay {file}  (logs: RUST_LOG=rbee=debug rbee-sim replay {file} --log run.log)",
                r.seed,
                s.jobs.len()
            );
        }
    }
    out
}
