//! The properties of docs/spec.md §4 that every execution of the model must keep, as checks over
//! its [`Outcome`]. Each returns the violations it finds, named so that a failure message
//! (and the list of known findings in `main.rs`) can tell them apart.

use crate::world::{job_j, job_k, Outcome, StreamSeen};
use rbee::event::StreamEvent;
use rbee::hub::{Sent, TakeError};
use rbee::ids::JobId;
use rbee::observer::JobState;
use rbee::server::terminal_for;

/// One broken property in one execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which property (a short stable name).
    pub property: &'static str,
    /// What happened, for the failure message.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.property, self.message)
    }
}

fn violation(property: &'static str, message: String) -> Violation {
    Violation { property, message }
}

/// Every violation of every property in `o`; empty when the execution is correct.
pub fn violations(o: &Outcome) -> Vec<Violation> {
    let mut found = Vec::new();
    found.extend(isolation(o));
    found.extend(single_receiver(o));
    found.extend(terminal_from_final_state(o));
    found.extend(at_most_once(o));
    found.extend(expired_jobs_never_ran(o));
    found.extend(delivered_events_are_read(o));
    found.extend(waiting_sends_never_drop(o));
    found.extend(terminal_states_are_final(o));
    found.extend(nothing_left_behind(o));
    found.extend(one_owner_of_the_reply(o));
    found
}

/// `handoff` — the relay's submit reply has exactly one owner: taken by the forward, handed
/// back to it as it leaves, or refused to the submit task. None: an orphaned hive job nobody
/// cancels; two: a hive job cancelled twice (or a reply used after it was given back).
pub fn one_owner_of_the_reply(o: &Outcome) -> Vec<Violation> {
    let owners = o.handoff.count();
    if owners == 1 {
        return Vec::new();
    }
    vec![Violation {
        property: "handoff",
        message: format!("the submit reply has {owners} owners: {:?}", o.handoff),
    }]
}

/// `isolation` — no delivery to another job: every event on J's streams was emitted for J,
/// every event on K's for K (docs/spec.md §4.3, historical bug 2).
pub fn isolation(o: &Outcome) -> Vec<Violation> {
    let mut found = Vec::new();
    let streams = o
        .streams_j
        .iter()
        .map(|s| (job_j(), s))
        .chain([(job_k(), &o.stream_k)]);
    for (job, seen) in streams {
        for event in &seen.events {
            let owner: Option<&JobId> = match event {
                StreamEvent::Narration(n) => Some(&n.job_id),
                StreamEvent::Data(d) => Some(&d.job_id),
                StreamEvent::Lagged(_) | StreamEvent::Terminal(_) => None,
            };
            if owner.is_some_and(|owner| *owner != job) {
                found.push(violation(
                    "isolation",
                    format!("{job}'s stream read {event:?}"),
                ));
            }
        }
    }
    found
}

/// `single-receiver` — the receiver is taken once: at most one stream request for J gets
/// it, and a request is told "already taken" (409) for a live job only if another request
/// got it (docs/spec.md §4.2).
///
/// `taken-instead-of-unknown` — a request told "already taken" although no request got the
/// receiver and J was ending (terminal, or gone, right after the refusal): docs/spec.md §2 answers
/// 404 for an expired or finished job. A finding of this model (see `main.rs`).
pub fn single_receiver(o: &Outcome) -> Vec<Violation> {
    let took = o.streams_j.iter().filter(|s| s.take.is_ok()).count();
    let mut found = Vec::new();
    if took > 1 {
        found.push(violation(
            "single-receiver",
            format!("{took} streams took J's receiver"),
        ));
    }
    for seen in &o.streams_j {
        if seen.take != Err(TakeError::Taken) || took > 0 {
            continue;
        }
        match &seen.after_refusal {
            Some(state) if !state.is_terminal() => found.push(violation(
                "single-receiver",
                format!("a stream was told J's receiver is taken while J is {state:?}, and no stream has it"),
            )),
            ended => found.push(violation(
                "taken-instead-of-unknown",
                format!("a stream was told J's receiver is taken (409), no stream has it and J was ending ({ended:?}): 404 expected"),
            )),
        }
    }
    found
}

/// `terminal` — the terminal a stream sends is derived from the job's final state: the
/// state it reads once its channel has ended is already terminal (never "closed before the
/// job ended") and is the state the job keeps (docs/spec.md §3-4, historical bug 7).
pub fn terminal_from_final_state(o: &Outcome) -> Vec<Violation> {
    let mut found = Vec::new();
    let streams = o
        .streams_j
        .iter()
        .map(|s| (job_j(), s, &o.final_j))
        .chain([(job_k(), &o.stream_k, &o.final_k)]);
    for (job, seen, last) in streams {
        let Some(read) = &seen.state_at_end else {
            continue;
        };
        if !read.is_terminal() {
            found.push(violation(
                "terminal",
                format!(
                    "{job}'s channel closed while the job was {read:?} (the stream sends {:?})",
                    seen.terminal
                ),
            ));
        } else if read != last {
            found.push(violation(
                "terminal",
                format!("{job}'s stream read {read:?}, the job ended {last:?}"),
            ));
        }
        if seen.terminal.as_ref() != Some(&terminal_for(last)) {
            found.push(violation(
                "terminal",
                format!(
                    "{job}'s stream sends {:?}, its final state {last:?} says {:?}",
                    seen.terminal,
                    terminal_for(last)
                ),
            ));
        }
    }
    if !o.final_j.is_terminal() || !o.final_k.is_terminal() {
        found.push(violation(
            "terminal",
            format!("a job never ended (J {:?}, K {:?})", o.final_j, o.final_k),
        ));
    }
    found
}

