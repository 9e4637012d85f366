//! Scenario files (docs/spec.md §7): the topology, the jobs each keeper submits, and the faults.
//!
//! This module owns the scenario *types*; `parse.rs` reads a file with every error pointing
//! at `file:line` and the key ([`Scenario::load`], [`Scenario::parse`]), and `write.rs` turns
//! a scenario back into TOML ([`Scenario::to_toml`]; the explorer and the shrinker save
//! failing runs this way). Validation happens before anything runs:
//! unknown keys, hosts, operations, or a fault naming a host outside the topology are
//! errors, never a panic mid-run.

mod parse;
mod write;

pub use parse::{FAULT_KEYS, JOB_KEYS, REQUEST_KEYS, TOP_KEYS};

use rbee::operation::Operation;
use serde::Deserialize;
use std::fmt;

/// Where hive operations run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Queen forwards to hive processes over HTTP.
    Distributed,
    /// Queen runs the hives' handlers in-process.
    Integrated,
}

impl Mode {
    /// As written in a file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Distributed => "distributed",
            Self::Integrated => "integrated",
        }
    }
}

/// The outcome a job must have (`expect`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// `done`.
    Done,
    /// `error`.
    Error,
    /// `cancelled`.
    Cancelled,
    /// The keeper lost its connection (an extension of docs/spec.md §7: a crashed or cut-off queen).
    Lost,
    /// The keeper dropped its stream on purpose (`disconnect_after_events`; extension).
    Detached,
    /// The keeper never connected (`never_connect`; extension).
    NeverConnected,
    /// The server refused the submit or the stream request (a 4xx; extension).
    Rejected,
    /// Anything.
    Any,
}

impl Expect {
    /// Every value, in the order docs/scenario-format.md lists them: the loader accepts
    /// exactly these names and its documentation test checks each is documented.
    pub const ALL: [Self; 8] = [
        Self::Done,
        Self::Error,
        Self::Cancelled,
        Self::Lost,
        Self::Detached,
        Self::NeverConnected,
        Self::Rejected,
        Self::Any,
    ];

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == s)
    }

    /// As written in a file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Error => "error",
            Self::Cancelled => "cancelled",
            Self::Lost => "lost",
            Self::Detached => "detached",
            Self::NeverConnected => "never_connected",
            Self::Rejected => "rejected",
            Self::Any => "any",
        }
    }
}

/// What the keeper does with its stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Read until the terminal event.
    Follow,
    /// Drop the stream after this many events.
    DisconnectAfter(u64),
    /// Submit and never stream.
    NeverConnect,
    /// Follow, and send DELETE at this simulated time.
    CancelAt(u64),
    /// Follow, and once the first event arrived ask for the stream a second time (extension
    /// of docs/spec.md §7, `stream_twice = true`): the second request must be refused (409 while
    /// the first stream holds the job, 404 once it is gone) and never execute the job again.
    StreamTwice,
}

/// What a keeper asks of its job once the job ended (`after_end`, an extension of docs/spec.md §7):
/// requests for something that is gone, which the server must refuse without changing
/// anything (docs/spec.md §2: `404` once the job is removed, `409` while it is still terminal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterEnd {
    /// `DELETE` the job again (with `cancel_at_ms`, a second `DELETE`).
    Cancel,
    /// Ask for its stream again.
    Stream,
}

impl AfterEnd {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "cancel" => Some(Self::Cancel),
            "stream" => Some(Self::Stream),
            _ => None,
        }
    }

    /// As written in a file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cancel => "cancel",
            Self::Stream => "stream",
        }
    }
}

