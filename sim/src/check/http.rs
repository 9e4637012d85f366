//! **http** — every request a keeper or the queen's relay makes gets the docs/spec.md §2 status for
//! the state its job is in at that moment, and a refused request changes nothing.
//!
//! Each process records a `request` and its `reply` around the one synchronous step that
//! decides it, so the records between the two are exactly what the request did, and the
//! records before it give the state it was decided on. Replaying each process's records:
//!
//! - a stream request: `400` for an id that is not an id, `404` if the job has no channel
//!   (never created, expired, finished), `409` if its stream is taken, else `200`, having
//!   taken the receiver and nothing else;
//! - a `DELETE`: `400` for an id that is not an id, `404` if the job is unknown, `409` if
//!   it already ended, else `200`, having cancelled it;
//! - a submit: `201` having created exactly its job, or a refusal having created nothing;
//! - a refusal changes no job: no state, no channel, no take, no creation in between.
//!
//! Requests the keepers make on purpose (`[[requests]]`: an oversized or malformed body, an
//! unknown field or hive, an unknown or malformed id; and `after_end`: a job asked for
//! again once it ended) are also judged from the keeper's side: each must get its row's
//! status, or no reply at all only if a fault cut the keeper from the queen.
//!
//! What it cannot see: requests that never reached a process (a partition), and the
//! bodies of replies (other checkers read what streams carry).

use super::view::{faults, hub_records};
use super::Violation;
use crate::scenario::Scenario;
use crate::trace::{Trace, What};
use rbee::ids::JobId;
use rbee::observer::{HubRecord, JobState, Route};
use std::collections::BTreeMap;

/// What a process knows of one job, as its records tell.
#[derive(Clone, Debug, Default)]
struct Known {
    /// It has a registry entry.
    entry: bool,
    /// Its state.
    state: Option<JobState>,
    /// It has a channel.
    channel: bool,
    /// Its channel's receiver was taken.
    taken: bool,
}

impl Known {
    fn apply(&mut self, record: &HubRecord) {
        match record {
            HubRecord::Create { .. } => {
                *self = Self {
                    entry: true,
                    state: Some(JobState::Queued),
                    channel: true,
                    taken: false,
                }
            }
            HubRecord::State { state, .. } => {
                self.entry = true;
                self.state = Some(state.clone());
            }
            HubRecord::Take { .. } => self.taken = true,
            HubRecord::Remove { .. } => self.channel = false,
            HubRecord::Forget { .. } => self.entry = false,
            _ => {}
        }
    }

    /// The status docs/spec.md §2 gives a request on this job.
    fn status(&self, route: Route) -> u16 {
        match route {
            Route::Stream if !self.channel => 404,
            Route::Stream if self.taken => 409,
            Route::Stream => 200,
            Route::Cancel if !self.entry => 404,
            Route::Cancel if self.state.as_ref().is_some_and(JobState::is_terminal) => 409,
            Route::Cancel => 200,
            Route::Submit => 201,
        }
    }
}

/// A request in progress on one process: what it asked, and what the job looked like.
struct Open<'a> {
    route: Route,
    job: Option<&'a str>,
    before: Option<Known>,
    /// The records in between, as (what, which job).
    effects: Vec<(&'a HubRecord, Option<&'a JobId>)>,
}

/// Judges every recorded request; see the module documentation.
pub fn check(scenario: &Scenario, trace: &Trace) -> Vec<Violation> {
    let mut out = Vec::new();
    server_side(trace, &mut out);
    keeper_side(scenario, trace, &mut out);
    out
}

fn server_side(trace: &Trace, out: &mut Vec<Violation>) {
    let mut known: BTreeMap<(&str, u32, &JobId), Known> = BTreeMap::new();
    let mut open: BTreeMap<(&str, u32), Open> = BTreeMap::new();
    for r in hub_records(trace) {
        let host = (r.host, r.life);
        match r.record {
            HubRecord::Request { route, job } => {
                let before = job.as_deref().and_then(|j| JobId::parse(j).ok()).map(|id| {
                    known
                        .iter()
                        .find(|((h, l, k), _)| (*h, *l) == host && **k == id)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                });
                open.insert(
                    host,
                    Open {
                        route: *route,
                        job: job.as_deref(),
                        before,
                        effects: Vec::new(),
                    },
                );
                continue;
            }
            HubRecord::Reply { route, job, status } => {
                let Some(request) = open.remove(&host) else {
                    out.push(violation(
                        r.t,
                        r.host,
                        "",
                        format!("a {} reply without its request", route.name()),
                    ));
                    continue;
                };
                judge(&request, job.as_deref(), *status, r.t, r.host, out);
                continue;
            }
            _ => {}
        }
        let job = super::view::record_job(r.record);
        if let Some(o) = open.get_mut(&host) {
            o.effects.push((r.record, job));
        }
        if let Some(job) = job {
            known
                .entry((r.host, r.life, job))
                .or_default()
                .apply(r.record);
        }
    }
}

