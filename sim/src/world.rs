//! Builds and runs one simulated world from a scenario: the queen and each hive as turmoil
//! hosts running the real `rbee` server, each keeper as a turmoil client running the real
//! keeper library, faults fired at their simulated time, and a settle phase that lets the
//! system reach quiescence before the final state of every process is recorded.
//!
//! docs/spec.md §8a is followed to the letter: tokio's RNG is seeded from the scenario seed (the
//! build sets `--cfg tokio_unstable`), the epoch is fixed, every random choice of the system
//! comes from one RNG seeded from the seed, and nothing reads the wall clock.

use crate::link::{LinkEvent, Links};
use crate::net::{DownHosts, SimDial, SimListener};
use crate::scenario::{FaultKind, FaultPlan, Mode, Scenario};
use crate::trace::{Recorder, Trace, What};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rbee::dial::Endpoint;
use rbee::hive::Hive;
use rbee::ids::IdGen;
use rbee::keeper::Keeper;
use rbee::node::{HiveTarget, Node, NodeConfig, Role};
use rbee::perturb::{Perturb, Perturber, Point};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

/// Port of the queen inside the simulation.
pub const QUEEN_PORT: u16 = 7833;
/// Port of every hive inside the simulation.
pub const HIVE_PORT: u16 = 7835;
/// Fixed simulated wall-clock start (2023-11-14T22:13:20Z), so no run depends on today.
pub const EPOCH_SECS: u64 = 1_700_000_000;
/// How long after the keepers finish the world may take to settle, beyond the longer of the
/// scenario's job TTL (a never-streamed job must expire first) and its longest job deadline
/// (a job whose client vanished behind a partition runs to its own end: turmoil's TCP never
/// resends, so nothing tells its hive the client is gone): the 15 s silence limit plus
/// margin.
pub const SETTLE_MARGIN_MS: u64 = 20_000;

/// How long a run may settle after its keepers finished (see [`SETTLE_MARGIN_MS`]).
fn settle_ms(scenario: &Scenario) -> u64 {
    let longest_job = scenario
        .jobs
        .iter()
        .map(|j| j.operation.deadline().as_millis() as u64)
        .max()
        .unwrap_or(0);
    scenario.ttl_ms.max(longest_job) + SETTLE_MARGIN_MS
}

/// Knobs of a run that are not part of the scenario: the seed, so that a scenario file and
/// a seed always reproduce a run, and a few that only special callers set.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// The seed (overrides the scenario's).
    pub seed: u64,
    /// A lower cap on trace entries than the scenario's own (see `entry_limit`): lets a
    /// test show that a run which outgrows its cap stops and fails, without a system that
    /// emits without end.
    pub entry_limit: Option<usize>,
    /// Bounds of every link's message latency; `None` keeps turmoil's default (0–100 ms,
    /// ~20 ms on average), which every replay, exploration, snapshot and trace hash uses.
    /// `rbee-sim real` sets loopback-like bounds so that the simulated side of a comparison
    /// races the way real processes on one machine do.
    pub latency: Option<Latency>,
    /// How late every timer fires: the system's, and the keepers' and the faults' if it says
    /// so (drawn per timer from a RNG of its own seeded from the run's seed:
    /// [`TimerLateness`]); `None` keeps timers exact, as every replay, exploration,
    /// snapshot and trace hash does. `rbee-sim real` makes them late as real timers are.
    pub timer_lateness: Option<TimerLateness>,
    /// How many simulated milliseconds a millisecond of the scenario lasts: every timer
    /// of the system, of the keepers and of the faults, and the run's time limits, are
    /// stretched by it while a message still takes its step, as if steps were
    /// `1 / dilation` as long (turmoil's own steps cannot be shorter than tokio's
    /// millisecond: `rbee-sim real`'s timings). 1 (no stretch) in every run but the
    /// simulated side of `rbee-sim real`. The system's I/O timeouts (seconds) are not
    /// stretched, and a trace's times are simulated milliseconds.
    pub dilation: u32,
}

