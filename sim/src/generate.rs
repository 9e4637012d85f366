//! Random scenarios: one proptest strategy serves both the property tests and `rbee-sim
//! explore` (seed N → always the same scenario N); failures of both are shrunk by
//! [`crate::shrink`].
//!
//! It is a *swarm* generator: each case first draws which operations, keeper behaviours
//! and fault kinds are enabled at all, then builds jobs and faults from those alone, so rare
//! interactions (say, only cancels and crashes) get dense coverage in some cases.

use crate::scenario::{
    AfterEnd, Behaviour, Expect, FaultKind, FaultPlan, JobPlan, Mode, RequestKind, RequestPlan,
    Scenario,
};
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
    /// Simulated ms per step of every generated scenario (its `tick_ms`).
    pub tick_ms: u64,
    /// Whether scenarios may perturb the system (`perturb = true` on about half of them).
    pub perturb: bool,
}

/// The tick of generated scenarios: 10 ms finds every historical bug in the same share of
/// seeds as 1 ms, seven times faster (BENCHMARKS.md, "Tick size").
pub const GENERATED_TICK_MS: u64 = 10;

impl Default for GenConfig {
    /// 10 jobs, 6 keepers, 3 hives, faults on, [`GENERATED_TICK_MS`] ticks, perturbation.
    fn default() -> Self {
        Self {
            max_jobs: 10,
            max_keepers: 6,
            max_hives: 3,
            faults: true,
            tick_ms: GENERATED_TICK_MS,
            perturb: true,
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
/// Model names jobs use; one reads like a marker, so narration lines (`Downloaded model
/// '[DONE]'`, a listing's entry) carry marker text that must stay narration (docs/spec.md §3).
const MODELS: [&str; 5] = ["tinyllama", "tinyllama", "phi-2", "qwen", "[DONE]"];
const WORDS: [&str; 6] = ["hello", "world", "[DONE]", "rbee", "data:", "event:"];

/// What one swarm case enables.
#[derive(Clone, Debug)]
struct Swarm {
    ops: Vec<&'static str>,
    behaviours: [bool; 5],
    faults: Vec<FaultKind>,
    /// A small channel buffer for every process, or the defaults.
    capacity: Option<usize>,
    /// In-process perturbation on or off.
    perturb: bool,
    /// Whether keepers ask for their jobs again once they ended (`after_end`).
    after_end: bool,
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
        any::<[bool; 5]>(),
        fault_kinds,
        proptest::option::weighted(0.3, 1usize..=16),
        any::<bool>(),
        proptest::bool::weighted(0.3),
    )
        .prop_map(
            move |(ops, behaviours, faults, capacity, perturb, after_end)| Swarm {
                ops,
                behaviours,
                faults,
                capacity,
                perturb: perturb && cfg.perturb,
                after_end,
            },
        )
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
            interval_ms: 20 + u64::from(n % 5) * 100,
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
            lines: 1 + n * 60,
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
        (0u64..3000, 0u8..6),
        (0u8..5, 1u64..12, prop_oneof![0u64..2000, 0u64..300]),
        // Mostly at once, sometimes late, and sometimes right at the TTL (the stream races
        // the job's expiry).
        prop_oneof![
            8 => Just(0u64),
            2 => 0u64..3000,
            1 => (GENERATED_TTL_MS - 80)..(GENERATED_TTL_MS + 10),
        ],
    )
        .prop_map(
            move |(
                kind,
                hive,
                keeper,
                model,
                n,
                words,
                (at_ms, again),
                (b, events, later),
                connect_after_ms,
            )| {
                let behaviour = match b as usize {
                    i if !sw.behaviours[i] => Behaviour::Follow,
                    1 => Behaviour::DisconnectAfter(events),
                    2 => Behaviour::NeverConnect,
                    // Half the cancels land around the job's own scheduled end, where
                    // they race its completion.
                    3 if later < 300 => {
                        let own = operation(kind, hive.clone(), model, n, words.clone())
                            .deadline()
                            .saturating_sub(std::time::Duration::from_secs(30));
                        Behaviour::CancelAt(at_ms + own.as_millis() as u64 + 60 + later / 3)
                    }
                    3 => Behaviour::CancelAt(at_ms + later),
                    4 => Behaviour::StreamTwice,
                    _ => Behaviour::Follow,
                };
                let after_end = match again {
                    _ if !sw.after_end || behaviour == Behaviour::NeverConnect => None,
                    0 | 1 => Some(AfterEnd::Cancel),
                    2 => Some(AfterEnd::Stream),
                    _ => None,
                };
                JobPlan {
                    keeper,
                    at_ms,
                    operation: operation(kind, hive, model, n, words),
                    connect_after_ms,
                    expect: Expect::Any,
                    behaviour,
                    after_end,
                }
            },
        )
}

/// A workload whose output shows an order (docs/spec.md §2 listings): two or three workers spawned
/// on one hive and then listed, and two models downloaded there and then listed. A listing
/// built by iterating an unordered table would differ between runs of the same seed.
fn listing(hives: &[String], keepers: &[String]) -> impl Strategy<Value = Vec<JobPlan>> {
    (
        proptest::sample::select(hives.to_vec()),
        proptest::sample::select(keepers.to_vec()),
        2usize..=3,
        0u64..2000,
    )
        .prop_map(|(hive, keeper, spawns, start)| {
            let plan = |at_ms: u64, operation: Operation| JobPlan {
                keeper: keeper.clone(),
                at_ms,
                operation,
                connect_after_ms: 0,
                expect: Expect::Any,
                behaviour: Behaviour::Follow,
                after_end: None,
            };
            let mut jobs: Vec<JobPlan> = (0..spawns as u64)
                .map(|i| {
                    plan(
                        start + i * 50,
                        Operation::WorkerSpawn {
                            hive_id: hive.clone(),
                            model: "tinyllama".into(),
                        },
                    )
                })
                .collect();
            for (i, model) in ["phi-2", "qwen"].into_iter().enumerate() {
                jobs.push(plan(
                    start + 25 + i as u64 * 50,
                    Operation::ModelDownload {
                        hive_id: hive.clone(),
                        model: model.into(),
                        chunks: 2,
                        interval_ms: 20,
                    },
                ));
            }
            jobs.push(plan(
                start + 1000,
                Operation::WorkerList {
                    hive_id: hive.clone(),
                },
            ));
            jobs.push(plan(
                start + 1000,
                Operation::ModelList {
                    hive_id: hive.clone(),
                },
            ));
            jobs
        })
}

/// Requests the contract refuses, made on purpose by the keepers at random times (docs/spec.md §2's
/// error rows under the same concurrency and faults as the jobs).
fn requests(keepers: &[String]) -> impl Strategy<Value = Vec<RequestPlan>> {
    proptest::collection::vec(
        (
            proptest::sample::select(keepers.to_vec()),
            0u64..3000,
            proptest::sample::select(RequestKind::ALL.to_vec()),
        )
            .prop_map(|(keeper, at_ms, kind)| RequestPlan {
                keeper,
                at_ms,
                kind,
            }),
        1..=4,
    )
}

/// A burst of operations on one hive's state, where the reference model has the most to
/// judge: two downloads of one model close together (the second waits, then finds it
/// present), one of them maybe cancelled around its commit; a listing and a get racing
/// them; a delete; spawns, a stop and a worker listing; and, with faults on, a restart of
/// the process holding the hive's state in the middle (the hive, or in integrated mode the
/// queen), so that results on both sides of it must be reconciled.
fn churn(
    mode: Mode,
    faults: bool,
    hives: &[String],
    keepers: &[String],
) -> impl Strategy<Value = (Vec<JobPlan>, Vec<FaultPlan>)> {
    (
        proptest::sample::select(hives.to_vec()),
        proptest::collection::vec(proptest::sample::select(keepers.to_vec()), 10),
        0u64..2000,
        (10u64..200, 0u64..400, any::<bool>()),
        (any::<bool>(), 300u64..900, 50u64..400),
        proptest::sample::select(vec!["phi-2", "tinyllama"]),
    )
        .prop_map(
            move |(hive, who, start, (apart, cancel_late, cancel), (restart, at, down), gone)| {
                let job = |i: usize, at_ms: u64, operation: Operation| JobPlan {
                    keeper: who[i].clone(),
                    at_ms: start + at_ms,
                    operation,
                    connect_after_ms: 0,
                    expect: Expect::Any,
                    behaviour: Behaviour::Follow,
                    after_end: None,
                };
                let h = || hive.clone();
                let download = || Operation::ModelDownload {
                    hive_id: h(),
                    model: "phi-2".into(),
                    chunks: 3,
                    interval_ms: 40,
                };
                let mut second = job(1, apart, download());
                if cancel {
                    // Around its commit: it waits for the first, then runs 120 ms.
                    second.behaviour = Behaviour::CancelAt(start + 120 + cancel_late);
                }
                let spawn = || Operation::WorkerSpawn {
                    hive_id: h(),
                    model: "tinyllama".into(),
                };
                let mut third_spawn = job(5, 60, spawn());
                let mut delete = job(
                    8,
                    700,
                    Operation::ModelDelete {
                        hive_id: h(),
                        model: gone.into(),
                    },
                );
                if cancel {
                    // Around their commits: while the spawn waits for its worker, and just as
                    // the delete starts (a lagging abort lets its handler reach the commit).
                    third_spawn.behaviour = Behaviour::CancelAt(start + 60 + cancel_late / 4);
                    delete.behaviour = Behaviour::CancelAt(start + 740 + cancel_late / 4);
                }
                // Three more downloads (other models), each cancelled at another moment
                // around its commit (~80 ms of chunks after a submit, take and forward of
                // 20-200 ms): where a cancel lands just before the commit and the handler's
                // abort lags, the commit must be refused (`commit_refused`).
                let racing = ["qwen", "mistral", "gemma"]
                    .into_iter()
                    .enumerate()
                    .map(|(i, m)| {
                        let at = 1600 + 300 * i as u64;
                        let mut j = job(
                            i,
                            at,
                            Operation::ModelDownload {
                                hive_id: h(),
                                model: m.into(),
                                chunks: 2,
                                interval_ms: 40,
                            },
                        );
                        j.behaviour = Behaviour::CancelAt(
                            start + at + 80 + (cancel_late + 70 * i as u64) % 200,
                        );
                        j
                    });
                let mut jobs = vec![
                    job(0, 0, download()),
                    second,
                    job(2, apart / 2, Operation::ModelList { hive_id: h() }),
                    job(
                        3,
                        140,
                        Operation::ModelGet {
                            hive_id: h(),
                            model: "phi-2".into(),
                        },
                    ),
                    job(4, 20, spawn()),
                    third_spawn,
                    job(
                        6,
                        250,
                        Operation::WorkerStop {
                            hive_id: h(),
                            worker_id: "worker-1".into(),
                        },
                    ),
                    job(7, 400, Operation::WorkerList { hive_id: h() }),
                    delete,
                    job(9, 1200, Operation::ModelList { hive_id: h() }),
                    job(9, 1250, spawn()),
                    job(8, 1400, Operation::WorkerList { hive_id: h() }),
                ];
                jobs.extend(racing);
                let mut plan = Vec::new();
                if faults && restart {
                    let host = match mode {
                        Mode::Distributed => hive.clone(),
                        Mode::Integrated => "queen".to_owned(),
                    };
                    for (t, kind) in [(at, FaultKind::Crash), (at + down, FaultKind::Restart)] {
                        plan.push(FaultPlan {
                            at_ms: start + t,
                            kind,
                            hosts: vec![host.clone()],
                        });
                    }
                }
                (jobs, plan)
            },
        )
}

/// A slow but healthy job: a download (of a model no other job names, so it runs) silent
/// for 16 s between its two chunks — longer than a reader's silence limit (docs/spec.md §3) and than
/// the generated TTL. Only keep-alives carry its stream; it must end done.
fn slow(hives: &[String], keepers: &[String]) -> impl Strategy<Value = JobPlan> {
    (
        proptest::sample::select(hives.to_vec()),
        proptest::sample::select(keepers.to_vec()),
        0u64..2500,
    )
        .prop_map(|(hive, keeper, at_ms)| JobPlan {
            keeper,
            at_ms,
            operation: Operation::ModelDownload {
                hive_id: hive,
                model: "slow-model".into(),
                chunks: 2,
                interval_ms: 16_000,
            },
            connect_after_ms: 0,
            expect: Expect::Any,
            behaviour: Behaviour::Follow,
            after_end: None,
        })
}

/// A long forwarded job in trouble, aimed where the relay and the life cycle are weakest:
/// a 1.5 s download on one hive and, while it runs, its hive crashes, its link to the
/// queen is cut or held, or cut — or the queen crashes — just as the job is forwarded (the
/// hive job is orphaned and must expire) — faults only when `faults` is on, in distributed
/// mode — or its keeper cancels it mid-way, right before or after it completes (twice as
/// often: that race is narrow), or right as its stream is taken, or walks away mid-stream. Random faults and cancels rarely meet a running relay or a job's last
/// millisecond; these always aim at them.
fn trouble(
    mode: Mode,
    faults: bool,
    hives: &[String],
    keepers: &[String],
) -> impl Strategy<Value = (JobPlan, Vec<FaultPlan>)> {
    const CHUNKS: u32 = 10;
    const INTERVAL_MS: u64 = 150;
    // The kinds below; those aiming at a narrow window more often: orphaning the hive job
    // (a queen crash between the hive's 201 and the relay's stream request) three times,
    // cancelling at the job's end twice.
    let kinds: Vec<u8> = if faults && mode == Mode::Distributed {
        vec![0, 1, 2, 3, 3, 9, 9, 9, 4, 5, 5, 6, 7, 8]
    } else {
        vec![4, 5, 5, 6, 7, 8]
    };
    (
        proptest::sample::select(hives.to_vec()),
        proptest::sample::select(keepers.to_vec()),
        0u64..2500,
        proptest::sample::select(kinds),
        200u64..1200,
        proptest::option::of(100u64..3000),
        (2u64..8, 0u64..120),
    )
        .prop_map(
            move |(hive, keeper, start, kind, into, heal, (events, jitter))| {
                let fault = |at: u64, kind: FaultKind, hosts: Vec<String>, undo: FaultKind| {
                    let mut out = vec![FaultPlan {
                        at_ms: at,
                        kind,
                        hosts: hosts.clone(),
                    }];
                    if let Some(after) = heal {
                        out.push(FaultPlan {
                            at_ms: at + after,
                            kind: undo,
                            hosts,
                        });
                    }
                    out
                };
                let link = vec!["queen".to_owned(), hive.clone()];
                let mid = start + into;
                let own = u64::from(CHUNKS) * INTERVAL_MS;
                let reach = if mode == Mode::Distributed { 160 } else { 20 };
                let (behaviour, faults) = match kind {
                    0 => (
                        Behaviour::Follow,
                        fault(
                            mid,
                            FaultKind::Crash,
                            vec![hive.clone()],
                            FaultKind::Restart,
                        ),
                    ),
                    1 => (
                        Behaviour::Follow,
                        fault(mid, FaultKind::Partition, link, FaultKind::Repair),
                    ),
                    2 => (
                        Behaviour::Follow,
                        fault(mid, FaultKind::Hold, link, FaultKind::Release),
                    ),
                    3 => (
                        Behaviour::Follow,
                        fault(
                            start + 130 + jitter,
                            FaultKind::Partition,
                            link,
                            FaultKind::Repair,
                        ),
                    ),
                    9 => (
                        Behaviour::Follow,
                        fault(
                            start + 130 + jitter,
                            FaultKind::Crash,
                            vec!["queen".to_owned()],
                            FaultKind::Restart,
                        ),
                    ),
                    4 => (Behaviour::CancelAt(mid), Vec::new()),
                    // Around the job's end: its own 1.5 s plus the submit, take (and
                    // forward) over the simulated network, ~60 ms integrated, ~200 ms
                    // distributed (latencies vary per message).
                    5 => (
                        Behaviour::CancelAt(start + own + reach + jitter),
                        Vec::new(),
                    ),
                    8 => (
                        Behaviour::CancelAt(start + own + reach + 100 + jitter),
                        Vec::new(),
                    ),
                    6 => (Behaviour::CancelAt(start + 20 + jitter / 2), Vec::new()),
                    _ => (Behaviour::DisconnectAfter(events), Vec::new()),
                };
                let job = JobPlan {
                    keeper,
                    at_ms: start,
                    operation: Operation::ModelDownload {
                        hive_id: hive,
                        model: "phi-2".into(),
                        chunks: CHUNKS,
                        interval_ms: INTERVAL_MS,
                    },
                    connect_after_ms: 0,
                    expect: Expect::Any,
                    behaviour,
                    after_end: None,
                };
                (job, faults)
            },
        )
}

/// A fault (and maybe its heal) drawn from the swarm's enabled kinds.
fn fault(sw: &Swarm, hosts: &[String], servers: &[String]) -> BoxedStrategy<Vec<FaultPlan>> {
    if sw.faults.is_empty() {
        return Just(Vec::new()).boxed();
    }
    let (kinds, hosts, servers) = (sw.faults.clone(), hosts.to_vec(), servers.to_vec());
    // Links that carry traffic: queen <-> hive and keeper <-> queen; any pair now and then.
    let to_queen = |keepers: bool| -> Vec<Vec<String>> {
        hosts
            .iter()
            .filter(|h| *h != "queen" && servers.contains(h) != keepers)
            .map(|h| vec!["queen".to_owned(), h.clone()])
            .collect()
    };
    let (hive_links, keeper_links) = (to_queen(false), to_queen(true));
    let pair = if hive_links.is_empty() {
        prop_oneof![
            3 => proptest::sample::select(keeper_links),
            1 => proptest::sample::subsequence(hosts, 2),
        ]
        .boxed()
    } else {
        prop_oneof![
            3 => proptest::sample::select(hive_links),
            2 => proptest::sample::select(keeper_links),
            1 => proptest::sample::subsequence(hosts, 2),
        ]
        .boxed()
    };
    (
        proptest::sample::select(kinds),
        pair,
        proptest::sample::select(servers),
        0u64..3000,
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
/// job's effects. (A `worker_stop` can stop a worker another job is still spawning, which
/// then fails "stopped before it was ready": no spawn is known to succeed beside one.)
pub fn known_expectations(mut s: Scenario) -> Scenario {
    if !s.faults.is_empty() {
        return s;
    }
    let deletes_tinyllama = s.jobs.iter().any(
        |j| matches!(&j.operation, Operation::ModelDelete { model, .. } if model == "tinyllama"),
    );
    let stops_workers = s
        .jobs
        .iter()
        .any(|j| matches!(&j.operation, Operation::WorkerStop { .. }));
    for j in &mut s.jobs {
        let safe = match &j.operation {
            Operation::Status {}
            | Operation::HiveCheck { .. }
            | Operation::ModelList { .. }
            | Operation::WorkerList { .. }
            | Operation::WorkerInstall { .. } => true,
            Operation::ModelGet { model, .. } | Operation::Infer { model, .. } => {
                model == "tinyllama" && !deletes_tinyllama
            }
            Operation::WorkerSpawn { model, .. } => {
                model == "tinyllama" && !deletes_tinyllama && !stops_workers
            }
            _ => false,
        };
        // A stream that connects near the TTL races the job's expiry: 404 is as right as done.
        let connects_in_time = j.connect_after_ms < GENERATED_TTL_MS / 2;
        if safe && connects_in_time && j.behaviour == Behaviour::Follow {
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
                Just((
                    mode,
                    hives.clone(),
                    keepers.clone(),
                    sw.capacity,
                    sw.perturb,
                )),
                proptest::collection::vec(job(&sw, &hives, &keepers), 1..=cfg.max_jobs.max(1)),
                proptest::option::weighted(0.25, listing(&hives, &keepers)),
                proptest::option::weighted(0.4, trouble(mode, cfg.faults, &hives, &keepers)),
                proptest::option::weighted(0.05, slow(&hives, &keepers)),
                proptest::collection::vec(fault(&sw, &hosts, &servers), 0..=2),
                proptest::option::weighted(0.3, requests(&keepers)),
                proptest::option::weighted(0.2, churn(mode, cfg.faults, &hives, &keepers)),
            )
        })
        .prop_map(
            move |(
                (mode, hives, keepers, capacity, perturb),
                mut jobs,
                listing,
                trouble,
                slow,
                faults,
                requests,
                churn,
            )| {
                jobs.extend(listing.into_iter().flatten());
                jobs.extend(slow);
                let mut faults: Vec<FaultPlan> = faults.into_iter().flatten().collect();
                if let Some((more, restarts)) = churn {
                    jobs.extend(more);
                    faults.extend(restarts);
                }
                if let Some((job, more)) = trouble {
                    jobs.push(job);
                    faults.extend(more);
                }
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
                    capacity,
                    perturb,
                    tick_ms: cfg.tick_ms,
                    jobs,
                    faults,
                    requests: requests.unwrap_or_default(),
                })
            },
        )
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

/// Scenario number `seed`, as `explore` runs it.
pub fn scenario(seed: u64, cfg: GenConfig) -> Scenario {
    scenario_tree(seed, cfg).current()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins a false failure found at seeds 103181 and 104681: a `worker_stop` beside a
    /// `worker_spawn` can stop the worker before it is ready, so the spawn's `error` is
    /// right and the generator must not declare `done` for it.
    #[test]
    fn a_spawn_beside_a_worker_stop_is_not_expected_done() {
        let spawn = r#"
[[jobs]]
keeper = "alice"
operation = "worker_spawn"
hive_id = "hive-a"
model = "tinyllama"
"#;
        let stop = r#"
[[jobs]]
keeper = "alice"
at_ms = 5
operation = "worker_stop"
hive_id = "hive-a"
worker_id = "worker-1"
"#;
        let head = "hives = [\"hive-a\"]\nkeepers = [\"alice\"]\n";
        let expect = |toml: String| {
            let s = Scenario::parse("inline.toml", &toml).expect("valid scenario");
            known_expectations(s).jobs[0].expect
        };
        assert_eq!(expect(format!("{head}{spawn}")), Expect::Done);
        assert_eq!(expect(format!("{head}{spawn}{stop}")), Expect::Any);
    }

    #[test]
    fn the_same_seed_generates_the_same_valid_scenario() {
        for seed in 0..40 {
            let a = scenario_tree(seed, GenConfig::default()).current();
            let b = scenario_tree(seed, GenConfig::default()).current();
            assert_eq!(a, b);
            a.validate()
                .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{}", a.to_toml()));
            // Up to 10 drawn jobs, plus a listing workload's 4 to 7, a job in trouble, a
            // slow one and a burst of 15 on one hive's state.
            assert!(!a.jobs.is_empty() && a.jobs.len() <= 34, "{}", a.jobs.len());
        }
        assert_ne!(
            scenario_tree(1, GenConfig::default()).current(),
            scenario_tree(2, GenConfig::default()).current()
        );
    }
}
