//! **order** — per job, `seq` strictly increases on the stream, and every gap is accounted
//! for by a `lagged` event (including events lost at the very end).
//!
//! Guards against historical bug 13: silent drops on a full buffer, including the final
//! narration.

use super::view::{hub_records, keeper_jobs};
use super::Violation;
use crate::scenario::Scenario;
use crate::trace::Trace;
use rbee::event::StreamEvent;
use rbee::ids::JobId;
use rbee::observer::HubRecord;
use std::collections::BTreeMap;

/// Walks each stream with an expected seq; `lagged` widens it; a terminal closes the books
/// against the number of events the queen numbered for the job.
pub fn check(scenario: &Scenario, trace: &Trace) -> Vec<Violation> {
    let mut numbered: BTreeMap<&JobId, u64> = BTreeMap::new();
    for r in hub_records(trace) {
        if let (true, HubRecord::Deliver { job, .. } | HubRecord::DropFull { job, .. }) =
            (r.host == "queen", r.record)
        {
            *numbered.entry(job).or_default() += 1;
        }
    }
    let mut out = Vec::new();
    for k in keeper_jobs(scenario, trace) {
        let Some((_, job)) = &k.submit else { continue };
        let (mut expected, mut lagged) = (0u64, 0u64);
        for (t, event) in &k.received {
            let mut v = |message: String| {
                out.push(Violation {
                    invariant: "order",
                    t: *t,
                    host: k.plan.keeper.clone(),
                    job: job.to_string(),
                    message,
                })
            };
            match event {
                StreamEvent::Lagged(l) => lagged += l.dropped,
                StreamEvent::Terminal(_) => {
                    let total = expected + lagged;
                    let want = numbered.get(job).copied().unwrap_or(0);
                    if total < want {
                        v(format!("stream ended after {total} of {want} events with no lagged event for the rest"));
                    }
                }
                e => {
                    let seq = e.seq().unwrap_or(0);
                    if seq < expected {
                        v(format!(
                            "seq {seq} after seq {}",
                            expected.saturating_sub(1)
                        ));
                    } else if seq != expected + lagged {
                        v(format!(
                            "gap before seq {seq}: expected {} ({} lagged)",
                            expected + lagged,
                            lagged
                        ));
                    }
                    expected = seq + 1;
                    lagged = 0;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use crate::trace::What;

    #[test]
    fn fires_on_a_silent_gap_and_on_a_lost_tail() {
        let (scenario, trace) = two_jobs();
        assert_eq!(check(&scenario, &trace), []);
        let gap = drop_first(
            &trace,
            |e| matches!(&e.what, What::Received { index: 0, event, .. } if event.seq() == Some(1)),
        );
        let v = check(&scenario, &gap);
        assert!(
            v.iter().any(|v| v.message.contains("gap before seq 2")),
            "{v:?}"
        );
        let tail = drop_last(
            &trace,
            |e| matches!(&e.what, What::Received { index: 0, event, .. } if event.seq().is_some()),
        );
        let v = check(&scenario, &tail);
        assert!(
            v.iter()
                .any(|v| v.message.contains("no lagged event for the rest")),
            "{v:?}"
        );
    }
}
