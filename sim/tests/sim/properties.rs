//! Property tests: every docs/spec.md §9 invariant on random concurrent workloads under faults, a
//! fresh simulation per case, failures shrunk to a minimal scenario printed as TOML with
//! the `rbee-sim replay` line that reproduces it.
//!
//! `PROPTEST_CASES=N` runs more cases than the CI default.

use super::harness::violations;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestError, TestRng, TestRunner};
use rbee::event::StreamEvent;
use rbee_sim::check::{determinism, Violation};
use rbee_sim::generate::{scenarios, GenConfig};
use rbee_sim::scenario::{Scenario, MAX_SEED};
use rbee_sim::shrink::{shrink, Budget, Shrunk};
use rbee_sim::trace::{Trace, What};
use rbee_sim::world::{run, RunOptions};
use std::collections::BTreeSet;

/// Cases per property: small by default so `cargo test` stays fast.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What is wrong with `s`: the violations of one run, and a `determinism` violation when a
/// second run of the same seed records a different trace.
fn problems(s: &Scenario) -> Vec<Violation> {
    let trace = run(s, RunOptions::new(s.seed));
    let mut v = violations(s, &trace);
    v.extend(determinism(&trace, &run(s, RunOptions::new(s.seed))));
    v
}

/// Shrinks a failing `s` (within the default budget) to a scenario that still breaks one
/// of the invariants `s` broke, writes it where a person can replay it, and says how.
fn shrunk_report(
    s: &Scenario,
    v: &[Violation],
    check: &dyn Fn(&Scenario) -> Vec<Violation>,
) -> (Shrunk, String) {
    let broken: BTreeSet<&str> = v.iter().map(|v| v.invariant).collect();
    let shrunk = shrink(
        s,
        &mut |c| check(c).iter().any(|x| broken.contains(x.invariant)),
        Budget::default(),
    );
    let small = &shrunk.scenario;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("proptest-failures");
    let path = dir.join(format!("seed-{}.toml", small.seed));
    let _ = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, small.to_toml()));
    let lines: Vec<String> = check(small).iter().map(ToString::to_string).collect();
    let text = format!(
        "{} violation(s) of {broken:?}; shrunk to {}:\n{}\n--- scenario ---\n{}--- replay ---\ncargo run -p rbee-sim -- replay {}\n",
        v.len(),
        shrunk.describe(),
        lines.join("\n"),
        small.to_toml(),
        path.display()
    );
    (shrunk, text)
}

proptest! {
    // Shrinking is the shrinker's (bounded, domain-aware), not proptest's field by field.
    #![proptest_config(Config { cases: cases(32), max_shrink_iters: 0, ..Config::default() })]

    /// Proves all invariants, and that a second run gives the same trace, on random
    /// workloads under faults and perturbation (swarm-generated).
    #[test]
    fn every_invariant_holds_on_random_workloads(
        scenario in scenarios(GenConfig { max_jobs: 8, ..GenConfig::default() }),
        seed in 0..=MAX_SEED,
    ) {
        let scenario = Scenario { seed, ..scenario };
        let v = problems(&scenario);
        if !v.is_empty() {
            let (_, report) = shrunk_report(&scenario, &v, &problems);
            prop_assert!(false, "{}", report);
        }
    }
}

/// A deliberately broken delivery: the first event of one job's stream is handed to the
/// keeper of another job, as a global channel would (historical bug 2).
fn cross_deliver(trace: &Trace) -> Trace {
    let mut t = trace.clone();
    let mut first: Option<(usize, rbee::ids::JobId)> = None;
    for e in &mut t.entries {
        if let What::Received {
            index,
            event: StreamEvent::Narration(n),
            ..
        } = &mut e.what
        {
            match &first {
                None => first = Some((*index, n.job_id.clone())),
                Some((i, other)) if i != index => {
                    n.job_id = other.clone();
                    break;
                }
                _ => {}
            }
        }
    }
    t
}

/// Proves the property machinery finds a cross-job delivery and shrinks it, within its
/// budget, to the two jobs it needs, with the shrunk scenario as replayable TOML.
#[test]
fn a_cross_job_delivery_is_found_and_shrunk_to_two_jobs() {
    let config = Config {
        cases: 64,
        max_shrink_iters: 0,
        failure_persistence: None,
        ..Config::default()
    };
    // A fixed RNG: the same cases every run, so the test cannot pass or fail by luck.
    let rng = TestRng::deterministic_rng(config.rng_algorithm);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let strategy = scenarios(GenConfig {
        max_jobs: 6,
        faults: false,
        ..GenConfig::default()
    });
    let broken = |s: &Scenario| violations(s, &cross_deliver(&run(s, RunOptions::new(s.seed))));
    let found = runner.run(&strategy, |s| {
        prop_assert!(broken(&s).is_empty());
        Ok(())
    });
    let Err(TestError::Fail(_, failing)) = found else {
        panic!("the broken delivery went unnoticed: {found:?}");
    };
    let (shrunk, report) = shrunk_report(&failing, &broken(&failing), &broken);
    assert!(shrunk.complete, "{report}");
    assert!(shrunk.runs <= Budget::default().runs, "{report}");
    assert!(shrunk.scenario.jobs.len() <= 2, "{report}");
    assert!(report.contains("[isolation]"), "{report}");
    assert!(report.contains("rbee-sim -- replay"), "{report}");
    Scenario::parse("shrunk.toml", &shrunk.scenario.to_toml())
        .expect("the shrunk scenario is a valid file");
}
