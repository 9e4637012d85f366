//! The invariant checkers of docs/spec.md §9, one module each, all pure functions over a recorded
//! [`Trace`] and its [`Scenario`]. Each returns violations naming job, host and simulated
//! time; each has a unit test on a hand-made violating trace proving it fires.

mod at_most_once;
mod cleanup;
mod contract;
mod create_before_take;
mod determinism;
mod expect;
mod failure_form;
pub mod http;
mod isolation;
mod liveness;
mod missing_channel;
mod order;
mod panic;
pub mod relay;
pub mod semantics;
mod terminal;
pub mod timeliness;
pub mod view;

#[cfg(test)]
pub(crate) mod testkit;

pub use determinism::check as determinism;

use crate::coverage::Hits;
use crate::scenario::Scenario;
use crate::trace::Trace;
use std::fmt;

/// One broken invariant, at a place and time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The invariant's id (docs/spec.md §9), e.g. `isolation`.
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

/// One invariant: its id, its checker, and the probes ([`crate::coverage::PROBES`]) whose
/// hits are the rare situations it is about — a run that hits none of them checked it on
/// plain cases only (for `terminal`: streams that each ended with their one marker).
#[derive(Clone, Copy, Debug)]
pub struct Invariant {
    /// Its id (docs/spec.md §9), as reports name it.
    pub name: &'static str,
    /// The checker.
    pub check: Checker,
    /// Its triggers.
    pub triggers: &'static [&'static str],
}

/// Every trace checker, in report order. `determinism` compares two traces and is run by
/// the caller ([`determinism`]).
pub const CHECKERS: [Invariant; 16] = [
    Invariant {
        name: "isolation",
        check: isolation::check,
        triggers: &[
            "interleaved_jobs",
            "concurrent_hive_jobs",
            "worker_outlived_job",
            "relay_after_end",
            "perturb_straggler",
            "perturb_stray",
        ],
    },
    Invariant {
        name: "cleanup",
        check: cleanup::check,
        triggers: &[
            "client_disconnect",
            "ttl_expired",
            "cancel_queued",
            "cancel_forwarded",
            "cancel_before_hive_stream",
            "cancel_during_forward",
            "relay_link_lost",
            "relay_silence",
            "subtask_aborted",
        ],
    },
    Invariant {
        name: "missing-channel drop",
        check: missing_channel::check,
        triggers: &[
            "no_channel_removed@queen",
            "no_channel_removed@hive",
            "no_channel_expired@queen",
            "no_channel_expired@hive",
            "no_channel_never_created@queen",
            "no_channel_never_created@hive",
        ],
    },
    Invariant {
        name: "create-before-take",
        check: create_before_take::check,
        triggers: &[
            "take_early",
            "take_late",
            "stream_404",
            "stream_409",
            "perturb_take_start",
        ],
    },
    Invariant {
        name: "terminal",
        check: terminal::check,
        triggers: &[
            "cancel_after_completion",
            "completion_after_cancel",
            "execute_refused",
            "job_failed",
            "relay_silence",
            "relay_link_lost",
            "perturb_finish_close",
            "silence_kept_alive",
            "outlived_ttl",
            "marker_text_in_narration",
        ],
    },
    Invariant {
        name: "order",
        check: order::check,
        triggers: &[
            "drop_full",
            "lagged_notice",
            "backpressure_wait",
            "interleaved_jobs",
        ],
    },
    Invariant {
        name: "liveness",
        check: liveness::check,
        triggers: &[
            "relay_silence",
            "relay_link_lost",
            "relay_connect_retry",
            "hive_crash_mid_stream",
            "keeper_lost",
            "silence_kept_alive",
        ],
    },
    Invariant {
        name: "at-most-once",
        check: at_most_once::check,
        triggers: &["stream_409", "execute_refused", "perturb_take_start"],
    },
    Invariant {
        name: "contract",
        check: contract::check,
        triggers: &[
            "subtask_line_delivered",
            "backpressure_wait",
            "perturb_emit",
            "perturb_relay",
            "silence_kept_alive",
            "outlived_ttl",
        ],
    },
    Invariant {
        name: "semantics",
        check: semantics::check,
        triggers: &[
            "commit_refused",
            "download_waited",
            "cancel_drained",
            "state_ops_overlap",
            "download_raced",
            "download_refused_present",
            "read_raced_write",
            "effect_unknown",
            "write_cancelled_before_commit",
            "worker_stopped",
            "state_reset",
        ],
    },
    Invariant {
        name: "relay",
        check: relay::check,
        triggers: &[
            "relayed_job",
            "relay_lagged_line",
            "hive_error_relayed",
            "cancel_drained",
        ],
    },
    Invariant {
        name: "timeliness",
        check: timeliness::check,
        triggers: &[
            "keep_alive_seen",
            "keeper_silence",
            "relay_silence",
            "ttl_expired",
            "cancel_ended_stream",
        ],
    },
    Invariant {
        name: "http",
        check: http::check,
        triggers: &[
            "request_refused",
            "refused_on_purpose",
            "asked_after_end",
            "cancel_accepted",
            "stream_404",
            "stream_409",
            "cancel_after_completion",
        ],
    },
    Invariant {
        name: "failure-form",
        check: failure_form::check,
        triggers: &[
            "keeper_lost",
            "error_naming_hive",
            "relay_silence",
            "relay_link_lost",
            "hive_crash_mid_stream",
            "silence_kept_alive",
        ],
    },
    Invariant {
        name: "expect",
        check: expect::check,
        triggers: &["expect_declared"],
    },
    Invariant {
        name: "no-panic",
        check: panic::check,
        triggers: &["job_executed"],
    },
];

/// Runs every checker; returns (invariant, violations) in [`CHECKERS`] order.
pub fn check_all(scenario: &Scenario, trace: &Trace) -> Vec<(&'static str, Vec<Violation>)> {
    CHECKERS
        .iter()
        .map(|c| (c.name, (c.check)(scenario, trace)))
        .collect()
}

/// How often `invariant`'s triggers were hit; `None` for an invariant without declared
/// triggers (determinism, which compares two whole runs).
pub fn exercised(invariant: &str, hits: &Hits) -> Option<u64> {
    let checker = CHECKERS.iter().find(|c| c.name == invariant)?;
    Some(
        checker
            .triggers
            .iter()
            .map(|t| hits.get(t).copied().unwrap_or(0))
            .sum(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_trigger_is_a_catalogued_probe_and_every_checker_has_one() {
        for c in CHECKERS {
            assert!(!c.triggers.is_empty(), "{} declares no trigger", c.name);
            for t in c.triggers {
                assert!(
                    crate::coverage::PROBES.iter().any(|(n, _)| n == t),
                    "{}: trigger {t} is not a probe",
                    c.name
                );
            }
        }
    }
}
