//! The invariant checkers of SPEC §9, one module each, all pure functions over a recorded
//! [`Trace`] and its [`Scenario`]. Each returns violations naming job, host and simulated
//! time; each has a unit test on a hand-made violating trace proving it fires.

mod at_most_once;
mod cleanup;
mod contract;
mod create_before_take;
mod determinism;
mod expect;
mod isolation;
mod liveness;
mod missing_channel;
mod order;
mod panic;
mod terminal;
pub mod view;

#[cfg(test)]
pub(crate) mod testkit;

pub use determinism::check as determinism;

use crate::scenario::Scenario;
use crate::trace::Trace;
use std::fmt;

/// One broken invariant, at a place and time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The invariant's id (SPEC §9), e.g. `isolation`.
    pub invariant: &'static str,
    /// Simulated time in ms.
    pub t: u64,
    /// Host where it was seen.
    pub host: String,
    /// The job concerned (queen job id, or `#index` of a scenario job), if any.
    pub job: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] t={}ms host={}", self.invariant, self.t, self.host)?;
        if !self.job.is_empty() {
            write!(f, " job={}", self.job)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A checker: scenario and trace in, violations out.
pub type Checker = fn(&Scenario, &Trace) -> Vec<Violation>;

/// Every trace checker, in report order. `determinism` compares two traces and is run by
/// the caller ([`determinism`]).
pub const CHECKERS: [(&str, Checker); 11] = [
    ("isolation", isolation::check),
    ("cleanup", cleanup::check),
    ("missing-channel drop", missing_channel::check),
    ("create-before-take", create_before_take::check),
    ("terminal", terminal::check),
    ("order", order::check),
    ("liveness", liveness::check),
    ("at-most-once", at_most_once::check),
    ("contract", contract::check),
    ("expect", expect::check),
    ("no-panic", panic::check),
];

/// Runs every checker; returns (invariant, violations) in [`CHECKERS`] order.
pub fn check_all(scenario: &Scenario, trace: &Trace) -> Vec<(&'static str, Vec<Violation>)> {
    CHECKERS
        .iter()
        .map(|(name, check)| (*name, check(scenario, trace)))
        .collect()
}
