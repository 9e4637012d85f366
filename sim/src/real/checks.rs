//! The invariants of docs/spec.md §9 as far as a client can see them: a real run has no hub
//! records (they live inside the processes), only what the keepers received.
//!
//! Every checker of [`crate::check::CHECKERS`] gets a row in [`REAL_CHECKS`] saying how a
//! real trace is checked:
//! - **shared**: the simulator's own checker, which degrades by itself to what the trace
//!   holds (`terminal` checks one terminal event, last, but cannot compare it with the
//!   queen's final state; `order` checks `seq` and `lagged` gaps but not a lost tail;
//!   `liveness` and `contract` need nothing else);
//! - **client-side**: a variant written here from the keepers' view (`isolation`,
//!   `at-most-once`, `expect`, `no-panic`);
//! - **not visible**: needs the processes' hub and registry records (`cleanup`,
//!   `missing-channel drop`, `create-before-take`).

use crate::check::view::{keeper_jobs, stamped};
use crate::check::{Checker, Violation, CHECKERS};
use crate::scenario::{Expect, Scenario};
use crate::trace::{Trace, What};
use rbee::event::{StreamEvent, Terminal};
use rbee::node::HANDLER_PANICKED;
use std::collections::{BTreeMap, BTreeSet};

/// How an invariant is checked on a real trace.
#[derive(Clone, Copy, Debug)]
pub enum How {
    /// The simulator's checker of the same name, unchanged.
    Shared,
    /// A client-side variant; the text says what it can see.
    ClientSide(Checker, &'static str),
    /// Not checkable from the client; the text says what it would need.
    NotVisible(&'static str),
}

/// Every invariant of the simulator and how a real run checks it, in report order.
pub const REAL_CHECKS: [(&str, How); 16] = [
    (
        "isolation",
        How::ClientSide(isolation, "every event carries its stream's job id"),
    ),
    ("cleanup", How::NotVisible("needs hub and registry counts")),
    ("missing-channel drop", How::NotVisible("needs hub records")),
    ("create-before-take", How::NotVisible("needs hub records")),
    ("terminal", How::Shared),
    ("order", How::Shared),
    ("liveness", How::Shared),
    (
        "at-most-once",
        How::ClientSide(at_most_once, "no stream starts its work twice"),
    ),
    ("contract", How::Shared),
    // Shared: it reads only what the keepers saw, by design (a black-box model).
    ("semantics", How::Shared),
    (
        "relay",
        How::NotVisible("needs the hive's records of what it emitted"),
    ),
    (
        "timeliness",
        How::NotVisible("real clocks and loopback timing are not the simulator's ticks"),
    ),
    // Shared: without the processes' records it judges the keepers' own requests.
    ("http", How::Shared),
    // Shared: without the queen's forward records it checks the keeper's side (lost only
    // when its path to the queen was cut; a queen crash means lost).
    ("failure-form", How::Shared),
    (
        "expect",
        How::ClientSide(
            expect,
            "the queen's state of dropped streams is not visible",
        ),
    ),
    (
        "no-panic",
        How::ClientSide(no_panic, "process panics, exits and panicked handlers"),
    ),
];

/// One row of the real verdict table.
#[derive(Debug)]
pub struct RealVerdict {
    /// The invariant.
    pub name: &'static str,
    /// How it was checked.
    pub how: How,
    /// Its violations (`None`: not visible from the client).
    pub violations: Option<Vec<Violation>>,
}

/// Runs every row of [`REAL_CHECKS`] on a real trace.
pub fn check_real(scenario: &Scenario, trace: &Trace) -> Vec<RealVerdict> {
    REAL_CHECKS
        .iter()
        .map(|&(name, how)| {
            let violations = match how {
                How::Shared => Some(shared(name)(scenario, trace)),
                How::ClientSide(check, _) => Some(check(scenario, trace)),
                How::NotVisible(_) => None,
            };
            RealVerdict {
                name,
                how,
                violations,
            }
        })
        .collect()
}

fn shared(name: &str) -> Checker {
    CHECKERS
        .iter()
        .find(|c| c.name == name)
        .map_or(none, |c| c.check)
}

fn none(_: &Scenario, _: &Trace) -> Vec<Violation> {
    Vec::new()
}

fn violation(
    invariant: &'static str,
    t: u64,
    host: &str,
    job: String,
    message: String,
) -> Violation {
    Violation {
        invariant,
        t,
        host: host.to_owned(),
        job,
        message,
    }
}

/// **isolation**, client side: every narration and data event on job J's stream names J.
/// (Whether the queen emitted it for J needs its hub records.)
pub fn isolation(scenario: &Scenario, trace: &Trace) -> Vec<Violation> {
    let mut out = Vec::new();
    for k in keeper_jobs(scenario, trace) {
        let Some((_, job)) = &k.submit else { continue };
        for (t, event) in &k.received {
            let Some((event_job, seq, action)) = stamped(event) else {
                continue;
            };
            if event_job != job {
                out.push(violation(
                    "isolation",
                    *t,
                    &k.plan.keeper,
                    job.to_string(),
                    format!("received event seq {seq} ({action}) of job {event_job}"),
                ));
            }
        }
    }
    out
}

/// **at-most-once**, client side: a job executed or forwarded twice shows it on its stream
/// — a second `job_create` of one actor (the hive job created again), a second `forward`,
/// or a second `*_start` line (the operation started again).
pub fn at_most_once(scenario: &Scenario, trace: &Trace) -> Vec<Violation> {
    let mut out = Vec::new();
    for k in keeper_jobs(scenario, trace) {
        let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
        for (t, event) in &k.received {
            let StreamEvent::Narration(n) = event else {
                continue;
            };
            let once =
                n.action == "job_create" || n.action == "forward" || n.action.ends_with("_start");
            if once && !seen.insert((n.actor.clone(), n.action.clone())) {
                out.push(violation(
                    "at-most-once",
                    *t,
                    &k.plan.keeper,
                    k.label(),
                    format!(
                        "'{}' from {} a second time: the job ran twice",
                        n.action, n.actor
                    ),
                ));
            }
        }
    }
    out
}

/// **expect**, client side: the simulator's checker, except where it needs the queen's
/// final state — a job whose keeper dropped its stream or never connected, expected to end
/// `done`, `error` or `cancelled` on the queen — which a client cannot see.
pub fn expect(scenario: &Scenario, trace: &Trace) -> Vec<Violation> {
    let invisible: BTreeSet<String> = keeper_jobs(scenario, trace)
        .iter()
        .filter(|k| {
            matches!(
                k.plan.expect,
                Expect::Done | Expect::Error | Expect::Cancelled
            ) && k
                .outcome
                .is_some_and(|(_, o, _)| o == "detached" || o == "never_connected")
        })
        .map(|k| k.label())
        .collect();
    shared("expect")(scenario, trace)
        .into_iter()
        .filter(|v| !invisible.contains(&v.job))
        .collect()
}

/// **no-panic**, client side: the simulator's checker over the run's `panic` entries (a
/// process printed `panicked at` or died on its own), plus every job whose error says its
/// handler panicked (relayed from a hive too).
pub fn no_panic(scenario: &Scenario, trace: &Trace) -> Vec<Violation> {
    let mut out = shared("no-panic")(scenario, trace);
    let mut reported: BTreeMap<usize, ()> = BTreeMap::new();
    for e in &trace.entries {
        let (index, job, message) = match &e.what {
            What::Received {
                index,
                job,
                event: StreamEvent::Terminal(Terminal::Error(m)),
            } => (*index, job.to_string(), m),
            What::Outcome {
                index,
                job,
                message,
                ..
            } => (
                *index,
                job.as_ref().map(ToString::to_string).unwrap_or_default(),
                message,
            ),
            _ => continue,
        };
        if message.contains(HANDLER_PANICKED) && reported.insert(index, ()).is_none() {
            out.push(violation("no-panic", e.t, &e.host, job, message.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Entry;
    use crate::world::{run, RunOptions};

    const SCENARIO: &str = "name = \"t\"\nseed = 3\nhives = [\"hive-a\"]\nkeepers = [\"alice\", \"bob\"]\nrun_for_ms = 10000\n\n[[jobs]]\nkeeper = \"alice\"\noperation = \"model_download\"\nhive_id = \"hive-a\"\nmodel = \"phi-2\"\nchunks = 3\ninterval_ms = 10\nexpect = \"done\"\n\n[[jobs]]\nkeeper = \"bob\"\noperation = \"model_download\"\nhive_id = \"hive-a\"\nmodel = \"qwen\"\nchunks = 5\ninterval_ms = 50\ndisconnect_after_events = 2\nexpect = \"cancelled\"\n";

    /// A simulated run with its hub records removed: what a real run's trace looks like.
    fn client_view() -> (Scenario, Trace) {
        let scenario = Scenario::parse("t.toml", SCENARIO).expect("valid");
        let mut trace = run(&scenario, RunOptions::new(scenario.seed));
        trace
            .entries
            .retain(|e| !matches!(e.what, What::Hub { .. } | What::Quiescence { .. }));
        (scenario, trace)
    }

    fn received_mut(trace: &mut Trace, index: usize, nth: usize) -> &mut StreamEvent {
        trace
            .entries
            .iter_mut()
            .filter_map(|e| match &mut e.what {
                What::Received {
                    index: i, event, ..
                } if *i == index => Some(event),
                _ => None,
            })
            .nth(nth)
            .expect("that event exists")
    }

    /// Proves every checker of the simulator has a row here (a new checker must say how
    /// real runs check it) and every shared row names an existing checker.
    #[test]
    fn every_simulator_checker_has_a_real_row() {
        let rows: Vec<&str> = REAL_CHECKS.iter().map(|(n, _)| *n).collect();
        let sim: Vec<&str> = CHECKERS.iter().map(|c| c.name).collect();
        assert_eq!(rows, sim);
    }

    /// Proves all client-side rows pass on a client's view of a correct run — including a
    /// dropped stream expected `cancelled`, whose queen state a client cannot see.
    #[test]
    fn a_correct_run_passes_every_client_side_check() {
        let (scenario, trace) = client_view();
        for verdict in check_real(&scenario, &trace) {
            assert_eq!(
                verdict.violations.unwrap_or_default(),
                [],
                "{}",
                verdict.name
            );
        }
    }

    /// Proves client-side isolation fires on an event that names another job.
    #[test]
    fn isolation_fires_on_an_event_of_another_job() {
        let (scenario, mut trace) = client_view();
        let other = rbee::ids::JobId::from_bits(7);
        if let StreamEvent::Narration(n) = received_mut(&mut trace, 0, 1) {
            n.job_id = other;
        }
        let v = isolation(&scenario, &trace);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("of job job-0000"), "{}", v[0]);
    }

    /// Proves client-side at-most-once fires when a stream shows its operation starting
    /// twice.
    #[test]
    fn at_most_once_fires_on_a_second_start() {
        let (scenario, mut trace) = client_view();
        let start = trace
            .entries
            .iter()
            .find(|e| matches!(&e.what, What::Received { event: StreamEvent::Narration(n), .. } if n.action == "model_download_start"))
            .cloned()
            .expect("a start line");
        let at = trace
            .entries
            .iter()
            .position(|e| *e == start)
            .expect("there");
        trace.entries.insert(at + 1, start);
        let v = at_most_once(&scenario, &trace);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("model_download_start"), "{}", v[0]);
    }

    /// Proves client-side expect still fires on a visible mismatch, and client-side
    /// no-panic fires on a job whose handler panicked and on a process that died.
    #[test]
    fn expect_and_no_panic_fire_on_what_a_client_sees() {
        let (mut scenario, mut trace) = client_view();
        scenario.jobs[0].expect = Expect::Error;
        assert_eq!(expect(&scenario, &trace).len(), 1);
        let message = format!("{HANDLER_PANICKED} (boom)");
        for e in &mut trace.entries {
            if let What::Outcome {
                index: 0,
                outcome,
                message: m,
                ..
            } = &mut e.what
            {
                *outcome = "error".into();
                *m = message.clone();
            }
        }
        trace.entries.push(Entry {
            t: 5,
            host: "hive-a".into(),
            what: What::Panic {
                message: "the hive-a process exited on its own".into(),
            },
        });
        let v = no_panic(&scenario, &trace);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v.iter().any(|v| v.message == message), "{v:?}");
    }
}
