//! Random scenarios: one proptest strategy serves both the property tests (with shrinking)
//! and `rbee-sim explore` (seed N → always the same scenario N).
//!
//! It is a *swarm* generator: each case first draws which operations, keeper behaviours
//! and fault kinds are enabled at all, then builds jobs and faults from those alone, so rare
//! interactions (say, only cancels and crashes) get dense coverage in some cases.

use crate::scenario::{Behaviour, Expect, FaultKind, FaultPlan, JobPlan, Mode, Scenario};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use rbee::operation::Operation;

/// Size limits of generated scenarios.
#[derive(Clone, Copy, Debug)]
pub struct GenConfig {
    /// At most this many jobs (at least 1).
    pub max_jobs: usize,
    /// At most this many keepers (1 to 6).
    pub max_keepers: usize,
    /// At most this many hives (1 to 3).
    pub max_hives: usize,
    /// Whether faults may be scheduled at all.
    pub faults: bool,
}

impl Default for GenConfig {
    /// 10 jobs, 6 keepers, 3 hives, faults on.
    fn default() -> Self {
        Self {
            max_jobs: 10,
            max_keepers: 6,
            max_hives: 3,
            faults: true,
        }
    }
}

/// Job TTL of generated scenarios (see [`Scenario::ttl_ms`]): a never-streamed job costs
/// 5 simulated seconds instead of 60, which makes exploration several times faster.
pub const GENERATED_TTL_MS: u64 = 5_000;

/// Operation kinds a swarm may enable.
const OPS: [&str; 11] = [
    "status",
    "hive_check",
    "model_list",
    "model_get",
    "model_download",
    "model_delete",
    "worker_spawn",
    "worker_list",
    "worker_stop",
    "worker_install",
    "infer",
];
const MODELS: [&str; 4] = ["tinyllama", "tinyllama", "phi-2", "qwen"];
const WORDS: [&str; 6] = ["hello", "world", "[DONE]", "rbee", "data:", "event:"];

/// What one swarm case enables.
#[derive(Clone, Debug)]
struct Swarm {
    ops: Vec<&'static str>,
    behaviours: [bool; 4],
    faults: Vec<FaultKind>,
}

