//! What a person reads after a run: each keeper's transcript, one line per received event,
//! the outcome of each job, and the verdict of every invariant — and the same facts as
//! JSON ([`ReplayJson`]) for machines.
//!
//! The text is fully determined by the trace (no wall time, no addresses). The snapshot
//! tests keep it without simulated times and job ids ([`narration`], [`plain_verdicts`]):
//! a change of timing alone leaves a snapshot as it was (the trace hash, pinned on its
//! own, tells of it), and a change of what keepers see reads as a plain diff.

use crate::check::{exercised, Violation};
use crate::coverage::Hits;
use crate::scenario::Scenario;
use crate::trace::{Trace, What};
use rbee::event::StreamEvent;
use std::fmt::Write;

/// The columns after the time, keeper and job of a received event: event, actor, action,
/// text.
fn event_columns(event: &StreamEvent) -> String {
    let (actor, action, text) = match event {
        StreamEvent::Narration(n) => (n.actor.as_str(), n.action.as_str(), n.human.clone()),
        StreamEvent::Data(d) => ("-", d.action.as_str(), d.payload.to_string()),
        StreamEvent::Lagged(l) => ("-", "-", format!("dropped {}", l.dropped)),
        StreamEvent::Terminal(term) => ("-", "-", term.data_line()),
    };
    format!("{:<9} {actor:<6} {action:<26} {text}", event.event_name())
}

/// One line for a received event: time, keeper, short job id, event, actor, action, text.
pub fn event_line(t: u64, keeper: &str, job: &str, event: &StreamEvent) -> String {
    format!("{t:>7}ms {keeper} {job} {}", event_columns(event))
        .trim_end()
        .to_owned()
}

/// `text` with every generated job id (`job-` and 32 hex digits) written `job-…`.
pub fn without_job_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("job-") {
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        let hex = |h: &str| {
            h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if tail.get(4..36).is_some_and(hex) {
            out.push_str("job-…");
            rest = &tail[36..];
        } else {
            out.push_str("job-");
            rest = &tail[4..];
        }
    }
    out.push_str(rest);
    out
}

/// Every keeper's transcript: per keeper, per job (in scenario order), its events, then
/// its outcome — each line with its simulated time and the job's short id (what `replay`
/// prints).
pub fn transcripts(scenario: &Scenario, trace: &Trace) -> String {
    render(scenario, trace, true)
}

/// The same transcripts without simulated times and job ids (in lines and in texts): what
/// keepers saw, in order, and nothing a change of timing alone would change.
pub fn narration(scenario: &Scenario, trace: &Trace) -> String {
    render(scenario, trace, false)
}

fn render(scenario: &Scenario, trace: &Trace, timed: bool) -> String {
    let mut out = String::new();
    for keeper in &scenario.keepers {
        let _ = writeln!(out, "== keeper {keeper}");
        for (index, plan) in scenario
            .jobs
            .iter()
            .enumerate()
            .filter(|(_, j)| &j.keeper == keeper)
        {
            let _ = writeln!(
                out,
                "-- job #{index}: {} at {} ms",
                plan.operation.name(),
                plan.at_ms
            );
            for e in &trace.entries {
                // What follows the time, keeper and job columns of a timed line.
                let (job, rest) = match &e.what {
                    What::Submit { index: i, job } if *i == index => {
                        (job.short(), "submitted".to_owned())
                    }
                    What::SubmitFailed { index: i, error } if *i == index => {
                        ("-", format!("submit failed: {error}"))
                    }
                    What::Received {
                        index: i,
                        job,
                        event,
                    } if *i == index => (job.short(), event_columns(event)),
                    What::Cancel {
                        index: i,
                        job,
                        result,
                    } if *i == index => (job.short(), format!("cancel sent: {result}")),
                    What::Outcome {
                        index: i,
                        outcome,
                        message,
                        ..
                    } if *i == index => {
                        let tail = if message.is_empty() {
                            String::new()
                        } else {
                            format!(" ({message})")
                        };
                        ("", format!("outcome: {outcome}{tail}"))
                    }
                    _ => continue,
                };
                let line = match (timed, job) {
                    (true, "") => format!("{:>7}ms {keeper} {rest}", e.t),
                    (true, job) => format!("{:>7}ms {keeper} {job} {rest}", e.t),
                    (false, _) => without_job_ids(&rest),
                };
                let _ = writeln!(out, "{}", line.trim_end());
            }
        }
    }
    out
}

