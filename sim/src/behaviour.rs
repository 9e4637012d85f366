//! Behaviour coverage: what a run did, finer than probes and the same whatever the seed,
//! so that guided exploration ([`crate::guided`]) can tell a new situation from one seen a
//! thousand times, and a summary can say how many distinct situations a budget reached.
//!
//! Three classes of behaviour, each a key:
//!
//! - **job histories** ([`Key::Job`]): each job's abstract life — its operation and where it
//!   ran, the queen's state sequence, how its hive job ended, how its keeper saw it end, the
//!   fault kinds that fired while it lived, whether its stream was lagged or kept alive.
//!   No time, id, seed or text, and nothing the scenario merely asked for (what the keeper
//!   was told to do shows only through what happened): two runs in which the system did
//!   the same to a job give the same key. This is the level the oracles judge at (a job's
//!   states, outcome and stream under faults), so a new key is a new question for them.
//! - **probe pairs** ([`Key::Pair`]): two probes hit in the same run — rare situations
//!   meeting (a cancel drained while a hive crashed mid-stream).
//! - **probe counts** ([`Key::Count`]): a probe hit a number of times in a run, bucketed by
//!   powers of two as AFL buckets edge hits (1, 2, 3, 4-7, 8-15, …): the same situation
//!   many times over (a burst of lagged notices) is a different load from once.

use crate::coverage::{Hits, PROBES};
use crate::scenario::{Mode, Scenario};
use crate::trace::{Trace, What};
use rbee::event::StreamEvent;
use rbee::ids::JobId;
use rbee::observer::HubRecord;
use std::collections::{BTreeMap, BTreeSet};

/// One behaviour.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// A job's abstract history ([`job_histories`]).
    Job(String),
    /// Two probes hit in one run, by index into [`PROBES`] (the lower first).
    Pair(u8, u8),
    /// A probe hit in one run, by index into [`PROBES`], and the bucket of its count.
    Count(u8, u8),
}

impl Key {
    /// The key as a summary lists it (`job:…`, `pair:a+b`, `count:probe:bucket`).
    pub fn text(&self) -> String {
        match self {
            Self::Job(h) => format!("job:{h}"),
            Self::Pair(a, b) => format!(
                "pair:{}+{}",
                PROBES[usize::from(*a)].0,
                PROBES[usize::from(*b)].0
            ),
            Self::Count(p, b) => format!("count:{}:{}", PROBES[usize::from(*p)].0, bucket_name(*b)),
        }
    }

    /// The class of the key: `job`, `pair` or `count`.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Job(_) => "job",
            Self::Pair(..) => "pair",
            Self::Count(..) => "count",
        }
    }
}

/// AFL's hit-count bucket of `n` (n ≥ 1): 1, 2, 3, then one bucket per power of two.
fn bucket(n: u64) -> u8 {
    match n {
        0..=3 => n as u8,
        _ => 2 + (63 - n.leading_zeros()) as u8,
    }
}

/// The range of counts a bucket stands for.
fn bucket_name(b: u8) -> String {
    match b {
        0..=3 => b.to_string(),
        _ => {
            let low = 1u64 << (b - 2);
            format!("{low}-{}", 2 * low - 1)
        }
    }
}

/// Every behaviour key of one run: its job histories and what its probe counts give.
pub fn keys(histories: &[String], hits: &Hits) -> Vec<Key> {
    let hit: Vec<(u8, u64)> = PROBES
        .iter()
        .enumerate()
        .filter_map(|(i, (name, _))| {
            let n = hits.get(name).copied().unwrap_or(0);
            (n > 0).then_some((i as u8, n))
        })
        .collect();
    let jobs: BTreeSet<&String> = histories.iter().collect();
    let mut out: Vec<Key> = jobs.into_iter().cloned().map(Key::Job).collect();
    for (x, &(a, _)) in hit.iter().enumerate() {
        for &(b, _) in &hit[x + 1..] {
            out.push(Key::Pair(a, b));
        }
    }
    out.extend(hit.iter().map(|&(p, n)| Key::Count(p, bucket(n))));
    out
}

