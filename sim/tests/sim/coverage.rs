//! The seed budget `cargo test` explores: every invariant holds on it, and it reaches every
//! probe of the catalogue — if a change makes a probe unreachable within it, this fails and
//! names the probe, so a green run never means "checked, but never exercised".

use rbee_sim::explore::{explore, summary, under_covered, ExploreConfig, Recheck};
use rbee_sim::generate::GenConfig;
use rbee_sim::shrink::Budget;

/// Seeds explored by `cargo test`: the range 0..CI_SEEDS with faults, as
/// `rbee-sim explore --seeds 300 --faults` would (at the default 10 ms tick its slowest
/// probe to reach, a relay losing its hive mid-stream, is first hit at seed 159; the rarest
/// probes are hit 3 times).
const CI_SEEDS: u64 = 300;

/// Proves every invariant (with a second run of each seed compared) on the CI budget, and
/// that the budget reaches every probe at least once.
#[test]
fn the_ci_seed_budget_holds_every_invariant_and_reaches_every_probe() {
    let cfg = ExploreConfig {
        from: 0,
        seeds: CI_SEEDS,
        shard: (0, 1),
        gen: GenConfig::default(),
        out: None,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        // A regression that fails many seeds reports after shrinking one, not after an
        // hour of shrinking the same failure.
        shrink_budget: Budget {
            seeds: 1,
            ..Budget::default()
        },
        // Every seed run twice in this process, every 30th replayed in a fresh one.
        guide: None,
        budget: None,
        recheck: Recheck {
            every: 1,
            cross_every: 30,
            exe: Some(env!("CARGO_BIN_EXE_rbee-sim").into()),
        },
    };
    let results = explore(&cfg, &|| ());
    let text = summary(&cfg, &results);
    assert!(results.iter().all(|r| r.violations.is_empty()), "{text}");
    let missing = under_covered(&results, 1);
    assert!(
        missing.is_empty(),
        "the CI seed budget no longer reaches these probes: {missing:?}\n{text}"
    );
}
