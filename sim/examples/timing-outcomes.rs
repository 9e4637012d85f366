//! How often each timing of `rbee-sim real`'s simulated side ends each job of a scenario
//! which way: the simulated half of the timing tables in README.md ("Against real
//! processes"), whose real half is `rbee-sim real` run a few times
//! (`scripts/timing-table.sh` runs both).
//!
//! ```text
//! cargo run --release -p rbee-sim --example timing-outcomes -- FILE... [--seeds K]
//! ```
//!
//! For every file, every timing and every job: the outcomes over the K seeds the simulated
//! side tries first (default 20, from the scenario's `seed`), e.g.
//! `dl.toml  late timers  job #0: cancelled 13/20, done 7/20`.

use rbee_sim::real::compare::job_lines;
use rbee_sim::real::simulated::SimSide;
use rbee_sim::real::timing::{SimRun, Timing};
use rbee_sim::scenario::Scenario;
use std::collections::BTreeMap;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut files = Vec::new();
    let mut seeds = rbee_sim::real::simulated::DEFAULT_SEEDS;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--seeds" {
            match args.next().and_then(|k| k.parse().ok()) {
                Some(k) => seeds = k,
                None => {
                    eprintln!("--seeds needs a number");
                    return ExitCode::from(2);
                }
            }
        } else {
            files.push(arg);
        }
    }
    if files.is_empty() {
        eprintln!("usage: timing-outcomes FILE... [--seeds K]");
        return ExitCode::from(2);
    }
    for file in files {
        let scenario = match std::fs::read_to_string(&file)
            .map_err(|e| format!("{file}: {e}"))
            .and_then(|text| Scenario::parse(&file, &text).map_err(|e| e.to_string()))
        {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
        let side = SimSide {
            seeds,
            ..SimSide::new(scenario.seed)
        };
        for timing in Timing::ALL {
            let mut outcomes: Vec<BTreeMap<String, u64>> =
                vec![BTreeMap::new(); scenario.jobs.len()];
            for seed in side.seed_list() {
                let trace = side.run(&scenario, SimRun { seed, timing });
                for (index, counts) in outcomes.iter_mut().enumerate() {
                    let outcome = job_lines(&scenario, &trace, index)
                        .into_iter()
                        .find_map(|l| l.strip_prefix("outcome ").map(str::to_owned))
                        .unwrap_or_else(|| "none".to_owned());
                    *counts.entry(outcome).or_default() += 1;
                }
            }
            for (index, counts) in outcomes.iter().enumerate() {
                let text: Vec<String> = counts
                    .iter()
                    .map(|(outcome, n)| format!("{outcome} {n}/{}", seeds.max(1)))
                    .collect();
                println!(
                    "{file}\t{}\tjob #{index}: {}",
                    timing.describe(),
                    text.join(", ")
                );
            }
        }
    }
    ExitCode::SUCCESS
}
