//! Guided exploration (`explore --guided`): AFL's loop over scenarios. A corpus keeps every
//! scenario that reached a behaviour ([`crate::behaviour`]) no earlier run had; each new
//! seed's scenario is a mutant ([`crate::mutate`]) of a corpus entry chosen by how rare its
//! behaviours are, or now and then a fresh generated one.
//!
//! Determinism: seeds run in rounds of [`ROUND`]. Every scenario of a round is made from the
//! corpus as it stood when the round began, the round runs on all threads, and its results
//! join the corpus in seed order. So the corpus and the summary are a function of the seed
//! range, the flags and the corpus directory's files — never of the thread count or timing.
//!
//! Sharding: each shard (`--shard I/N`) evolves a corpus of its own from its own seeds, as
//! parallel fuzzer instances do; shards sharing a `--corpus` directory each start from what
//! it held and write their entries under their own seed names.

use crate::behaviour::{keys, Key};
use crate::coverage::{Hits, PROBES};
use crate::generate::{scenario, GenConfig};
use crate::mutate::mutate;
use crate::scenario::Scenario;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Seeds per round: scenarios of one round are made from the same corpus.
pub const ROUND: usize = 64;

/// Share of seeds that run a fresh generated scenario instead of a mutant: the generator
/// keeps bringing in what no entry is near.
const FRESH: f64 = 0.2;

/// Share of mutants made from a focused parent ([`Corpus::focus`]).
const FOCUS: f64 = 0.5;

/// How guided exploration runs.
#[derive(Clone, Debug, Default)]
pub struct Guide {
    /// Corpus directory read at the start and written at the end (`--corpus`).
    pub dir: Option<PathBuf>,
    /// A probe to steer toward (`--target`).
    pub target: Option<&'static str>,
    /// The directory's entries, read before the run ([`Corpus::read_dir`]) so that a bad
    /// file is reported before any seed runs.
    pub initial: Vec<(String, Scenario)>,
}

/// Checks `name` is a probe of the catalogue; else an error with the closest names.
pub fn target(name: &str) -> Result<&'static str, String> {
    if let Some((p, _)) = PROBES.iter().find(|(p, _)| *p == name) {
        return Ok(p);
    }
    let mut close: Vec<(f64, &str)> = PROBES
        .iter()
        .map(|(p, _)| (strsim::jaro_winkler(name, p), *p))
        .collect();
    close.sort_by(|a, b| b.0.total_cmp(&a.0));
    let close: Vec<&str> = close.iter().take(3).map(|(_, p)| *p).collect();
    Err(format!(
        "--target {name}: no such probe (did you mean {}?); `rbee-sim explore --help` and README.md's probe table list them",
        close.join(", ")
    ))
}

/// One corpus entry.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Its file name in the corpus directory.
    pub name: String,
    /// The scenario.
    pub scenario: Scenario,
    /// Every behaviour it reached, by [`Corpus::ids`] number.
    pub keys: Vec<u32>,
    /// Each job's abstract history, by index.
    pub histories: Vec<String>,
    /// Behaviours it reached first.
    pub new: usize,
    /// Its probe hits.
    pub hits: Hits,
    /// Whether it came from the directory (else this run found it).
    pub loaded: bool,
}

/// The corpus and how often every behaviour has been seen.
#[derive(Clone, Debug, Default)]
pub struct Corpus {
    /// Entries, in the order they joined.
    pub entries: Vec<Entry>,
    /// Each behaviour's number.
    pub ids: BTreeMap<Key, u32>,
    /// Runs that reached each behaviour, by number.
    pub seen: Vec<u64>,
    /// Each behaviour's class (0: job history, 1: probe pair, 2: probe count), by number.
    class: Vec<u8>,
}

impl Corpus {
    /// Counts one run's behaviours; adds it as an entry named `name` if any was new.
    /// Whether it was added.
    pub fn offer(
        &mut self,
        name: String,
        scenario: &Scenario,
        histories: &[String],
        hits: &Hits,
        loaded: bool,
    ) -> bool {
        let mut new = 0;
        let mut ids = Vec::new();
        for k in keys(histories, hits) {
            let class = match k {
                Key::Job(_) => 0,
                Key::Pair(..) => 1,
                Key::Count(..) => 2,
            };
            let next = self.seen.len() as u32;
            let id = *self.ids.entry(k).or_insert(next);
            if id == next {
                self.seen.push(0);
                self.class.push(class);
                new += 1;
            }
            self.seen[id as usize] += 1;
            ids.push(id);
        }
        if new == 0 {
            return false;
        }
        self.entries.push(Entry {
            name,
            scenario: scenario.clone(),
            keys: ids,
            histories: histories.to_vec(),
            new,
            hits: hits.clone(),
            loaded,
        });
        true
    }

