//! The summary of an exploration: what a person reads at the end of `explore`, and the same
//! facts as versioned JSON for dashboards and CI (`explore --json FILE`), merged across
//! shards (`rbee-sim merge`).
//!
//! A summary is a function of the seeds alone — never of wall time, threads or machine —
//! so the same range always summarises the same, and shards of a range merge into exactly
//! the summary of the whole range (every figure is a sum, a minimum or a sorted union).
//!
//! # Schema (`schema = "rbee-sim/explore"`, `version = 1`)
//!
//! | field | meaning |
//! |---|---|
//! | `from`, `seeds` | the range `from..from+seeds` |
//! | `shards` | the `[i, n]` shards covered (`[[0, 1]]`: the whole range) |
//! | `max_jobs`, `faults`, `tick_ms` | the generator's settings |
//! | `seeds_run`, `jobs`, `events`, `simulated_ms` | totals |
//! | `failing_seeds` | seeds with at least one violation |
//! | `invariants.<id>` | `violations`, `exercised` (trigger hits) and `seeds` exercising it |
//! | `determinism` | `diverged` seeds; seeds re-run `in_process` and `cross_process` |
//! | `probes.<name>` | `hits`, `seeds` hitting it, `first_seed` (or null) |
//! | `guided` | whether scenarios were mutated from a corpus (`explore --guided`) |
//! | `behaviours` | the distinct behaviours reached ([`crate::behaviour`]), sorted: `jobs` (abstract job histories), `pairs` (probes hit in one run), `counts` (a probe's hits in one run, bucketed); `corpus_added`: guided seeds that joined the corpus |
//! | `failures[]` | `seed`, `violated`, `divergence`, the shrunk `jobs` / `faults`, `shrink_runs` (0 and not complete: not shrunk, `--shrink-seeds`), `shrink_complete`, `file`, `replay` |

use crate::behaviour::{keys, Key};
use crate::check::{exercised, CHECKERS};
use crate::coverage::PROBES;
use crate::explore::{replay_command, ExploreConfig, SeedResult};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// The schema's name.
pub const SCHEMA: &str = "rbee-sim/explore";
/// The schema's version: bumped whenever a field changes meaning or goes away.
pub const VERSION: u32 = 1;

/// One invariant's row.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvariantRow {
    /// Violations over all seeds.
    pub violations: u64,
    /// Hits of its triggers over all seeds.
    pub exercised: u64,
    /// Seeds in which a trigger was hit.
    pub seeds: u64,
}

/// The determinism row: second runs and what they found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeterminismRow {
    /// Seeds whose second run recorded a different trace.
    pub diverged: u64,
    /// Seeds run twice in one process.
    pub in_process: u64,
    /// Seeds replayed in a fresh process.
    pub cross_process: u64,
}

/// One probe's row.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRow {
    /// Hits over all seeds.
    pub hits: u64,
    /// Seeds that hit it.
    pub seeds: u64,
    /// The first seed that hit it (to replay an example), if any.
    pub first_seed: Option<u64>,
}

/// The distinct behaviours an exploration reached, by class (sorted, so shards merge by
/// union).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BehaviourRow {
    /// Abstract job histories.
    pub jobs: Vec<String>,
    /// Pairs of probes hit in one run.
    pub pairs: Vec<String>,
    /// Probe hit counts in one run, bucketed.
    pub counts: Vec<String>,
    /// Guided seeds that joined the corpus.
    pub corpus_added: u64,
}

impl BehaviourRow {
    /// Distinct behaviours of every class.
    pub fn distinct(&self) -> usize {
        self.jobs.len() + self.pairs.len() + self.counts.len()
    }

