//! The recorded trace of one run: every hub and registry record of every process, every
//! event each keeper received and how each keeper's job ended, every fault — in simulation
//! order, stamped with simulated time and host — and its stable hash.
//!
//! The trace is the only input of the invariant checkers, and its hash is the determinism
//! witness: the same scenario and seed give a byte-identical canonical trace.

use rbee::event::StreamEvent;
use rbee::ids::JobId;
use rbee::observer::{HubRecord, Observer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One recorded happening.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Time since the start of the run, in ms: simulated, or real in `rbee-sim real`
    /// (see [`TimeSource`]).
    pub t: u64,
    /// The host it happened on (`queen`, a hive, a keeper, or `sim` for faults).
    pub host: String,
    /// What happened.
    pub what: What,
}

/// The kinds of trace entries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum What {
    /// A hub / registry record of a process.
    Hub {
        /// The record.
        record: HubRecord,
    },
    /// A keeper's job was accepted.
    Submit {
        /// Index of the job in the scenario.
        index: usize,
        /// The queen's job id.
        job: JobId,
    },
    /// A keeper's submit was refused or failed.
    SubmitFailed {
        /// Index of the job in the scenario.
        index: usize,
        /// Why.
        error: String,
    },
    /// A keeper received one stream event.
    Received {
        /// Index of the job in the scenario.
        index: usize,
        /// The job whose stream it was read from.
        job: JobId,
        /// The event.
        event: StreamEvent,
    },
    /// A keeper asked for its job's stream a second time (`stream_twice`).
    Restream {
        /// Index of the job in the scenario.
        index: usize,
        /// The job.
        job: JobId,
        /// The HTTP status of the second request (`0`: no reply).
        status: u16,
    },
    /// A keeper's stream of a job showed a `: keep-alive` comment (docs/spec.md §3): when the server
    /// last proved it was alive, which the timeliness checker judges.
    KeepAlive {
        /// Index of the job in the scenario.
        index: usize,
    },
    /// A keeper made a request that the server must refuse, and got this status: one of
    /// the scenario's `[[requests]]`, or a job's `after_end` request.
    Request {
        /// The job it concerns (`after_end`), by scenario index.
        job: Option<usize>,
        /// The entry of `[[requests]]` it is, by index.
        request: Option<usize>,
        /// What was asked (a `[[requests]]` kind, or `cancel_after_end` / `stream_after_end`).
        ask: String,
        /// The HTTP status of the reply (`0`: no reply).
        status: u16,
    },
    /// The simulator perturbed the system at one of its perturbation points.
    Perturb {
        /// The point's name (`rbee::perturb::Point::name`).
        point: String,
    },
    /// A keeper sent a DELETE for its job.
    Cancel {
        /// Index of the job in the scenario.
        index: usize,
        /// The job.
        job: JobId,
        /// `ok` or the error.
        result: String,
    },
    /// How a keeper's job ended from the keeper's side.
    Outcome {
        /// Index of the job in the scenario.
        index: usize,
        /// The job, if it was created.
        job: Option<JobId>,
        /// `done`, `error`, `cancelled`, `lost`, `detached`, `never_connected`, `rejected`.
        outcome: String,
        /// Error text, if any.
        message: String,
    },
    /// A fault fired.
    Fault {
        /// `partition`, `repair`, `hold`, `release`, `crash`, `restart`.
        fault: String,
        /// The hosts it names.
        hosts: Vec<String>,
    },
    /// A process panicked (always a violation).
    Panic {
        /// The panic message.
        message: String,
    },
    /// The scenario's time limit was reached before every keeper finished.
    TimeLimit,
    /// Final state of a process once the run settled.
    Quiescence {
        /// Live channels in its hub.
        channels: usize,
        /// Live jobs in its registry.
        jobs: usize,
        /// Its hub's missing-channel drop counter.
        dropped_no_channel: u64,
        /// Whether the run reached quiescence (every hub and registry empty) in time.
        settled: bool,
    },
}

/// A whole run's entries, in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// The entries.
    pub entries: Vec<Entry>,
}

impl Trace {
    /// The canonical text form: one JSON object per line.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            out.push_str(&serde_json::to_string(e).expect("trace entries serialise"));
            out.push('\n');
        }
        out
    }

    /// SHA-256 of the canonical form, first 16 bytes in hex: stable across processes,
    /// machines and releases.
    pub fn hash(&self) -> String {
        let digest = Sha256::digest(self.canonical().as_bytes());
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Simulated time of the last entry.
    pub fn end(&self) -> u64 {
        self.entries.last().map_or(0, |e| e.t)
    }
}

/// Where a recorder reads the time of an entry: the same keeper code records into a
/// simulated run and into a run against real processes, and only the clock differs.
#[derive(Clone, Copy, Debug, Default)]
pub enum TimeSource {
    /// turmoil's simulated time since the start of the simulation (0 outside one).
    #[default]
    Sim,
    /// Real milliseconds since this instant (tokio's clock): `rbee-sim real`.
    Since(tokio::time::Instant),
}

