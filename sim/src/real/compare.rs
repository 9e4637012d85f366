//! Real against simulated: each job's client-visible behaviour as a list of lines —
//! events in order, then the outcome and the cancel result — without job ids, `seq`,
//! timestamps, human texts (they name real addresses) or keep-alives (never recorded), and
//! a unified diff per job where the two runs disagree.

use crate::scenario::Scenario;
use crate::trace::{Trace, What};
use rbee::event::{StreamEvent, Terminal};
use similar::TextDiff;
use std::fmt::Write;

/// One job's behaviour as comparable lines.
pub fn job_lines(scenario: &Scenario, trace: &Trace, index: usize) -> Vec<String> {
    let mut events = Vec::new();
    let mut tail = Vec::new();
    for e in &trace.entries {
        match &e.what {
            What::Submit { index: i, .. } if *i == index => events.push("submitted".to_owned()),
            What::SubmitFailed { index: i, .. } if *i == index => {
                events.push("submit failed".to_owned());
            }
            What::Received {
                index: i, event, ..
            } if *i == index => events.push(match event {
                StreamEvent::Narration(n) => format!("narration {} {}", n.actor, n.action),
                StreamEvent::Data(d) => format!("data {} {}", d.action, d.payload),
                StreamEvent::Lagged(l) => format!("lagged {}", l.dropped),
                StreamEvent::Terminal(t) => format!(
                    "terminal {}",
                    match t {
                        Terminal::Done => "done",
                        Terminal::Error(_) => "error",
                        Terminal::Cancelled => "cancelled",
                    }
                ),
            }),
            // Whether the DELETE's reply or the stream's `cancelled` arrives first is a
            // race of microseconds: the cancel result is compared, not its place.
            What::Cancel {
                index: i, result, ..
            } if *i == index => tail.push(format!(
                "cancel {}",
                if result == "ok" { "ok" } else { "refused" }
            )),
            What::Outcome {
                index: i, outcome, ..
            } if *i == index => {
                tail.insert(0, format!("outcome {outcome}"));
            }
            _ => {}
        }
    }
    if scenario.jobs.get(index).is_some() && !tail.iter().any(|l| l.starts_with("outcome")) {
        tail.insert(0, "outcome none".to_owned());
    }
    events.extend(tail);
    events
}

/// One job on which the two runs disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobDiff {
    /// The job's index in the scenario.
    pub index: usize,
    /// Unified diff, simulated (`-`) to real (`+`).
    pub diff: String,
}

/// How the two runs compare, job by job.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Per job in scenario order: its outcome in the real run and its number of lines.
    pub agreeing: Vec<(usize, String, usize)>,
    /// The jobs that differ.
    pub differing: Vec<JobDiff>,
}

/// Compares every job of `scenario` between a simulated and a real trace.
pub fn compare(scenario: &Scenario, simulated: &Trace, real: &Trace) -> Comparison {
    let mut out = Comparison::default();
    for (index, plan) in scenario.jobs.iter().enumerate() {
        let sim = job_lines(scenario, simulated, index);
        let got = job_lines(scenario, real, index);
        if sim == got {
            let outcome = got
                .iter()
                .find_map(|l| l.strip_prefix("outcome "))
                .unwrap_or("none")
                .to_owned();
            out.agreeing.push((index, outcome, got.len()));
            continue;
        }
        let (a, b) = (sim.join("\n") + "\n", got.join("\n") + "\n");
        let label = format!("job #{index} ({}, {})", plan.keeper, plan.operation.name());
        let diff = TextDiff::from_lines(&a, &b)
            .unified_diff()
            .context_radius(3)
            .header(&format!("simulated {label}"), &format!("real {label}"))
            .to_string();
        out.differing.push(JobDiff { index, diff });
    }
    out
}

/// The comparison for people: one line per agreeing job, a diff per differing one.
pub fn render(scenario: &Scenario, comparison: &Comparison) -> String {
    let mut out =
        String::from("== real vs simulated, per job (events, outcome; no ids, times or texts)\n");
    for (index, outcome, lines) in &comparison.agreeing {
        let plan = &scenario.jobs[*index];
        let _ = writeln!(
            out,
            "job #{index} {} {}: same ({outcome}, {lines} lines)",
            plan.keeper,
            plan.operation.name()
        );
    }
    for d in &comparison.differing {
        let plan = &scenario.jobs[d.index];
        let _ = writeln!(
            out,
            "job #{} {} {}: DIFFERS",
            d.index,
            plan.keeper,
            plan.operation.name()
        );
        out.push_str(&d.diff);
    }
    let _ = writeln!(
        out,
        "{} of {} jobs agree",
        comparison.agreeing.len(),
        scenario.jobs.len()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::{run, RunOptions};

    const SCENARIO: &str = "name = \"t\"\nseed = 4\nhives = [\"hive-a\"]\nkeepers = [\"alice\"]\n\n[[jobs]]\nkeeper = \"alice\"\noperation = \"model_list\"\nhive_id = \"hive-a\"\n\n[[jobs]]\nkeeper = \"alice\"\noperation = \"model_get\"\nhive_id = \"hive-a\"\nmodel = \"tinyllama\"\n";

    /// Proves two runs of the same scenario at different seeds (different job ids and
    /// times) agree, and that a different catalogue shows up as a diff of exactly the job
    /// that lists it, naming the job and showing the extra lines.
    #[test]
    fn ids_and_times_are_ignored_and_a_different_listing_is_a_per_job_diff() {
        let scenario = Scenario::parse("t.toml", SCENARIO).expect("valid");
        let a = run(&scenario, RunOptions::new(1));
        let b = run(&scenario, RunOptions::new(2));
        assert_ne!(a.hash(), b.hash());
        let same = compare(&scenario, &a, &b);
        assert_eq!(same.differing, []);
        assert_eq!(same.agreeing[0].1, "done");
        let more = Scenario {
            models: vec!["tinyllama".into(), "zephyr".into()],
            ..scenario.clone()
        };
        let c = run(&more, RunOptions::new(1));
        let diff = compare(&scenario, &c, &a);
        assert_eq!(diff.differing.len(), 1, "{diff:?}");
        let d = &diff.differing[0].diff;
        assert_eq!(diff.differing[0].index, 0);
        assert!(
            d.contains("--- simulated job #0 (alice, model_list)"),
            "{d}"
        );
        assert!(d.contains("\n-narration hive model_list_entry\n"), "{d}");
        assert!(
            d.contains("\n-data model_list {\"models\":[\"tinyllama\",\"zephyr\"]}\n"),
            "{d}"
        );
        assert!(
            d.contains("\n+data model_list {\"models\":[\"tinyllama\"]}\n"),
            "{d}"
        );
        assert!(render(&scenario, &diff).contains("1 of 2 jobs agree"));
    }
}