/// Whether a record changes a job.
fn changes(record: &HubRecord) -> bool {
    matches!(
        record,
        HubRecord::Create { .. }
            | HubRecord::State { .. }
            | HubRecord::Take { .. }
            | HubRecord::Execute { .. }
            | HubRecord::Remove { .. }
            | HubRecord::Forget { .. }
    )
}

fn judge(
    request: &Open,
    replied_job: Option<&str>,
    status: u16,
    t: u64,
    host: &str,
    out: &mut Vec<Violation>,
) {
    let job = replied_job.or(request.job).unwrap_or_default();
    let mut v = |message: String| out.push(violation(t, host, job, message));
    let route = request.route.name();
    let changed: Vec<String> = request
        .effects
        .iter()
        .filter(|(r, _)| changes(r))
        .map(|(r, j)| {
            format!(
                "{} {}",
                record_name(r),
                j.map(ToString::to_string).unwrap_or_default()
            )
        })
        .collect();
    let refused = status >= 400;
    if refused && !changed.is_empty() {
        v(format!(
            "a refused {route} ({status}) changed something: {}",
            changed.join(", ")
        ));
    }
    match request.route {
        Route::Submit => {
            let created: Vec<&JobId> = request
                .effects
                .iter()
                .filter_map(|(r, _)| match r {
                    HubRecord::Create { job, .. } => Some(job),
                    _ => None,
                })
                .collect();
            match status {
                201 if created.len() != 1 || Some(created[0].as_str()) != replied_job => {
                    v(format!(
                        "a 201 submit created {} job(s), not exactly the one it answered",
                        created.len()
                    ))
                }
                201 | 400 | 404 | 413 => {}
                other => v(format!(
                    "a submit answered {other}, a status docs/spec.md §2 does not give a submit"
                )),
            }
        }
        Route::Stream | Route::Cancel => {
            let want = match &request.before {
                None => 400,
                Some(known) => known.status(request.route),
            };
            if status != want {
                let state = request
                    .before
                    .as_ref()
                    .map_or("malformed id".to_owned(), |k| {
                        format!(
                            "entry {}, state {}, channel {}, taken {}",
                            k.entry,
                            k.state.as_ref().map_or("none", JobState::name),
                            k.channel,
                            k.taken
                        )
                    });
                v(format!("{route} answered {status}, docs/spec.md §2 gives {want} for the job as it was ({state})"));
            }
            let did = |name: &str| changed.iter().any(|c| c.starts_with(name));
            match (request.route, status) {
                (Route::Stream, 200) if !did("take") => {
                    v("a 200 stream did not take the job's receiver".into())
                }
                (Route::Cancel, 200) if !did("state") => {
                    v("a 200 DELETE did not cancel the job".into())
                }
                _ => {}
            }
        }
    }
}

fn record_name(record: &HubRecord) -> &'static str {
    match record {
        HubRecord::Create { .. } => "create",
        HubRecord::State { .. } => "state",
        HubRecord::Take { .. } => "take",
        HubRecord::Execute { .. } => "execute",
        HubRecord::Remove { .. } => "remove",
        HubRecord::Forget { .. } => "forget",
        _ => "record",
    }
}

fn violation(t: u64, host: &str, job: &str, message: String) -> Violation {
    Violation {
        invariant: "http",
        t,
        host: host.to_owned(),
        job: job.to_owned(),
        message,
    }
}

/// The keepers' purposeful requests: each its row's status, or no reply under a fault.
fn keeper_side(scenario: &Scenario, trace: &Trace, out: &mut Vec<Violation>) {
    let faults = faults(trace);
    let ended: Vec<usize> = trace
        .entries
        .iter()
        .filter_map(|e| match &e.what {
            What::Received {
                index,
                event: rbee::event::StreamEvent::Terminal(_),
                ..
            } => Some(*index),
            _ => None,
        })
        .collect();
    for e in &trace.entries {
        let What::Request {
            job,
            request,
            ask,
            status,
        } = &e.what
        else {
            continue;
        };
        let keeper = e.host.as_str();
        let cut = || faults.iter().any(|f| f.t <= e.t && f.cuts_keeper(keeper));
        let allowed: Vec<u16> = match (request, job) {
            (Some(i), _) => match scenario.requests.get(*i) {
                Some(plan) => vec![plan.kind.status()],
                None => continue,
            },
            // A job whose keeper saw its marker has ended on the queen: asked again, it is
            // gone or terminal. One whose keeper walked away or lost its stream may still
            // be running there (the server-side rule judges that reply exactly).
            (None, Some(index)) if ended.contains(index) => vec![404, 409],
            (None, Some(_)) => vec![200, 404, 409],
            (None, None) => continue,
        };
        if allowed.contains(status) || (*status == 0 && cut()) {
            continue;
        }
        let what = request
            .and_then(|i| scenario.requests.get(i))
            .map_or_else(|| ask.clone(), |p| p.kind.name().to_owned());
        out.push(Violation {
            invariant: "http",
            t: e.t,
            host: keeper.to_owned(),
            job: job.map(|j| format!("#{j}")).unwrap_or_default(),
            message: format!("{what} got {status}; docs/spec.md §2 gives {allowed:?}"),
        });
    }
}