    /// Each entry's weight. Per class of behaviour (job histories, probe pairs, probe
    /// counts), an entry's rarity is the sum over its behaviours of that class of one over
    /// the square of how often they were seen (the rarest dominate); each class then
    /// shares one unit of weight among the entries by rarity. Unbalanced, the thousands of
    /// job histories seen once would drown a probe hit in one seed of a hundred — the rare
    /// situations the oracles most need. Times fifty for entries hitting `target`, three
    /// for entries hitting its family (BENCHMARKS.md, "Guided exploration", measured 10 and
    /// 50).
    fn weights(&self, target: Option<&str>) -> Vec<f64> {
        let rarity: Vec<[f64; 3]> = self
            .entries
            .iter()
            .map(|e| {
                let mut r = [0.0; 3];
                for &k in &e.keys {
                    let n = self.seen[k as usize].max(1) as f64;
                    r[usize::from(self.class[k as usize])] += 1.0 / (n * n);
                }
                r
            })
            .collect();
        let mut total = [0.0f64; 3];
        for r in &rarity {
            for c in 0..3 {
                total[c] += r[c];
            }
        }
        self.entries
            .iter()
            .zip(&rarity)
            .map(|(e, r)| {
                let share: f64 = (0..3)
                    .filter(|&c| total[c] > 0.0)
                    .map(|c| r[c] / total[c])
                    .sum();
                share * target.map_or(1.0, |t| closeness(&e.hits, t))
            })
            .collect()
    }

    /// `entry`'s scenario with only its rarest jobs: those whose history was seen at most
    /// twice as often as its rarest one's (the situation that made it an entry, without
    /// the jobs that retread common ground, which cost time and dilute the mutation).
    fn focus(&self, entry: &Entry) -> Scenario {
        let seen = |h: &String| {
            self.ids
                .get(&Key::Job(h.clone()))
                .map_or(1, |&id| self.seen[id as usize])
        };
        let rarest = entry.histories.iter().map(seen).min().unwrap_or(1);
        let mut s = entry.scenario.clone();
        let keep: Vec<bool> = entry
            .histories
            .iter()
            .map(|h| seen(h) <= 2 * rarest)
            .collect();
        let mut i = 0;
        s.jobs.retain(|_| {
            i += 1;
            keep.get(i - 1).copied().unwrap_or(true)
        });
        s
    }

    /// The choice weights of the corpus as it stands, for a round of [`Corpus::candidate`]s.
    pub fn plan(&self, target: Option<&str>) -> Plan {
        let weights = self.weights(target);
        let total = weights.iter().sum();
        Plan { weights, total }
    }

    /// The scenario for `seed`: a mutant of an entry drawn by `plan`'s weights, or (at
    /// first, now and then, or when no mutant is valid) the generated one.
    pub fn candidate(&self, plan: &Plan, seed: u64, gen: GenConfig) -> Candidate {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x6775_6964_6564); // "guided"
        let fresh = || Candidate {
            scenario: scenario(seed, gen),
            parent: None,
            operators: Vec::new(),
        };
        if self.entries.is_empty() || plan.total <= 0.0 || rng.random_bool(FRESH) {
            return fresh();
        }
        let pick = |rng: &mut StdRng| {
            let mut x = rng.random_range(0.0..plan.total);
            for (i, w) in plan.weights.iter().enumerate() {
                if x < *w {
                    return i;
                }
                x -= w;
            }
            plan.weights.len() - 1
        };
        let (a, b) = (pick(&mut rng), pick(&mut rng));
        let (parent, other) = (&self.entries[a], &self.entries[b]);
        let focused;
        let base = if rng.random_bool(FOCUS) {
            focused = self.focus(parent);
            &focused
        } else {
            &parent.scenario
        };
        match mutate(base, &other.scenario, seed, gen, &mut rng) {
            Some((scenario, operators)) => Candidate {
                scenario,
                parent: Some(parent.name.clone()),
                operators,
            },
            None => fresh(),
        }
    }

    /// Reads every `*.toml` of `dir` (a missing directory is an empty corpus), by name.
    pub fn read_dir(dir: &Path) -> Result<Vec<(String, Scenario)>, String> {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(read) => read
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("--corpus {}: {e}", dir.display())),
        };
        files.sort();
        files
            .into_iter()
            .map(|p| {
                let name = p
                    .file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into_owned());
                Scenario::load(&p)
                    .map(|s| (name, s))
                    .map_err(|e| format!("--corpus: {e}"))
            })
            .collect()
    }
}

