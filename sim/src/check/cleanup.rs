//! **cleanup** — at quiescence every hub has 0 channels and every registry 0 jobs; live
//! channels never exceed live jobs; a cancelled queen job leaves no hive job behind.
//!
//! Guards against historical bug 9 (the sender leaked on client disconnect, never-streamed
//! jobs stayed forever, the registry never shrank) and the hive half of bug 11 (a queen
//! cancel that never reached the hive). The TTL removes a forgotten hive job in the end, so
//! quiescence alone cannot see the second: a hive job that was still queued when its queen
//! job was cancelled must end `cancelled` (SPEC §2 `DELETE`, §6), or `completed` / `failed`
//! if it got there first — never `expired`, which is what a forgotten one becomes. Two
//! exemptions, both where the `DELETE` cannot arrive: a fault cut the queen's path to that
//! hive (a partition or hold of the two, a crash or restart of either) before the expiry,
//! or the expiry came within [`DELETE_REACH_MS`] of the cancel (the TTL won the race).

use super::view::{hub_records, HostRecord};
use super::Violation;
use crate::scenario::Scenario;
use crate::trace::{Trace, What};
use rbee::ids::JobId;
use rbee::observer::{HubRecord, JobState};
use std::collections::BTreeMap;

/// How long a queen's `DELETE` may take to reach a hive with nothing in the way: far above
/// the simulated network's largest latency, far below any TTL a cancel could be lost in.
pub const DELETE_REACH_MS: u64 = 1_000;

/// Replays channel and job counts per host life, reads the final quiescence records, and
/// follows every cancelled forwarded job to its hive.
pub fn check(_: &Scenario, trace: &Trace) -> Vec<Violation> {
    let records = hub_records(trace);
    let mut out = counts(&records);
    out.extend(quiescence(trace));
    out.extend(cancel_reached_hive(trace, &records));
    out
}

