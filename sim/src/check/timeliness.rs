//! **timeliness** — the timers of docs/spec.md §3 and §4 hold within one tick (plus the network's
//! own delay, for what a keeper sees through it):
//!
//! - **keep-alive**: a keeper's stream never goes more than 5 s without an event or a
//!   `: keep-alive` comment, unless a fault held or cut the keeper's path to the queen (or
//!   reset the queen) meanwhile;
//! - **silence, keeper**: a keeper that gives up on a silent stream does so 15 s after the
//!   last thing it got, neither sooner nor later;
//! - **silence, relay**: a forwarded job whose hive is cut from the queen (a partition or
//!   a hold that lasts, or a crash) ends within 15 s of the cut, not at the operation's
//!   deadline, as the keeper sees it (unless the keeper's own path is cut too);
//! - **TTL**: a job nobody streams expires at its TTL, not before and not later;
//! - **DELETE**: a running job's stream ends within [`CANCEL_MS`] of its keeper's `DELETE`
//!   being answered, unless a fault cuts the path (a forwarded job's stream ends once its
//!   hive has confirmed the cancel, one round trip more).
//!
//! The limits are the contract's numbers, written here, not read from the system: a
//! system whose timer constant drifted is caught. What it cannot see: the hive's own
//! keep-alives to the relay (the relay's silence rule covers their absence), and timers
//! inside a fault window, which `liveness` bounds loosely.

use super::view::{faults, hub_records, keeper_jobs, Fault};
use super::Violation;
use crate::scenario::{Mode, Scenario};
use crate::trace::{Trace, What};
use rbee::event::{StreamEvent, QUEEN_ACTOR};
use rbee::ids::JobId;
use rbee::observer::{HubRecord, JobState};
use std::collections::BTreeMap;

/// docs/spec.md §3: a stream sends a keep-alive after this long without an event.
pub const KEEP_ALIVE_MS: u64 = 5_000;
/// docs/spec.md §3: a reader that gets nothing for this long treats its peer as lost.
pub const SILENCE_MS: u64 = 15_000;
/// The longest one message spends on a simulated link (turmoil's default bound).
pub const LINK_MS: u64 = 100;
/// How soon a running job's stream ends after its `DELETE` was answered, without faults:
/// the queen's `cancelled` (or, for a forwarded job, the hive's confirmation relayed
/// first) crosses at most a few links, and the system's perturbation points may add up to
/// a few hundred ms.
pub const CANCEL_MS: u64 = 2_000;

/// Whether any fault in `[from, to]` satisfies `cuts`.
fn cut_between(faults: &[Fault], from: u64, to: u64, cuts: impl Fn(&Fault) -> bool) -> bool {
    faults.iter().any(|f| f.t >= from && f.t <= to && cuts(f))
}

/// Checks every timer rule; see the module documentation.
pub fn check(scenario: &Scenario, trace: &Trace) -> Vec<Violation> {
    let tick = scenario.tick_ms;
    let faults = faults(trace);
    let mut out = Vec::new();
    keeper_rules(scenario, trace, &faults, tick, &mut out);
    ttl_rule(scenario, trace, &faults, tick, &mut out);
    out
}

/// What each keeper's stream showed, and when: events and keep-alives, by scenario index.
fn items_of(trace: &Trace) -> BTreeMap<usize, Vec<u64>> {
    let mut items: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for e in &trace.entries {
        match &e.what {
            What::Received { index, .. } | What::KeepAlive { index } => {
                items.entry(*index).or_default().push(e.t)
            }
            _ => {}
        }
    }
    items
}