impl TimeSource {
    /// Milliseconds since the start of the run.
    pub fn now_ms(self) -> u64 {
        match self {
            Self::Sim => turmoil::sim_elapsed().map_or(0, |d| d.as_millis() as u64),
            Self::Since(origin) => origin.elapsed().as_millis() as u64,
        }
    }
}

/// A shared, append-only trace that every host of a run writes into.
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    entries: Arc<Mutex<Vec<Entry>>>,
    clock: TimeSource,
    /// Each host's current life (a crash or restart ends one).
    lives: Arc<Mutex<BTreeMap<String, u32>>>,
    /// Set when an entry was refused because the trace reached its limit.
    full: Arc<AtomicBool>,
    /// The most entries this run records (`None`: [`MAX_ENTRIES`]).
    limit: Option<usize>,
}

/// The most entries one run records. The largest generated runs record tens of thousands;
/// a system that emits without end (a receiver that invents events, a loop that re-sends)
/// would otherwise grow the trace until the machine runs out of memory, taking the whole
/// swarm with it. Past the limit the run stops and fails ([`Recorder::is_full`]). A
/// scenario whose jobs ask for more output than this raises its own limit
/// ([`Recorder::with_limit`]).
pub const MAX_ENTRIES: usize = 1_000_000;

impl Recorder {
    /// An empty recorder that stamps entries from `clock` (the default is simulated time).
    pub fn with_clock(clock: TimeSource) -> Self {
        Self {
            clock,
            ..Self::default()
        }
    }

    /// The same recorder, refusing entries past `limit` instead of [`MAX_ENTRIES`].
    pub fn with_limit(self, limit: usize) -> Self {
        Self {
            limit: Some(limit),
            ..self
        }
    }

    fn life(&self, host: &str) -> u32 {
        let lives = self.lives.lock().unwrap_or_else(|e| e.into_inner());
        lives.get(host).copied().unwrap_or(0)
    }

    /// Ends the current life of the process on `host`, before the simulator crashes or
    /// restarts it: nothing its observers report afterwards is recorded. A killed process
    /// runs no code, but turmoil tears a host down by dropping its tasks, whose destructors
    /// would otherwise report (in an order that depends on tokio's task ids, which are
    /// global to the OS process and so differ between two runs in one process).
    pub fn end_life(&self, host: &str) {
        let mut lives = self.lives.lock().unwrap_or_else(|e| e.into_inner());
        *lives.entry(host.to_owned()).or_default() += 1;
    }

    /// Appends `what` for `host` only if `life` is still the host's current life.
    pub fn push_if_alive(&self, host: &str, life: u32, what: What) {
        if self.life(host) == life {
            self.push(host, what);
        }
    }

    /// The recorder's current time in ms since the start of the run.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Appends an entry stamped with the recorder's current time.
    pub fn push(&self, host: &str, what: What) {
        self.push_at(self.now_ms(), host, what);
    }

    /// Appends an entry with an explicit time (outside any host).
    pub fn push_at(&self, t: u64, host: &str, what: What) {
        self.push_capped(self.limit.unwrap_or(MAX_ENTRIES), t, host, what);
    }

    /// Appends an entry unless the trace holds `cap` entries already; a panic (the record
    /// of why a run stopped) is always kept.
    fn push_capped(&self, cap: usize, t: u64, host: &str, what: What) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= cap && !matches!(what, What::Panic { .. }) {
            self.full.store(true, Ordering::Relaxed);
            return;
        }
        entries.push(Entry {
            t,
            host: host.to_owned(),
            what,
        });
    }

    /// The most entries this recorder keeps.
    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(MAX_ENTRIES)
    }

    /// Whether an entry was refused because the trace is full: the run must stop.
    pub fn is_full(&self) -> bool {
        self.full.load(Ordering::Relaxed)
    }

    /// The trace so far.
    pub fn trace(&self) -> Trace {
        Trace {
            entries: self
                .entries
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    /// An observer for the process on `host`, in its current life.
    pub fn observer(&self, host: &str) -> Arc<dyn Observer> {
        Arc::new(HostObserver {
            host: host.to_owned(),
            life: self.life(host),
            recorder: self.clone(),
        })
    }

    /// The current life of `host`, for a process-side hook that records like an observer.
    pub fn current_life(&self, host: &str) -> u32 {
        self.life(host)
    }
}

struct HostObserver {
    host: String,
    life: u32,
    recorder: Recorder,
}

impl Observer for HostObserver {
    fn record(&self, _at_ms: u64, record: HubRecord) {
        self.recorder
            .push_if_alive(&self.host, self.life, What::Hub { record });
    }
}

#[cfg(test)]
mod tests {
    use super::{Recorder, What};

    /// A run that records without end stops growing at the cap and says so; the record of
    /// why it stopped still gets in.
    #[test]
    fn a_full_trace_refuses_entries_and_keeps_the_reason() {
        let recorder = Recorder::default();
        for t in 0..5 {
            recorder.push_capped(3, t, "queen", What::TimeLimit);
        }
        assert!(recorder.is_full());
        assert_eq!(recorder.trace().entries.len(), 3);
        let message = "runaway".to_owned();
        recorder.push_capped(3, 9, "sim", What::Panic { message });
        assert_eq!(recorder.trace().entries.len(), 4);
        assert!(!Recorder::default().is_full());
    }
}