/// How late timers fire: each one `usual` late, or — with a probability drawn once per
/// run, uniformly within 0..=`max_loaded_percent` % — later, up to `loaded` (drawn to the
/// microsecond; a timer fires at the step its deadline falls in, so at 1 ms steps that is
/// `usual` + 1 ms, at finer emulated steps finer). Why per run: how often a real timer is
/// woken late depends on how busy the machine is, and that holds for the whole run (a
/// build log of ninety 1 ms pauses drifts by the sum of their lateness, and a per-timer
/// draw alone gives every run about the same sum).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerLateness {
    /// How late most timers fire.
    pub usual: Duration,
    /// How late a timer fires at most when the machine was busy (at least `usual`).
    pub loaded: Duration,
    /// The largest share of late-by-more timers a run may draw, in percent (at most 100).
    pub max_loaded_percent: u8,
    /// Whether the keepers' and the faults' timers are late too, not only the system's:
    /// in reality they are, but at 1 ms steps each request a keeper sends already costs
    /// it two steps (connect, request) where a real one costs a fraction of a
    /// millisecond, which is about what a real keeper's late timer adds.
    pub clients: bool,
}

/// The bounds of a link's message latency, as turmoil draws it: `min` plus an exponential
/// share of `max - min` (whole milliseconds), capped at `max`; a message is then delivered
/// at the next step boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latency {
    /// The least latency of a message.
    pub min: Duration,
    /// The greatest latency of a message (at least `min`).
    pub max: Duration,
}

impl RunOptions {
    /// A run at `seed` (the job TTL and everything else come from the scenario).
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            entry_limit: None,
            latency: None,
            timer_lateness: None,
            dilation: 1,
        }
    }

    /// The same run with every timer and time limit stretched `dilation` times (at least
    /// once).
    pub fn with_dilation(self, dilation: u32) -> Self {
        Self {
            dilation: dilation.max(1),
            ..self
        }
    }

    /// The same run with every timer late as `lateness` draws it (a share above 100 % is
    /// taken as 100 %, a `loaded` below `usual` as `usual`).
    pub fn with_timer_lateness(self, lateness: TimerLateness) -> Self {
        Self {
            timer_lateness: Some(TimerLateness {
                loaded: lateness.loaded.max(lateness.usual),
                max_loaded_percent: lateness.max_loaded_percent.min(100),
                ..lateness
            }),
            ..self
        }
    }

    /// The same run over links whose latency lies within `latency` (a `max` below `min` is
    /// taken as `min`: turmoil would refuse it).
    pub fn with_latency(self, latency: Latency) -> Self {
        Self {
            latency: Some(Latency {
                min: latency.min,
                max: latency.max.max(latency.min),
            }),
            ..self
        }
    }

    /// The same run, its trace capped at `limit` entries.
    pub fn with_entry_limit(self, limit: usize) -> Self {
        Self {
            entry_limit: Some(limit),
            ..self
        }
    }
}

type Nodes = Rc<RefCell<BTreeMap<String, Arc<Node>>>>;

/// What every process of one run shares: the run's id RNG, the recorder, the TTL, the
/// channel capacity, the perturbation RNG, the late timers' RNG, the hosts that are down
/// and the links' faults.
#[derive(Clone)]
struct Env {
    ids: IdGen,
    recorder: Recorder,
    ttl: Duration,
    capacity: Option<usize>,
    perturb: Option<Arc<Mutex<StdRng>>>,
    late_timers: Option<LateTimers>,
    dilation: u32,
    down: DownHosts,
    links: Links,
}

impl Env {
    /// The perturbation of `host`'s process: its points fire from `points` (none without),
    /// its timers are late with the run's late timers.
    fn perturb(&self, host: &str, points: Option<Arc<Mutex<StdRng>>>) -> Perturb {
        self.perturb_with(host, points, self.late_timers.clone())
    }

    /// The timers of a keeper `host`: stretched with the run, late only if the run's late
    /// timers reach the keepers ([`TimerLateness::clients`]).
    fn keeper_timers(&self, host: &str) -> Perturb {
        let late = self.late_timers.clone().filter(|l| l.lateness.clients);
        self.perturb_with(host, None, late)
    }

    fn perturb_with(
        &self,
        host: &str,
        points: Option<Arc<Mutex<StdRng>>>,
        late_timers: Option<LateTimers>,
    ) -> Perturb {
        if points.is_none() && late_timers.is_none() && self.dilation == 1 {
            return Perturb::off();
        }
        Perturb::with(Arc::new(SimPerturber {
            rng: points,
            late_timers,
            dilation: self.dilation,
            host: host.to_owned(),
            life: self.recorder.current_life(host),
            recorder: self.recorder.clone(),
        }))
    }