fn keeper_rules(
    scenario: &Scenario,
    trace: &Trace,
    faults: &[Fault],
    tick: u64,
    out: &mut Vec<Violation>,
) {
    let items = items_of(trace);
    let forwarded: Vec<&JobId> = hub_records(trace)
        .into_iter()
        .filter_map(|r| match r.record {
            HubRecord::Forward { job, .. } if r.host == "queen" => Some(job),
            _ => None,
        })
        .collect();
    let cancels: BTreeMap<usize, u64> = trace
        .entries
        .iter()
        .filter_map(|e| match &e.what {
            What::Cancel { index, result, .. } if result == "ok" => Some((*index, e.t)),
            _ => None,
        })
        .collect();
    for k in keeper_jobs(scenario, trace) {
        let keeper = k.plan.keeper.as_str();
        let mut v = |t: u64, message: String| {
            out.push(Violation {
                invariant: "timeliness",
                t,
                host: keeper.to_owned(),
                job: k.label(),
                message,
            })
        };
        let keeper_cut =
            |from: u64, to: u64| cut_between(faults, from, to, |f| f.cuts_keeper(keeper));
        let seen = items.get(&k.index).map(Vec::as_slice).unwrap_or_default();
        // Keep-alive: no gap over 5 s between two things the stream showed.
        for pair in seen.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if b - a > KEEP_ALIVE_MS + LINK_MS + 2 * tick && !keeper_cut(a, b) {
                v(b, format!(
                    "nothing on the stream for {} ms (from {a} to {b} ms): a keep-alive is due after {KEEP_ALIVE_MS} ms without an event",
                    b - a
                ));
            }
        }
        let Some((end, outcome, message)) = k.outcome else {
            continue;
        };
        // Silence, keeper side: gives up 15 s after the last thing it got.
        if outcome == "lost" && message.contains("no data for") {
            if let Some(last) = seen.last().copied() {
                let silent = end.saturating_sub(last);
                if silent > SILENCE_MS + 2 * tick || silent + tick < SILENCE_MS {
                    v(end, format!(
                        "gave up on a silent stream after {silent} ms of silence (the limit is {SILENCE_MS} ms)"
                    ));
                }
            }
        }
        // DELETE: a stream that was open ends soon after the DELETE was answered.
        let open_at = |t: u64| seen.first().is_some_and(|first| *first <= t);
        if let Some(&cancelled) = cancels.get(&k.index).filter(|t| open_at(**t)) {
            let bound = cancelled + CANCEL_MS;
            let hive = k.plan.operation.hive_id().unwrap_or_default();
            let path_cut = keeper_cut(k.plan.at_ms, bound)
                || (scenario.mode == Mode::Distributed
                    && cut_between(faults, k.plan.at_ms, bound, |f| f.cuts_queen_from(hive)));
            if end > bound && !path_cut {
                v(end, format!(
                    "the stream ended {} ms after its DELETE was answered (at {cancelled} ms); the bound is {CANCEL_MS} ms",
                    end - cancelled
                ));
            }
        }
        // Silence, relay side: a forwarded job whose hive was cut ends within 15 s.
        let Some((_, q)) = &k.submit else { continue };
        if !forwarded.contains(&q) {
            continue;
        }
        let Some(hive) = k.plan.operation.hive_id() else {
            continue;
        };
        let relaying_since = k.received.iter().find_map(|(t, e)| match e {
            StreamEvent::Narration(n) if n.actor != QUEEN_ACTOR => Some(*t),
            StreamEvent::Data(_) => Some(*t),
            _ => None,
        });
        let Some(relaying_since) = relaying_since else {
            continue;
        };
        // The relay may still be reading what reached it before the cut (a backlog it
        // relays at the keeper's pace): its silence starts once it has read the last of it,
        // which is before the keeper got the last relayed line.
        let last_relayed = k
            .received
            .iter()
            .filter(|(_, e)| match e {
                StreamEvent::Narration(n) => n.actor != QUEEN_ACTOR || n.action == "relay_lagged",
                StreamEvent::Data(_) => true,
                _ => false,
            })
            .map(|(t, _)| *t)
            .max()
            .unwrap_or(relaying_since);
        let limit = SILENCE_MS + 2 * LINK_MS + 3 * tick;
        for f in faults
            .iter()
            .filter(|f| f.t >= relaying_since && f.t < end && f.cuts_hive(hive))
        {
            let lasting = !faults
                .iter()
                .any(|h| h.t > f.t && h.t <= f.t + limit && h.kind.heals() && h.hosts == f.hosts);
            let silent_from = f.t.max(last_relayed);
            if lasting && end > silent_from + limit && !keeper_cut(f.t, end) {
                v(end, format!(
                    "hive '{hive}' was cut from the queen at {} ms and stayed cut, and the last relayed line came at {last_relayed} ms, but the job ended only at {end} ms: the relay must give up after {SILENCE_MS} ms of silence",
                    f.t
                ));
            }
        }
    }
}

/// A job's life as far as its TTL is concerned.
struct Unstreamed {
    /// When it was created.
    created: u64,
    /// Whether it was taken, cancelled or ended otherwise before any expiry.
    other_end: bool,
    /// When it expired.
    expired: Option<u64>,
}

/// A job nobody streams expires at its TTL: its `expired` state comes `ttl_ms` after its
/// creation, within one tick.
fn ttl_rule(
    scenario: &Scenario,
    trace: &Trace,
    faults: &[Fault],
    tick: u64,
    out: &mut Vec<Violation>,
) {
    let ttl = scenario.ttl_ms;
    let end = trace.end();
    let mut jobs: BTreeMap<(&str, u32, &JobId), Unstreamed> = BTreeMap::new();
    for r in hub_records(trace) {
        let key = |job| (r.host, r.life, job);
        match r.record {
            HubRecord::Create { job, .. } => {
                jobs.insert(
                    key(job),
                    Unstreamed {
                        created: r.t,
                        other_end: false,
                        expired: None,
                    },
                );
            }
            HubRecord::Take { job } => {
                if let Some(j) = jobs.get_mut(&key(job)) {
                    j.other_end = true;
                }
            }
            HubRecord::State { job, state } if state.is_terminal() => {
                if let Some(j) = jobs.get_mut(&key(job)) {
                    if *state == JobState::Expired {
                        j.expired = Some(r.t);
                    } else if j.expired.is_none() {
                        j.other_end = true;
                    }
                }
            }
            _ => {}
        }
    }
    for (
        (host, _, job),
        Unstreamed {
            created,
            other_end,
            expired,
        },
    ) in jobs
    {
        let due = created + ttl;
        let reset = faults
            .iter()
            .any(|f| f.t >= created && f.t <= due + tick && f.resets(host));
        let message = match expired {
            Some(t) if t + tick < due => {
                format!("expired at {t} ms, before its TTL ({ttl} ms after {created} ms)")
            }
            Some(t) if t > due + tick => {
                format!("expired at {t} ms, {} ms after its TTL was due", t - due)
            }
            None if !other_end && !reset && end > due + tick => {
                format!(
                    "never streamed and still not expired {} ms after its TTL was due",
                    end - due
                )
            }
            _ => continue,
        };
        out.push(Violation {
            invariant: "timeliness",
            t: expired.unwrap_or(end),
            host: host.to_owned(),
            job: job.to_string(),
            message,
        });
    }
}

