//! Property tests: every SPEC §9 invariant on random concurrent workloads under faults, a
//! fresh simulation per case, failures shrunk to a minimal scenario printed as TOML with
//! the `rbee-sim replay` line that reproduces it.
//!
//! `PROPTEST_CASES=N` runs more cases than the CI default.

use super::harness::violations;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestError, TestRunner};
use rbee::event::StreamEvent;
use rbee_sim::check::Violation;
use rbee_sim::generate::{scenarios, GenConfig};
use rbee_sim::scenario::Scenario;
use rbee_sim::trace::{Trace, What};
use rbee_sim::world::{run, RunOptions};

/// Cases per property: small by default so `cargo test` stays fast.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Writes the failing scenario where a person can replay it, and says how.
fn report(s: &Scenario, v: &[Violation]) -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("proptest-failures");
    let path = dir.join(format!("seed-{}.toml", s.seed));
    let _ = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, s.to_toml()));
    let lines: Vec<String> = v.iter().map(ToString::to_string).collect();
    format!(
        "{} violation(s):\n{}\n--- scenario ---\n{}--- replay ---\ncargo run -p rbee-sim -- replay {}\n",
        v.len(),
        lines.join("\n"),
        s.to_toml(),
        path.display()
    )
}

proptest! {
    #![proptest_config(Config { cases: cases(8), max_shrink_iters: 200, ..Config::default() })]

    /// Proves all invariants on random workloads under faults (swarm-generated).
    #[test]
    fn every_invariant_holds_on_random_workloads(
        scenario in scenarios(GenConfig { max_jobs: 8, ..GenConfig::default() }),
        seed in any::<u64>(),
    ) {
        let scenario = Scenario { seed, ..scenario };
        let trace = run(&scenario, RunOptions::new(seed));
        let v = violations(&scenario, &trace);
        prop_assert!(v.is_empty(), "{}", report(&scenario, &v));
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

/// Proves the property machinery finds a cross-job delivery and shrinks it to the two jobs
/// it needs, with the shrunk scenario as replayable TOML.
#[test]
fn a_cross_job_delivery_is_found_and_shrunk_to_two_jobs() {
    let mut runner = TestRunner::new(Config {
        cases: 64,
        max_shrink_iters: 300,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = scenarios(GenConfig {
        max_jobs: 6,
        faults: false,
        ..GenConfig::default()
    });
    let result = runner.run(&strategy, |s| {
        let trace = cross_deliver(&run(&s, RunOptions::new(s.seed)));
        let v = violations(&s, &trace);
        prop_assert!(v.is_empty(), "{}", report(&s, &v));
        Ok(())
    });
    match result {
        Err(TestError::Fail(reason, minimal)) => {
            assert!(
                minimal.jobs.len() <= 2,
                "shrunk to {} jobs:\n{}",
                minimal.jobs.len(),
                minimal.to_toml()
            );
            assert!(
                reason.message().contains("[isolation]"),
                "{}",
                reason.message()
            );
            assert!(
                reason.message().contains("rbee-sim -- replay"),
                "{}",
                reason.message()
            );
            Scenario::parse("shrunk.toml", &minimal.to_toml())
                .expect("the shrunk scenario is a valid file");
        }
        other => panic!("the broken delivery went unnoticed: {other:?}"),
    }
}