/// The situations this invariant is about that a run reached (probe names).
pub fn situations(_scenario: &Scenario, trace: &Trace) -> Vec<&'static str> {
    let mut out = Vec::new();
    for e in &trace.entries {
        match &e.what {
            What::Hub {
                record: HubRecord::Reply { route, status, .. },
            } => match (route, status) {
                (_, s) if *s >= 400 => out.push("request_refused"),
                (Route::Cancel, 200) => out.push("cancel_accepted"),
                _ => {}
            },
            What::Request {
                request: Some(_), ..
            } => out.push("refused_on_purpose"),
            What::Request { job: Some(_), .. } => out.push("asked_after_end"),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use crate::scenario::RequestKind;

    #[test]
    fn passes_on_a_correct_run() {
        let (scenario, trace) = two_jobs();
        assert_eq!(check(&scenario, &trace), []);
    }

    /// A stream request answered 409 for a job nobody streams yet, and one answered 200
    /// without taking the receiver.
    #[test]
    fn fires_on_a_wrong_stream_status() {
        let (scenario, trace) = two_jobs();
        let wrong = map_entries(&trace, |e| {
            if let What::Hub {
                record:
                    HubRecord::Reply {
                        route: Route::Stream,
                        status,
                        ..
                    },
            } = &mut e.what
            {
                *status = 409;
            }
        });
        let v = check(&scenario, &wrong);
        assert!(
            v.iter()
                .any(|v| v.message.contains("docs/spec.md §2 gives 200")),
            "{v:?}"
        );
        assert!(
            v.iter().any(|v| v.message.contains("changed something")),
            "a 409 that took the receiver: {v:?}"
        );
    }

    /// A DELETE of a job that already ended must be 409 (or 404 once it is gone).
    #[test]
    fn fires_on_a_delete_of_an_ended_job_answered_200() {
        let (scenario, trace) = two_jobs();
        let job = submitted(&trace, 1);
        let end = trace.end();
        let mut broken = trace.clone();
        let rec = |t, record| crate::trace::Entry {
            t,
            host: "queen".into(),
            what: What::Hub { record },
        };
        let raw = Some(job.to_string());
        broken.entries.push(rec(
            end,
            HubRecord::Request {
                route: Route::Cancel,
                job: raw.clone(),
            },
        ));
        broken.entries.push(rec(
            end,
            HubRecord::Reply {
                route: Route::Cancel,
                job: raw,
                status: 200,
            },
        ));
        let v = check(&scenario, &broken);
        assert!(
            v.iter().any(|v| v
                .message
                .contains("cancel answered 200, docs/spec.md §2 gives 404")),
            "{v:?}"
        );
    }

    /// A submit refused after it created its job.
    #[test]
    fn fires_on_a_refusal_that_created_a_job() {
        let (scenario, trace) = two_jobs();
        let wrong = map_entries(&trace, |e| {
            if let What::Hub {
                record:
                    HubRecord::Reply {
                        route: Route::Submit,
                        status,
                        ..
                    },
            } = &mut e.what
            {
                *status = 400;
            }
        });
        let v = check(&scenario, &wrong);
        assert!(
            v.iter().any(|v| v
                .message
                .contains("a refused submit (400) changed something")),
            "{v:?}"
        );
    }

    /// A keeper's oversized submit answered 400 instead of 413.
    #[test]
    fn fires_on_a_purposeful_request_with_the_wrong_status() {
        let (mut scenario, mut trace) = two_jobs();
        scenario.requests.push(crate::scenario::RequestPlan {
            keeper: "alice".into(),
            at_ms: 5,
            kind: RequestKind::SubmitOversized,
        });
        trace.entries.push(crate::trace::Entry {
            t: 10,
            host: "alice".into(),
            what: What::Request {
                job: None,
                request: Some(0),
                ask: "submit_oversized".into(),
                status: 400,
            },
        });
        let v = check(&scenario, &trace);
        assert!(
            v.iter()
                .any(|v| v.message.contains("submit_oversized got 400")),
            "{v:?}"
        );
    }
}