    fn of(results: &[SeedResult]) -> Self {
        let mut all: BTreeSet<Key> = BTreeSet::new();
        for r in results {
            all.extend(keys(&r.histories, &r.hits));
        }
        let mut row = Self {
            corpus_added: results.iter().filter(|r| r.kept.is_some()).count() as u64,
            ..Self::default()
        };
        for k in all {
            let text = k.text();
            let text = text
                .split_once(':')
                .map_or(text.clone(), |(_, t)| t.to_owned());
            match k {
                Key::Job(_) => row.jobs.push(text),
                Key::Pair(..) => row.pairs.push(text),
                Key::Count(..) => row.counts.push(text),
            }
        }
        // Sorted as text, as a merge sorts them: shards merge into exactly the whole.
        row.pairs.sort();
        row.counts.sort();
        row
    }

    fn merge(&mut self, other: &Self) {
        let union = |a: &mut Vec<String>, b: &[String]| {
            let mut set: BTreeSet<String> = a.drain(..).collect();
            set.extend(b.iter().cloned());
            *a = set.into_iter().collect();
        };
        union(&mut self.jobs, &other.jobs);
        union(&mut self.pairs, &other.pairs);
        union(&mut self.counts, &other.counts);
        self.corpus_added += other.corpus_added;
    }
}

/// A failing seed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRow {
    /// The seed.
    pub seed: u64,
    /// The invariants it broke.
    pub violated: Vec<String>,
    /// What a second run found different, for a determinism failure.
    pub divergence: Option<String>,
    /// Jobs of the shrunk scenario.
    pub jobs: usize,
    /// Faults of the shrunk scenario.
    pub faults: usize,
    /// Runs spent shrinking.
    pub shrink_runs: usize,
    /// Whether shrinking finished (else the budget stopped it).
    pub shrink_complete: bool,
    /// Where the shrunk scenario was written, if anywhere.
    pub file: Option<String>,
    /// The command that replays it.
    pub replay: String,
}

/// The summary of an exploration (or of several shards of one range, merged).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// [`VERSION`] of the writer.
    pub version: u32,
    /// First seed of the range.
    pub from: u64,
    /// Seeds in the range.
    pub seeds: u64,
    /// Shards covered, `[i, n]`; `[[0, 1]]` once they cover the whole range.
    pub shards: Vec<[u64; 2]>,
    /// Most jobs per scenario.
    pub max_jobs: usize,
    /// Whether faults were scheduled.
    pub faults: bool,
    /// Simulated ms per step.
    pub tick_ms: u64,
    /// Seeds run.
    pub seeds_run: u64,
    /// Jobs run.
    pub jobs: u64,
    /// Events keepers received.
    pub events: u64,
    /// Simulated milliseconds.
    pub simulated_ms: u64,
    /// Seeds with a violation.
    pub failing_seeds: u64,
    /// One row per invariant, by id.
    pub invariants: BTreeMap<String, InvariantRow>,
    /// The determinism row.
    pub determinism: DeterminismRow,
    /// One row per probe, by name.
    pub probes: BTreeMap<String, ProbeRow>,
    /// Every failing seed, by seed.
    pub failures: Vec<FailureRow>,
    /// Whether the scenarios were mutated from a corpus (`--guided`).
    #[serde(default)]
    pub guided: bool,
    /// The distinct behaviours reached.
    #[serde(default)]
    pub behaviours: BehaviourRow,
}