fn counts(records: &[HostRecord<'_>]) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut counts: BTreeMap<(&str, u32), (i64, i64)> = BTreeMap::new();
    for r in records {
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
    out
}

fn quiescence(trace: &Trace) -> Vec<Violation> {
    let mut out = Vec::new();
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

/// A hive job still queued when its queen job was cancelled, and what became of it.
fn cancel_reached_hive(trace: &Trace, records: &[HostRecord<'_>]) -> Vec<Violation> {
    // Queen job -> its hive job (host, life, id); hive job -> its latest state.
    let mut hive_job_of: BTreeMap<&JobId, (&str, u32, &JobId)> = BTreeMap::new();
    let mut latest: BTreeMap<(&str, u32, &JobId), &JobState> = BTreeMap::new();
    // Hive jobs left queued by a cancel: hive job -> (queen job, cancel time).
    let mut left: BTreeMap<(&str, u32, &JobId), (&JobId, u64)> = BTreeMap::new();
    let mut out = Vec::new();
    // The faults, once: few entries of a long trace.
    let faults: Vec<(u64, &str, &[String])> = trace
        .entries
        .iter()
        .filter_map(|e| match &e.what {
            What::Fault { fault, hosts } => Some((e.t, fault.as_str(), hosts.as_slice())),
            _ => None,
        })
        .collect();
    let names = |hosts: &[String], h: &str| hosts.iter().any(|x| x == h);
    // A host's life at `t`: the count of its crashes and restarts, as `hub_records` keeps it.
    let life_at = |host: &str, t: u64| {
        faults
            .iter()
            .filter(|(at, f, hosts)| {
                *at <= t && matches!(*f, "crash" | "restart") && names(hosts, host)
            })
            .count() as u32
    };
    // Whether a fault before `t` may have kept the queen's `DELETE` from `hive`.
    let cut = |hive: &str, t: u64| {
        faults.iter().any(|(at, f, hosts)| {
            *at <= t
                && match *f {
                    "partition" | "hold" => names(hosts, "queen") && names(hosts, hive),
                    "crash" | "restart" => names(hosts, "queen") || names(hosts, hive),
                    _ => false,
                }
        })
    };
    for r in records {
        match r.record {
            HubRecord::Forward {
                job,
                hive,
                hive_job,
            } if r.host == "queen" => {
                hive_job_of.insert(job, (hive.as_str(), life_at(hive, r.t), hive_job));
            }
            HubRecord::State { job, state } if r.host != "queen" => {
                let key = (r.host, r.life, job);
                latest.insert(key, state);
                if *state == JobState::Expired {
                    if let Some((queen_job, cancelled_at)) = left.get(&key) {
                        if r.t > cancelled_at + DELETE_REACH_MS && !cut(r.host, r.t) {
                            out.push(Violation {
                                invariant: "cleanup",
                                t: r.t,
                                host: r.host.to_owned(),
                                job: queen_job.to_string(),
                                message: format!(
                                    "hive job {job} expired, though its queen job was cancelled \
                                     at {cancelled_at} ms while it waited: the cancel never \
                                     reached the hive (SPEC §2 DELETE, §6)"
                                ),
                            });
                        }
                    }
                }
            }
            HubRecord::State {
                job,
                state: JobState::Cancelled,
            } if r.host == "queen" => {
                if let Some(key) = hive_job_of.get(job) {
                    if latest.get(key).is_some_and(|s| **s == JobState::Queued) {
                        left.insert(*key, (job, r.t));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use crate::trace::Entry;

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

    /// Historical bug 11, hive half: the queen cancels while its hive job waits for the
    /// relay's stream, sends no `DELETE`, and the hive job sits until its TTL expires it.
    #[test]
    fn fires_when_a_cancelled_queen_jobs_hive_job_expires() {
        let (queen_job, hive_job) = (JobId::from_bits(1), JobId::from_bits(2));
        let at = |t: u64, host: &str, what: What| Entry {
            t,
            host: host.to_owned(),
            what,
        };
        let hub = |record: HubRecord| What::Hub { record };
        let state = |job: &JobId, state: JobState| {
            hub(HubRecord::State {
                job: job.clone(),
                state,
            })
        };
        let run = |end: JobState, expired_at: u64, fault: Option<(&str, Vec<&str>)>| {
            let mut entries = vec![
                at(0, "queen", state(&queen_job, JobState::Queued)),
                at(40, "hive-a", state(&hive_job, JobState::Queued)),
                at(
                    45,
                    "queen",
                    hub(HubRecord::Forward {
                        job: queen_job.clone(),
                        hive: "hive-a".into(),
                        hive_job: hive_job.clone(),
                    }),
                ),
                at(60, "queen", state(&queen_job, JobState::Cancelled)),
                at(expired_at, "hive-a", state(&hive_job, end)),
            ];
            if let Some((fault, hosts)) = fault {
                entries.insert(
                    4,
                    at(
                        70,
                        "sim",
                        What::Fault {
                            fault: fault.into(),
                            hosts: hosts.into_iter().map(String::from).collect(),
                        },
                    ),
                );
            }
            check(&scenario_of("hive-a"), &Trace { entries })
        };
        let v = run(JobState::Expired, 5_040, None);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!((v[0].t, v[0].host.as_str()), (5_040, "hive-a"));
        assert_eq!(v[0].job, queen_job.to_string());
        assert!(v[0].message.contains("the cancel never reached the hive"));
        // The DELETE arrived: cancelled.
        assert_eq!(run(JobState::Cancelled, 75, None), []);
        // The TTL won the race against the DELETE.
        assert_eq!(run(JobState::Expired, 900, None), []);
        // Nothing could reach the hive: cut off, or crashed.
        let cut = Some(("partition", vec!["queen", "hive-a"]));
        assert_eq!(run(JobState::Expired, 5_040, cut), []);
        let crashed = Some(("crash", vec!["hive-a"]));
        assert_eq!(run(JobState::Expired, 5_040, crashed), []);
        // A partition elsewhere exempts nothing.
        let elsewhere = Some(("partition", vec!["queen", "hive-b"]));
        assert_eq!(run(JobState::Expired, 5_040, elsewhere).len(), 1);
    }
}