/// A request the server must refuse, which a keeper makes on purpose (`[[requests]]`, an
/// extension of docs/spec.md §7): each refusal row of docs/spec.md §2, under the same concurrency and
/// faults as the jobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RequestKind {
    /// A submit whose body is over 64 KiB: `413`.
    SubmitOversized,
    /// A submit whose body is not JSON: `400`.
    SubmitMalformed,
    /// A submit of an operation with a field it does not have: `400`.
    SubmitUnknownField,
    /// A submit naming a hive the queen does not know: `404`.
    SubmitUnknownHive,
    /// A stream request for a well-formed id that was never created: `404`.
    StreamUnknown,
    /// A stream request whose id is not an id: `400`.
    StreamMalformed,
    /// A `DELETE` of a well-formed id that was never created: `404`.
    CancelUnknown,
    /// A `DELETE` whose id is not an id: `400`.
    CancelMalformed,
}

impl RequestKind {
    /// Every kind, in file order.
    pub const ALL: [Self; 8] = [
        Self::SubmitOversized,
        Self::SubmitMalformed,
        Self::SubmitUnknownField,
        Self::SubmitUnknownHive,
        Self::StreamUnknown,
        Self::StreamMalformed,
        Self::CancelUnknown,
        Self::CancelMalformed,
    ];

    /// As written in a file.
    pub fn name(self) -> &'static str {
        match self {
            Self::SubmitOversized => "submit_oversized",
            Self::SubmitMalformed => "submit_malformed",
            Self::SubmitUnknownField => "submit_unknown_field",
            Self::SubmitUnknownHive => "submit_unknown_hive",
            Self::StreamUnknown => "stream_unknown",
            Self::StreamMalformed => "stream_malformed",
            Self::CancelUnknown => "cancel_unknown",
            Self::CancelMalformed => "cancel_malformed",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The status docs/spec.md §2 gives this request.
    pub fn status(self) -> u16 {
        match self {
            Self::SubmitOversized => 413,
            Self::SubmitMalformed | Self::SubmitUnknownField => 400,
            Self::StreamMalformed | Self::CancelMalformed => 400,
            Self::SubmitUnknownHive | Self::StreamUnknown | Self::CancelUnknown => 404,
        }
    }
}

/// One request of `[[requests]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestPlan {
    /// The keeper that sends it.
    pub keeper: String,
    /// When (simulated ms).
    pub at_ms: u64,
    /// What it asks.
    pub kind: RequestKind,
}

/// One job a keeper submits.
#[derive(Clone, Debug, PartialEq)]
pub struct JobPlan {
    /// The submitting keeper.
    pub keeper: String,
    /// Simulated time of the submit.
    pub at_ms: u64,
    /// The operation.
    pub operation: Operation,
    /// Delay between submit and stream connect.
    pub connect_after_ms: u64,
    /// Required outcome.
    pub expect: Expect,
    /// Keeper behaviour.
    pub behaviour: Behaviour,
    /// What the keeper asks once the job ended (`after_end`; default nothing).
    pub after_end: Option<AfterEnd>,
}

/// Fault kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// Drop all traffic between two hosts.
    Partition,
    /// Undo a partition.
    Repair,
    /// Hold (delay) all traffic between two hosts.
    Hold,
    /// Deliver held traffic.
    Release,
    /// Stop a host's software (queen or hive).
    Crash,
    /// Start a host's software again, from scratch.
    Restart,
}

impl FaultKind {
    /// Every kind, in the order docs/scenario-format.md lists them: the loader accepts
    /// exactly these names and its documentation test checks each is documented.
    pub const ALL: [Self; 6] = [
        Self::Partition,
        Self::Repair,
        Self::Hold,
        Self::Release,
        Self::Crash,
        Self::Restart,
    ];

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// As written in a file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Partition => "partition",
            Self::Repair => "repair",
            Self::Hold => "hold",
            Self::Release => "release",
            Self::Crash => "crash",
            Self::Restart => "restart",
        }
    }

    /// Whether the fault names a pair of hosts (`between`) rather than one (`host`).
    pub fn is_link(self) -> bool {
        matches!(
            self,
            Self::Partition | Self::Repair | Self::Hold | Self::Release
        )
    }

    /// Whether the fault ends a disturbance.
    pub fn heals(self) -> bool {
        matches!(self, Self::Repair | Self::Release | Self::Restart)
    }
}

