//! What a person reads after a run: each keeper's transcript, one line per received event,
//! the outcome of each job, and the verdict of every invariant.
//!
//! The text is fully determined by the trace (no wall time, no addresses), so it is also
//! what the snapshot tests compare.

use crate::check::{exercised, Violation};
use crate::coverage::Hits;
use crate::scenario::Scenario;
use crate::trace::{Trace, What};
use rbee::event::StreamEvent;
use std::fmt::Write;

/// One line for a received event: time, keeper, short job id, event, actor, action, text.
pub fn event_line(t: u64, keeper: &str, job: &str, event: &StreamEvent) -> String {
    let (actor, action, text) = match event {
        StreamEvent::Narration(n) => (n.actor.as_str(), n.action.as_str(), n.human.clone()),
        StreamEvent::Data(d) => ("-", d.action.as_str(), d.payload.to_string()),
        StreamEvent::Lagged(l) => ("-", "-", format!("dropped {}", l.dropped)),
        StreamEvent::Terminal(term) => ("-", "-", term.data_line()),
    };
    format!(
        "{t:>7}ms {keeper} {job} {:<9} {actor:<6} {action:<26} {text}",
        event.event_name()
    )
    .trim_end()
    .to_owned()
}

/// Every keeper's transcript: per keeper, per job (in scenario order), its events, then
/// its outcome.
pub fn transcripts(scenario: &Scenario, trace: &Trace) -> String {
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
                match &e.what {
                    What::Submit { index: i, job } if *i == index => {
                        let _ = writeln!(out, "{:>7}ms {keeper} {} submitted", e.t, job.short());
                    }
                    What::SubmitFailed { index: i, error } if *i == index => {
                        let _ = writeln!(out, "{:>7}ms {keeper} - submit failed: {error}", e.t);
                    }
                    What::Received {
                        index: i,
                        job,
                        event,
                    } if *i == index => {
                        let _ = writeln!(out, "{}", event_line(e.t, keeper, job.short(), event));
                    }
                    What::Cancel {
                        index: i,
                        job,
                        result,
                    } if *i == index => {
                        let _ = writeln!(
                            out,
                            "{:>7}ms {keeper} {} cancel sent: {result}",
                            e.t,
                            job.short()
                        );
                    }
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
                        let _ = writeln!(out, "{:>7}ms {keeper} outcome: {outcome}{tail}", e.t);
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

/// The verdict table: one row per invariant, then every violation. A holding invariant
/// says how often its triggers were hit in `hits`, or that it held vacuously.
pub fn verdicts(results: &[(&'static str, Vec<Violation>)], hits: &Hits) -> String {
    let mut out = String::from("== invariants\n");
    for (name, violations) in results {
        let verdict = if !violations.is_empty() {
            format!("VIOLATED ({})", violations.len())
        } else {
            match exercised(name, hits) {
                None => "ok".to_owned(),
                Some(0) => "ok — vacuous: trigger never reached".to_owned(),
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