fn swarm(cfg: GenConfig) -> impl Strategy<Value = Swarm> {
    let fault_kinds = if cfg.faults {
        proptest::sample::subsequence(
            vec![FaultKind::Partition, FaultKind::Hold, FaultKind::Crash],
            0..=3,
        )
        .boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (
        proptest::sample::subsequence(OPS.to_vec(), 1..=OPS.len()),
        any::<[bool; 4]>(),
        fault_kinds,
    )
        .prop_map(|(ops, behaviours, faults)| Swarm {
            ops,
            behaviours,
            faults,
        })
}

fn operation(
    kind: &'static str,
    hive: String,
    model: &'static str,
    n: u32,
    words: Vec<&'static str>,
) -> Operation {
    let model = model.to_owned();
    match kind {
        "status" => Operation::Status {},
        "hive_check" => Operation::HiveCheck { hive_id: hive },
        "model_list" => Operation::ModelList { hive_id: hive },
        "model_get" => Operation::ModelGet {
            hive_id: hive,
            model,
        },
        "model_download" => Operation::ModelDownload {
            hive_id: hive,
            model,
            chunks: 1 + n % 8,
            interval_ms: 20 + u64::from(n % 5) * 40,
        },
        "model_delete" => Operation::ModelDelete {
            hive_id: hive,
            model,
        },
        "worker_spawn" => Operation::WorkerSpawn {
            hive_id: hive,
            model,
        },
        "worker_list" => Operation::WorkerList { hive_id: hive },
        "worker_stop" => Operation::WorkerStop {
            hive_id: hive,
            worker_id: format!("worker-{}", 1 + n % 3),
        },
        "worker_install" => Operation::WorkerInstall {
            hive_id: hive,
            lines: 1 + n * 25,
        },
        _ => Operation::Infer {
            hive_id: hive,
            model,
            prompt: words.join(" "),
            max_tokens: n % 12,
        },
    }
}

/// A job drawn from the swarm's enabled set.
fn job(sw: &Swarm, hives: &[String], keepers: &[String]) -> impl Strategy<Value = JobPlan> {
    let (sw, hives, keepers) = (sw.clone(), hives.to_vec(), keepers.to_vec());
    (
        proptest::sample::select(sw.ops.clone()),
        proptest::sample::select(hives),
        proptest::sample::select(keepers),
        proptest::sample::select(MODELS.to_vec()),
        0u32..16,
        proptest::collection::vec(proptest::sample::select(WORDS.to_vec()), 1..4),
        0u64..3000,
        (0u8..4, 1u64..12, 0u64..2000),
        prop_oneof![4 => Just(0u64), 1 => 0u64..3000],
    )
        .prop_map(
            move |(
                kind,
                hive,
                keeper,
                model,
                n,
                words,
                at_ms,
                (b, events, later),
                connect_after_ms,
            )| {
                let wanted = [true, sw.behaviours[1], sw.behaviours[2], sw.behaviours[3]];
                let behaviour = match b as usize {
                    i if !wanted[i] => Behaviour::Follow,
                    1 => Behaviour::DisconnectAfter(events),
                    2 => Behaviour::NeverConnect,
                    3 => Behaviour::CancelAt(at_ms + later),
                    _ => Behaviour::Follow,
                };
                JobPlan {
                    keeper,
                    at_ms,
                    operation: operation(kind, hive, model, n, words),
                    connect_after_ms,
                    expect: Expect::Any,
                    behaviour,
                }
            },
        )
}

/// A fault (and maybe its heal) drawn from the swarm's enabled kinds.
fn fault(sw: &Swarm, hosts: &[String], servers: &[String]) -> BoxedStrategy<Vec<FaultPlan>> {
    if sw.faults.is_empty() {
        return Just(Vec::new()).boxed();
    }
    let (kinds, hosts, servers) = (sw.faults.clone(), hosts.to_vec(), servers.to_vec());
    (
        proptest::sample::select(kinds),
        proptest::sample::subsequence(hosts, 2),
        proptest::sample::select(servers),
        0u64..5000,
        proptest::option::weighted(0.7, 100u64..10_000),
    )
        .prop_map(|(kind, pair, server, at_ms, heal)| {
            let (hosts, undo) = match kind {
                FaultKind::Partition => (pair, FaultKind::Repair),
                FaultKind::Hold => (pair, FaultKind::Release),
                _ => (vec![server], FaultKind::Restart),
            };
            let mut out = vec![FaultPlan {
                at_ms,
                kind,
                hosts: hosts.clone(),
            }];
            if let Some(after) = heal {
                out.push(FaultPlan {
                    at_ms: at_ms + after,
                    kind: undo,
                    hosts,
                });
            }
            out
        })
        .boxed()
}

/// Sets `expect = "done"` where the generator can know it: a following job in a run
/// without faults, whose operation cannot fail on the initial catalogue or on another
/// job's effects.
fn known_expectations(mut s: Scenario) -> Scenario {
    if !s.faults.is_empty() {
        return s;
    }
    let deletes_tinyllama = s.jobs.iter().any(
        |j| matches!(&j.operation, Operation::ModelDelete { model, .. } if model == "tinyllama"),
    );
    for j in &mut s.jobs {
        let safe = match &j.operation {
            Operation::Status {}
            | Operation::HiveCheck { .. }
            | Operation::ModelList { .. }
            | Operation::WorkerList { .. }
            | Operation::WorkerInstall { .. } => true,
            Operation::ModelGet { model, .. }
            | Operation::Infer { model, .. }
            | Operation::WorkerSpawn { model, .. } => model == "tinyllama" && !deletes_tinyllama,
            _ => false,
        };
        if safe && j.behaviour == Behaviour::Follow {
            j.expect = Expect::Done;
        }
    }
    s
}

/// Whole scenarios within `cfg`.
pub fn scenarios(cfg: GenConfig) -> impl Strategy<Value = Scenario> {
    let names =
        |prefix: &str, n: usize| (1..=n).map(|i| format!("{prefix}-{i}")).collect::<Vec<_>>();
    (
        swarm(cfg),
        prop_oneof![Just(Mode::Distributed), Just(Mode::Integrated)],
        1..=cfg.max_hives.clamp(1, 3),
        1..=cfg.max_keepers.clamp(1, 6),
    )
        .prop_flat_map(move |(sw, mode, n_hives, n_keepers)| {
            let hives = names("hive", n_hives);
            let keepers = names("keeper", n_keepers);
            let mut hosts = vec!["queen".to_owned()];
            let mut servers = vec!["queen".to_owned()];
            if mode == Mode::Distributed {
                hosts.extend(hives.clone());
                servers.extend(hives.clone());
            }
            hosts.extend(keepers.clone());
            (
                Just((mode, hives.clone(), keepers.clone())),
                proptest::collection::vec(job(&sw, &hives, &keepers), 1..=cfg.max_jobs.max(1)),
                proptest::collection::vec(fault(&sw, &hosts, &servers), 0..=2),
            )
        })
        .prop_map(|((mode, hives, keepers), jobs, faults)| {
            let mut faults: Vec<FaultPlan> = faults.into_iter().flatten().collect();
            faults.sort_by_key(|f| f.at_ms);
            known_expectations(Scenario {
                name: "generated".into(),
                description: String::new(),
                seed: 0,
                mode,
                hives,
                keepers,
                run_for_ms: 60_000,
                models: vec!["tinyllama".into()],
                ttl_ms: GENERATED_TTL_MS,
                jobs,
                faults,
            })
        })
}

/// A deterministic test runner for `seed`: the same seed draws the same value tree.
pub fn runner(seed: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    )
}

/// Scenario number `seed` (its `seed` field set to `seed`), with its value tree for
/// shrinking.
pub fn scenario_tree(seed: u64, cfg: GenConfig) -> impl ValueTree<Value = Scenario> {
    let mut runner = runner(seed);
    scenarios(cfg)
        .prop_map(move |mut s| {
            s.seed = seed;
            s.name = format!("generated seed {seed}");
            s
        })
        .new_tree(&mut runner)
        .expect("scenario strategy never rejects")
}

/// Shrinks a failing scenario: simplifies while `fails` holds, at most `budget` runs.
pub fn shrink(
    tree: &mut impl ValueTree<Value = Scenario>,
    mut fails: impl FnMut(&Scenario) -> bool,
    budget: usize,
) -> Scenario {
    let mut best = tree.current();
    if !tree.simplify() {
        return best;
    }
    for _ in 0..budget {
        let candidate = tree.current();
        if fails(&candidate) {
            best = candidate;
            if !tree.simplify() {
                break;
            }
        } else if !tree.complicate() {
            break;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_generates_the_same_valid_scenario() {
        for seed in 0..40 {
            let a = scenario_tree(seed, GenConfig::default()).current();
            let b = scenario_tree(seed, GenConfig::default()).current();
            assert_eq!(a, b);
            a.validate()
                .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{}", a.to_toml()));
            assert!(!a.jobs.is_empty() && a.jobs.len() <= 10);
        }
        assert_ne!(
            scenario_tree(1, GenConfig::default()).current(),
            scenario_tree(2, GenConfig::default()).current()
        );
    }
}
