//! `rbee-sim`: replay a scenario in the simulator (see `rbee_sim` for the library).

use clap::{Parser, Subcommand};
use rbee_sim::check::{check_all, determinism};
use rbee_sim::report::{transcripts, verdicts};
use rbee_sim::scenario::Scenario;
use rbee_sim::world::{run, RunOptions};
use std::path::PathBuf;
use std::process::ExitCode;

/// Deterministic simulator of the rbee job pipeline.
#[derive(Debug, Parser)]
#[command(name = "rbee-sim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario file; print transcripts, verdicts and the trace hash.
    Replay {
        /// The scenario (`scenarios/*.toml`).
        file: PathBuf,
        /// Seed (default: the scenario's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Run twice and fail unless both trace hashes agree.
        #[arg(long)]
        check_determinism: bool,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Replay {
            file,
            seed,
            check_determinism,
        } => replay(&file, seed, check_determinism),
    }
}

fn replay(file: &std::path::Path, seed: Option<u64>, check_determinism: bool) -> ExitCode {
    let scenario = match Scenario::load(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let seed = seed.unwrap_or(scenario.seed);
    let wall = std::time::Instant::now();
    let trace = run(&scenario, RunOptions::new(seed));
    let mut results = check_all(&scenario, &trace);
    if check_determinism {
        let again = run(&scenario, RunOptions::new(seed));
        results.push(("determinism", determinism(&trace, &again)));
    }
    println!(
        "== scenario {} ({} mode, seed {seed})",
        scenario.name,
        scenario.mode.name()
    );
    print!("{}", transcripts(&scenario, &trace));
    print!("{}", verdicts(&results));
    eprintln!(
        "simulated {} ms in {} ms of wall time",
        trace.end(),
        wall.elapsed().as_millis()
    );
    println!("trace {}", trace.hash());
    let violated = results.iter().any(|(_, v)| !v.is_empty());
    if violated {
        eprintln!("replay: rbee-sim replay {} --seed {seed}", file.display());
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
