//! `rbee-sim`: replay a scenario in the simulator (see `rbee_sim` for the library).

use clap::{Args, Parser, Subcommand};
use rbee_sim::check::{check_all, determinism};
use rbee_sim::explore::{explore, ExploreConfig, Recheck};
use rbee_sim::generate::{GenConfig, GENERATED_TICK_MS};
use rbee_sim::guided::{Corpus, Guide};
use rbee_sim::log::Log;
use rbee_sim::output;
use rbee_sim::report::{transcripts, verdicts};
use rbee_sim::scenario::{Scenario, MAX_SEED, MAX_TICK_MS};
use rbee_sim::summary::Summary;
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
        /// Seed (default: the scenario's `seed`), 0 to 2^63-1.
        #[arg(long, value_parser = clap::value_parser!(u64).range(..=MAX_SEED))]
        seed: Option<u64>,
        /// Run twice and fail unless both trace hashes agree.
        #[arg(long)]
        check_determinism: bool,
        /// Also draw the run as an SVG timeline to this file.
        #[arg(long, value_name = "OUT.svg")]
        timeline: Option<PathBuf>,
        /// Also write the recorded trace to this file, one JSON entry per line (its
        /// SHA-256 prefix is the printed trace hash).
        #[arg(long, value_name = "OUT.jsonl")]
        trace: Option<PathBuf>,
        /// Also write the results as JSON (schema `rbee-sim/replay`).
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Write the system's tracing output (simulated time, host per line) to this file
        /// instead of stderr; filter from RUST_LOG, else `rbee=debug`. Without it and without
        /// RUST_LOG nothing is logged.
        #[arg(long, value_name = "FILE")]
        log: Option<PathBuf>,
    },
    /// Print the scenario `explore` generates for one seed (to read or replay it).
    Generate {
        /// The seed.
        seed: u64,
        #[command(flatten)]
        gen: GenArgs,
    },
    /// Run a scenario against real `rbee` processes; check what the keepers saw and judge
    /// every job by whether the simulator produces it for some seed.
    Real {
        /// The scenario (`scenarios/*.toml`).
        file: PathBuf,
        /// First seed of the simulated side (default: the scenario's `seed`), 0 to 2^63-1.
        #[arg(long, value_parser = clap::value_parser!(u64).range(..=MAX_SEED))]
        seed: Option<u64>,
        /// How many simulated seeds (from the first, in order) a real job may agree with, each
        /// run at each timing: exact timers, late timers, late timers at half and at quarter steps,
        /// late timers over links up to 10 ms slow.
        #[arg(long, value_name = "K", default_value_t = rbee_sim::real::simulated::DEFAULT_SEEDS, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        sim_seeds: u64,
        /// Message latency of the simulated links, in ms (loopback-like by default; wider
        /// for a staging queen across a network).
        #[arg(long, value_name = "MIN-MAX", default_value = "0-2", value_parser = parse_latency)]
        latency_ms: rbee_sim::world::Latency,
        /// Run only the keepers, against this already running queen (staging).
        #[arg(long, value_name = "URL")]
        queen: Option<String>,
    },
    /// Generate and run a random scenario per seed; shrink and save every failure.
    Explore {
        /// Number of seeds.
        #[arg(long, default_value_t = 100)]
        seeds: u64,
        /// First seed.
        #[arg(long, default_value_t = 0)]
        from: u64,
        #[command(flatten)]
        gen: GenArgs,
        /// Directory for failing scenarios (and summary.txt).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run only shard I of N (seeds with seed % N == I), e.g. 0/4.
        #[arg(long, value_parser = parse_shard, default_value = "0/1")]
        shard: (u64, u64),
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Runs a failing seed may spend on shrinking (0: report it unshrunk); shrinking
        /// also stops after 60 s.
        #[arg(long, value_name = "N", default_value_t = 300)]
        shrink_runs: usize,
        /// Shrink only the N lowest failing seeds (0: none); the others are written as
        /// generated. Shrinking starts once every seed has run
        #[arg(long, value_name = "N", default_value_t = 4)]
        shrink_seeds: usize,
        /// Run every Nth seed twice in this process and compare traces (0: never). Every
        /// 8th costs ~11% of the seed rate (every seed: 50%); `cargo test` checks every seed.
        #[arg(long, value_name = "N", default_value_t = 8)]
        recheck_every: u64,
        /// Replay every Nth seed in a fresh rbee-sim process and compare trace hashes (0:
        /// never); ~1.5% of the seed rate at 100.
        #[arg(long, value_name = "N", default_value_t = 100)]
        cross_process_every: u64,
        /// Fail (exit 3) unless every probe was hit at least MIN times (default 1), naming
        /// the ones that were not.
        #[arg(long, value_name = "MIN", num_args = 0..=1, default_missing_value = "1")]
        require_coverage: Option<u64>,
        /// Also write the summary as JSON (schema `rbee-sim/explore`, see `rbee_sim::summary`).
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Guided: mutate scenarios that reached new behaviour instead of generating each
        /// seed's alone (README.md, "Guided exploration").
        #[arg(long)]
        guided: bool,
        /// Guided: start from the scenarios in DIR (e.g. `corpus/`) and add every new
        /// entry there (resumable; shards may share it).
        #[arg(long, value_name = "DIR", requires = "guided")]
        corpus: Option<PathBuf>,
        /// Guided: favour scenarios that hit this probe, or one of its family.
        #[arg(long, value_name = "PROBE", requires = "guided")]
        target: Option<String>,
        /// Stop starting seeds after S seconds of wall time, for side-by-side measurements
        /// on equal budgets (which seeds ran then depends on the machine).
        #[arg(long, value_name = "S", value_parser = parse_secs)]
        budget_secs: Option<std::time::Duration>,
    },
    /// Keep the fewest scenarios of FROM (files, or directories of `*.toml`) that together
    /// reach every probe they reach, and write them to OUT (the regression corpus,
    /// `corpus/`, which `cargo test` replays).
    Distill {
        /// Scenario files or directories.
        #[arg(required = true)]
        from: Vec<PathBuf>,
        /// Where to write the kept scenarios (entries an earlier distill wrote there and
        /// that are not kept again are removed).
        #[arg(long)]
        out: PathBuf,
    },
    /// Merge the JSON summaries of shards of one exploration (`explore --shard I/N --json`)
    /// into the summary of the whole range; print it, exit as `explore` would.
    Merge {
        /// The shards' `--json` files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Write the merged summary as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// As `explore --require-coverage`.
        #[arg(long, value_name = "MIN", num_args = 0..=1, default_missing_value = "1")]
        require_coverage: Option<u64>,
        /// Merge even when the files do not cover every shard of their range (by default
        /// that is an error: a lost shard must not pass for a whole exploration).
        #[arg(long)]
        allow_partial: bool,
    },
}