    fn config(&self, role: Role, host: &str) -> NodeConfig {
        let perturb = self.perturb(host, self.perturb.clone());
        NodeConfig {
            ids: self.ids.clone(),
            dial: Arc::new(SimDial::new(host, self.down.clone(), self.links.clone())),
            observer: self.recorder.observer(host),
            ttl: self.ttl,
            capacity: self.capacity,
            perturb,
            ..NodeConfig::new(role)
        }
    }
}

/// How often each perturbation point fires when a scenario has `perturb = true` (rare at
/// points passed once per event, frequent at points passed once per job), and the longest
/// wait it inserts: a few ms between events, up to 200 ms around a job's steps (a loaded
/// real process can be that late, and the races these windows open are otherwise a
/// millisecond wide).
fn perturb_rate(point: Point) -> (f64, u64) {
    match point {
        Point::Emit | Point::Relay => (0.05, 5),
        Point::Stray => (0.1, 0),
        Point::Straggler => (0.8, 0),
        Point::TakeStart => (0.4, 80),
        Point::AbortLag => (0.7, 100),
        Point::FinishClose => (0.5, 200),
        Point::Cancel => (0.5, 50),
        Point::Forward => (0.3, 100),
    }
}

/// Late timers: the RNG that draws each timer's lateness (its own, so that late timers
/// change no perturbation decision and no job id), and the run's lateness.
#[derive(Clone)]
struct LateTimers {
    rng: Arc<Mutex<StdRng>>,
    lateness: TimerLateness,
    /// The share of timers that fire `loaded` late in this run.
    loaded_share: f64,
}

impl LateTimers {
    /// The late timers of a run at `seed`: the run's share of loaded timers is the RNG's
    /// first draw.
    fn new(seed: u64, lateness: TimerLateness) -> Self {
        let mut rng = StdRng::seed_from_u64(late_timer_seed(seed));
        let loaded_share =
            rng.random_range(0.0..=f64::from(lateness.max_loaded_percent.min(100)) / 100.0);
        Self {
            rng: Arc::new(Mutex::new(rng)),
            lateness,
            loaded_share,
        }
    }

    /// How late the next timer fires.
    fn draw(&self) -> Duration {
        let loaded = self
            .rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .random_bool(self.loaded_share);
        if !loaded {
            return self.lateness.usual;
        }
        let span = self.lateness.loaded.saturating_sub(self.lateness.usual);
        let span_us = u64::try_from(span.as_micros()).unwrap_or(u64::MAX).max(1);
        let extra = self
            .rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .random_range(1..=span_us);
        self.lateness.usual + Duration::from_micros(extra)
    }
}

/// The simulator's perturber: decisions from the run's one perturbation RNG (seeded from the
/// run's seed, drawn in simulation order; none without `perturb`), every firing recorded in
/// the trace. A quarter of the firings yield once, the others wait from 1 ms up to the
/// point's longest wait. Timers are late only with [`RunOptions::timer_lateness`].
struct SimPerturber {
    rng: Option<Arc<Mutex<StdRng>>>,
    late_timers: Option<LateTimers>,
    dilation: u32,
    host: String,
    life: u32,
    recorder: Recorder,
}

impl Perturber for SimPerturber {
    fn timer_lateness(&self) -> Duration {
        self.late_timers
            .as_ref()
            .map_or(Duration::ZERO, LateTimers::draw)
    }

    fn dilation(&self) -> u32 {
        self.dilation
    }

    fn at(&self, point: Point) -> Option<Duration> {
        let rng = self.rng.as_ref()?;
        let delay = {
            let mut rng = rng.lock().unwrap_or_else(|e| e.into_inner());
            let (rate, longest) = perturb_rate(point);
            if !rng.random_bool(rate) {
                return None;
            }
            if longest == 0 || rng.random_bool(0.25) {
                Duration::ZERO
            } else {
                Duration::from_millis(rng.random_range(1..=longest))
            }
        };
        self.recorder.push_if_alive(
            &self.host,
            self.life,
            What::Perturb {
                point: point.name().to_owned(),
            },
        );
        Some(delay)
    }

