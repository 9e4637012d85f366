//! **expect** — each job's outcome is the one its scenario line demands (`expect`).
//!
//! Not a docs/spec.md §9 invariant but the scenario author's own assertion: it pins a regression
//! scenario to the behaviour it documents (e.g. "a job on a partitioned hive ends in error").
//!
//! Matching follows what a user means: `error` is met by any failure the keeper sees (an
//! `error` marker, a lost connection, a refused request — the keeper exits non-zero for
//! all); for a keeper that dropped its stream or never connected, the job's final state on
//! the queen also counts (`disconnect_after_events` + `expect = "cancelled"` holds when the
//! queen cancelled the job). The extension values (`lost`, `detached`, ...) match exactly.

use super::view::{keeper_jobs, queen_final_states};
use super::Violation;
use crate::scenario::{Expect, Scenario};
use crate::trace::Trace;
use rbee::observer::JobState;

/// Compares each job's outcome with its `expect`.
pub fn check(scenario: &Scenario, trace: &Trace) -> Vec<Violation> {
    let finals = queen_final_states(trace);
    let mut out = Vec::new();
    for k in keeper_jobs(scenario, trace) {
        if k.plan.expect == Expect::Any {
            continue;
        }
        let got = k.outcome.map_or("no outcome", |(_, o, _)| o);
        let on_queen = k
            .submit
            .as_ref()
            .and_then(|(_, job)| finals.get(job))
            .map(|s| match s {
                JobState::Completed => "done",
                JobState::Failed(_) => "error",
                JobState::Cancelled => "cancelled",
                other => other.name(),
            });
        let met = got == k.plan.expect.name()
            || (k.plan.expect == Expect::Error && ["lost", "rejected"].contains(&got))
            || (["detached", "never_connected"].contains(&got)
                && on_queen == Some(k.plan.expect.name()));
        if !met {
            let detail = k
                .outcome
                .map(|(_, _, m)| m)
                .filter(|m| !m.is_empty())
                .map(|m| format!(" ({m})"))
                .unwrap_or_default();
            out.push(Violation {
                invariant: "expect",
                t: k.outcome.map_or(trace.end(), |o| o.0),
                host: k.plan.keeper.clone(),
                job: k.label(),
                message: format!("expected {}, got {got}{detail}", k.plan.expect.name()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;

    #[test]
    fn fires_when_the_outcome_differs() {
        let (mut scenario, trace) = two_jobs();
        scenario.jobs[0].expect = Expect::Done;
        assert_eq!(check(&scenario, &trace), []);
        scenario.jobs[0].expect = Expect::Cancelled;
        let v = check(&scenario, &trace);
        assert_eq!(v.len(), 1);
        assert!(v[0].message.contains("expected cancelled, got done"));
        scenario.jobs[0].expect = Expect::Error;
        assert_eq!(
            check(&scenario, &trace).len(),
            1,
            "done does not meet error"
        );
    }
}
