//! **missing-channel drop** — an event for a job with no channel reaches no stream and is
//! counted.
//!
//! Guards against historical bugs 3 and 10: a lost `create_job_channel` ("Job channel not
//! found"), and a missing channel that panicked instead of being handled.

use super::view::{hub_records, Channels};
use super::Violation;
use crate::scenario::Scenario;
use crate::trace::{Trace, What};
use rbee::observer::HubRecord;
use std::collections::BTreeMap;

/// Checks that drops happen only for jobs without a live channel, deliveries only for jobs
/// with one, and that each host's drop counter equals its recorded drops.
pub fn check(_: &Scenario, trace: &Trace) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut channels = Channels::default();
    let mut drops: BTreeMap<&str, u64> = BTreeMap::new();
    for r in hub_records(trace) {
        let v = |message: String, job: &rbee::ids::JobId| Violation {
            invariant: "missing-channel drop",
            t: r.t,
            host: r.host.to_owned(),
            job: job.to_string(),
            message,
        };
        match r.record {
            HubRecord::DropNoChannel { job, action } => {
                *drops.entry(r.host).or_default() += 1;
                if channels.state(r.host, r.life, job) == Some(true) {
                    out.push(v(
                        format!(
                            "'{action}' dropped although the job's channel is live and streamed"
                        ),
                        job,
                    ));
                }
            }
            HubRecord::Deliver { job, seq, .. }
                if channels.state(r.host, r.life, job).is_none() =>
            {
                out.push(v(
                    format!("event seq {seq} delivered to a job without a channel"),
                    job,
                ));
            }
            _ => {}
        }
        channels.apply(&r);
    }
    for e in &trace.entries {
        if let What::Quiescence {
            dropped_no_channel, ..
        } = &e.what
        {
            // Counters restart with the process; compare only hosts that never restarted.
            let restarted = trace
                .entries
                .iter()
                .any(|f| matches!(&f.what, What::Fault { hosts, .. } if hosts.contains(&e.host)));
            let recorded = drops.get(e.host.as_str()).copied().unwrap_or(0);
            if !restarted && *dropped_no_channel != recorded {
                out.push(Violation {
                    invariant: "missing-channel drop",
                    t: e.t,
                    host: e.host.clone(),
                    job: String::new(),
                    message: format!(
                        "hub counted {dropped_no_channel} drop(s) but {recorded} were recorded"
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

    #[test]
    fn fires_on_a_drop_for_a_live_channel_and_on_an_uncounted_drop() {
        let (scenario, trace) = two_jobs();
        assert_eq!(check(&scenario, &trace), []);
        // Turn the first queen delivery after a take into a drop: the channel was live.
        let broken = replace_first_after_take(&trace, |job, action| HubRecord::DropNoChannel {
            job,
            action,
        });
        let v = check(&scenario, &broken);
        assert!(
            v.iter()
                .any(|v| v.message.contains("although the job's channel is live")),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|v| v.message.contains("hub counted 0 drop(s) but 1")),
            "{v:?}"
        );
    }
}