    fn bits(&self) -> u128 {
        // Only a fired `Stray` point asks, and points fire only with the perturbation RNG.
        self.rng.as_ref().map_or(0, |rng| {
            rng.lock().unwrap_or_else(|e| e.into_inner()).random()
        })
    }
}

/// Seed of a run's perturbation RNG: derived from the run's seed, apart from the id RNG so
/// that switching perturbation on does not change which ids jobs get.
fn perturb_seed(seed: u64) -> u64 {
    seed ^ 0x9e37_79b9_7f4a_7c15
}

/// Seed of a run's late-timer RNG: derived from the run's seed, apart from the other two.
fn late_timer_seed(seed: u64) -> u64 {
    seed ^ 0x5851_f42d_4c95_7f2d
}

/// The most trace entries a run of `scenario` may record: [`crate::trace::MAX_ENTRIES`],
/// or more for jobs that ask for a lot of output (a few entries per chunk, build-log line
/// or token: the hub's record, the keeper's receipt, a relayed copy), so that only a system
/// that emits without end reaches it.
fn entry_limit(scenario: &Scenario) -> usize {
    let asked: u64 = scenario
        .jobs
        .iter()
        .map(|job| match &job.operation {
            rbee::operation::Operation::ModelDownload { chunks, .. } => u64::from(*chunks),
            rbee::operation::Operation::WorkerInstall { lines, .. } => u64::from(*lines),
            rbee::operation::Operation::Infer { max_tokens, .. } => u64::from(*max_tokens),
            _ => 0,
        })
        .sum();
    let asked = usize::try_from(asked.saturating_mul(8)).unwrap_or(usize::MAX);
    crate::trace::MAX_ENTRIES.max(asked)
}

/// Runs `scenario` and returns its trace.
pub fn run(scenario: &Scenario, options: RunOptions) -> Trace {
    let limit = options.entry_limit.unwrap_or_else(|| entry_limit(scenario));
    let recorder = Recorder::default().with_limit(limit);
    let nodes: Nodes = Rc::default();
    let ids = IdGen::seeded(options.seed);
    let mut builder = turmoil::Builder::new();
    builder
        .simulation_duration(Duration::from_millis(
            (scenario.run_for_ms + settle_ms(scenario) + 60_000)
                * u64::from(options.dilation.max(1)),
        ))
        .tick_duration(Duration::from_millis(scenario.tick_ms))
        .epoch(UNIX_EPOCH + Duration::from_secs(EPOCH_SECS))
        .rng_seed(options.seed);
    if let Some(latency) = options.latency {
        builder
            .min_message_latency(latency.min)
            .max_message_latency(latency.max);
    }
    let mut sim = builder.build();

    let env = Env {
        ids,
        recorder: recorder.clone(),
        ttl: Duration::from_millis(scenario.ttl_ms),
        capacity: scenario.capacity,
        perturb: scenario.perturb.then(|| {
            Arc::new(Mutex::new(StdRng::seed_from_u64(perturb_seed(
                options.seed,
            ))))
        }),
        late_timers: options
            .timer_lateness
            .map(|lateness| LateTimers::new(options.seed, lateness)),
        dilation: options.dilation.max(1),
        down: DownHosts::default(),
        links: Links::default(),
    };
    // The queen. Integrated mode gives it the hives as in-process handlers, rebuilt from
    // the initial catalogue on every (re)start.
    {
        let (scenario, nodes, env) = (scenario.clone(), nodes.clone(), env.clone());
        sim.host("queen", move || {
            let targets: BTreeMap<String, HiveTarget> = scenario
                .hives
                .iter()
                .map(|h| {
                    let target = match scenario.mode {
                        Mode::Distributed => HiveTarget::Remote(Endpoint {
                            host: h.clone(),
                            port: HIVE_PORT,
                        }),
                        Mode::Integrated => HiveTarget::Local(Arc::new(Hive::new(
                            h.clone(),
                            scenario.models.clone(),
                        ))),
                    };
                    (h.clone(), target)
                })
                .collect();
            let config = env.config(Role::Queen(targets), "queen");
            serve_host("queen", QUEEN_PORT, config, nodes.clone())
        });
    }
    if scenario.mode == Mode::Distributed {
        for (i, hive) in scenario.hives.iter().enumerate() {
            let (name, models) = (hive.clone(), scenario.models.clone());
            let (nodes, env) = (nodes.clone(), env.clone());
            let started = Rc::new(std::cell::Cell::new(false));
            sim.host(hive.as_str(), move || {
                let role = Role::Hive(Arc::new(Hive::new(name.clone(), models.clone())));
                // Up for a while before the run at its first start, from 0 after a restart.
                let uptime_ms = if started.replace(true) {
                    0
                } else {
                    hive_uptime_ms(i)
                };
                let config = NodeConfig {
                    uptime_ms,
                    ..env.config(role, &name)
                };
                serve_host(&name, HIVE_PORT, config, nodes.clone())
            });
        }
    }
    for keeper in &scenario.keepers {
        let jobs = crate::keeper::jobs_of(scenario, keeper);
        let requests = crate::keeper::requests_of(scenario, keeper);
        let hives = scenario.hives.clone();
        let (name, recorder) = (keeper.clone(), recorder.clone());
        let (down, links) = (env.down.clone(), env.links.clone());
        // A keeper hits no perturbation point.
        let timers = env.keeper_timers(keeper);
        // Every host's tasks stay on its LocalSet (rbee::spawn): the same teardown order
        // in every run.
        sim.client(
            keeper.as_str(),
            rbee::spawn::on_local_set(async move {
                let dial = SimDial::new(&name, down, links);
                let client = Keeper::new(Arc::new(dial), queen_endpoint());
                let schedule = crate::keeper::Schedule {
                    start: tokio::time::Instant::now(),
                    timers: timers.clone(),
                };
                // The keeper's own timers (its connect backoff) too.
                rbee::perturb::with_task_timers(
                    timers,
                    crate::keeper::run_keeper(
                        &name, &client, &recorder, &schedule, jobs, requests, &hives,
                    ),
                )
                .await;
                Ok(())
            }),
        );
    }

    drive(&mut sim, scenario, &env, &nodes);
    recorder.trace()
}

