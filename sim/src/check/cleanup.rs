//! **cleanup** — at quiescence every hub has 0 channels and every registry 0 jobs; live
//! channels never exceed live jobs.
//!
//! Guards against historical bug 9: the sender leaked on client disconnect, never-streamed
//! jobs stayed forever, the registry never shrank.

use super::view::hub_records;
use super::Violation;
use crate::scenario::Scenario;
use crate::trace::{Trace, What};
use rbee::observer::{HubRecord, JobState};
use std::collections::BTreeMap;

/// Replays channel and job counts per host life, and reads the final quiescence records.
pub fn check(_: &Scenario, trace: &Trace) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut counts: BTreeMap<(&str, u32), (i64, i64)> = BTreeMap::new();
    for r in hub_records(trace) {
        let (channels, jobs) = counts.entry((r.host, r.life)).or_default();
        match r.record {
            HubRecord::Create { .. } => *channels += 1,
            HubRecord::Remove { .. } => *channels -= 1,
            HubRecord::State {
                state: JobState::Queued,
                ..
            } => *jobs += 1,
            HubRecord::Forget { .. } => *jobs -= 1,
            _ => continue,
        }
        if *channels > *jobs {
            out.push(Violation {
                invariant: "cleanup",
                t: r.t,
                host: r.host.to_owned(),
                job: super::view::record_job(r.record)
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                message: format!("{channels} live channels exceed {jobs} live jobs"),
            });
        }
    }
    for e in &trace.entries {
        if let What::Quiescence {
            channels,
            jobs,
            settled,
            ..
        } = &e.what
        {
            if *channels != 0 || *jobs != 0 {
                let when = if *settled {
                    "at quiescence"
                } else {
                    "at the end of the settle period"
                };
                out.push(Violation {
                    invariant: "cleanup",
                    t: e.t,
                    host: e.host.clone(),
                    job: String::new(),
                    message: format!("{when}: {channels} channel(s) and {jobs} job(s) still live"),
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
    fn fires_on_a_leaked_job_and_on_a_channel_without_job() {
        let (scenario, trace) = two_jobs();
        assert_eq!(check(&scenario, &trace), []);
        let leaked = map_entries(&trace, |e| {
            if let What::Quiescence { jobs, .. } = &mut e.what {
                if e.host == "queen" {
                    *jobs = 1;
                }
            }
        });
        let v = check(&scenario, &leaked);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("1 job(s) still live"));
        // A Forget before the Remove: for a moment a channel outlives its job.
        let early = drop_first(&trace, |e| {
            matches!(
                &e.what,
                What::Hub {
                    record: HubRecord::State {
                        state: JobState::Queued,
                        ..
                    }
                }
            )
        });
        assert!(check(&scenario, &early)
            .iter()
            .any(|v| v.message.contains("exceed")));
    }
}
