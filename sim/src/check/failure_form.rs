//! **failure-form** — a failure looks the way docs/spec.md says it must, not merely "some failure".
//!
//! - A keeper loses its connection (`lost`) only when its own path to the queen was cut: a
//!   partition or hold between keeper and queen, or the queen crashed or restarted. A lost
//!   hive, a silent relay, a missed deadline are the queen's to report: docs/spec.md §3 and §6 give
//!   them an `error` marker naming the hive, and the queen's keep-alives keep the keeper's
//!   stream alive meanwhile. A keeper that reports `lost` anyway saw silence where a marker
//!   was due (a keep-alive interval as long as the reader's silence limit, a reader that
//!   ignores keep-alives, a relay that never gives up).
//! - A forwarded job that fails for any other reason than its hive job's own error (the
//!   hive's message, passed through as docs/spec.md §6 says) failed in the relay — the hive was
//!   unreachable, lost, silent or late — and its message names that hive.
//! - A keeper streaming from a queen that crashes before the job ended there sees `lost`
//!   (nothing else can reach it; a marker sent before the crash may still arrive after it).
//!
//! `expect = "error"` stays lenient (any failure the keeper sees, see `expect`): this
//! checker holds every run, hand-written or generated, to the exact form.

use super::view::{faults, hub_records, keeper_jobs};
use super::Violation;
use crate::scenario::{FaultKind, Scenario};
use crate::trace::Trace;
use rbee::ids::JobId;
use rbee::observer::{HubRecord, JobState};
use std::collections::BTreeMap;

