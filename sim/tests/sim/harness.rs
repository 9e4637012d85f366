//! Test harness: run inline scenarios and read outcomes out of traces.

use rbee_sim::check::{check_all, Violation};
use rbee_sim::scenario::Scenario;
use rbee_sim::trace::{Trace, What};
use rbee_sim::world::{run, RunOptions};

/// Parses an inline scenario (panics with the loader's message if invalid).
pub fn scenario(toml: &str) -> Scenario {
    Scenario::parse("inline.toml", toml).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a scenario at its own seed.
pub fn run_it(s: &Scenario) -> Trace {
    run(s, RunOptions::new(s.seed))
}

/// Every violation of every checker.
pub fn violations(s: &Scenario, t: &Trace) -> Vec<Violation> {
    check_all(s, t).into_iter().flat_map(|(_, v)| v).collect()
}

/// (time, outcome) of scenario job `index`.
pub fn outcome(t: &Trace, index: usize) -> (u64, String, String) {
    t.entries
        .iter()
        .find_map(|e| match &e.what {
            What::Outcome {
                index: i,
                outcome,
                message,
                ..
            } if *i == index => Some((e.t, outcome.clone(), message.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("job #{index} has no outcome"))
}

/// A scenario with one keeper running one download on `hive-a`, plus `faults` (TOML).
pub fn download_with(faults: &str, chunks: u32) -> Scenario {
    scenario(&format!(
        r#"
name = "download under faults"
seed = 9
hives = ["hive-a"]
keepers = ["alice"]
run_for_ms = 60000

[[jobs]]
keeper = "alice"
operation = "model_download"
hive_id = "hive-a"
model = "phi-2"
chunks = {chunks}
interval_ms = 100
{faults}
"#
    ))
}