impl Summary {
    /// The summary of `results`, explored with `cfg`.
    pub fn of(cfg: &ExploreConfig, results: &[SeedResult]) -> Self {
        let count =
            |f: &dyn Fn(&SeedResult) -> bool| results.iter().filter(|r| f(r)).count() as u64;
        let sum = |f: &dyn Fn(&SeedResult) -> u64| results.iter().map(f).sum::<u64>();
        let invariants = CHECKERS
            .iter()
            .map(|c| {
                let row = InvariantRow {
                    violations: sum(&|r| r.violations.get(c.name).copied().unwrap_or(0) as u64),
                    exercised: sum(&|r| exercised(c.name, &r.hits).unwrap_or(0)),
                    seeds: count(&|r| exercised(c.name, &r.hits).unwrap_or(0) > 0),
                };
                (c.name.to_owned(), row)
            })
            .collect();
        let probes = PROBES
            .iter()
            .map(|(name, _)| {
                let hits = |r: &SeedResult| r.hits.get(name).copied().unwrap_or(0);
                let row = ProbeRow {
                    hits: sum(&hits),
                    seeds: count(&|r| hits(r) > 0),
                    first_seed: results.iter().find(|r| hits(r) > 0).map(|r| r.seed),
                };
                ((*name).to_owned(), row)
            })
            .collect();
        let failures = results
            .iter()
            .filter_map(|r| {
                let (shrunk, path) = r.failure.as_ref()?;
                let file = path.as_ref().map(|p| p.display().to_string());
                let shown = file
                    .clone()
                    .unwrap_or_else(|| "<not written: use --out DIR>".into());
                Some(FailureRow {
                    seed: r.seed,
                    violated: r.violations.keys().map(|k| (*k).to_owned()).collect(),
                    divergence: r.divergence.clone(),
                    jobs: shrunk.scenario.jobs.len(),
                    faults: shrunk.scenario.faults.len(),
                    shrink_runs: shrunk.runs,
                    shrink_complete: shrunk.complete,
                    file,
                    replay: replay_command(&shown, r.divergence.is_some()),
                })
            })
            .collect();
        Self {
            schema: SCHEMA.to_owned(),
            version: VERSION,
            from: cfg.from,
            seeds: cfg.seeds,
            shards: normalise(vec![[cfg.shard.0, cfg.shard.1]]),
            max_jobs: cfg.gen.max_jobs,
            faults: cfg.gen.faults,
            tick_ms: cfg.gen.tick_ms,
            seeds_run: results.len() as u64,
            jobs: sum(&|r| r.jobs as u64),
            events: sum(&|r| r.events as u64),
            simulated_ms: sum(&|r| r.sim_ms),
            failing_seeds: count(&|r| !r.violations.is_empty()),
            invariants,
            determinism: DeterminismRow {
                diverged: count(&|r| r.divergence.is_some()),
                in_process: count(&|r| r.rechecked.in_process),
                cross_process: count(&|r| r.rechecked.cross_process),
            },
            probes,
            failures,
            guided: cfg.guide.is_some(),
            behaviours: BehaviourRow::of(results),
        }
    }