/// The situations this invariant is about that a run reached (probe names).
pub fn situations(_scenario: &Scenario, trace: &Trace) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut cancelled: Vec<usize> = Vec::new();
    for e in &trace.entries {
        match &e.what {
            What::KeepAlive { .. } => out.push("keep_alive_seen"),
            What::Outcome {
                message, outcome, ..
            } if outcome == "lost" && message.contains("no data for") => out.push("keeper_silence"),
            What::Cancel { index, result, .. } if result == "ok" => cancelled.push(*index),
            What::Outcome { index, .. } if cancelled.contains(index) => {
                out.push("cancel_ended_stream")
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
    fn passes_on_a_correct_run() {
        let (scenario, trace) = two_jobs();
        assert_eq!(check(&scenario, &trace), []);
    }

    /// A stream that shows nothing for 6 s without a fault misses its keep-alive.
    #[test]
    fn fires_on_a_stream_silent_for_longer_than_the_keep_alive() {
        let (scenario, trace) = two_jobs();
        let late = map_entries(&trace, |e| {
            let last_of_job_0 = matches!(
                &e.what,
                What::Received {
                    index: 0,
                    event: StreamEvent::Terminal(_),
                    ..
                } | What::Outcome { index: 0, .. }
            );
            if last_of_job_0 {
                e.t += 6_000;
            }
        });
        let v = check(&scenario, &late);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].message.contains("a keep-alive is due"),
            "{}",
            v[0].message
        );
    }

    /// A keeper that gives up on silence after 25 s, or after 5 s.
    #[test]
    fn fires_on_a_keeper_that_gives_up_too_late_or_too_soon() {
        let (scenario, trace) = two_jobs();
        for silent in [25_000, 5_000] {
            let mut lost = drop_first(&trace, |e| {
                matches!(
                    &e.what,
                    What::Received {
                        index: 0,
                        event: StreamEvent::Terminal(_),
                        ..
                    }
                )
            });
            let last = lost
                .entries
                .iter()
                .filter(|e| matches!(&e.what, What::Received { index: 0, .. }))
                .map(|e| e.t)
                .max()
                .unwrap();
            for e in &mut lost.entries {
                if let What::Outcome {
                    index: 0,
                    outcome,
                    message,
                    ..
                } = &mut e.what
                {
                    *outcome = "lost".into();
                    *message = "no data for 15s".into();
                    e.t = last + silent;
                }
            }
            let v = check(&scenario, &lost);
            assert!(
                v.iter()
                    .any(|v| v.message.contains("gave up on a silent stream")),
                "{silent}: {v:?}"
            );
        }
    }

    /// A job never streamed whose expiry comes late, or never.
    #[test]
    fn fires_on_a_ttl_that_is_not_kept() {
        let (scenario, _) = two_jobs();
        let job = JobId::from_bits(5);
        let hub = |t: u64, record: HubRecord| Entry {
            t,
            host: "queen".into(),
            what: What::Hub { record },
        };
        let create = hub(
            100,
            HubRecord::Create {
                job: job.clone(),
                operation: "status".into(),
            },
        );
        let expire = |t| {
            hub(
                t,
                HubRecord::State {
                    job: job.clone(),
                    state: JobState::Expired,
                },
            )
        };
        let end = Entry {
            t: 200_000,
            host: "sim".into(),
            what: What::TimeLimit,
        };
        let ttl = scenario.ttl_ms;
        for (entries, fires) in [
            (vec![create.clone(), expire(100 + ttl), end.clone()], false),
            (
                vec![create.clone(), expire(100 + ttl + 5_000), end.clone()],
                true,
            ),
            (
                vec![create.clone(), expire(100 + ttl / 2), end.clone()],
                true,
            ),
            (vec![create.clone(), end.clone()], true),
        ] {
            let v = check(&scenario, &Trace { entries });
            assert_eq!(!v.is_empty(), fires, "{v:?}");
        }
    }
}