/// `at-most-once` — the payload is handed out at most once: at most one `start` returns it
/// (docs/spec.md §4, the at-most-once invariant).
pub fn at_most_once(o: &Outcome) -> Vec<Violation> {
    let starts = o.streams_j.iter().filter(|s| s.started).count();
    if starts > 1 {
        vec![violation(
            "at-most-once",
            format!("J's payload was handed out {starts} times"),
        )]
    } else {
        Vec::new()
    }
}

/// `expired-after-start` — an expired job executed nothing: expiry is for a job whose
/// client never connected, so a job whose payload was handed out never ends `expired`
/// (docs/spec.md §4.4). A finding of this model (see `main.rs`).
pub fn expired_jobs_never_ran(o: &Outcome) -> Vec<Violation> {
    if o.final_j == JobState::Expired && o.streams_j.iter().any(|s| s.started) {
        vec![violation(
            "expired-after-start",
            "J ended expired after a stream had taken it and started its executor".to_owned(),
        )]
    } else {
        Vec::new()
    }
}

/// `delivery` — nothing is lost unannounced: the stream holding a job's receiver reads
/// every event the hub accepted into that job's channel — those emitted between register
/// and take included — in `seq` order, and every event the synchronous path dropped from the
/// full buffer is announced by a `lagged` event covering exactly its gap (docs/spec.md §3, §4.1,
/// §4.3).
pub fn delivered_events_are_read(o: &Outcome) -> Vec<Violation> {
    let mut found = Vec::new();
    let streams = o
        .streams_j
        .iter()
        .map(|s| (job_j(), s, &o.delivered_j, &o.dropped_j))
        .chain([(job_k(), &o.stream_k, &o.delivered_k, &o.dropped_k)]);
    for (job, seen, delivered, dropped) in streams {
        if seen.take.is_err() {
            continue;
        }
        let read = read_seqs(seen);
        if read != *delivered {
            found.push(violation(
                "delivery",
                format!("{job}'s stream read seqs {read:?}, the hub accepted {delivered:?}"),
            ));
        }
        let mut expected = 0;
        let mut announced = Vec::new();
        for event in &seen.events {
            match event {
                StreamEvent::Lagged(lagged) => {
                    announced.extend(expected..expected + lagged.dropped);
                    expected += lagged.dropped;
                }
                StreamEvent::Narration(_) | StreamEvent::Data(_) => {
                    let seq = event.seq().unwrap_or_default();
                    if seq != expected {
                        found.push(violation(
                            "delivery",
                            format!("{job}'s stream read seq {seq} where {expected} was due, with no lagged event between"),
                        ));
                    }
                    expected = seq + 1;
                }
                StreamEvent::Terminal(_) => {}
            }
        }
        if announced != *dropped {
            found.push(violation(
                "delivery",
                format!("{job}'s stream announced seqs {announced:?} as lagged, the hub dropped {dropped:?}"),
            ));
        }
    }
    found
}

/// `backpressure` — the waiting path never drops: an executor's `send_wait` is delivered,
/// or finds no channel (its job ended under it), never dropped for a full buffer
/// (docs/spec.md §4.3, historical bug 13).
pub fn waiting_sends_never_drop(o: &Outcome) -> Vec<Violation> {
    o.waiting_sends
        .iter()
        .filter(|sent| **sent == Sent::Full)
        .map(|_| {
            violation(
                "backpressure",
                "a send on the waiting path was dropped for a full buffer".to_owned(),
            )
        })
        .collect()
}

fn read_seqs(seen: &StreamSeen) -> Vec<u64> {
    seen.events.iter().filter_map(StreamEvent::seq).collect()
}

/// `final` — a terminal state is final: a `DELETE` answered 200 leaves J cancelled and an
/// expiry leaves it expired, whatever ends later (a late completion cannot overwrite a
/// cancel: docs/spec.md §4, historical bug 11).
pub fn terminal_states_are_final(o: &Outcome) -> Vec<Violation> {
    let mut found = Vec::new();
    if o.cancel.is_ok() && o.final_j != JobState::Cancelled {
        found.push(violation(
            "final",
            format!(
                "the DELETE of J answered {:?}, J ended {:?}",
                o.cancel, o.final_j
            ),
        ));
    }
    if o.expired && o.final_j != JobState::Expired {
        found.push(violation(
            "final",
            format!("J's timer expired it, J ended {:?}", o.final_j),
        ));
    }
    found
}

/// `cleanup` — nothing is left behind: once every thread is done, the hub holds no channel
/// and the registry no job (docs/spec.md §4.4; historical bugs 1, 9).
pub fn nothing_left_behind(o: &Outcome) -> Vec<Violation> {
    if (o.live_channels, o.live_jobs) == (0, 0) {
        Vec::new()
    } else {
        vec![violation(
            "cleanup",
            format!(
                "{} channel(s) and {} job(s) left behind",
                o.live_channels, o.live_jobs
            ),
        )]
    }
}