/// What the generator makes: shared by `explore` and `generate`, so a seed `explore`
/// reports is shown by `generate` with the same flags.
#[derive(Debug, Args)]
struct GenArgs {
    /// Most jobs per scenario.
    #[arg(long, default_value_t = 10)]
    jobs: usize,
    /// Schedule faults (partitions, holds, crashes).
    #[arg(long)]
    faults: bool,
    /// Simulated ms per step of every generated scenario (its `tick_ms`).
    #[arg(long, value_name = "MS", default_value_t = GENERATED_TICK_MS, value_parser = clap::value_parser!(u64).range(1..=MAX_TICK_MS))]
    tick_ms: u64,
    /// Never perturb the system (by default about half the scenarios do).
    #[arg(long)]
    no_perturb: bool,
}

impl GenArgs {
    fn config(&self) -> GenConfig {
        GenConfig {
            max_jobs: self.jobs.max(1),
            faults: self.faults,
            tick_ms: self.tick_ms,
            perturb: !self.no_perturb,
            ..GenConfig::default()
        }
    }
}

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (i, n) = s.split_once('/').ok_or("expected I/N, e.g. 0/4")?;
    let (i, n): (u64, u64) = (
        i.parse().map_err(|_| "I is not a number")?,
        n.parse().map_err(|_| "N is not a number")?,
    );
    if n == 0 || i >= n {
        return Err(format!("shard {i}/{n}: need 0 <= I < N"));
    }
    Ok((i, n))
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Generate { seed, gen } => {
            print!(
                "{}",
                rbee_sim::generate::scenario(seed, gen.config()).to_toml()
            );
            ExitCode::SUCCESS
        }
        Command::Replay {
            file,
            seed,
            check_determinism,
            timeline,
            trace,
            json,
            log,
        } => {
            let rust_log = std::env::var("RUST_LOG").ok();
            match Log::new(rust_log.as_deref(), log.as_deref()) {
                Ok(log) => replay(
                    &file,
                    seed,
                    check_determinism,
                    &Outputs {
                        timeline: timeline.as_deref(),
                        trace: trace.as_deref(),
                        json: json.as_deref(),
                        log: &log,
                    },
                ),
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Real {
            file,
            seed,
            sim_seeds,
            latency_ms,
            queen,
        } => {
            let options = rbee_sim::real::SimOptions {
                seed,
                seeds: sim_seeds,
                latency: latency_ms,
            };
            real(&file, options, queen.as_deref())
        }
        Command::Explore {
            seeds,
            from,
            gen,
            out,
            shard,
            threads,
            shrink_runs,
            shrink_seeds,
            recheck_every,
            cross_process_every,
            require_coverage,
            json,
            guided,
            corpus,
            target,
            budget_secs,
        } => {
            let guide = match guided
                .then(|| guide(corpus.as_deref(), target.as_deref()))
                .transpose()
            {
                Ok(guide) => guide,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let gen = gen.config();
            let cfg = ExploreConfig {
                from,
                seeds,
                shard,
                gen,
                out,
                threads,
                shrink_budget: rbee_sim::shrink::Budget {
                    runs: shrink_runs,
                    seeds: shrink_seeds,
                    ..rbee_sim::shrink::Budget::default()
                },
                recheck: Recheck {
                    every: recheck_every,
                    cross_every: cross_process_every,
                    exe: std::env::current_exe().ok(),
                },
                guide,
                budget: budget_secs,
            };
            explore_cmd(&cfg, require_coverage, json.as_deref(), corpus.as_deref())
        }
        Command::Distill { from, out } => distill(&from, &out),
        Command::Merge {
            files,
            json,
            require_coverage,
            allow_partial,
        } => merge(&files, json.as_deref(), require_coverage, allow_partial),
    }
}

fn parse_secs(s: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    std::time::Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("'{s}': give a positive number of seconds"))
}

