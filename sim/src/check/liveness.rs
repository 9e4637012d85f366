//! **liveness** — every submitted job's stream ends within its deadline once faults are
//! healed.
//!
//! Guards against historical bugs 4 and 6 (empty streams and clients that hung forever) and
//! against the silent stalls of a partitioned TCP stream: a reader must give up after 15 s of
//! silence, never wait until the time limit.

use super::view::keeper_jobs;
use super::Violation;
use crate::scenario::{Behaviour, Scenario};
use crate::trace::{Trace, What};

/// Silence limit plus a margin for retries and the network.
const GRACE_MS: u64 = 15_000 + 5_000;

/// A job's stream must end by: max(its connect time, the last fault) + the operation's
/// deadline + [`GRACE_MS`].
pub fn check(scenario: &Scenario, trace: &Trace) -> Vec<Violation> {
    let last_fault = trace
        .entries
        .iter()
        .filter(|e| matches!(e.what, What::Fault { .. }))
        .map(|e| e.t)
        .max()
        .unwrap_or(0);
    let end = trace.end();
    let mut out = Vec::new();
    for k in keeper_jobs(scenario, trace) {
        let started = match &k.submit {
            Some((t, _)) => t + k.plan.connect_after_ms,
            None => k.plan.at_ms,
        };
        if k.plan.behaviour == Behaviour::NeverConnect && k.submit.is_some() {
            continue;
        }
        let deadline =
            started.max(last_fault) + k.plan.operation.deadline().as_millis() as u64 + GRACE_MS;
        let message = match k.outcome {
            Some((t, outcome, _)) if t > deadline => {
                format!("stream ended ({outcome}) at {t} ms, after its deadline of {deadline} ms")
            }
            Some(_) => continue,
            None if end >= deadline => format!("stream never ended (deadline {deadline} ms)"),
            None => continue,
        };
        out.push(Violation {
            invariant: "liveness",
            t: k.outcome.map_or(end, |o| o.0),
            host: k.plan.keeper.clone(),
            job: k.label(),
            message,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;

    #[test]
    fn fires_on_a_stream_that_never_ends() {
        let (scenario, trace) = two_jobs();
        assert_eq!(check(&scenario, &trace), []);
        let mut hung = drop_first(&trace, |e| {
            matches!(&e.what, What::Outcome { index: 0, .. })
        });
        let end = hung.end();
        hung.entries.push(crate::trace::Entry {
            t: end + 200_000,
            host: "sim".into(),
            what: What::TimeLimit,
        });
        let v = check(&scenario, &hung);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("never ended"));
    }
}