    /// Merges `other`, a summary of other shards of the same range with the same settings,
    /// into this one.
    pub fn merge(&mut self, other: &Summary) -> Result<(), String> {
        if (other.schema.as_str(), other.version) != (SCHEMA, VERSION) {
            return Err(format!(
                "not a {SCHEMA} v{VERSION} summary: {} v{}",
                other.schema, other.version
            ));
        }
        let same = |a: &Summary| (a.from, a.seeds, a.max_jobs, a.faults, a.tick_ms, a.guided);
        if same(self) != same(other) {
            return Err(format!(
                "summaries of different explorations: seeds {}+{} (jobs {}, faults {}, tick {} ms, guided {}) vs {}+{} (jobs {}, faults {}, tick {} ms, guided {})",
                self.from, self.seeds, self.max_jobs, self.faults, self.tick_ms, self.guided,
                other.from, other.seeds, other.max_jobs, other.faults, other.tick_ms, other.guided
            ));
        }
        if let Some(twice) = other.shards.iter().find(|s| overlaps(&self.shards, s)) {
            return Err(format!(
                "shard {}/{} is in both summaries",
                twice[0], twice[1]
            ));
        }
        self.shards = normalise(self.shards.iter().chain(&other.shards).copied().collect());
        self.seeds_run += other.seeds_run;
        self.jobs += other.jobs;
        self.events += other.events;
        self.simulated_ms += other.simulated_ms;
        self.failing_seeds += other.failing_seeds;
        for (name, row) in &other.invariants {
            let mine = self.invariants.entry(name.clone()).or_default();
            mine.violations += row.violations;
            mine.exercised += row.exercised;
            mine.seeds += row.seeds;
        }
        self.determinism.diverged += other.determinism.diverged;
        self.determinism.in_process += other.determinism.in_process;
        self.determinism.cross_process += other.determinism.cross_process;
        for (name, row) in &other.probes {
            let mine = self.probes.entry(name.clone()).or_default();
            mine.hits += row.hits;
            mine.seeds += row.seeds;
            mine.first_seed = match (mine.first_seed, row.first_seed) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        self.failures.extend(other.failures.iter().cloned());
        self.failures.sort_by_key(|f| f.seed);
        self.behaviours.merge(&other.behaviours);
        Ok(())
    }

    /// What the shards of this summary leave out of its range, if anything: `None` once
    /// they cover the whole range (`[[0, 1]]`). `merge` refuses such a summary unless told
    /// `--allow-partial`, so a lost shard cannot pass for a complete night.
    pub fn gap(&self) -> Option<String> {
        if self.shards == [[0, 1]] {
            return None;
        }
        let shown = |s: &[u64; 2]| format!("{}/{}", s[0], s[1]);
        let covered: Vec<String> = self.shards.iter().map(shown).collect();
        let n = self.shards.first().map_or(1, |s| s[1]);
        let missing = if self.shards.iter().all(|s| s[1] == n) {
            (0..n)
                .filter(|i| !self.shards.contains(&[*i, n]))
                .map(|i| shown(&[i, n]))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            "the rest".to_owned()
        };
        Some(format!(
            "the summaries cover shard(s) {} of seeds {}..{}, not {missing}",
            covered.join(", "),
            self.from,
            self.from.saturating_add(self.seeds)
        ))
    }

    /// The probes hit fewer than `min` times, with their hits.
    pub fn under_covered(&self, min: u64) -> Vec<(String, u64)> {
        self.probes
            .iter()
            .filter(|(_, row)| row.hits < min)
            .map(|(name, row)| (name.clone(), row.hits))
            .collect()
    }

    /// The text a person reads (what `explore` prints and writes to `summary.txt`).
    pub fn text(&self) -> String {
        let mut out = String::new();
        let shards: Vec<String> = self
            .shards
            .iter()
            .map(|[i, n]| format!("{i}/{n}"))
            .collect();
        let _ = writeln!(
            out,
            "== explore seeds {}..{} (shard {}), up to {} jobs, faults {}{}{}",
            self.from,
            self.from.saturating_add(self.seeds),
            shards.join(", "),
            self.max_jobs,
            if self.faults { "on" } else { "off" },
            if self.tick_ms == 1 {
                String::new()
            } else {
                format!(", tick {} ms", self.tick_ms)
            },
            if self.guided { ", guided" } else { "" }
        );
        let _ = writeln!(out, "{:<22} {}", "seeds run", self.seeds_run);
        let _ = writeln!(out, "{:<22} {}", "jobs", self.jobs);
        let _ = writeln!(out, "{:<22} {}", "events received", self.events);
        let _ = writeln!(out, "{:<22} {} ms", "simulated time", self.simulated_ms);
        let b = &self.behaviours;
        let _ = writeln!(
            out,
            "{:<22} {} distinct: {} job histories, {} probe pairs, {} probe counts",
            "behaviours",
            b.distinct(),
            b.jobs.len(),
            b.pairs.len(),
            b.counts.len()
        );
        if self.guided {
            let _ = writeln!(out, "{:<22} {} seeds joined", "corpus", b.corpus_added);
        }
        let _ = writeln!(out, "{:<22} {}", "failing seeds", self.failing_seeds);
        let _ = writeln!(
            out,
            "  {:<20} {:>10}  {:>10}  {:>6}",
            "invariant", "violations", "exercised", "seeds"
        );
        for c in CHECKERS {
            let row = self.invariants.get(c.name).cloned().unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:<20} {:>10}  {:>10}  {:>6}",
                c.name, row.violations, row.exercised, row.seeds
            );
        }
        let d = &self.determinism;
        let _ = writeln!(
            out,
            "  {:<20} {:>10}  {:>10}  {:>6}",
            "determinism",
            d.diverged,
            format!("{}+{}x", d.in_process, d.cross_process),
            d.in_process.max(d.cross_process)
        );
        let _ = writeln!(out, "== probes {:>27}  {:>6}  first seed", "hits", "seeds");
        for (name, _) in PROBES {
            let row = self.probes.get(name).cloned().unwrap_or_default();
            let first = row
                .first_seed
                .map_or("-  <- never hit".to_owned(), |s| s.to_string());
            let _ = writeln!(
                out,
                "  {name:<32} {:>9}  {:>6}  {first}",
                row.hits, row.seeds
            );
        }
        for f in &self.failures {
            if let Some(d) = &f.divergence {
                let _ = writeln!(out, "seed {} diverged: {d}", f.seed);
            }
            let file = f.file.as_deref().unwrap_or("<not written: use --out DIR>");
            let _ = writeln!(
                out,
                "seed {} failed ({}; shrunk to {} job(s), {} fault(s) after {} run(s){}): {}  (logs: RUST_LOG=rbee=debug rbee-sim replay {file} --log run.log)",
                f.seed,
                f.violated.join(", "),
                f.jobs,
                f.faults,
                f.shrink_runs,
                if f.shrink_complete {
                    ""
                } else if f.shrink_runs == 0 {
                    " (not shrunk)"
                } else {
                    " (budget spent: not minimal)"
                },
                f.replay
            );
        }
        out
    }
}

