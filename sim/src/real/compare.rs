//! Real against simulated, judged by reachability: each job's client-visible behaviour as a
//! list of lines — events in order, then the outcome and the cancel result — without job
//! ids, `seq`, timestamps, human texts (they name real addresses) or keep-alives (never
//! recorded). A real job agrees when some simulated run (a seed at a timing) produced
//! exactly its lines (each job may agree with a different run: two jobs that raced in
//! reality are judged separately); a job no run produced is a fidelity difference, shown as
//! a unified diff against the closest simulated transcript (fewest differing lines).

use super::timing::{runs_text, SimRun};
use crate::scenario::Scenario;
use crate::trace::{Trace, What};
use rbee::event::{StreamEvent, Terminal};
use similar::{Algorithm, DiffTag, TextDiff};
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

/// A real job that some simulated run reproduced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agreement {
    /// The job's index in the scenario.
    pub index: usize,
    /// The first simulated run whose transcript of this job equals the real one.
    pub run: SimRun,
    /// The job's outcome.
    pub outcome: String,
    /// How many comparable lines the transcript has.
    pub lines: usize,
}

/// A real job that no simulated run reproduced: a fidelity difference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobDiff {
    /// The job's index in the scenario.
    pub index: usize,
    /// The run of the closest simulated transcript (the first, if several are as close);
    /// `None` when no simulated run was compared at all.
    pub run: Option<SimRun>,
    /// How many lines differ between it and the real transcript (removed plus added).
    pub changed: usize,
    /// Unified diff, closest simulated (`-`) to real (`+`).
    pub diff: String,
}

/// How a real run compares with the simulated runs, job by job.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// The simulated runs, in the order they were tried.
    pub runs: Vec<SimRun>,
    /// The jobs some run reproduced, in scenario order.
    pub agreeing: Vec<Agreement>,
    /// The jobs no run reproduced, in scenario order.
    pub differing: Vec<JobDiff>,
}

/// The closest simulated transcript of a job so far.
struct Closest {
    run: Option<SimRun>,
    changed: usize,
    lines: Vec<String>,
}

/// Judges a real run against simulated runs fed to it one at a time: a job agrees with the
/// first run that reproduces it, and until one does, the closest transcript is kept for its
/// diff.
pub struct Judge<'a> {
    scenario: &'a Scenario,
    real: Vec<Vec<String>>,
    runs: Vec<SimRun>,
    found: Vec<Option<SimRun>>,
    closest: Vec<Option<Closest>>,
}

/// A transcript as the text a diff reads: one line each.
fn lines_text(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// How many lines differ between two transcripts (removed plus added).
fn changed_lines(simulated: &[String], real: &[String]) -> usize {
    similar::capture_diff_slices(Algorithm::Myers, simulated, real)
        .iter()
        .map(|op| match op.as_tag_tuple() {
            (DiffTag::Equal, _, _) => 0,
            (_, old, new) => old.len() + new.len(),
        })
        .sum()
}

impl<'a> Judge<'a> {
    /// A judge of `real`, a real run of `scenario`, before any simulated run.
    pub fn new(scenario: &'a Scenario, real: &Trace) -> Self {
        let jobs = scenario.jobs.len();
        Self {
            scenario,
            real: (0..jobs).map(|i| job_lines(scenario, real, i)).collect(),
            runs: Vec::new(),
            found: vec![None; jobs],
            closest: (0..jobs).map(|_| None).collect(),
        }
    }

    /// Compares every job not yet reproduced with `trace`, the simulated run `run`.
    pub fn add(&mut self, run: SimRun, trace: &Trace) {
        self.runs.push(run);
        for (index, real) in self.real.iter().enumerate() {
            if self.found[index].is_some() {
                continue;
            }
            let simulated = job_lines(self.scenario, trace, index);
            if simulated == *real {
                self.found[index] = Some(run);
                self.closest[index] = None;
                continue;
            }
            let changed = changed_lines(&simulated, real);
            if self.closest[index]
                .as_ref()
                .is_none_or(|c| changed < c.changed)
            {
                self.closest[index] = Some(Closest {
                    run: Some(run),
                    changed,
                    lines: simulated,
                });
            }
        }
    }

    /// Whether every job has been reproduced by some run (more runs would change nothing).
    pub fn settled(&self) -> bool {
        self.found.iter().all(Option::is_some)
    }

    /// The verdict per job.
    pub fn finish(self) -> Comparison {
        let mut out = Comparison {
            runs: self.runs,
            ..Comparison::default()
        };
        for (index, real) in self.real.iter().enumerate() {
            if let Some(run) = self.found[index] {
                let outcome = real
                    .iter()
                    .find_map(|l| l.strip_prefix("outcome "))
                    .unwrap_or("none")
                    .to_owned();
                out.agreeing.push(Agreement {
                    index,
                    run,
                    outcome,
                    lines: real.len(),
                });
                continue;
            }
            let none = Closest {
                run: None,
                changed: real.len(),
                lines: Vec::new(),
            };
            let closest = self.closest[index].as_ref().unwrap_or(&none);
            let plan = &self.scenario.jobs[index];
            let label = format!("job #{index} ({}, {})", plan.keeper, plan.operation.name());
            let from = match closest.run {
                Some(run) => format!("simulated {run} {label}"),
                None => format!("no simulated run of {label}"),
            };
            let (a, b) = (lines_text(&closest.lines), lines_text(real));
            let diff = collapse_runs(
                &TextDiff::from_lines(&a, &b)
                    .unified_diff()
                    .context_radius(3)
                    .header(&from, &format!("real {label}"))
                    .to_string(),
            );
            out.differing.push(JobDiff {
                index,
                run: closest.run,
                changed: closest.changed,
                diff,
            });
        }
        out
    }
}

/// Longest run of identical diff lines shown in full; longer runs (a build log's lines) are
/// cut to this many and a count of the rest.
const RUN_SHOWN: usize = 3;

/// A unified diff with every run of more than [`RUN_SHOWN`] identical lines (same side,
/// same text) cut to [`RUN_SHOWN`] and a line `<side>… N more identical lines`: a build
/// log cut short by a crash is 800 lines of the same text, and the reader needs its length,
/// not its copies.
fn collapse_runs(diff: &str) -> String {
    let mut out = String::new();
    let lines: Vec<&str> = diff.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let run = lines[i..].iter().take_while(|l| **l == line).count();
        let shown = if line.starts_with("@@") {
            run
        } else {
            run.min(RUN_SHOWN)
        };
        for l in &lines[i..i + shown] {
            out.push_str(l);
            out.push('\n');
        }
        if run > shown {
            let side = line.chars().next().unwrap_or(' ');
            let _ = writeln!(out, "{side}… {} more identical lines", run - shown);
        }
        i += run;
    }
    out
}