/// How long hive number `i` of a scenario had been up when the run began: hive `i` started
/// `i + 1` hours before the queen. Processes of a real system start at different times, so
/// their clocks (`at_ms`) disagree; a queen that passed a hive's timestamps on as its own
/// would show it hours off (the relay checker looks).
pub fn hive_uptime_ms(i: usize) -> u64 {
    (i as u64 + 1) * 3_600_000
}

/// Where keepers find the queen inside the simulation.
fn queen_endpoint() -> Endpoint {
    Endpoint {
        host: "queen".into(),
        port: QUEEN_PORT,
    }
}

fn serve_host(
    name: &str,
    port: u16,
    config: NodeConfig,
    nodes: Nodes,
) -> impl std::future::Future<Output = turmoil::Result> + 'static {
    let name = name.to_owned();
    rbee::spawn::on_local_set(async move {
        let node = Node::new(config);
        nodes.borrow_mut().insert(name, node.clone());
        let listener = SimListener::bind(port).await?;
        rbee::server::serve(listener, node, std::future::pending()).await?;
        Ok(())
    })
}

fn apply(sim: &mut turmoil::Sim<'_>, fault: &FaultPlan, nodes: &Nodes, env: &Env) {
    let h = &fault.hosts;
    if matches!(fault.kind, FaultKind::Crash | FaultKind::Restart) {
        env.recorder.end_life(&h[0]);
    }
    match fault.kind {
        FaultKind::Crash => env.down.crash(&h[0]),
        FaultKind::Restart => env.down.restart(&h[0]),
        FaultKind::Partition => env.links.apply(&h[0], &h[1], LinkEvent::Partition),
        FaultKind::Repair => env.links.apply(&h[0], &h[1], LinkEvent::Repair),
        FaultKind::Hold => env.links.apply(&h[0], &h[1], LinkEvent::Hold),
        FaultKind::Release => env.links.apply(&h[0], &h[1], LinkEvent::Release),
    }
    match fault.kind {
        FaultKind::Partition => sim.partition(h[0].as_str(), h[1].as_str()),
        FaultKind::Repair => sim.repair(h[0].as_str(), h[1].as_str()),
        // A hold keeps bytes, not connects (crate::link): turmoil's link stays open, the
        // connections' pumps keep what is sent. Either ends a partition, as it does on a
        // real link.
        FaultKind::Hold | FaultKind::Release => sim.repair(h[0].as_str(), h[1].as_str()),
        FaultKind::Crash => {
            sim.crash(h[0].as_str());
            nodes.borrow_mut().remove(&h[0]);
        }
        FaultKind::Restart => sim.bounce(h[0].as_str()),
    }
}

