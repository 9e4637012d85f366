//! Shrinking a failing scenario to what its failure needs, in bounded time.
//!
//! A generated failure comes with ten jobs, faults, a small buffer and perturbation; the
//! person who reads it needs the two jobs and the one fault that matter. proptest's generic
//! shrinking walks every field of the generator's value tree by binary search, which takes
//! thousands of runs on these trees; this shrinker knows what a scenario is made of and
//! removes the biggest parts first (delta debugging): halves, quarters … single jobs, then
//! faults, then the simulator's knobs, then each job's timing and size.
//!
//! Every candidate is one run of `fails`. A [`Budget`] bounds the runs and the wall time;
//! the [`Shrunk`] result says how far shrinking got, so a failure is reported in bounded
//! time even when the budget ran out.

use crate::scenario::{Behaviour, FaultPlan, JobPlan, RequestPlan, Scenario};
use rbee::operation::Operation;
use std::time::{Duration, Instant};

/// How much shrinking may cost.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// At most this many candidate runs.
    pub runs: usize,
    /// At most this much wall time (checked between runs).
    pub time: Duration,
    /// `explore` shrinks at most this many failing seeds, the lowest ones, and writes the
    /// others as generated: a bug that fails half of 1,000 seeds would otherwise spend an
    /// hour shrinking the same failure over and over before anything is reported.
    pub seeds: usize,
}

impl Default for Budget {
    /// 300 runs or 60 s per seed, whichever comes first; 4 seeds (at most ~2 min of wall
    /// time on 2 cores before the summary).
    fn default() -> Self {
        Self {
            runs: 300,
            time: Duration::from_secs(60),
            seeds: 4,
        }
    }
}

/// What shrinking produced.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The smallest failing scenario found.
    pub scenario: Scenario,
    /// Candidate runs spent.
    pub runs: usize,
    /// Whether every step ran to its end (`false`: the budget stopped it).
    pub complete: bool,
    /// Wall time spent (reported, never part of a deterministic summary).
    pub elapsed: Duration,
}

impl Shrunk {
    /// One line on how far shrinking got, e.g. `3 job(s), 1 fault(s) after 41 runs`.
    pub fn describe(&self) -> String {
        format!(
            "{} job(s), {} fault(s) after {} run(s){}",
            self.scenario.jobs.len(),
            self.scenario.faults.len(),
            self.runs,
            if self.complete {
                ""
            } else if self.runs == 0 {
                " (not shrunk)"
            } else {
                " (budget spent: not minimal)"
            }
        )
    }
}

struct Search<'a> {
    fails: &'a mut dyn FnMut(&Scenario) -> bool,
    budget: Budget,
    started: Instant,
    runs: usize,
    out_of_budget: bool,
}

impl Search<'_> {
    /// Runs `candidate` if the budget allows; whether it still fails.
    fn try_it(&mut self, candidate: &Scenario) -> bool {
        if self.runs >= self.budget.runs || self.started.elapsed() >= self.budget.time {
            self.out_of_budget = true;
            return false;
        }
        self.runs += 1;
        (self.fails)(candidate)
    }

    /// Removes chunks of `part(s)` (halves, then quarters, … then single items) while the
    /// scenario keeps failing.
    fn remove_chunks<T: Clone>(
        &mut self,
        best: &mut Scenario,
        part: fn(&mut Scenario) -> &mut Vec<T>,
    ) -> bool {
        let mut progress = false;
        let mut size = part(&mut best.clone()).len().div_ceil(2).max(1);
        loop {
            let mut start = 0;
            while start < part(best).len() && !self.out_of_budget {
                let mut candidate = best.clone();
                let items = part(&mut candidate);
                let end = (start + size).min(items.len());
                items.drain(start..end);
                if self.try_it(&candidate) {
                    *best = candidate;
                    progress = true;
                } else {
                    start += size;
                }
            }
            if size == 1 || self.out_of_budget {
                return progress;
            }
            size = size.div_ceil(2);
        }
    }

    /// Tries each simplification of `simplify(best)` in turn, keeping those that still fail.
    fn simplify_each(&mut self, best: &mut Scenario, candidates: Vec<Scenario>) -> bool {
        let mut progress = false;
        for candidate in candidates {
            if candidate != *best && !self.out_of_budget && self.try_it(&candidate) {
                *best = candidate;
                progress = true;
            }
        }
        progress
    }
}

fn jobs(s: &mut Scenario) -> &mut Vec<JobPlan> {
    &mut s.jobs
}

fn faults(s: &mut Scenario) -> &mut Vec<FaultPlan> {
    &mut s.faults
}

fn requests(s: &mut Scenario) -> &mut Vec<RequestPlan> {
    &mut s.requests
}

/// The simulator's knobs back to their defaults, one at a time.
fn plainer_knobs(s: &Scenario) -> Vec<Scenario> {
    let mut out = Vec::new();
    if s.perturb {
        out.push(Scenario {
            perturb: false,
            ..s.clone()
        });
    }
    if s.capacity.is_some() {
        out.push(Scenario {
            capacity: None,
            ..s.clone()
        });
    }
    let used_keepers: Vec<String> = s
        .keepers
        .iter()
        .filter(|k| {
            s.jobs.iter().any(|j| &j.keeper == *k)
                || s.requests.iter().any(|r| &r.keeper == *k)
                || faults_name(s, k)
        })
        .cloned()
        .collect();
    if !used_keepers.is_empty() && used_keepers.len() < s.keepers.len() {
        out.push(Scenario {
            keepers: used_keepers,
            ..s.clone()
        });
    }
    let used_hives: Vec<String> = s
        .hives
        .iter()
        .filter(|h| {
            s.jobs
                .iter()
                .any(|j| j.operation.hive_id() == Some(h.as_str()))
                || faults_name(s, h)
        })
        .cloned()
        .collect();
    if !used_hives.is_empty() && used_hives.len() < s.hives.len() {
        out.push(Scenario {
            hives: used_hives,
            ..s.clone()
        });
    }
    out
}

