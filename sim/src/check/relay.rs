//! **relay** — a forwarded job's queen stream is its hive stream, transformed only as
//! docs/spec.md §3 and §6 say. For every forward the trace records (queen job Q → hive job H), the
//! keeper's view of Q is compared with what H's hive emitted:
//!
//! - every hive narration and data event appears once, in order, with the hive's actor and
//!   content (compared by content fingerprints of the hive's records; the keeper's view
//!   may stop early, never differ);
//! - every gap the hive's buffer dropped appears as a queen `relay_lagged` line naming how
//!   many, where the hive's stream said `lagged`;
//! - `at_ms` is the queen's clock: non-decreasing within the job, never later than the
//!   queen's clock when the line entered Q's channel, never earlier than the forward (the
//!   simulator starts hives hours before the queen, so a hive's timestamp passed on is
//!   hours off);
//! - the hive's marker becomes the queen's: a hive error keeps its message, a hive error or
//!   cancel never becomes `done`, and a hive `done` that the relay saw becomes `done`
//!   unless the queen job was cancelled;
//! - the queen adds only its own `job_create` and `forward` lines (and `relay_lagged`).
//!
//! What it cannot see: events the keeper never received (it stopped reading, its stream
//! was lost), and `seq` beyond what `order` checks.

use super::view::{faults, hub_records, keeper_jobs};
use super::Violation;
use crate::scenario::Scenario;
use crate::trace::Trace;
use rbee::event::{StreamEvent, Terminal, QUEEN_ACTOR};
use rbee::ids::JobId;
use rbee::observer::{HubRecord, JobState};
use std::collections::BTreeMap;

/// One item of a hive job's stream, in `seq` order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item {
    /// An event, by content fingerprint.
    Event(u64),
    /// A `lagged` notice: this many events dropped.
    Lagged(u64),
}

/// The queen's own lines on a forwarded job.
const QUEEN_LINES: [&str; 2] = ["job_create", "forward"];

/// What a hive job's stream carried, from its hub records.
#[derive(Default)]
struct HiveJob {
    /// By `seq`: `Some(fingerprint)` delivered, `None` dropped for a full buffer.
    seqs: BTreeMap<u64, Option<u64>>,
    /// Its last state.
    state: Option<JobState>,
}

impl HiveJob {
    /// The stream a reader of the hive job gets: events, and a `lagged` for each run of
    /// drops (before the next event, or at the end).
    fn items(&self) -> Vec<Item> {
        let mut out = Vec::new();
        let mut dropped = 0;
        for fingerprint in self.seqs.values() {
            match fingerprint {
                Some(f) => {
                    if dropped > 0 {
                        out.push(Item::Lagged(dropped));
                        dropped = 0;
                    }
                    out.push(Item::Event(*f));
                }
                None => dropped += 1,
            }
        }
        if dropped > 0 {
            out.push(Item::Lagged(dropped));
        }
        out
    }
}