/// The verdict of an invariant that held while none of its triggers was hit.
pub const NO_TRIGGER: &str = "ok — no trigger reached (plain cases only)";

/// The verdict table: one row per invariant, then every violation. A holding invariant
/// says how often its triggers (the rare situations it is about) were hit in `hits`, or
/// that none was: it then held on the run's plain cases only — for `terminal`, streams that
/// each ended with their one marker — which is a check, not nothing, but not the one its
/// triggers stand for.
pub fn verdicts(results: &[(&'static str, Vec<Violation>)], hits: &Hits) -> String {
    let mut out = String::from("== invariants\n");
    for (name, violations) in results {
        let verdict = if !violations.is_empty() {
            format!("VIOLATED ({})", violations.len())
        } else {
            match exercised(name, hits) {
                None => "ok".to_owned(),
                Some(0) => NO_TRIGGER.to_owned(),
                Some(1) => "ok (exercised 1 time)".to_owned(),
                Some(n) => format!("ok (exercised {n} times)"),
            }
        };
        let _ = writeln!(out, "{name:<22} {verdict}");
    }
    for (_, violations) in results {
        for v in violations {
            let _ = writeln!(out, "  {v}");
        }
    }
    out
}

/// The verdict table without what timing alone changes: whether each invariant held
/// (and whether its triggers were reached at all, not how often), then every violation
/// without its simulated time, job ids written `job-…`.
pub fn plain_verdicts(results: &[(&'static str, Vec<Violation>)], hits: &Hits) -> String {
    let mut out = String::from("== invariants\n");
    for (name, violations) in results {
        let verdict = match (violations.len(), exercised(name, hits)) {
            (0, None) => "ok".to_owned(),
            (0, Some(0)) => NO_TRIGGER.to_owned(),
            (0, Some(_)) => "ok (exercised)".to_owned(),
            (n, _) => format!("VIOLATED ({n})"),
        };
        let _ = writeln!(out, "{name:<22} {verdict}");
    }
    for (_, violations) in results {
        for v in violations {
            let job = if v.job.is_empty() {
                String::new()
            } else {
                format!(" job={}", v.job)
            };
            let line = format!("  [{}] host={}{job}: {}", v.invariant, v.host, v.message);
            let _ = writeln!(out, "{}", without_job_ids(&line));
        }
    }
    out
}

/// A replay's results as JSON (`replay --json FILE`): the same facts as the text, for
/// dashboards and CI annotations. Schema `rbee-sim/replay`, version [`REPLAY_VERSION`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReplayJson {
    /// Always `rbee-sim/replay`.
    pub schema: String,
    /// [`REPLAY_VERSION`].
    pub version: u32,
    /// The scenario's name.
    pub scenario: String,
    /// The file replayed.
    pub file: String,
    /// The seed.
    pub seed: u64,
    /// `distributed` or `integrated`.
    pub mode: String,
    /// The trace hash (SHA-256 prefix of the canonical trace).
    pub trace_hash: String,
    /// Simulated ms of the run.
    pub simulated_ms: u64,
    /// Whether any invariant (or `expect`) was violated.
    pub violated: bool,
    /// One row per invariant: its violations and how often its triggers were hit.
    pub invariants: std::collections::BTreeMap<String, ReplayInvariant>,
    /// Every probe hit at least once, with its hits.
    pub probes: std::collections::BTreeMap<String, u64>,
    /// One row per scenario job.
    pub jobs: Vec<ReplayJob>,
    /// The command that replays it.
    pub replay: String,
}

/// The schema version of [`ReplayJson`].
pub const REPLAY_VERSION: u32 = 1;

/// One invariant of a replay.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReplayInvariant {
    /// Each violation, as the text prints it.
    pub violations: Vec<String>,
    /// Trigger hits (`null` for an invariant without declared triggers).
    pub exercised: Option<u64>,
}

/// One scenario job of a replay, as its keeper saw it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReplayJob {
    /// Index in the scenario.
    pub index: usize,
    /// The keeper.
    pub keeper: String,
    /// The operation's name.
    pub operation: String,
    /// `done`, `error`, `cancelled`, `lost`, ... (`none`: no outcome).
    pub outcome: String,
    /// The error text, if any.
    pub message: String,
    /// Events received.
    pub events: usize,
}

impl ReplayJson {
    /// The JSON report of one replay of `file`.
    pub fn of(
        file: &str,
        scenario: &Scenario,
        seed: u64,
        trace: &Trace,
        results: &[(&'static str, Vec<Violation>)],
        hits: &Hits,
    ) -> Self {
        let jobs = crate::check::view::keeper_jobs(scenario, trace)
            .into_iter()
            .map(|k| ReplayJob {
                index: k.index,
                keeper: k.plan.keeper.clone(),
                operation: k.plan.operation.name().to_owned(),
                outcome: k.outcome.map_or("none", |o| o.1).to_owned(),
                message: k.outcome.map_or("", |o| o.2).to_owned(),
                events: k.received.len(),
            })
            .collect();
        Self {
            schema: "rbee-sim/replay".into(),
            version: REPLAY_VERSION,
            scenario: scenario.name.clone(),
            file: file.to_owned(),
            seed,
            mode: scenario.mode.name().to_owned(),
            trace_hash: trace.hash(),
            simulated_ms: trace.end(),
            violated: results.iter().any(|(_, v)| !v.is_empty()),
            invariants: results
                .iter()
                .map(|(name, v)| {
                    let row = ReplayInvariant {
                        violations: v.iter().map(ToString::to_string).collect(),
                        exercised: exercised(name, hits),
                    };
                    ((*name).to_owned(), row)
                })
                .collect(),
            probes: hits
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(name, n)| ((*name).to_owned(), *n))
                .collect(),
            jobs,
            replay: format!(
                "{} --seed {seed}",
                crate::explore::replay_command(
                    file,
                    results.iter().any(|(name, _)| *name == "determinism")
                )
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::CHECKERS;

    /// A holding invariant whose triggers were never hit says so (without calling the
    /// check vacuous), one whose triggers were hit says how often, and a broken one says
    /// how many violations.
    #[test]
    fn verdicts_tell_exercised_from_untriggered() {
        let results: Vec<(&'static str, Vec<Violation>)> =
            CHECKERS.iter().map(|c| (c.name, Vec::new())).collect();
        let mut hits = crate::coverage::zero();
        let untriggered = verdicts(&results, &hits);
        assert!(
            untriggered
                .contains("isolation              ok — no trigger reached (plain cases only)"),
            "{untriggered}"
        );
        assert!(!untriggered.contains("vacuous"), "{untriggered}");
        hits.insert("interleaved_jobs", 2);
        hits.insert("concurrent_hive_jobs", 1);
        let exercised = verdicts(&results, &hits);
        assert!(
            exercised.contains("isolation              ok (exercised 3 times)"),
            "{exercised}"
        );
        let mut broken = results.clone();
        broken[0].1.push(Violation {
            invariant: "isolation",
            t: 5,
            host: "alice".into(),
            job: "job-1".into(),
            message: "an event of another job".into(),
        });
        let text = verdicts(&broken, &hits);
        assert!(
            text.contains("isolation              VIOLATED (1)"),
            "{text}"
        );
        assert!(
            text.contains("[isolation] t=5ms host=alice job=job-1"),
            "{text}"
        );
        let plain = plain_verdicts(&broken, &hits);
        assert!(
            plain.contains("isolation              VIOLATED (1)"),
            "{plain}"
        );
        assert!(
            plain.contains("  [isolation] host=alice job=job-1: an event"),
            "{plain}"
        );
        assert!(
            plain_verdicts(&results, &hits).contains("isolation              ok (exercised)\n"),
            "exercised, without a count"
        );
    }

    /// Proves generated job ids are masked wherever they stand, and nothing else is.
    #[test]
    fn job_ids_are_masked_and_nothing_else() {
        let id = rbee::ids::JobId::from_bits(0xabc);
        let text = format!("Job {id} created; job-1 and job-xyz stay; ({id})");
        assert_eq!(
            without_job_ids(&text),
            "Job job-… created; job-1 and job-xyz stay; (job-…)"
        );
        assert_eq!(without_job_ids("job-"), "job-");
    }
}
