//! **terminal** — exactly one terminal event per stream, last, matching the job's final
//! state.
//!
//! Guards against historical bugs 6, 7 and 8: `[DONE]` from an idle timer, a marker not
//! derived from the job state (failures reported as done), a marker detected by substring.

use super::view::{keeper_jobs, queen_final_states};
use super::Violation;
use crate::scenario::Scenario;
use crate::trace::Trace;
use rbee::event::StreamEvent;
use rbee::server::terminal_for;

/// Checks count, position and meaning of each stream's terminal event.
pub fn check(scenario: &Scenario, trace: &Trace) -> Vec<Violation> {
    let finals = queen_final_states(trace);
    let mut out = Vec::new();
    for k in keeper_jobs(scenario, trace) {
        let Some((_, job)) = &k.submit else { continue };
        let terminals: Vec<_> = k.terminals().collect();
        let mut v = |t: u64, message: String| {
            out.push(Violation {
                invariant: "terminal",
                t,
                host: k.plan.keeper.clone(),
                job: job.to_string(),
                message,
            })
        };
        if terminals.len() > 1 {
            v(
                terminals[1].0,
                format!("{} terminal events on one stream", terminals.len()),
            );
        }
        let Some((t, StreamEvent::Terminal(terminal))) = terminals.first().copied() else {
            if k.outcome
                .is_some_and(|(_, o, _)| ["done", "error", "cancelled"].contains(&o))
            {
                v(
                    k.outcome.map_or(0, |o| o.0),
                    "keeper reports a terminal outcome without a terminal event".into(),
                );
            }
            continue;
        };
        if let Some((last_t, last)) = k.received.last() {
            if !matches!(last, StreamEvent::Terminal(_)) {
                v(
                    *last_t,
                    format!("event after the terminal: {}", last.event_name()),
                );
            }
        }
        let matches = match finals.get(job) {
            // The marker the server derives from that state, exactly (an expired job's
            // stream, taken as the TTL fired, says so in its error).
            Some(state) if state.is_terminal() => terminal_for(state) == *terminal,
            // The queen crashed: its records of the job ended early; nothing to compare.
            _ => true,
        };
        if !matches {
            let state = finals
                .get(job)
                .map_or("unknown".into(), |s| format!("{s:?}"));
            v(
                *t,
                format!(
                    "terminal '{}' does not match the job's final state {state}",
                    terminal.data_line()
                ),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use crate::trace::What;
    use rbee::event::Terminal;

    #[test]
    fn fires_on_a_wrong_marker_and_on_a_second_marker() {
        let (scenario, trace) = two_jobs();
        assert_eq!(check(&scenario, &trace), []);
        let wrong = rewrite_received(&trace, 0, usize::MAX, |e| {
            if let StreamEvent::Terminal(t) = e {
                *t = Terminal::Error("boom".into());
            }
        });
        let v = check(&scenario, &wrong);
        assert!(
            v.iter()
                .any(|v| v.message.contains("does not match the job's final state")),
            "{v:?}"
        );
        let twice = duplicate_last(&trace, |e| {
            matches!(
                &e.what,
                What::Received {
                    index: 0,
                    event: StreamEvent::Terminal(_),
                    ..
                }
            )
        });
        let v = check(&scenario, &twice);
        assert!(
            v.iter().any(|v| v.message.contains("2 terminal events")),
            "{v:?}"
        );
    }
}