fn quiescent(nodes: &Nodes) -> bool {
    nodes
        .borrow()
        .values()
        .all(|n| n.hub().stats().live_channels == 0 && n.jobs().is_empty())
}

/// The scenario's faults in the order they fire, each with the millisecond it fires at:
/// its `at_ms`, or later with late timers (a real harness fires a fault on a real timer,
/// late as every real timer is). Late faults keep their order: one never fires before a
/// fault due before it (a restart after its crash).
fn fault_times(scenario: &Scenario, env: &Env) -> Vec<(u64, FaultPlan)> {
    let mut faults: Vec<FaultPlan> = scenario.faults.clone();
    faults.sort_by_key(|f| f.at_ms);
    let mut last = 0;
    faults
        .into_iter()
        .map(|f| {
            let lateness = env
                .late_timers
                .as_ref()
                .filter(|l| l.lateness.clients)
                .map_or(0, |l| l.draw().as_micros() as u64);
            let at_us = (f.at_ms * 1000 + lateness) * u64::from(env.dilation);
            last = at_us.div_ceil(1000).max(last);
            (last, f)
        })
        .collect()
}

/// Steps the simulation: faults at their time, until every keeper is done (or the time
/// limit), then until quiescence (or the settle limit); records the final state.
fn drive(sim: &mut turmoil::Sim<'_>, scenario: &Scenario, env: &Env, nodes: &Nodes) {
    let recorder = &env.recorder;
    let mut faults = fault_times(scenario, env).into_iter().peekable();
    let dilation = u64::from(env.dilation);
    let now = |sim: &turmoil::Sim<'_>| sim.elapsed().as_millis() as u64;
    let mut step = |sim: &mut turmoil::Sim<'_>| -> Option<bool> {
        let t = now(sim);
        while let Some((_, f)) = faults.next_if(|(at, _)| *at <= t) {
            recorder.push_at(
                t,
                "sim",
                What::Fault {
                    fault: f.kind.name().into(),
                    hosts: f.hosts.clone(),
                },
            );
            apply(sim, &f, nodes, env);
        }
        match catch_unwind(AssertUnwindSafe(|| sim.step())) {
            Ok(Ok(_)) if recorder.is_full() => {
                let message = format!(
                    "runaway: the trace reached {} entries by {} ms; the system emits without end, the rest of the run is not recorded",
                    recorder.limit(),
                    now(sim)
                );
                recorder.push_at(now(sim), "sim", What::Panic { message });
                None
            }
            Ok(Ok(finished)) => Some(finished),
            Ok(Err(e)) => {
                recorder.push_at(
                    now(sim),
                    "sim",
                    What::Panic {
                        message: e.to_string(),
                    },
                );
                None
            }
            Err(panic) => {
                let message =
                    rbee::node::panic_message(panic.as_ref()).unwrap_or_else(|| "panic".into());
                recorder.push_at(now(sim), "sim", What::Panic { message });
                None
            }
        }
    };
    let mut broken = false;
    loop {
        match step(sim) {
            Some(true) => break,
            Some(false) => {}
            None => {
                broken = true;
                break;
            }
        }
        if now(sim) >= scenario.run_for_ms * dilation {
            recorder.push_at(now(sim), "sim", What::TimeLimit);
            break;
        }
    }
    let settle_until = now(sim) + settle_ms(scenario) * dilation;
    while !broken && !quiescent(nodes) && now(sim) < settle_until {
        if step(sim).is_none() {
            break;
        }
    }
    let settled = quiescent(nodes);
    let t = now(sim);
    for (host, node) in nodes.borrow().iter() {
        let stats = node.hub().stats();
        recorder.push_at(
            t,
            host,
            What::Quiescence {
                channels: stats.live_channels,
                jobs: node.jobs().len(),
                dropped_no_channel: stats.dropped_no_channel,
                settled,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check_all;
    use crate::check::testkit::two_jobs;

    /// The runaway guard end to end: a run whose trace outgrows its cap stops there, in
    /// bounded time and memory, and fails (`no-panic` names the runaway) instead of
    /// recording until the machine runs out of memory.
    #[test]
    fn a_run_that_outgrows_its_trace_cap_stops_and_fails() {
        let (scenario, whole) = two_jobs();
        assert!(
            whole.entries.len() > 40,
            "the full run records more than the cap"
        );
        let capped = run(
            &scenario,
            RunOptions::new(scenario.seed).with_entry_limit(40),
        );
        assert!(
            capped.entries.len() <= 41,
            "{} entries",
            capped.entries.len()
        );
        let last = capped.entries.last().expect("an entry");
        assert!(
            matches!(&last.what, What::Panic { message } if message.starts_with("runaway: the trace reached 40 entries")),
            "{last:?}"
        );
        let no_panic = check_all(&scenario, &capped)
            .into_iter()
            .find(|(name, _)| *name == "no-panic")
            .map(|(_, v)| v)
            .unwrap_or_default();
        assert!(
            no_panic.iter().any(|v| v.message.contains("runaway")),
            "{no_panic:?}"
        );
    }

    /// A crash and its restart due in the same millisecond, a later partition, and a job
    /// that keeps the run going past them.
    const FAULTS: &str = "name = \"faults\"\nseed = 9\nmode = \"integrated\"\nhives = [\"hive-a\"]\nkeepers = [\"alice\"]\nrun_for_ms = 2000\ntick_ms = 1\n\n[[jobs]]\nkeeper = \"alice\"\nat_ms = 900\noperation = \"status\"\n\n[[faults]]\nat_ms = 100\nkind = \"crash\"\nhost = \"queen\"\n\n[[faults]]\nat_ms = 100\nkind = \"restart\"\nhost = \"queen\"\n\n[[faults]]\nat_ms = 300\nkind = \"partition\"\nbetween = [\"alice\", \"queen\"]\n";

    /// When each fault fired in a run of [`FAULTS`] with `options`, in trace order.
    fn fired(options: RunOptions) -> Vec<(u64, String)> {
        let scenario = Scenario::parse("faults.toml", FAULTS).expect("valid");
        run(&scenario, options)
            .entries
            .iter()
            .filter_map(|e| match &e.what {
                What::Fault { fault, .. } => Some((e.t, fault.clone())),
                _ => None,
            })
            .collect()
    }

    /// Proves a fault fires late and stretched when the run's timers reach the faults
    /// (`TimerLateness::clients`, as at the finer steps of `rbee-sim real`), and that late
    /// faults keep their order: a restart due with its crash never fires before it. With
    /// exact timers, or late timers that spare the faults, each fires at its `at_ms`.
    #[test]
    fn late_faults_fire_late_stretched_and_in_order() {
        let late = TimerLateness {
            usual: Duration::from_millis(1),
            loaded: Duration::from_millis(2),
            max_loaded_percent: 50,
            clients: true,
        };
        let exact = fired(RunOptions::new(9));
        let names = |f: &[(u64, String)]| f.iter().map(|(_, n)| n.clone()).collect::<Vec<_>>();
        assert_eq!(
            exact,
            [
                (100, "crash".into()),
                (100, "restart".into()),
                (300, "partition".into())
            ]
        );
        let spared = fired(RunOptions::new(9).with_timer_lateness(TimerLateness {
            clients: false,
            ..late
        }));
        assert_eq!(spared, exact);
        for seed in 0..8 {
            let stretched = fired(
                RunOptions::new(seed)
                    .with_timer_lateness(late)
                    .with_dilation(2),
            );
            assert_eq!(names(&stretched), names(&exact), "seed {seed}");
            let times: Vec<u64> = stretched.iter().map(|(t, _)| *t).collect();
            assert!(
                (202..=206).contains(&times[0]) && times[1] >= times[0],
                "seed {seed}: {stretched:?}"
            );
            assert!(
                (602..=606).contains(&times[2]),
                "seed {seed}: {stretched:?}"
            );
        }
    }
}