fn parse_latency(s: &str) -> Result<rbee_sim::world::Latency, String> {
    let (min, max) = s
        .split_once('-')
        .ok_or("expected MIN-MAX in ms, e.g. 0-2")?;
    let ms = |v: &str| {
        v.trim()
            .parse::<u64>()
            .map(std::time::Duration::from_millis)
            .map_err(|_| format!("'{v}' is not a number of ms"))
    };
    let (min, max) = (ms(min)?, ms(max)?);
    if max < min {
        return Err(format!("MAX ({max:?}) is below MIN ({min:?})"));
    }
    Ok(rbee_sim::world::Latency { min, max })
}

fn real(
    file: &std::path::Path,
    options: rbee_sim::real::SimOptions,
    queen: Option<&str>,
) -> ExitCode {
    use rbee_sim::real::{command, process::find_rbee, QueenSource, CANNOT_RUN};
    let source = match queen {
        Some(url) => rbee::dial::Endpoint::parse(url)
            .map(QueenSource::Staging)
            .map_err(|e| format!("--queen: {e}")),
        None => std::env::current_exe()
            .map_err(|e| format!("cannot locate rbee-sim itself: {e}"))
            .and_then(|me| find_rbee(&me))
            .map(QueenSource::Spawn),
    };
    match source {
        Ok(source) => ExitCode::from(command(file, options, &source)),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(CANNOT_RUN)
        }
    }
}