/// Each job's abstract history in one run (see the module documentation), by scenario
/// index; two jobs that lived the same life have the same history, one behaviour.
pub fn job_histories(scenario: &Scenario, trace: &Trace) -> Vec<String> {
    #[derive(Default)]
    struct Life<'a> {
        job: Option<&'a JobId>,
        born: Option<u64>,
        ended: Option<u64>,
        states: Vec<&'static str>,
        hive: Option<(&'a str, &'a JobId)>,
        outcome: &'a str,
        lagged: bool,
        kept_alive: bool,
    }
    let mut lives: Vec<Life> = (0..scenario.jobs.len()).map(|_| Life::default()).collect();
    let mut index_of: BTreeMap<&JobId, usize> = BTreeMap::new();
    let mut hive_end: BTreeMap<(&str, &JobId), &'static str> = BTreeMap::new();
    let mut faults: Vec<(u64, &str)> = Vec::new();
    for e in &trace.entries {
        match &e.what {
            What::Submit { index, job } => {
                if let Some(l) = lives.get_mut(*index) {
                    l.job = Some(job);
                    l.born = Some(e.t);
                    index_of.insert(job, *index);
                }
            }
            What::SubmitFailed { index, .. } => {
                if let Some(l) = lives.get_mut(*index) {
                    l.born = Some(e.t);
                }
            }
            What::Received { index, event, .. } => {
                if let (Some(l), StreamEvent::Lagged(_)) = (lives.get_mut(*index), event) {
                    l.lagged = true;
                }
            }
            What::KeepAlive { index } => {
                if let Some(l) = lives.get_mut(*index) {
                    l.kept_alive = true;
                }
            }
            What::Outcome { index, outcome, .. } => {
                if let Some(l) = lives.get_mut(*index) {
                    l.outcome = outcome;
                    l.ended = Some(e.t);
                }
            }
            What::Fault { fault, .. } => faults.push((e.t, fault)),
            What::Hub { record } => match record {
                HubRecord::State { job, state } if e.host == "queen" => {
                    if let Some(l) = index_of.get(job).and_then(|&i| lives.get_mut(i)) {
                        if l.states.last() != Some(&state.name()) {
                            l.states.push(state.name());
                        }
                    }
                }
                HubRecord::State { job, state } if state.is_terminal() => {
                    hive_end.insert((e.host.as_str(), job), state.name());
                }
                HubRecord::Forward {
                    job,
                    hive,
                    hive_job,
                } => {
                    if let Some(l) = index_of.get(job).and_then(|&i| lives.get_mut(i)) {
                        l.hive = Some((hive.as_str(), hive_job));
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
    let end = trace.end();
    lives
        .iter()
        .zip(&scenario.jobs)
        .map(|(l, plan)| {
            let op = plan.operation.name();
            let place = match (scenario.mode, plan.operation.hive_id()) {
                (_, None) => "queen",
                (Mode::Integrated, Some(_)) => "integrated",
                (Mode::Distributed, Some(_)) => "hive",
            };
            let states = if l.states.is_empty() {
                "-".to_owned()
            } else {
                l.states.join(">")
            };
            let hive = match l.hive {
                None => "-",
                Some(k) => hive_end.get(&k).copied().unwrap_or("open"),
            };
            let outcome = if l.outcome.is_empty() {
                "none"
            } else {
                l.outcome
            };
            let (from, to) = (l.born.unwrap_or(end), l.ended.unwrap_or(end));
            let during: BTreeSet<&str> = faults
                .iter()
                .filter(|(t, _)| (from..=to).contains(t))
                .map(|(_, f)| *f)
                .collect();
            let during = if during.is_empty() {
                "-".to_owned()
            } else {
                during.into_iter().collect::<Vec<_>>().join("+")
            };
            let stream = match (l.lagged, l.kept_alive) {
                (false, false) => "",
                (true, false) => " lagged",
                (false, true) => " kept_alive",
                (true, true) => " lagged kept_alive",
            };
            format!("{op}@{place} q:{states} h:{hive} k:{outcome} f:{during}{stream}")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves AFL's buckets: 1, 2, 3 apart, then one per power of two, named by range.
    #[test]
    fn counts_are_bucketed_by_powers_of_two() {
        let b: Vec<u8> = [1, 2, 3, 4, 7, 8, 15, 16, 1000].map(bucket).to_vec();
        assert_eq!(b, vec![1, 2, 3, 4, 4, 5, 5, 6, 11]);
        assert_eq!(bucket_name(4), "4-7");
        assert_eq!(bucket_name(11), "512-1023");
    }

    /// Proves the keys of a run: one per history, one per pair of hit probes, one count
    /// per hit probe; probes not hit give nothing.
    #[test]
    fn a_run_has_its_histories_its_pairs_and_its_counts() {
        let mut hits = crate::coverage::zero();
        *hits.get_mut(PROBES[0].0).unwrap() = 5;
        *hits.get_mut(PROBES[3].0).unwrap() = 1;
        *hits.get_mut(PROBES[7].0).unwrap() = 2;
        let histories = vec!["a".to_owned(), "a".to_owned()];
        let keys = keys(&histories, &hits);
        assert_eq!(
            keys,
            vec![
                Key::Job("a".into()),
                Key::Pair(0, 3),
                Key::Pair(0, 7),
                Key::Pair(3, 7),
                Key::Count(0, 4),
                Key::Count(3, 1),
                Key::Count(7, 2),
            ]
        );
        assert_eq!(
            keys[1].text(),
            format!("pair:{}+{}", PROBES[0].0, PROBES[3].0)
        );
    }
}