/// Writes the corpus entries of `results` (the seeds with [`crate::explore::Kept`]) to `dir`,
/// each with a header saying how it was made and what it reached first; how many.
pub fn write_entries(dir: &Path, results: &[crate::explore::SeedResult]) -> Result<usize, String> {
    let fail = |e: std::io::Error| format!("--corpus {}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(fail)?;
    let mut written = 0;
    for r in results {
        let (Some(kept), Some(s)) = (&r.kept, &r.mutant) else {
            continue;
        };
        let how = match &kept.parent {
            Some(p) => format!("a mutant of {p} ({})", kept.operators.join(", ")),
            None => "generated".to_owned(),
        };
        let path = dir.join(entry_name(r.seed));
        let text = format!(
            "# Corpus entry of `rbee-sim explore --guided`: seed {}, {how}; reached {} behaviour(s) first.\n# Replay: rbee-sim replay {}\n{}",
            r.seed,
            kept.new,
            path.display(),
            s.to_toml()
        );
        std::fs::write(&path, text).map_err(fail)?;
        written += 1;
    }
    Ok(written)
}

/// The corpus's choice weights for one round.
#[derive(Clone, Debug)]
pub struct Plan {
    weights: Vec<f64>,
    total: f64,
}

/// A scenario to run, and how it was made.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// The scenario.
    pub scenario: Scenario,
    /// The entry it is a mutant of (`None`: generated).
    pub parent: Option<String>,
    /// The operators applied.
    pub operators: Vec<&'static str>,
}

/// The file name of the entry found at `seed`.
pub fn entry_name(seed: u64) -> String {
    format!("seed-{seed:08}.toml")
}

/// How close a run with `hits` came to `target`: 50 if it hit it, 3 if it hit a probe of
/// its family (the same first word, `no_channel` counting as one: `subtask_aborted` and
/// `subtask_line_delivered`, `no_channel_expired@hive` and `no_channel_removed@queen`,
/// `relay_silence` and `relay_link_lost`), else 1.
fn closeness(hits: &Hits, target: &str) -> f64 {
    if hits.get(target).copied().unwrap_or(0) > 0 {
        return 50.0;
    }
    let fam = family(target);
    let near = hits
        .iter()
        .any(|(p, n)| *n > 0 && *p != target && family(p) == fam);
    if near {
        3.0
    } else {
        1.0
    }
}

fn family(probe: &str) -> &str {
    let base = probe.split('@').next().unwrap_or(probe);
    // The first word; `no_channel_…` probes are one family.
    let words = if base.starts_with("no_channel") { 2 } else { 1 };
    base.match_indices('_')
        .nth(words - 1)
        .map_or(base, |(i, _)| &base[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves a probe's family groups its siblings and a bad target names close probes.
    #[test]
    fn targets_and_families() {
        assert_eq!(family("subtask_aborted"), family("subtask_line_delivered"));
        assert_eq!(family("no_channel_expired@hive"), "no_channel");
        assert_eq!(target("subtask_aborted"), Ok("subtask_aborted"));
        let err = target("subtask_abort").unwrap_err();
        assert!(err.contains("did you mean subtask_aborted"), "{err}");
    }

    /// Proves an entry joins only with a behaviour no earlier run had, and rare behaviours
    /// weigh more than common ones.
    #[test]
    fn only_new_behaviour_joins_and_rare_weighs_more() {
        let s = scenario(1, GenConfig::default());
        let hits = crate::coverage::zero();
        let mut c = Corpus::default();
        let k = |x: &[&str]| x.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>();
        assert!(c.offer("a".into(), &s, &k(&["common"]), &hits, false));
        assert!(!c.offer("b".into(), &s, &k(&["common"]), &hits, false));
        assert!(c.offer("c".into(), &s, &k(&["common", "rare"]), &hits, false));
        for _ in 0..5 {
            c.offer("d".into(), &s, &k(&["common"]), &hits, false);
        }
        let w = c.weights(None);
        assert_eq!(c.entries.len(), 2);
        assert!(w[1] > w[0] * 5.0, "{w:?}");
    }
}