/// The number a `relay_lagged` line names ("… dropped N event(s) …").
fn lagged_count(human: &str) -> Option<u64> {
    human
        .split("dropped ")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Compares every forwarded job's queen stream with its hive stream.
pub fn check(scenario: &Scenario, trace: &Trace) -> Vec<Violation> {
    let tick = scenario.tick_ms;
    let records = hub_records(trace);
    // Forwards, the hive jobs' streams, and when each queen job's lines entered its channel.
    let mut forwards: BTreeMap<&JobId, (u64, &str, &JobId)> = BTreeMap::new();
    let mut hive_jobs: BTreeMap<(&str, &JobId), HiveJob> = BTreeMap::new();
    let mut delivered_at: BTreeMap<(&JobId, u64), u64> = BTreeMap::new();
    let mut queen_state: BTreeMap<&JobId, &JobState> = BTreeMap::new();
    for r in &records {
        match (r.host == "queen", r.record) {
            (
                true,
                HubRecord::Forward {
                    job,
                    hive,
                    hive_job,
                },
            ) => {
                forwards.insert(job, (r.t, hive.as_str(), hive_job));
            }
            (true, HubRecord::Deliver { job, seq, .. }) => {
                delivered_at.insert((job, *seq), r.t);
            }
            (true, HubRecord::State { job, state }) => {
                queen_state.insert(job, state);
            }
            (
                false,
                HubRecord::Deliver {
                    job,
                    seq,
                    fingerprint,
                    ..
                },
            ) => {
                let h = hive_jobs.entry((r.host, job)).or_default();
                h.seqs.insert(*seq, Some(*fingerprint));
            }
            (false, HubRecord::DropFull { job, seq, .. }) => {
                let h = hive_jobs.entry((r.host, job)).or_default();
                h.seqs.insert(*seq, None);
            }
            (false, HubRecord::State { job, state }) => {
                hive_jobs.entry((r.host, job)).or_default().state = Some(state.clone());
            }
            _ => {}
        }
    }
    // The queen's clock reads 0 at its start: the run's start, or its last restart.
    let restarts: Vec<u64> = faults(trace)
        .iter()
        .filter(|f| f.resets("queen"))
        .map(|f| f.t)
        .collect();
    let origin = |t: u64| {
        restarts
            .iter()
            .copied()
            .filter(|r| *r <= t)
            .max()
            .unwrap_or(0)
    };
    let all_faults = faults(trace);

    let mut out = Vec::new();
    for k in keeper_jobs(scenario, trace) {
        let Some((_, q)) = &k.submit else { continue };
        let Some(&(forwarded_at, hive, h)) = forwards.get(q) else {
            continue;
        };
        let mut v = |t: u64, message: String| {
            out.push(Violation {
                invariant: "relay",
                t,
                host: k.plan.keeper.clone(),
                job: q.to_string(),
                message,
            })
        };
        let empty = HiveJob::default();
        let hive_job = hive_jobs.get(&(hive, h)).unwrap_or(&empty);
        let expected = hive_job.items();
        let mut relayed = Vec::new();
        let mut last_at = 0;
        let mut terminal = None;
        for (t, event) in &k.received {
            if let StreamEvent::Narration(n) = event {
                if n.at_ms < last_at {
                    v(
                        *t,
                        format!(
                            "`at_ms` went back from {last_at} to {} at seq {}",
                            n.at_ms, n.seq
                        ),
                    );
                }
                last_at = last_at.max(n.at_ms);
                if let Some(entered) = delivered_at.get(&(q, n.seq)) {
                    let latest = entered.saturating_sub(origin(*entered)) + tick;
                    if n.at_ms > latest {
                        v(*t, format!(
                            "`{}` (seq {}) says at_ms {}, later than the queen's clock ({latest} at most) when it was relayed: not the queen's clock",
                            n.action, n.seq, n.at_ms
                        ));
                    }
                    let earliest = forwarded_at.saturating_sub(origin(forwarded_at) + tick);
                    if n.actor != QUEEN_ACTOR && n.at_ms < earliest {
                        v(*t, format!(
                            "`{}` (seq {}) says at_ms {}, before the forward ({earliest}): not the queen's clock",
                            n.action, n.seq, n.at_ms
                        ));
                    }
                }
            }
            match event {
                StreamEvent::Narration(n) if n.actor == QUEEN_ACTOR => {
                    if n.action == "relay_lagged" {
                        match lagged_count(&n.human) {
                            Some(count) => relayed.push((*t, Item::Lagged(count))),
                            None => v(
                                *t,
                                format!("a `relay_lagged` line names no count: {:?}", n.human),
                            ),
                        }
                    } else if !QUEEN_LINES.contains(&n.action.as_str()) {
                        v(
                            *t,
                            format!(
                                "the queen added a line of its own to a forwarded job: `{}` {:?}",
                                n.action, n.human
                            ),
                        );
                    }
                }
                StreamEvent::Terminal(term) => terminal = Some((*t, term)),
                StreamEvent::Lagged(_) => {}
                other => {
                    if let Some(f) = other.fingerprint() {
                        relayed.push((*t, Item::Event(f)));
                    }
                }
            }
        }
        // The relayed items are the hive's, once each, in order, as far as they go.
        let diverged = relayed
            .iter()
            .zip(&expected)
            .position(|((_, got), want)| got != want);
        if let Some(i) = diverged {
            let (t, got) = relayed[i];
            v(t, format!(
                "item {i} of the relayed stream is {got:?}, the hive's stream had {:?} there (hive job {h} on {hive})",
                expected[i]
            ));
            continue;
        }
        if relayed.len() > expected.len() {
            let (t, extra) = relayed[expected.len()];
            v(t, format!(
                "the relayed stream has {} items, the hive's stream {}: {extra:?} was never emitted by hive job {h} on {hive}",
                relayed.len(),
                expected.len()
            ));
            continue;
        }
        let Some((t, term)) = terminal else { continue };
        let cut = all_faults
            .iter()
            .any(|f| f.t >= k.plan.at_ms && f.t <= t && f.cuts_queen_from(hive));
        let cancelled = queen_state
            .get(q)
            .is_some_and(|s| **s == JobState::Cancelled);
        match (&hive_job.state, term) {
            (Some(JobState::Failed(m)), Terminal::Done) => {
                v(t, format!("the hive job failed ({m}) but the queen's stream says done"))
            }
            (Some(JobState::Cancelled), Terminal::Done) => {
                v(t, "the hive job was cancelled but the queen's stream says done".into())
            }
            (Some(JobState::Failed(m)), Terminal::Error(got)) if !cut && got != m => v(
                t,
                format!("the hive job failed with {m:?} but the queen's error says {got:?}"),
            ),
            (Some(JobState::Completed), Terminal::Error(got))
                if !cut && !cancelled && relayed.len() == expected.len() =>
            {
                v(t, format!("the hive job completed and every line was relayed, but the queen's stream says error: {got}"))
            }
            (_, Terminal::Done) if relayed.len() < expected.len() => v(
                t,
                format!(
                    "done after {} of the hive's {} items",
                    relayed.len(),
                    expected.len()
                ),
            ),
            _ => {}
        }
    }
    out
}

/// The situations this invariant is about that a run reached (probe names).
pub fn situations(scenario: &Scenario, trace: &Trace) -> Vec<&'static str> {
    let mut forwarded: BTreeMap<&JobId, &JobId> = BTreeMap::new();
    let mut failed: Vec<&JobId> = Vec::new();
    for r in hub_records(trace) {
        match r.record {
            HubRecord::Forward { job, hive_job, .. } if r.host == "queen" => {
                forwarded.insert(job, hive_job);
            }
            HubRecord::State {
                job,
                state: JobState::Failed(_),
            } if r.host != "queen" => failed.push(job),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for k in keeper_jobs(scenario, trace) {
        let Some(h) = k.submit.as_ref().and_then(|(_, q)| forwarded.get(q)) else {
            continue;
        };
        let from_hive = |e: &StreamEvent| match e {
            StreamEvent::Narration(n) => n.actor != QUEEN_ACTOR,
            StreamEvent::Data(_) => true,
            _ => false,
        };
        if k.received.iter().any(|(_, e)| from_hive(e)) {
            out.push("relayed_job");
        }
        for (_, e) in &k.received {
            match e {
                StreamEvent::Narration(n) if n.action == "relay_lagged" => {
                    out.push("relay_lagged_line")
                }
                StreamEvent::Terminal(Terminal::Error(_)) if failed.contains(h) => {
                    out.push("hive_error_relayed")
                }
                _ => {}
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
    fn passes_on_a_correct_run_and_fires_on_an_altered_relayed_line() {
        let (scenario, trace) = two_jobs();
        assert_eq!(check(&scenario, &trace), []);
        let altered = rewrite_received(&trace, 0, 3, |e| {
            if let StreamEvent::Narration(n) = e {
                n.human.push_str(" (relayed)");
            }
        });
        let v = check(&scenario, &altered);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].message.contains("the hive's stream had"),
            "{}",
            v[0].message
        );
    }

    /// A relayed line that kept the hive's timestamp is hours off the queen's clock.
    #[test]
    fn fires_on_a_hive_timestamp_passed_on() {
        let (scenario, trace) = two_jobs();
        let skewed = rewrite_received(&trace, 0, usize::MAX, |e| {
            if let StreamEvent::Narration(n) = e {
                if n.actor == "hive" {
                    n.at_ms += crate::world::hive_uptime_ms(0);
                }
            }
        });
        let v = check(&scenario, &skewed);
        assert!(
            !v.is_empty()
                && v.iter()
                    .all(|v| v.message.contains("not the queen's clock")),
            "{v:?}"
        );
    }

    /// A hive gap that the queen does not announce, and one the queen announces wrongly.
    #[test]
    fn fires_on_a_hive_gap_not_relayed_as_relay_lagged() {
        let (scenario, trace) = two_jobs();
        // The hive "dropped" its seq 2 for alice's job: mark it dropped in the hive records.
        let h = trace
            .entries
            .iter()
            .find_map(|e| match &e.what {
                What::Hub {
                    record: HubRecord::Forward { hive_job, .. },
                } => Some(hive_job.clone()),
                _ => None,
            })
            .expect("a forward");
        let dropped = map_entries(&trace, |e| {
            if let What::Hub { record } = &mut e.what {
                if let HubRecord::Deliver {
                    job,
                    seq: 2,
                    action,
                    ..
                } = record
                {
                    if *job == h {
                        *record = HubRecord::DropFull {
                            job: job.clone(),
                            seq: 2,
                            action: action.clone(),
                        };
                    }
                }
            }
        });
        let v = check(&scenario, &dropped);
        assert!(
            !v.is_empty(),
            "a dropped hive event still relayed, or a gap not announced"
        );
        assert_eq!(
            lagged_count("hive 'hive-a' dropped 17 event(s) of this job"),
            Some(17)
        );
    }

    /// A hive error that becomes `done` on the queen.
    #[test]
    fn fires_when_a_hive_error_becomes_done() {
        let (scenario, trace) = two_jobs();
        let h = trace
            .entries
            .iter()
            .find_map(|e| match &e.what {
                What::Hub {
                    record: HubRecord::Forward { hive_job, .. },
                } => Some(hive_job.clone()),
                _ => None,
            })
            .expect("a forward");
        let failed = map_entries(&trace, |e| {
            if let What::Hub {
                record: HubRecord::State { job, state },
            } = &mut e.what
            {
                if *job == h && *state == JobState::Completed {
                    *state = JobState::Failed("disk full".into());
                }
            }
        });
        let v = check(&scenario, &failed);
        assert!(v.iter().any(|v| v.message.contains("says done")), "{v:?}");
    }
}
