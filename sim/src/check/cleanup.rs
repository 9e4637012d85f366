//! **cleanup** — at quiescence every hub has 0 channels and every registry 0 jobs; live
//! channels never exceed live jobs; the queen leaves no hive job behind.
//!
//! Guards against historical bug 9 (the sender leaked on client disconnect, never-streamed
//! jobs stayed forever, the registry never shrank) and the hive half of bug 11 (a queen
//! cancel that never reached the hive). The TTL removes a forgotten hive job in the end, so
//! quiescence alone cannot see the second. Every hive job is the queen's: the relay streams
//! it, or cancels it when its queen job ended first (docs/spec.md §2 `DELETE`, §6). So a hive job
//! that *expires* was forgotten, unless a fault cut the queen's path to that hive (a
//! partition or hold of the two, a crash or restart of either) before the expiry. Where the
//! queen had recorded the hive job's id and its job was cancelled while the hive job was
//! queued, the violation names that queen job. Two races with the TTL are exempt: the
//! expiry within [`DELETE_REACH_MS`] of the cancel, and a hive job that expired within
//! [`DELETE_REACH_MS`] of its creation (a TTL shorter than the queen's reach: nothing the
//! queen does can save such a job, so the rule says nothing about scenarios with a TTL
//! under a second).

use super::view::{faults, hub_records, HostRecord};
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
    out.extend(forgotten_hive_jobs(trace, &records));
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

/// Hive jobs that expired though nothing cut the queen from them.
fn forgotten_hive_jobs(trace: &Trace, records: &[HostRecord<'_>]) -> Vec<Violation> {
    // Queen job -> its hive job (host, life, id); hive job -> its latest state.
    let mut hive_job_of: BTreeMap<&JobId, (&str, u32, &JobId)> = BTreeMap::new();
    let mut latest: BTreeMap<(&str, u32, &JobId), &JobState> = BTreeMap::new();
    // Hive jobs left queued by a cancel: hive job -> (queen job, cancel time).
    let mut left: BTreeMap<(&str, u32, &JobId), (&JobId, u64)> = BTreeMap::new();
    let mut forwarded_as: BTreeMap<(&str, u32, &JobId), &JobId> = BTreeMap::new();
    let mut queued_at: BTreeMap<(&str, u32, &JobId), u64> = BTreeMap::new();
    let mut out = Vec::new();
    let faults = faults(trace);
    // A host's life at `t`: the count of its crashes and restarts, as `hub_records` keeps it.
    let life_at =
        |host: &str, t: u64| faults.iter().filter(|f| f.t <= t && f.resets(host)).count() as u32;
    // Whether a fault before `t` may have kept the queen's `DELETE` from `hive`.
    let cut = |hive: &str, t: u64| faults.iter().any(|f| f.t <= t && f.cuts_queen_from(hive));
    for r in records {
        match r.record {
            HubRecord::Forward {
                job,
                hive,
                hive_job,
            } if r.host == "queen" => {
                let key = (hive.as_str(), life_at(hive, r.t), hive_job);
                hive_job_of.insert(job, key);
                forwarded_as.insert(key, job);
            }
            HubRecord::State { job, state } if r.host != "queen" => {
                let key = (r.host, r.life, job);
                latest.insert(key, state);
                if *state == JobState::Queued {
                    queued_at.insert(key, r.t);
                }
                // A TTL shorter than the queen's reach expires jobs no queen could save.
                let short_lived = queued_at
                    .get(&key)
                    .is_some_and(|at| r.t < at + DELETE_REACH_MS);
                if *state == JobState::Expired && !short_lived && !cut(r.host, r.t) {
                    let mut v = |job: String, message: String| {
                        out.push(Violation {
                            invariant: "cleanup",
                            t: r.t,
                            host: r.host.to_owned(),
                            job,
                            message,
                        })
                    };
                    match left.get(&key) {
                        Some((queen_job, cancelled_at)) => {
                            if r.t > cancelled_at + DELETE_REACH_MS {
                                v(
                                    queen_job.to_string(),
                                    format!(
                                        "hive job {job} expired, though its queen job was \
                                         cancelled at {cancelled_at} ms while it waited: the \
                                         cancel never reached the hive (docs/spec.md §2 DELETE, §6)"
                                    ),
                                );
                            }
                        }
                        None => {
                            let queen_job = forwarded_as
                                .get(&key)
                                .map(ToString::to_string)
                                .unwrap_or_default();
                            v(
                                queen_job,
                                format!(
                                    "hive job {job} expired, though nothing cut the queen from \
                                     hive '{}': every hive job is the queen's, which streams it \
                                     or cancels it (docs/spec.md §6), so the queen forgot this one",
                                    r.host
                                ),
                            );
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

    /// The same bug one step earlier: the queen job is cancelled while the forward's POST
    /// is answered, the relay never learns the hive job's id (no `Forward` record), and the
    /// hive job expires. Nothing names a queen job; the hive job alone is the evidence.
    #[test]
    fn fires_when_a_hive_job_nobody_cut_off_expires() {
        let hive_job = JobId::from_bits(2);
        let state = |t: u64, host: &str, state: JobState| Entry {
            t,
            host: host.to_owned(),
            what: What::Hub {
                record: HubRecord::State {
                    job: hive_job.clone(),
                    state,
                },
            },
        };
        let fault = |t: u64, fault: &str, hosts: &[&str]| Entry {
            t,
            host: "sim".to_owned(),
            what: What::Fault {
                fault: fault.to_owned(),
                hosts: hosts.iter().map(|h| h.to_string()).collect(),
            },
        };
        let scenario = scenario_of("hive-a");
        let forgotten = vec![
            state(40, "hive-a", JobState::Queued),
            state(5_040, "hive-a", JobState::Expired),
        ];
        let v = check(
            &scenario,
            &Trace {
                entries: forgotten.clone(),
            },
        );
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(
            (v[0].t, v[0].host.as_str(), v[0].job.as_str()),
            (5_040, "hive-a", "")
        );
        assert!(v[0].message.contains("the queen forgot this one"), "{v:?}");
        // Cut off by a hold before the expiry: the queen could not reach it.
        let mut held = forgotten.clone();
        held.insert(1, fault(100, "hold", &["queen", "hive-a"]));
        assert_eq!(check(&scenario, &Trace { entries: held }), []);
        // A hold after the expiry exempts nothing.
        let mut late = forgotten.clone();
        late.push(fault(6_000, "hold", &["queen", "hive-a"]));
        assert_eq!(check(&scenario, &Trace { entries: late }).len(), 1);
        // A TTL shorter than the queen's reach: exempt.
        let short = vec![
            state(40, "hive-a", JobState::Queued),
            state(140, "hive-a", JobState::Expired),
        ];
        assert_eq!(check(&scenario, &Trace { entries: short }), []);
        // Streamed and done, or cancelled: nothing forgotten.
        let cancelled = vec![
            state(40, "hive-a", JobState::Queued),
            state(90, "hive-a", JobState::Cancelled),
        ];
        assert_eq!(check(&scenario, &Trace { entries: cancelled }), []);
    }
}