/// Checks the form of every keeper-visible failure.
pub fn check(scenario: &Scenario, trace: &Trace) -> Vec<Violation> {
    let faults = faults(trace);
    let mut forwarded: BTreeMap<&JobId, (&str, &JobId)> = BTreeMap::new();
    let mut ended_on_queen: BTreeMap<&JobId, u64> = BTreeMap::new();
    let mut hive_failures: BTreeMap<(&str, &JobId), &str> = BTreeMap::new();
    for r in hub_records(trace) {
        match r.record {
            HubRecord::Forward {
                job,
                hive,
                hive_job,
            } if r.host == "queen" => {
                forwarded.insert(job, (hive.as_str(), hive_job));
            }
            HubRecord::State {
                job,
                state: JobState::Failed(m),
            } if r.host != "queen" => {
                hive_failures.insert((r.host, job), m.as_str());
            }
            HubRecord::State { job, state } if r.host == "queen" && state.is_terminal() => {
                ended_on_queen.entry(job).or_insert(r.t);
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for k in keeper_jobs(scenario, trace) {
        let Some((t_end, outcome, message)) = k.outcome else {
            continue;
        };
        let keeper = k.plan.keeper.as_str();
        let mut v = |message: String| {
            out.push(Violation {
                invariant: "failure-form",
                t: t_end,
                host: keeper.to_owned(),
                job: k.label(),
                message,
            })
        };
        let before_end = || faults.iter().filter(|f| f.t <= t_end);
        if outcome == "lost" && !before_end().any(|f| f.cuts_keeper(keeper)) {
            v(format!(
                "the keeper lost its stream ({message}) though nothing cut it from the queen: \
                 a failure behind the queen must reach it as an error marker (docs/spec.md §3, §6)"
            ));
        }
        let streaming_since = k.received.first().map(|(t, _)| *t);
        let ended_at = k
            .submit
            .as_ref()
            .and_then(|(_, job)| ended_on_queen.get(job))
            .copied();
        if let Some(since) = streaming_since {
            let queen_crashed = faults.iter().any(|f| {
                matches!(f.kind, FaultKind::Crash | FaultKind::Restart)
                    && f.names("queen")
                    && since <= f.t
                    && f.t < t_end
                    && ended_at.is_none_or(|ended| ended > f.t)
            });
            if queen_crashed && !["lost", "detached"].contains(&outcome) {
                v(format!(
                    "the queen crashed while the job was still going there, yet the keeper \
                     saw '{outcome}': nothing but a lost connection can reach it"
                ));
            }
        }
        let forward = k
            .submit
            .as_ref()
            .and_then(|(_, job)| forwarded.get(job))
            .copied();
        if let (Some((hive, hive_job)), "error") = (forward, outcome) {
            let passed_through = hive_failures.get(&(hive, hive_job)) == Some(&message);
            if !passed_through && !message.contains(&format!("hive '{hive}'")) {
                let cut = if before_end().any(|f| f.cuts_hive(hive)) {
                    " (it was cut off)"
                } else {
                    ""
                };
                v(format!(
                    "the job failed in the relay to hive '{hive}'{cut} with \"{message}\", \
                     which does not name the hive (docs/spec.md §6)"
                ));
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
    use crate::world::{run, RunOptions};
    use rbee::event::{StreamEvent, Terminal};

    const PARTITIONED: &str = r#"
name = "a download whose hive is partitioned away"
seed = 9
hives = ["hive-a"]
keepers = ["alice"]

[[jobs]]
keeper = "alice"
operation = "model_download"
hive_id = "hive-a"
model = "phi-2"
chunks = 20
interval_ms = 100

[[faults]]
at_ms = 800
kind = "partition"
between = ["queen", "hive-a"]
"#;

    /// The relay's error names the hive, the keeper sees it: the form holds. The same run
    /// with the keeper's outcome turned into `lost` (the marker never arrived) fires, and so
    /// does one whose error no longer names the hive.
    #[test]
    fn fires_on_a_lost_keeper_where_the_relay_owes_an_error_marker() {
        let scenario = Scenario::parse("partitioned.toml", PARTITIONED).expect("valid");
        let trace = run(&scenario, RunOptions::new(scenario.seed));
        assert_eq!(check(&scenario, &trace), []);
        let lost = map_entries(&trace, |e| {
            if let What::Outcome {
                outcome, message, ..
            } = &mut e.what
            {
                *outcome = "lost".into();
                *message = "no data for 15s".into();
            }
        });
        let lost = drop_first(&lost, |e| {
            matches!(
                &e.what,
                What::Received {
                    event: StreamEvent::Terminal(_),
                    ..
                }
            )
        });
        let v = check(&scenario, &lost);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].message.contains("nothing cut it from the queen"),
            "{}",
            v[0]
        );
        let anonymous = map_entries(&trace, |e| match &mut e.what {
            What::Outcome { message, .. } => *message = "lost connection: no data".into(),
            What::Received {
                event: StreamEvent::Terminal(Terminal::Error(m)),
                ..
            } => *m = "lost connection: no data".into(),
            _ => {}
        });
        let v = check(&scenario, &anonymous);
        assert!(
            v.iter()
                .any(|v| v.message.contains("does not name the hive")),
            "{v:?}"
        );
    }

    /// A keeper whose queen crashed mid-stream sees `lost`, which the form allows; an
    /// `error` there could not have come from the queen and fires.
    #[test]
    fn a_queen_crash_allows_lost_and_nothing_else() {
        let text = PARTITIONED.replace(
            "kind = \"partition\"\nbetween = [\"queen\", \"hive-a\"]",
            "kind = \"crash\"\nhost = \"queen\"",
        );
        let scenario = Scenario::parse("crash.toml", &text).expect("valid");
        let trace = run(&scenario, RunOptions::new(scenario.seed));
        assert_eq!(check(&scenario, &trace), []);
        let errored = map_entries(&trace, |e| {
            if let What::Outcome { outcome, .. } = &mut e.what {
                *outcome = "error".into();
            }
        });
        let v = check(&scenario, &errored);
        assert!(
            v.iter().any(|v| v.message.contains("queen crashed")),
            "{v:?}"
        );
    }
}