fn faults_name(s: &Scenario, host: &str) -> bool {
    s.faults.iter().any(|f| f.hosts.iter().any(|h| h == host))
}

/// A smaller form of `op`: fewer chunks, lines and tokens, shorter intervals.
fn smaller(op: &Operation) -> Option<Operation> {
    let mut op = op.clone();
    let changed = match &mut op {
        Operation::ModelDownload {
            chunks,
            interval_ms,
            ..
        } if *chunks > 1 || *interval_ms > 20 => {
            *chunks = (*chunks / 2).max(1);
            *interval_ms = (*interval_ms / 2).max(20);
            true
        }
        Operation::WorkerInstall { lines, .. } if *lines > 1 => {
            *lines /= 2;
            true
        }
        Operation::Infer { max_tokens, .. } if *max_tokens > 1 => {
            *max_tokens /= 2;
            true
        }
        _ => false,
    };
    changed.then_some(op)
}

/// Each job made plainer in one respect: followed instead of cancelled or dropped,
/// connected at once, submitted earlier, its operation smaller.
fn plainer_jobs(s: &Scenario) -> Vec<Scenario> {
    let mut out = Vec::new();
    for i in 0..s.jobs.len() {
        let with = |f: &dyn Fn(&mut JobPlan)| {
            let mut c = s.clone();
            f(&mut c.jobs[i]);
            c
        };
        let job = &s.jobs[i];
        if job.behaviour != Behaviour::Follow {
            out.push(with(&|j| j.behaviour = Behaviour::Follow));
        }
        if job.after_end.is_some() {
            out.push(with(&|j| j.after_end = None));
        }
        if job.connect_after_ms > 0 {
            out.push(with(&|j| j.connect_after_ms = 0));
        }
        if job.at_ms > 0 {
            out.push(with(&|j| {
                let earlier = j.at_ms / 2;
                if let Behaviour::CancelAt(t) = &mut j.behaviour {
                    *t -= j.at_ms - earlier;
                }
                j.at_ms = earlier;
            }));
        }
        if let Some(op) = smaller(&job.operation) {
            out.push(with(&|j| j.operation = op.clone()));
        }
    }
    out
}

/// Shrinks `scenario`, which fails (`fails` says so), to a smaller one that still fails,
/// within `budget`.
pub fn shrink(
    scenario: &Scenario,
    fails: &mut dyn FnMut(&Scenario) -> bool,
    budget: Budget,
) -> Shrunk {
    let mut search = Search {
        fails,
        budget,
        #[allow(
            clippy::disallowed_methods,
            reason = "the shrink budget's wall-time limit, read between whole runs"
        )]
        started: Instant::now(),
        runs: 0,
        out_of_budget: false,
    };
    let mut best = scenario.clone();
    loop {
        let mut progress = search.remove_chunks(&mut best, jobs);
        progress |= search.remove_chunks(&mut best, faults);
        progress |= search.remove_chunks(&mut best, requests);
        let knobs = plainer_knobs(&best);
        progress |= search.simplify_each(&mut best, knobs);
        let plainer = plainer_jobs(&best);
        progress |= search.simplify_each(&mut best, plainer);
        if !progress || search.out_of_budget {
            break;
        }
    }
    Shrunk {
        scenario: best,
        runs: search.runs,
        complete: !search.out_of_budget,
        elapsed: search.started.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{scenario_tree, GenConfig};
    use proptest::strategy::ValueTree;

    /// A "failure" that needs two particular jobs and nothing else shrinks to exactly
    /// them, with the knobs reset, in far fewer runs than the budget.
    #[test]
    fn shrinks_to_the_two_jobs_a_failure_needs() {
        let mut s = scenario_tree(3, GenConfig::default()).current();
        let template = s.jobs[0].clone();
        s.jobs = (0..12)
            .map(|i| JobPlan {
                operation: Operation::ModelGet {
                    hive_id: s.hives[0].clone(),
                    model: format!("model-{i}"),
                },
                ..template.clone()
            })
            .collect();
        s.perturb = true;
        s.capacity = Some(4);
        let needs = |c: &Scenario, model: &str| {
            c.jobs
                .iter()
                .any(|j| matches!(&j.operation, Operation::ModelGet { model: m, .. } if m == model))
        };
        let mut fails = |c: &Scenario| needs(c, "model-3") && needs(c, "model-8");
        assert!(fails(&s));
        let shrunk = shrink(&s, &mut fails, Budget::default());
        assert!(shrunk.complete, "{}", shrunk.describe());
        assert_eq!(
            shrunk.scenario.jobs.len(),
            2,
            "{}",
            shrunk.scenario.to_toml()
        );
        assert!(fails(&shrunk.scenario));
        assert!(!shrunk.scenario.perturb && shrunk.scenario.capacity.is_none());
        assert!(shrunk.scenario.faults.is_empty() && shrunk.scenario.requests.is_empty());
        assert!(shrunk.runs < 150, "{}", shrunk.describe());
    }

    /// A budget of a few runs stops shrinking early and says so.
    #[test]
    fn a_spent_budget_is_reported() {
        let s = scenario_tree(5, GenConfig::default()).current();
        let shrunk = shrink(
            &s,
            &mut |_| true,
            Budget {
                runs: 3,
                ..Budget::default()
            },
        );
        assert_eq!(shrunk.runs, 3);
        assert!(!shrunk.complete);
        assert!(
            shrunk.describe().contains("budget spent"),
            "{}",
            shrunk.describe()
        );
    }
}
