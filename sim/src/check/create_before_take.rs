//! **create-before-take** — every take follows the create of the same job on the same
//! process; events emitted between create and take are delivered; a stream request for an
//! unknown job gets 404 without side effects.
//!
//! Guards against historical bugs 1 and 3: the subscribe/execute race (channel closed before
//! execution emitted) and a job registered without its channel.

use super::view::{hub_records, keeper_jobs, Channels};
use super::Violation;
use crate::scenario::Scenario;
use crate::trace::Trace;
use rbee::ids::JobId;
use rbee::observer::{HubRecord, JobState, Route};
use std::collections::{BTreeMap, BTreeSet};

/// Replays records per host life; then checks that keepers got the pre-take buffer.
pub fn check(scenario: &Scenario, trace: &Trace) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut channels = Channels::default();
    let mut created: BTreeSet<(&str, u32, &JobId)> = BTreeSet::new();
    let mut refused: BTreeSet<(&str, &str)> = BTreeSet::new();
    // Seqs the queen delivered for each job before its take.
    let mut pre_take: BTreeMap<&JobId, Vec<u64>> = BTreeMap::new();
    let mut taken: BTreeSet<&JobId> = BTreeSet::new();
    let records = hub_records(trace);
    for (i, r) in records.iter().enumerate() {
        let mut v = |job: String, message: String| {
            out.push(Violation {
                invariant: "create-before-take",
                t: r.t,
                host: r.host.to_owned(),
                job,
                message,
            })
        };
        match r.record {
            HubRecord::State {
                job,
                state: JobState::Queued,
            } => {
                let has_channel = records[i + 1..].iter().take_while(|n| n.t == r.t).any(|n| {
                    n.host == r.host
                        && matches!(n.record, HubRecord::Create { job: j, .. } if j == job)
                });
                if !has_channel {
                    v(
                        job.to_string(),
                        "job registered without creating its channel".into(),
                    );
                }
            }
            HubRecord::Create { job, .. } => {
                created.insert((r.host, r.life, job));
                if refused.contains(&(r.host, job.as_str())) {
                    v(
                        job.to_string(),
                        "job created after a stream request for it was refused".into(),
                    );
                }
            }
            HubRecord::Take { job } => {
                if !created.contains(&(r.host, r.life, job)) {
                    v(
                        job.to_string(),
                        "take without a create on this process".into(),
                    );
                } else if channels.state(r.host, r.life, job).is_none() {
                    v(job.to_string(), "take after the channel was removed".into());
                }
                if r.host == "queen" {
                    taken.insert(job);
                }
            }
            HubRecord::Deliver { job, seq, .. } if r.host == "queen" && !taken.contains(job) => {
                pre_take.entry(job).or_default().push(*seq);
            }
            HubRecord::Reply {
                route: Route::Stream,
                job: Some(job),
                status,
            } if *status != 200 => {
                refused.insert((r.host, job.as_str()));
                let state = JobId::parse(job)
                    .ok()
                    .and_then(|id| channels.state(r.host, r.life, &id));
                match (status, state) {
                    (404, Some(_)) => v(job.clone(), "404 for a job whose channel is live".into()),
                    (409, Some(false)) => v(
                        job.clone(),
                        "409 for a job whose stream was not taken".into(),
                    ),
                    _ => {}
                }
            }
            _ => {}
        }
        channels.apply(r);
    }
    for k in keeper_jobs(scenario, trace) {
        let Some((_, job)) = &k.submit else { continue };
        if k.terminals().next().is_none() {
            continue; // a stream that did not finish cannot be held to its full buffer
        }
        let got: BTreeSet<u64> = k.received.iter().filter_map(|(_, e)| e.seq()).collect();
        let lagged = k
            .received
            .iter()
            .any(|(_, e)| matches!(e, rbee::event::StreamEvent::Lagged(_)));
        for seq in pre_take.get(job).into_iter().flatten() {
            if !got.contains(seq) && !lagged {
                out.push(Violation {
                    invariant: "create-before-take",
                    t: k.received.last().map_or(0, |(t, _)| *t),
                    host: k.plan.keeper.clone(),
                    job: job.to_string(),
                    message: format!(
                        "event seq {seq} emitted between create and take never reached the stream"
                    ),
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
    use crate::trace::What;

    #[test]
    fn fires_on_a_job_without_channel_and_on_a_lost_pre_take_event() {
        let (scenario, trace) = two_jobs();
        assert_eq!(check(&scenario, &trace), []);
        let no_channel = drop_first(&trace, |e| {
            matches!(
                &e.what,
                What::Hub {
                    record: HubRecord::Create { .. }
                }
            )
        });
        let v = check(&scenario, &no_channel);
        assert!(
            v.iter().any(|v| v
                .message
                .contains("registered without creating its channel")),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|v| v.message.contains("take without a create")),
            "{v:?}"
        );
        // The job_create line (seq 0) never reaches the keeper.
        let lost = drop_first(
            &trace,
            |e| matches!(&e.what, What::Received { index: 0, event, .. } if event.seq() == Some(0)),
        );
        let v = check(&scenario, &lost);
        assert!(
            v.iter()
                .any(|v| v.message.contains("seq 0 emitted between create and take")),
            "{v:?}"
        );
    }
}
