//! **isolation** — every event a keeper receives on job J's stream was emitted for J (a
//! relayed hive event counts for the queen job that forwarded it).
//!
//! Guards against historical bug 2: one global channel, so concurrent jobs saw each other's
//! narration.

use super::view::{hub_records, keeper_jobs, stamped};
use super::Violation;
use crate::scenario::Scenario;
use crate::trace::Trace;
use rbee::ids::JobId;
use rbee::observer::HubRecord;
use std::collections::BTreeMap;

/// Checks that each received narration/data event carries the stream's job id and matches
/// an event the queen emitted into that job's channel (same seq, same action).
pub fn check(scenario: &Scenario, trace: &Trace) -> Vec<Violation> {
    let mut emitted: BTreeMap<(&JobId, u64), &str> = BTreeMap::new();
    for r in hub_records(trace) {
        if let (
            true,
            HubRecord::Deliver {
                job, seq, action, ..
            },
        ) = (r.host == "queen", r.record)
        {
            emitted.insert((job, *seq), action);
        }
    }
    let mut out = Vec::new();
    for k in keeper_jobs(scenario, trace) {
        let Some((_, job)) = &k.submit else { continue };
        for (t, event) in &k.received {
            let Some((event_job, seq, action)) = stamped(event) else {
                continue;
            };
            let problem = if event_job != job {
                Some(format!(
                    "received event seq {seq} ({action}) of job {event_job}"
                ))
            } else if emitted.get(&(job, seq)) != Some(&action) {
                Some(format!(
                    "received event seq {seq} ({action}) that the queen never emitted for this job"
                ))
            } else {
                None
            };
            if let Some(message) = problem {
                out.push(Violation {
                    invariant: "isolation",
                    t: *t,
                    host: k.plan.keeper.clone(),
                    job: job.to_string(),
                    message,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;

    #[test]
    fn passes_on_a_real_run_and_fires_on_an_event_of_another_job() {
        let (scenario, trace) = two_jobs();
        assert_eq!(check(&scenario, &trace), []);
        let other = submitted(&trace, 1);
        let broken = rewrite_received(&trace, 0, 1, |e| set_job(e, &other));
        let v = check(&scenario, &broken);
        assert!(!v.is_empty());
        assert!(v[0].message.contains("of job"), "{}", v[0]);
        assert_eq!(v[0].host, "alice");
    }
}