/// Whether `shard` covers a seed that one of `shards` covers.
fn overlaps(shards: &[[u64; 2]], shard: &[u64; 2]) -> bool {
    shards.iter().any(|s| {
        let (a, b) = ((s[0], s[1]), (shard[0], shard[1]));
        // seeds ≡ a.0 (mod a.1) and ≡ b.0 (mod b.1) meet iff a.0 ≡ b.0 (mod gcd).
        let g = gcd(a.1, b.1);
        a.0 % g == b.0 % g
    })
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a.max(1)
    } else {
        gcd(b, a % b)
    }
}

/// Sorted shards; `[[0, 1]]` when they are all the shards of one `n`.
fn normalise(mut shards: Vec<[u64; 2]>) -> Vec<[u64; 2]> {
    shards.sort_unstable();
    shards.dedup();
    let n = shards.first().map_or(1, |s| s[1]);
    let whole =
        shards.len() as u64 == n && shards.iter().enumerate().all(|(i, s)| *s == [i as u64, n]);
    if whole {
        vec![[0, 1]]
    } else {
        shards
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_normalise_to_the_whole_range_and_overlaps_are_found() {
        assert_eq!(normalise(vec![[1, 2], [0, 2]]), [[0, 1]]);
        assert_eq!(normalise(vec![[2, 4], [0, 4]]), [[0, 4], [2, 4]]);
        assert!(overlaps(&[[0, 2]], &[[2, 4]][0]));
        assert!(!overlaps(&[[0, 2]], &[[1, 4]][0]));
    }

    /// Proves a summary names the shards it lacks, and says nothing once whole.
    #[test]
    fn a_partial_summary_names_its_missing_shards() {
        let cfg = ExploreConfig {
            from: 10,
            seeds: 8,
            shard: (1, 4),
            gen: crate::generate::GenConfig::default(),
            out: None,
            threads: 1,
            shrink_budget: crate::shrink::Budget::default(),
            guide: None,
            budget: None,
            recheck: crate::explore::Recheck::default(),
        };
        let mut summary = Summary::of(&cfg, &[]);
        assert_eq!(
            summary.gap().as_deref(),
            Some("the summaries cover shard(s) 1/4 of seeds 10..18, not 0/4, 2/4, 3/4")
        );
        summary.shards = vec![[0, 1]];
        assert_eq!(summary.gap(), None);
        summary.shards = vec![[0, 2], [1, 4]];
        assert!(summary.gap().is_some_and(|g| g.ends_with("not the rest")));
    }
}
