//! The simulated side of a real run: the same scenario in the simulator, on loopback-like
//! links, at up to K seeds, until every real job has been reproduced by one of them.
//!
//! Why several seeds: a scenario with concurrent jobs has races whose winner is a matter of
//! microseconds (a `worker_list` submitted beside a `worker_spawn` on one hive lists the
//! worker or not). Reality takes one branch, a simulated seed takes one branch; both are
//! correct. So a real job agrees when *some* seed produces its transcript, and only a
//! transcript no seed produces is a fidelity difference ([`super::compare`]).
//!
//! Why loopback-like links: by default a turmoil link delays each message by 0–100 ms
//! (~20 ms on average) and delivers it at the next step, so a simulated forwarded job
//! starts tens of milliseconds after a real one on loopback, and a cancel or a fault close
//! to a progress line sees a different number of lines — a branch reality never takes.
//! The simulated side therefore runs at 1 ms steps (a real run has no steps; a 10 ms step
//! is 10 ms more latency on every message) with message latencies of 0–2 ms: measured
//! against real processes, a `worker_list` submitted 0 or 1 ms after a `worker_spawn`
//! lists the worker in some runs and not in others, 2 ms after it always does, and these
//! bounds reach the same spread (0–1 ms never lists it empty at 1 ms; turmoil's default
//! still does at 5 ms).
//!
//! Seeds run in order and stop as soon as every job agrees, so a run that agrees costs one
//! simulated run more often than not; only a job that differs costs all K.

use super::compare::{Comparison, Judge};
use crate::scenario::{Scenario, MAX_SEED};
use crate::trace::Trace;
use crate::world::{run, Latency, RunOptions};
use std::time::Duration;

/// Default number of simulated seeds a real job may agree with.
pub const DEFAULT_SEEDS: u64 = 20;

/// Loopback-like link latency: most messages within the step they were sent in, some one
/// or two milliseconds later (turmoil draws `min + ⌊(max - min) × Exp(5)⌋` ms).
pub const LOOPBACK: Latency = Latency {
    min: Duration::ZERO,
    max: Duration::from_millis(2),
};

/// The simulated step of the simulated side, whatever the scenario's `tick_ms`.
pub const STEP_MS: u64 = 1;

/// How the simulated side of a real run is simulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimSide {
    /// The first seed; the others follow it (wrapping within 0..=[`MAX_SEED`]).
    pub first_seed: u64,
    /// How many seeds at most (at least 1).
    pub seeds: u64,
    /// Every link's message latency.
    pub latency: Latency,
}

impl SimSide {
    /// [`DEFAULT_SEEDS`] seeds from `first_seed` over [`LOOPBACK`] links.
    pub fn new(first_seed: u64) -> Self {
        Self {
            first_seed,
            seeds: DEFAULT_SEEDS,
            latency: LOOPBACK,
        }
    }

    /// The seeds in the order they are tried.
    pub fn seed_list(&self) -> impl Iterator<Item = u64> {
        let first = self.first_seed;
        (0..self.seeds.max(1)).map(move |i| first.wrapping_add(i) & MAX_SEED)
    }

    /// `scenario` as the simulated side runs it: at [`STEP_MS`].
    pub fn scenario(&self, scenario: &Scenario) -> Scenario {
        Scenario {
            tick_ms: STEP_MS,
            ..scenario.clone()
        }
    }

    /// The simulated run of `scenario` at `seed`.
    pub fn run(&self, scenario: &Scenario, seed: u64) -> Trace {
        run(
            &self.scenario(scenario),
            RunOptions::new(seed).with_latency(self.latency),
        )
    }

    /// Runs the seeds in order until every job of `real` has been reproduced (or the seeds
    /// are spent) and returns the verdict per job.
    pub fn judge(&self, scenario: &Scenario, real: &Trace) -> Comparison {
        let mut judge = Judge::new(scenario, real);
        for seed in self.seed_list() {
            judge.add(seed, &self.run(scenario, seed));
            if judge.settled() {
                break;
            }
        }
        judge.finish()
    }

    /// The settings for people, e.g. `up to 20 seeds from 42, 1 ms steps, link latency 0-2 ms`.
    pub fn describe(&self) -> String {
        format!(
            "up to {} seed(s) from {}, {STEP_MS} ms steps, link latency {}-{} ms",
            self.seeds.max(1),
            self.first_seed,
            self.latency.min.as_millis(),
            self.latency.max.as_millis()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two keepers: a worker spawned and, at the same millisecond, the hive's workers
    /// listed.
    const RACE: &str = "name = \"race\"\nseed = 1\nhives = [\"hive-a\"]\nkeepers = [\"alice\", \"bob\"]\nrun_for_ms = 10000\ntick_ms = 10\n\n[[jobs]]\nkeeper = \"alice\"\noperation = \"worker_spawn\"\nhive_id = \"hive-a\"\nmodel = \"tinyllama\"\n\n[[jobs]]\nkeeper = \"bob\"\noperation = \"worker_list\"\nhive_id = \"hive-a\"\n";

    fn listed_workers(scenario: &Scenario, trace: &Trace) -> bool {
        super::super::compare::job_lines(scenario, trace, 1)
            .iter()
            .any(|l| l.contains("worker-1"))
    }

    /// Proves the seeds wrap within the seeds a scenario can hold, the simulated side runs
    /// at 1 ms steps over the given latency (a run differs from the scenario's own), and
    /// the same seed gives the same run: the seed a report names reproduces it.
    #[test]
    fn seeds_wrap_and_a_named_seed_reproduces_its_run() {
        let side = SimSide {
            first_seed: MAX_SEED - 1,
            seeds: 3,
            latency: LOOPBACK,
        };
        assert_eq!(
            side.seed_list().collect::<Vec<_>>(),
            [MAX_SEED - 1, MAX_SEED, 0]
        );
        let scenario = Scenario::parse("race.toml", RACE).expect("valid");
        assert_eq!(side.scenario(&scenario).tick_ms, 1);
        let a = side.run(&scenario, 3);
        assert_eq!(a.hash(), side.run(&scenario, 3).hash());
        assert_ne!(a.hash(), run(&scenario, RunOptions::new(3)).hash());
    }

    /// Proves the race this module is about is a race in the simulated side too: among
    /// the default seeds, a `worker_list` submitted with a `worker_spawn` lists the worker
    /// in some runs and not in others, so either branch reality takes can agree.
    #[test]
    fn both_branches_of_a_spawn_list_race_are_reached_within_the_default_seeds() {
        let scenario = Scenario::parse("race.toml", RACE).expect("valid");
        let side = SimSide::new(scenario.seed);
        let branches: Vec<bool> = side
            .seed_list()
            .map(|seed| listed_workers(&scenario, &side.run(&scenario, seed)))
            .collect();
        assert!(branches.contains(&true), "{branches:?}");
        assert!(branches.contains(&false), "{branches:?}");
    }
}
