//! The regression corpus (`corpus/`): a few scenarios that together reach every probe of
//! the catalogue, distilled from many (a guided exploration's corpus, generated seeds, the
//! scenarios of `scenarios/`), which `cargo test` replays — coverage in seconds, without a
//! random budget, as a fuzzing project keeps its corpus. The seed budget of
//! `cargo test` stays as a second net.
//!
//! Distilling is a greedy set cover: repeatedly keep the scenario that reaches the most
//! probes not yet reached (ties: fewer jobs, then name), until none adds one.

use crate::check::check_all;
use crate::coverage::{self, Hits, PROBES};
use crate::scenario::Scenario;
use crate::world::{run, RunOptions};
use std::collections::BTreeSet;
use std::path::Path;

/// What one scenario of a corpus reaches and breaks.
#[derive(Clone, Debug)]
pub struct Replayed {
    /// Its file name.
    pub name: String,
    /// Its probe hits.
    pub hits: Hits,
    /// The invariants it violates, with their first message.
    pub violations: Vec<(&'static str, String)>,
}

/// Runs `scenario` at its own seed: its probes and violations.
pub fn replay(name: &str, scenario: &Scenario) -> Replayed {
    let trace = run(scenario, RunOptions::new(scenario.seed));
    let violations = check_all(scenario, &trace)
        .into_iter()
        .filter_map(|(checker, v)| v.first().map(|v| (checker, v.message.clone())))
        .collect();
    Replayed {
        name: name.to_owned(),
        hits: coverage::hits(scenario, &trace),
        violations,
    }
}

/// The probes none of `replayed` reaches.
pub fn unreached(replayed: &[Replayed]) -> Vec<&'static str> {
    PROBES
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| {
            !replayed
                .iter()
                .any(|r| r.hits.get(p).copied().unwrap_or(0) > 0)
        })
        .collect()
}

/// The greedy cover of `candidates` (scenarios with their replays, none violating
/// anything): the indexes kept, in the order chosen, each with the probes it added.
pub fn distill(candidates: &[(&Scenario, &Replayed)]) -> Vec<(usize, Vec<&'static str>)> {
    let mut reached: BTreeSet<&'static str> = BTreeSet::new();
    let mut kept = Vec::new();
    loop {
        let adds = |r: &Replayed| -> Vec<&'static str> {
            PROBES
                .iter()
                .map(|(p, _)| *p)
                .filter(|p| !reached.contains(p) && r.hits.get(p).copied().unwrap_or(0) > 0)
                .collect()
        };
        let best = candidates
            .iter()
            .enumerate()
            .filter(|(_, (_, r))| r.violations.is_empty())
            .map(|(i, (s, r))| (i, adds(r), s.jobs.len(), &r.name))
            .filter(|(_, a, _, _)| !a.is_empty())
            .min_by(|a, b| {
                b.1.len()
                    .cmp(&a.1.len())
                    .then(a.2.cmp(&b.2))
                    .then(a.3.cmp(b.3))
            });
        let Some((i, added, _, _)) = best else {
            return kept;
        };
        reached.extend(added.iter().copied());
        kept.push((i, added));
    }
}

/// Writes `scenario` as a corpus entry named `name` in `dir`, with a header naming the
/// probes it was kept for and the command that replays it.
pub fn write(dir: &Path, name: &str, scenario: &Scenario, added: &[&str]) -> std::io::Result<()> {
    let path = dir.join(name);
    let text = format!(
        "# Regression corpus entry (`rbee-sim distill`): kept for probe(s) {}.\n# Replay: rbee-sim replay {}\n{}",
        added.join(", "),
        path.display(),
        scenario.to_toml()
    );
    std::fs::write(path, text)
}