/// Compares every job of `scenario` between simulated runs (run and trace, in the order
/// tried) and a real trace.
pub fn compare(scenario: &Scenario, simulated: &[(SimRun, &Trace)], real: &Trace) -> Comparison {
    let mut judge = Judge::new(scenario, real);
    for (run, trace) in simulated {
        judge.add(*run, trace);
    }
    judge.finish()
}

/// The comparison for people: one line per job that agrees, naming the simulated run that
/// reproduced it, and per fidelity difference the closest simulated transcript as a diff.
pub fn render(scenario: &Scenario, comparison: &Comparison) -> String {
    let mut out = String::from(
        "== real vs simulated, per job (events, outcome; no ids, times or texts): a job agrees if some simulated run produces it, each job on its own\n",
    );
    let tried = comparison.runs.len();
    for a in &comparison.agreeing {
        let plan = &scenario.jobs[a.index];
        let _ = writeln!(
            out,
            "job #{} {} {}: agrees (simulated {}; {}, {} lines)",
            a.index,
            plan.keeper,
            plan.operation.name(),
            a.run,
            a.outcome,
            a.lines
        );
    }
    for d in &comparison.differing {
        let plan = &scenario.jobs[d.index];
        let closest = match d.run {
            Some(run) => format!("closest: simulated {run}, {} line(s) differ", d.changed),
            None => "no simulated run to compare with".to_owned(),
        };
        let _ = writeln!(
            out,
            "job #{} {} {}: DIFFERS (fidelity difference: no simulated run of {tried} produces it; {closest})",
            d.index,
            plan.keeper,
            plan.operation.name(),
        );
        out.push_str(&d.diff);
    }
    let _ = writeln!(
        out,
        "{} of {} jobs agree (simulated {})",
        comparison.agreeing.len(),
        scenario.jobs.len(),
        runs_text(&comparison.runs)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::{run, RunOptions};

    fn at(seed: u64) -> SimRun {
        SimRun::exact(seed)
    }

    const SCENARIO: &str = "name = \"t\"\nseed = 4\nhives = [\"hive-a\"]\nkeepers = [\"alice\"]\n\n[[jobs]]\nkeeper = \"alice\"\noperation = \"model_list\"\nhive_id = \"hive-a\"\n\n[[jobs]]\nkeeper = \"alice\"\noperation = \"model_get\"\nhive_id = \"hive-a\"\nmodel = \"tinyllama\"\n";

    /// Proves two runs of the same scenario at different seeds (different job ids and
    /// times) agree, naming the seed, and that a different catalogue shows up as a
    /// fidelity difference of exactly the job that lists it, naming the job and the closest
    /// seed and showing the extra lines.
    #[test]
    fn ids_and_times_are_ignored_and_a_different_listing_is_a_per_job_diff() {
        let scenario = Scenario::parse("t.toml", SCENARIO).expect("valid");
        let a = run(&scenario, RunOptions::new(1));
        let b = run(&scenario, RunOptions::new(2));
        assert_ne!(a.hash(), b.hash());
        let same = compare(&scenario, &[(at(1), &a)], &b);
        assert_eq!(same.differing, []);
        assert_eq!(
            (same.agreeing[0].run, same.agreeing[0].outcome.as_str()),
            (at(1), "done")
        );
        assert!(render(&scenario, &same)
            .contains("job #0 alice model_list: agrees (simulated seed 1; done,"));
        let c = run(&with_models(&scenario, &["zephyr"]), RunOptions::new(1));
        let diff = compare(&scenario, &[(at(1), &c)], &a);
        assert_eq!(diff.differing.len(), 1, "{diff:?}");
        let d = &diff.differing[0].diff;
        assert_eq!(diff.differing[0].index, 0);
        assert!(
            d.contains("--- simulated seed 1 job #0 (alice, model_list)"),
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
        let text = render(&scenario, &diff);
        assert!(text.contains("job #0 alice model_list: DIFFERS (fidelity difference: no simulated run of 1 produces it; closest: simulated seed 1, 3 line(s) differ)"), "{text}");
        assert!(
            text.contains("1 of 2 jobs agree (simulated seed 1)"),
            "{text}"
        );
    }

    fn with_models(scenario: &Scenario, more: &[&str]) -> Scenario {
        let mut models = scenario.models.clone();
        models.extend(more.iter().map(|m| (*m).to_owned()));
        Scenario {
            models,
            ..scenario.clone()
        }
    }

    /// Proves each job agrees with the first seed that reproduces it, whichever seed that
    /// is for the other jobs; that a job no seed reproduces gets the closest transcript
    /// (fewest differing lines) as its diff even when a farther one came first; and that
    /// the judge is settled only once every job agrees.
    #[test]
    fn each_job_takes_its_own_seed_and_a_difference_its_closest_transcript() {
        let scenario = Scenario::parse("t.toml", SCENARIO).expect("valid");
        let real = run(&scenario, RunOptions::new(1));
        let one_more = run(&with_models(&scenario, &["zephyr"]), RunOptions::new(2));
        let two_more = run(
            &with_models(&scenario, &["phi", "zephyr"]),
            RunOptions::new(3),
        );
        let same = run(&scenario, RunOptions::new(4));
        let mut judge = Judge::new(&scenario, &real);
        judge.add(at(30), &two_more);
        assert!(!judge.settled());
        judge.add(at(20), &one_more);
        let got = judge.finish();
        assert_eq!(got.runs, [at(30), at(20)]);
        assert_eq!(got.agreeing.len(), 1, "{got:?}");
        assert_eq!((got.agreeing[0].index, got.agreeing[0].run), (1, at(30)));
        assert_eq!(got.differing.len(), 1, "{got:?}");
        assert_eq!(
            (
                got.differing[0].index,
                got.differing[0].run,
                got.differing[0].changed
            ),
            (0, Some(at(20)), 3)
        );
        assert!(
            got.differing[0]
                .diff
                .contains("--- simulated seed 20 job #0"),
            "{}",
            got.differing[0].diff
        );
        let mut judge = Judge::new(&scenario, &real);
        for (seed, trace) in [(30, &two_more), (20, &one_more), (40, &same)] {
            judge.add(at(seed), trace);
        }
        assert!(judge.settled());
        let got = judge.finish();
        assert_eq!(got.differing, []);
        let runs: Vec<(usize, SimRun)> = got.agreeing.iter().map(|a| (a.index, a.run)).collect();
        assert_eq!(runs, [(0, at(40)), (1, at(30))]);
        assert!(render(&scenario, &got).contains("2 of 2 jobs agree (simulated seeds 30, 20, 40)"));
        let none = compare(&scenario, &[], &real);
        assert_eq!(none.differing.len(), 2);
        assert_eq!(none.differing[0].run, None);
        assert!(render(&scenario, &none).contains("no simulated run to compare with"));
    }

    /// Proves a long run of identical diff lines is cut to three and a count, on its own
    /// side, while short runs and the rest of the diff stay as they are.
    #[test]
    fn long_runs_of_identical_lines_are_cut_to_a_count() {
        let diff =
            "--- a\n+++ b\n@@ -1,7 +1,3 @@\n x\n-log\n-log\n-log\n-log\n-log\n+log\n+log\n y\n";
        assert_eq!(
            collapse_runs(diff),
            "--- a\n+++ b\n@@ -1,7 +1,3 @@\n x\n-log\n-log\n-log\n-… 2 more identical lines\n+log\n+log\n y\n"
        );
    }
}