/// The guided search's settings: the corpus directory read now (a bad file is an error
/// before any seed runs), the target checked against the probe catalogue.
fn guide(corpus: Option<&std::path::Path>, target: Option<&str>) -> Result<Guide, String> {
    let target = target.map(rbee_sim::guided::target).transpose()?;
    let initial = match corpus {
        Some(dir) => {
            let entries = Corpus::read_dir(dir)?;
            output::prepare_dir("--corpus", dir)?;
            entries
        }
        None => Vec::new(),
    };
    Ok(Guide {
        dir: corpus.map(Into::into),
        target,
        initial,
    })
}

fn explore_cmd(
    cfg: &ExploreConfig,
    require_coverage: Option<u64>,
    json: Option<&std::path::Path>,
    corpus: Option<&std::path::Path>,
) -> ExitCode {
    if cfg.from.saturating_add(cfg.seeds) > MAX_SEED {
        eprintln!(
            "error: seeds {}..{} go past the largest seed a scenario file can hold ({MAX_SEED})",
            cfg.from,
            cfg.from.saturating_add(cfg.seeds)
        );
        return ExitCode::from(2);
    }
    let total = (cfg.from..cfg.from.saturating_add(cfg.seeds))
        .filter(|s| s % cfg.shard.1 == cfg.shard.0)
        .count();
    if total == 0 {
        if cfg.seeds == 0 {
            eprintln!("error: --seeds 0: nothing to run (give at least 1 seed)");
        } else {
            eprintln!(
                "error: nothing to run: seeds {}..{} hold no seed of shard {}/{}",
                cfg.from,
                cfg.from + cfg.seeds,
                cfg.shard.0,
                cfg.shard.1
            );
        }
        return ExitCode::from(2);
    }
    let outputs = cfg
        .out
        .as_deref()
        .map_or(Ok(()), |dir| output::prepare_dir("--out", dir))
        .and_then(|()| json.map_or(Ok(()), |path| output::check_file("--json", path)));
    if let Err(e) = outputs {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} seeds  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    #[allow(
        clippy::disallowed_methods,
        reason = "wall time is reported on stderr, never part of a summary or a trace"
    )]
    let wall = std::time::Instant::now();
    let results = explore(cfg, &|| bar.inc(1));
    bar.finish_and_clear();
    let secs = wall.elapsed().as_secs_f64();
    let summary = Summary::of(cfg, &results);
    if let Some(dir) = corpus {
        match rbee_sim::guided::write_entries(dir, &results) {
            Ok(n) => eprintln!(
                "corpus: {n} new entr{} in {}",
                if n == 1 { "y" } else { "ies" },
                dir.display()
            ),
            Err(e) => {
                print!("{}", summary.text());
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(dir) = &cfg.out {
        let path = dir.join("summary.txt");
        if let Err(e) = std::fs::write(&path, summary.text()) {
            print!("{}", summary.text());
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    eprintln!(
        "wall {secs:.1} s on {} thread(s): {:.1} seeds/s, {:.0}x simulated/wall",
        cfg.threads,
        results.len() as f64 / secs.max(1e-9),
        summary.simulated_ms as f64 / 1000.0 / secs.max(1e-9)
    );
    report_summary(&summary, json, require_coverage)
}

/// Prints `summary`, writes it as JSON if asked, and exits as `explore` does: 1 on a
/// violation, 3 when a probe is under `require_coverage`, 2 when the JSON cannot be written.
fn report_summary(
    summary: &Summary,
    json: Option<&std::path::Path>,
    require_coverage: Option<u64>,
) -> ExitCode {
    print!("{}", summary.text());
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(summary).expect("a summary serialises");
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if summary.failing_seeds > 0 {
        return ExitCode::from(1);
    }
    if let Some(min) = require_coverage {
        let short = summary.under_covered(min);
        if !short.is_empty() {
            eprintln!(
                "coverage: {} probe(s) hit fewer than {min} time(s):",
                short.len()
            );
            for (name, n) in short {
                eprintln!("  {name} ({n})");
            }
            return ExitCode::from(3);
        }
    }
    ExitCode::SUCCESS
}

/// `rbee-sim merge`: the shards' summaries, merged.
/// `rbee-sim distill`: reads every scenario first (a bad file is an error before any
/// runs), replays each, keeps the greedy cover of their probes.
fn distill(from: &[PathBuf], out: &std::path::Path) -> ExitCode {
    use rbee_sim::corpus;
    let mut files: Vec<PathBuf> = Vec::new();
    for p in from {
        if p.is_dir() {
            match Corpus::read_dir(p) {
                Ok(entries) => files.extend(entries.into_iter().map(|(name, _)| p.join(name))),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            }
        } else {
            files.push(p.clone());
        }
    }
    let mut scenarios = Vec::new();
    for f in &files {
        match Scenario::load(f) {
            Ok(s) => {
                let name = f
                    .file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into_owned());
                if !scenarios
                    .iter()
                    .any(|(n, _): &(String, Scenario)| *n == name)
                {
                    scenarios.push((name, s));
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if let Err(e) = output::prepare_dir("--out", out) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let replayed: Vec<corpus::Replayed> = scenarios
        .iter()
        .map(|(n, s)| corpus::replay(n, s))
        .collect();
    for r in replayed.iter().filter(|r| !r.violations.is_empty()) {
        eprintln!("skipped {}: violates {}", r.name, r.violations[0].0);
    }
    let pairs: Vec<(&Scenario, &corpus::Replayed)> =
        scenarios.iter().map(|(_, s)| s).zip(&replayed).collect();
    let kept = corpus::distill(&pairs);
    let names: Vec<&str> = kept.iter().map(|(i, _)| scenarios[*i].0.as_str()).collect();
    if let Ok(read) = std::fs::read_dir(out) {
        for e in read.filter_map(Result::ok) {
            let path = e.path();
            let ours = std::fs::read_to_string(&path)
                .is_ok_and(|t| t.starts_with("# Regression corpus entry"));
            let name = e.file_name().to_string_lossy().into_owned();
            if ours && !names.contains(&name.as_str()) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    for (i, added) in &kept {
        let (name, s) = &scenarios[*i];
        if let Err(e) = corpus::write(out, name, s, added) {
            eprintln!("error: cannot write {}: {e}", out.join(name).display());
            return ExitCode::from(2);
        }
        println!("{name}: {} probe(s): {}", added.len(), added.join(", "));
    }
    let unreached = corpus::unreached(&replayed);
    println!(
        "kept {} of {} scenario(s); probes reached by none: {}",
        kept.len(),
        scenarios.len(),
        if unreached.is_empty() {
            "none".to_owned()
        } else {
            unreached.join(", ")
        }
    );
    ExitCode::SUCCESS
}

fn merge(
    files: &[PathBuf],
    json: Option<&std::path::Path>,
    require_coverage: Option<u64>,
    allow_partial: bool,
) -> ExitCode {
    if let Some(Err(e)) = json.map(|path| output::check_file("--json", path)) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let mut merged: Option<Summary> = None;
    for file in files {
        let read = std::fs::read_to_string(file)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str::<Summary>(&text).map_err(|e| e.to_string()));
        let summary = match read {
            Ok(summary) => summary,
            Err(e) => {
                eprintln!("error: {}: {e}", file.display());
                return ExitCode::from(2);
            }
        };
        match &mut merged {
            None => merged = Some(summary),
            Some(m) => {
                if let Err(e) = m.merge(&summary) {
                    eprintln!("error: {}: {e}", file.display());
                    return ExitCode::from(2);
                }
            }
        }
    }
    let Some(summary) = merged else {
        return ExitCode::from(2);
    };
    if let Some(gap) = summary.gap() {
        if !allow_partial {
            eprintln!(
                "error: {gap} (a shard's file is missing?); --allow-partial merges them anyway"
            );
            return ExitCode::from(2);
        }
        eprintln!("warning: {gap}");
    }
    report_summary(&summary, json, require_coverage)
}

/// Where a replay writes besides stdout.
struct Outputs<'a> {
    /// An SVG timeline.
    timeline: Option<&'a std::path::Path>,
    /// The canonical trace, one JSON entry per line.
    trace: Option<&'a std::path::Path>,
    /// The results as JSON.
    json: Option<&'a std::path::Path>,
    /// The system's log in simulated time.
    log: &'a Log,
}

fn replay(
    file: &std::path::Path,
    seed: Option<u64>,
    check_determinism: bool,
    out: &Outputs<'_>,
) -> ExitCode {
    let (log, trace_out, timeline) = (out.log, out.trace, out.timeline);
    let files = [
        ("--timeline", timeline),
        ("--trace", trace_out),
        ("--json", out.json),
    ];
    for (flag, path) in files {
        if let Some(Err(e)) = path.map(|p| output::check_file(flag, p)) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    let scenario = match Scenario::load(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let seed = seed.unwrap_or(scenario.seed);
    #[allow(
        clippy::disallowed_methods,
        reason = "wall time is reported on stderr, never part of a summary or a trace"
    )]
    let wall = std::time::Instant::now();
    let trace = match log.run(|| run(&scenario, RunOptions::new(seed))) {
        Ok(trace) => trace,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut results = check_all(&scenario, &trace);
    if check_determinism {
        let again = run(&scenario, RunOptions::new(seed));
        results.push(("determinism", determinism(&trace, &again)));
    }
    if let Some(out) = trace_out {
        if let Err(e) = std::fs::write(out, trace.canonical()) {
            eprintln!("error: cannot write {}: {e}", out.display());
            return ExitCode::from(2);
        }
        eprintln!("wrote the trace to {}", out.display());
    }
    if let Some(out) = timeline {
        let all: Vec<_> = results
            .iter()
            .flat_map(|(_, v)| v.iter().cloned())
            .collect();
        let shown = Scenario {
            seed,
            ..scenario.clone()
        };
        if let Err(e) = std::fs::write(out, rbee_sim::timeline::render(&shown, &trace, &all)) {
            eprintln!("error: cannot write {}: {e}", out.display());
            return ExitCode::from(2);
        }
        eprintln!("wrote the timeline to {}", out.display());
    }
    println!(
        "== scenario {} ({} mode, seed {seed})",
        scenario.name,
        scenario.mode.name()
    );
    print!("{}", transcripts(&scenario, &trace));
    let hits = rbee_sim::coverage::hits(&scenario, &trace);
    print!("{}", verdicts(&results, &hits));
    eprintln!(
        "simulated {} ms in {} ms of wall time",
        trace.end(),
        wall.elapsed().as_millis()
    );
    println!("trace {}", trace.hash());
    if let Some(path) = out.json {
        let shown = file.display().to_string();
        let report =
            rbee_sim::report::ReplayJson::of(&shown, &scenario, seed, &trace, &results, &hits);
        let text = serde_json::to_string_pretty(&report).expect("a report serialises");
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
        eprintln!("wrote the results to {}", path.display());
    }
    let violated = results.iter().any(|(_, v)| !v.is_empty());
    if violated {
        let file = file.display().to_string();
        let again = rbee_sim::explore::replay_command(&file, check_determinism);
        eprintln!("replay: {again} --seed {seed}  (logs: RUST_LOG=rbee=debug rbee-sim replay {file} --seed {seed} --log run.log)");
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
