//! `rbee-sim real`: the same scenario file against real `rbee` processes on loopback — a
//! simulator is trusted only as far as it matches reality.
//!
//! The command loads the file with the simulator's loader, refuses what reality cannot do
//! ([`support`]), starts the queen and hives as processes with a proxy on every link a
//! fault can touch ([`cluster`], [`process`], [`proxy`]), runs the keepers with the
//! simulator's own keeper code on the real clock ([`run`]), checks the client-visible
//! trace with the invariants a client can see ([`checks`]), and judges every job by
//! whether the simulator can produce it: the same file simulated on loopback-like links at
//! up to K seeds with exact timers and K with late ones ([`simulated`], [`timing`]), a job
//! agreeing with any one of these runs ([`compare`]).
//!
//! Unlike the rest of this crate, this module is not deterministic: it reads the real
//! clock, runs OS processes and threads. Nothing in the simulator uses it.
//!
//! | module | owns |
//! |---|---|
//! | [`support`] | the one list of scenario features real runs support |
//! | [`process`] | `rbee` processes: start, listening address, kill, restart, panics |
//! | [`proxy`] | a loopback TCP proxy with turmoil's link faults |
//! | [`cluster`] | the processes and proxies of a scenario; applying a fault |
//! | [`run`] | one run on the real clock, recorded as a trace |
//! | [`checks`] | the invariants on a real trace: shared, client-side, not visible |
//! | [`simulated`] | the simulated side: loopback-like links, K seeds per timing, run until every job agrees |
//! | [`timing`] | the timings of the simulated side (late timers, half steps); a run's name |
//! | [`compare`] | per-job judgement by reachability, the closest transcript as a unified diff |

pub mod checks;
pub mod cluster;
pub mod compare;
pub mod process;
pub mod proxy;
pub mod run;
pub mod simulated;
pub mod support;
pub mod timing;

use crate::report::transcripts;
use crate::scenario::Scenario;
pub use cluster::QueenSource;
pub use simulated::SimSide;
use std::fmt::Write;
use std::path::Path;
use std::time::Instant;

/// Exit code: every client-side invariant holds and every job agrees with the simulator.
pub const AGREE: u8 = 0;
/// Exit code: a violation, or a job that differs from the simulated run.
pub const DIFFER: u8 = 1;
/// Exit code: the file is invalid, asks for what reality cannot do, or nothing could run
/// (no `rbee` binary, a staging queen that cannot be reached).
pub const CANNOT_RUN: u8 = 2;

/// A loaded scenario that a real run can honour.
#[derive(Debug)]
pub struct Loaded {
    /// The scenario.
    pub scenario: Scenario,
    /// Process settings a staging queen is trusted to have (see [`support::Support`]).
    pub notes: Vec<String>,
}

/// Loads `file` and checks that a real run against `source` can honour it.
pub fn load(file: &Path, source: &QueenSource) -> Result<Loaded, String> {
    let scenario = Scenario::load(file).map_err(|e| e.to_string())?;
    let name = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|e| format!("{name}: cannot read: {e}"))?;
    let target = match source {
        QueenSource::Spawn(_) => support::Target::Spawned,
        QueenSource::Staging(_) => support::Target::Staging,
    };
    let mut notes = Vec::new();
    support::check(&name, &text, &scenario, target, &mut notes).map_err(|e| e.to_string())?;
    Ok(Loaded { scenario, notes })
}

/// Everything one `rbee-sim real` produced.
#[derive(Debug)]
pub struct Outcome {
    /// The real run's trace.
    pub real: crate::trace::Trace,
    /// The real verdicts.
    pub verdicts: Vec<checks::RealVerdict>,
    /// Real against the simulated seeds, per job.
    pub comparison: compare::Comparison,
    /// Wall time of the real run, in ms.
    pub real_ms: u128,
    /// Wall time of the simulated side (every seed it ran), in ms.
    pub simulated_ms: u128,
}

impl Outcome {
    /// Whether every visible invariant holds and every job agrees.
    pub fn agrees(&self) -> bool {
        self.comparison.differing.is_empty()
            && self
                .verdicts
                .iter()
                .all(|v| v.violations.as_ref().is_none_or(Vec::is_empty))
    }
}