/// One scheduled fault.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultPlan {
    /// Simulated time it fires.
    pub at_ms: u64,
    /// What it does.
    pub kind: FaultKind,
    /// Two hosts for link faults, one for crash/restart.
    pub hosts: Vec<String>,
}

/// A whole scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Title.
    pub name: String,
    /// Free text (a regression scenario says which bug it pins).
    pub description: String,
    /// Default seed, 0 to [`MAX_SEED`] (a TOML integer is signed 64-bit).
    pub seed: u64,
    /// Distributed or integrated.
    pub mode: Mode,
    /// Hive names.
    pub hives: Vec<String>,
    /// Keeper names.
    pub keepers: Vec<String>,
    /// Simulated time limit.
    pub run_for_ms: u64,
    /// Every hive's initial catalogue.
    pub models: Vec<String>,
    /// Job TTL of every process (`ttl_ms`, an extension of docs/spec.md §7; default docs/spec.md §4's 60 s).
    /// Generated scenarios use 5 s: never-streamed jobs then expire, and the run settles,
    /// 55 simulated seconds sooner, and no invariant depends on the TTL's length.
    pub ttl_ms: u64,
    /// Buffer of every job channel (`capacity`, an extension; default docs/spec.md §4's 1,000 on the
    /// queen and 10,000 on hives). Small buffers make full-buffer paths reachable: waits on
    /// the waiting path, drops and `lagged` on the synchronous one.
    pub capacity: Option<usize>,
    /// In-process perturbation (`perturb`, an extension; default off): seeded yields and
    /// short waits at the system's perturbation points, and stray or late lines for jobs
    /// without a channel (`rbee::perturb`).
    pub perturb: bool,
    /// Simulated time per turmoil step (`tick_ms`, an extension; default 1 ms). Timers inside
    /// a host keep their exact times; messages between hosts are delivered at tick edges.
    pub tick_ms: u64,
    /// Jobs, in file order (their index identifies them in traces).
    pub jobs: Vec<JobPlan>,
    /// Faults.
    pub faults: Vec<FaultPlan>,
    /// Requests the server must refuse (`[[requests]]`).
    pub requests: Vec<RequestPlan>,
}

/// Default job TTL (docs/spec.md §4).
pub const DEFAULT_TTL_MS: u64 = 60_000;
/// Longest accepted job TTL.
pub const MAX_TTL_MS: u64 = 600_000;

/// Largest seed a scenario file can hold (TOML integers are signed 64-bit).
pub const MAX_SEED: u64 = i64::MAX as u64;

/// Largest accepted `capacity`.
pub const MAX_CAPACITY: usize = 100_000;
/// Default simulated time per step.
pub const DEFAULT_TICK_MS: u64 = 1;
/// Largest accepted `tick_ms`.
pub const MAX_TICK_MS: u64 = 100;

/// Default simulated time limit.
pub const DEFAULT_RUN_FOR_MS: u64 = 60_000;
/// Longest accepted time limit (1 h simulated).
pub const MAX_RUN_FOR_MS: u64 = 3_600_000;

/// A scenario file error: file, line, key and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file.
    pub file: String,
    /// 1-based line; 0 when the error is about the file as a whole (it cannot be read).
    pub line: usize,
    /// The key at fault (may be empty when the file is not TOML at all).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            // Not about a place in the file (it could not be read at all).
            write!(f, "{}: {}", self.file, self.message)
        } else if self.key.is_empty() {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(
                f,
                "{}:{}: `{}`: {}",
                self.file, self.line, self.key, self.message
            )
        }
    }
}

impl std::error::Error for ScenarioError {}

impl Scenario {
    /// The hosts of the simulation: `queen`, the hives (distributed mode only), the keepers.
    pub fn hosts(&self) -> Vec<String> {
        let mut hosts = vec!["queen".to_owned()];
        if self.mode == Mode::Distributed {
            hosts.extend(self.hives.iter().cloned());
        }
        hosts.extend(self.keepers.iter().cloned());
        hosts
    }
}