/// Runs `scenario` for real against `source`, checks what the keepers saw, and judges
/// every job against the simulated side `side`.
pub fn execute(
    scenario: &Scenario,
    source: &QueenSource,
    side: &SimSide,
) -> Result<Outcome, String> {
    #[allow(
        clippy::disallowed_methods,
        reason = "a real run's own wall time, reported, outside any simulation"
    )]
    let wall = Instant::now();
    let real = run::run(scenario, source)?;
    let real_ms = wall.elapsed().as_millis();
    let verdicts = checks::check_real(scenario, &real);
    #[allow(
        clippy::disallowed_methods,
        reason = "the simulated side's wall time, reported, never part of a trace"
    )]
    let wall = Instant::now();
    let comparison = side.judge(scenario, &real);
    Ok(Outcome {
        real,
        verdicts,
        comparison,
        real_ms,
        simulated_ms: wall.elapsed().as_millis(),
    })
}

/// The verdict table of a real run, in `replay`'s layout, marked real; the bracket says
/// how each invariant was checked from the client's side.
pub fn verdict_table(verdicts: &[checks::RealVerdict]) -> String {
    let mut out = String::from("== invariants (real run: what the keepers saw)\n");
    for v in verdicts {
        let verdict = match &v.violations {
            None => "n/a".to_owned(),
            Some(found) if found.is_empty() => "ok".to_owned(),
            Some(found) => format!("VIOLATED ({})", found.len()),
        };
        let how = match v.how {
            checks::How::Shared => String::new(),
            checks::How::ClientSide(_, what) => format!("  [client-side: {what}]"),
            checks::How::NotVisible(what) => format!("  [{what}]"),
        };
        let _ = writeln!(out, "{:<22} {verdict}{how}", v.name);
    }
    for v in verdicts
        .iter()
        .filter_map(|v| v.violations.as_ref())
        .flatten()
    {
        let _ = writeln!(out, "  {v}");
    }
    out
}

/// How the command's simulated side is set up ([`SimSide`] without the first seed, which
/// defaults to the scenario's).
#[derive(Clone, Copy, Debug)]
pub struct SimOptions {
    /// The first simulated seed (default: the scenario's `seed`).
    pub seed: Option<u64>,
    /// How many seeds a job may agree with.
    pub seeds: u64,
    /// Every simulated link's message latency.
    pub latency: crate::world::Latency,
}

impl Default for SimOptions {
    /// The scenario's seed and the next ones, [`simulated::DEFAULT_SEEDS`] in all, over
    /// [`simulated::LOOPBACK`] links.
    fn default() -> Self {
        Self {
            seed: None,
            seeds: simulated::DEFAULT_SEEDS,
            latency: simulated::LOOPBACK,
        }
    }
}

/// The `rbee-sim real` command: prints transcripts, verdicts and the comparison; returns
/// the exit code ([`AGREE`], [`DIFFER`], [`CANNOT_RUN`]).
pub fn command(file: &Path, options: SimOptions, source: &QueenSource) -> u8 {
    let loaded = match load(file, source) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return CANNOT_RUN;
        }
    };
    let scenario = &loaded.scenario;
    let side = SimSide {
        first_seed: options.seed.unwrap_or(scenario.seed),
        seeds: options.seeds.max(1),
        latency: options.latency,
    };
    for note in &loaded.notes {
        eprintln!("note: {note}");
    }
    if let QueenSource::Staging(queen) = source {
        if let Err(e) = cluster::reach(queen) {
            eprintln!("error: {e}");
            return CANNOT_RUN;
        }
    }
    let outcome = match execute(scenario, source, &side) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: cannot run {}: {e}", file.display());
            return CANNOT_RUN;
        }
    };
    let against = match source {
        QueenSource::Spawn(_) => "real processes".to_owned(),
        QueenSource::Staging(ep) => format!("the queen at {ep}"),
    };
    println!(
        "== scenario {} ({} mode, real run against {against}; simulated: {})",
        scenario.name,
        scenario.mode.name(),
        side.describe()
    );
    print!("{}", transcripts(scenario, &outcome.real));
    print!("{}", verdict_table(&outcome.verdicts));
    print!("{}", compare::render(scenario, &outcome.comparison));
    eprintln!(
        "real run: {} ms of wall time ({} ms of scenario time); simulated side: {} run(s) in {} ms",
        outcome.real_ms,
        outcome.real.end(),
        outcome.comparison.runs.len(),
        outcome.simulated_ms
    );
    if outcome.agrees() {
        AGREE
    } else {
        DIFFER
    }
}
