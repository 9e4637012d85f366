//! Scenario files (SPEC §7): the topology, the jobs each keeper submits, and the faults,
//! loaded with every error pointing at `file:line` and the key, and written back as TOML
//! (the explorer and shrinker save failing runs this way).
//!
//! Validation happens before anything runs: unknown keys, hosts, operations, or a fault
//! naming a host outside the topology are errors, never a panic mid-run.

use rbee::operation::Operation;
use serde::Deserialize;
use std::fmt;
use std::path::Path;

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
    /// The keeper lost its connection (an extension of SPEC §7: a crashed or cut-off queen).
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
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "done" => Self::Done,
            "error" => Self::Error,
            "cancelled" => Self::Cancelled,
            "lost" => Self::Lost,
            "detached" => Self::Detached,
            "never_connected" => Self::NeverConnected,
            "rejected" => Self::Rejected,
            "any" => Self::Any,
            _ => return None,
        })
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
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "partition" => Self::Partition,
            "repair" => Self::Repair,
            "hold" => Self::Hold,
            "release" => Self::Release,
            "crash" => Self::Crash,
            "restart" => Self::Restart,
            _ => return None,
        })
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
    /// Default seed.
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
    /// Job TTL of every process (`ttl_ms`, an extension of SPEC §7; default SPEC's 60 s).
    /// Generated scenarios use 5 s: never-streamed jobs then expire, and the run settles,
    /// 55 simulated seconds sooner, and no invariant depends on the TTL's length.
    pub ttl_ms: u64,
    /// Jobs, in file order (their index identifies them in traces).
    pub jobs: Vec<JobPlan>,
    /// Faults.
    pub faults: Vec<FaultPlan>,
}

/// Default job TTL (SPEC §4).
pub const DEFAULT_TTL_MS: u64 = 60_000;
/// Longest accepted job TTL.
pub const MAX_TTL_MS: u64 = 600_000;

/// Default simulated time limit.
pub const DEFAULT_RUN_FOR_MS: u64 = 60_000;
/// Longest accepted time limit (1 h simulated).
pub const MAX_RUN_FOR_MS: u64 = 3_600_000;

/// A scenario file error: file, line, key and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// The key at fault (may be empty when the file is not TOML at all).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    seed: u64,
    #[serde(default = "default_mode")]
    mode: Mode,
    #[serde(default)]
    hives: Vec<String>,
    keepers: Vec<String>,
    #[serde(default = "default_run_for")]
    run_for_ms: u64,
    #[serde(default = "default_models")]
    models: Vec<String>,
    #[serde(default = "default_ttl")]
    ttl_ms: u64,
    #[serde(default)]
    jobs: Vec<toml::Spanned<toml::Table>>,
    #[serde(default)]
    faults: Vec<toml::Spanned<toml::Table>>,
}

fn default_mode() -> Mode {
    Mode::Distributed
}
fn default_run_for() -> u64 {
    DEFAULT_RUN_FOR_MS
}
fn default_ttl() -> u64 {
    DEFAULT_TTL_MS
}
fn default_models() -> Vec<String> {
    vec!["tinyllama".into()]
}

const JOB_KEYS: [&str; 7] = [
    "keeper",
    "at_ms",
    "connect_after_ms",
    "expect",
    "disconnect_after_events",
    "never_connect",
    "cancel_at_ms",
];

/// Maps byte offsets and keys to line numbers of one file.
struct Source<'a> {
    file: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn line_at(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    /// The line where `key = ` is written inside `span`, else the span's first line.
    fn key_line(&self, span: &std::ops::Range<usize>, key: &str) -> usize {
        let start = span.start.min(self.text.len());
        let end = span.end.min(self.text.len());
        let mut offset = start;
        for line in self.text[start..end].split_inclusive('\n') {
            let t = line.trim_start();
            if let Some(rest) = t.strip_prefix(key) {
                if rest.trim_start().starts_with('=') {
                    return self.line_at(offset);
                }
            }
            offset += line.len();
        }
        self.line_at(start)
    }

    /// The line of a top-level `key = ` (outside any table), else 1.
    fn top_line(&self, key: &str) -> usize {
        let end = self.text.find("\n[").map_or(self.text.len(), |i| i + 1);
        self.key_line(&(0..end), key)
    }

    fn err(&self, line: usize, key: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.file.to_owned(),
            line,
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

fn get_u64(
    src: &Source,
    table: &toml::Table,
    span: &std::ops::Range<usize>,
    key: &str,
) -> Result<Option<u64>, ScenarioError> {
    match table.get(key) {
        None => Ok(None),
        Some(toml::Value::Integer(i)) if *i >= 0 => Ok(Some(*i as u64)),
        Some(v) => Err(src.err(
            src.key_line(span, key),
            key,
            format!("expected a non-negative integer, got {v}"),
        )),
    }
}

fn get_str<'t>(
    src: &Source,
    table: &'t toml::Table,
    span: &std::ops::Range<usize>,
    key: &str,
) -> Result<Option<&'t str>, ScenarioError> {
    match table.get(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(src.err(
            src.key_line(span, key),
            key,
            format!("expected a string, got {v}"),
        )),
    }
}

fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Value::from(*f),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(a) => serde_json::Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => serde_json::Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

fn json_to_toml(v: &serde_json::Value) -> Option<toml::Value> {
    Some(match v {
        serde_json::Value::Null => return None,
        serde_json::Value::Bool(b) => toml::Value::Boolean(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        serde_json::Value::String(s) => toml::Value::String(s.clone()),
        serde_json::Value::Array(a) => {
            toml::Value::Array(a.iter().filter_map(json_to_toml).collect())
        }
        serde_json::Value::Object(o) => toml::Value::Table(
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), json_to_toml(v)?)))
                .collect(),
        ),
    })
}

impl Scenario {
    /// Loads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: file.clone(),
            line: 0,
            key: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        let mut s = Self::parse(&file, &text)?;
        if s.name.is_empty() {
            s.name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
        }
        Ok(s)
    }

    /// Parses and validates scenario text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, ScenarioError> {
        let src = Source { file, text };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| src.line_at(s.start));
            let key = e
                .message()
                .split('`')
                .nth(1)
                .filter(|_| e.message().contains("field"))
                .unwrap_or("")
                .to_owned();
            src.err(line, &key, e.message().trim())
        })?;
        let mut jobs = Vec::new();
        for spanned in &raw.jobs {
            jobs.push(parse_job(&src, spanned.get_ref(), &spanned.span())?);
        }
        let mut faults = Vec::new();
        for spanned in &raw.faults {
            faults.push(parse_fault(&src, spanned.get_ref(), &spanned.span())?);
        }
        let scenario = Self {
            name: raw.name.unwrap_or_default(),
            description: raw.description.unwrap_or_default(),
            seed: raw.seed,
            mode: raw.mode,
            hives: raw.hives,
            keepers: raw.keepers,
            run_for_ms: raw.run_for_ms,
            models: raw.models,
            ttl_ms: raw.ttl_ms,
            jobs,
            faults,
        };
        scenario.check_topology(&src, &raw.jobs, &raw.faults)?;
        Ok(scenario)
    }

    /// The hosts of the simulation: `queen`, the hives (distributed mode only), the keepers.
    pub fn hosts(&self) -> Vec<String> {
        let mut hosts = vec!["queen".to_owned()];
        if self.mode == Mode::Distributed {
            hosts.extend(self.hives.iter().cloned());
        }
        hosts.extend(self.keepers.iter().cloned());
        hosts
    }

    /// Validates a scenario built in code (the generator's output), as a file would be.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let text = self.to_toml();
        Self::parse("<generated>", &text).map(|_| ())
    }

    fn check_topology(
        &self,
        src: &Source,
        raw_jobs: &[toml::Spanned<toml::Table>],
        raw_faults: &[toml::Spanned<toml::Table>],
    ) -> Result<(), ScenarioError> {
        if self.run_for_ms == 0 || self.run_for_ms > MAX_RUN_FOR_MS {
            return Err(src.err(
                src.top_line("run_for_ms"),
                "run_for_ms",
                format!("must be 1 to {MAX_RUN_FOR_MS}"),
            ));
        }
        if self.ttl_ms == 0 || self.ttl_ms > MAX_TTL_MS {
            return Err(src.err(
                src.top_line("ttl_ms"),
                "ttl_ms",
                format!("must be 1 to {MAX_TTL_MS}"),
            ));
        }
        if self.keepers.is_empty() {
            return Err(src.err(
                src.top_line("keepers"),
                "keepers",
                "at least one keeper is needed",
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (key, names) in [("hives", &self.hives), ("keepers", &self.keepers)] {
            for name in names.iter() {
                let ok = !name.is_empty()
                    && name.len() <= 32
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !ok {
                    return Err(src.err(
                        src.top_line(key),
                        key,
                        format!(
                            "'{name}' is not a host name (letters, digits, '-', '_', at most 32)"
                        ),
                    ));
                }
                if name == "queen" || name == "sim" || !seen.insert(name.clone()) {
                    return Err(src.err(
                        src.top_line(key),
                        key,
                        format!("host name '{name}' is used twice or reserved"),
                    ));
                }
            }
        }
        for model in &self.models {
            if model.trim().is_empty() {
                return Err(src.err(
                    src.top_line("models"),
                    "models",
                    "model names must not be empty",
                ));
            }
        }
        for (job, raw) in self.jobs.iter().zip(raw_jobs) {
            let span = raw.span();
            if !self.keepers.contains(&job.keeper) {
                return Err(src.err(
                    src.key_line(&span, "keeper"),
                    "keeper",
                    format!(
                        "unknown keeper '{}' (keepers: {})",
                        job.keeper,
                        self.keepers.join(", ")
                    ),
                ));
            }
            if let Some(h) = job.operation.hive_id() {
                if !self.hives.iter().any(|x| x == h) {
                    return Err(src.err(
                        src.key_line(&span, "hive_id"),
                        "hive_id",
                        format!("unknown hive '{h}' (hives: {})", self.hives.join(", ")),
                    ));
                }
            }
        }
        let hosts = self.hosts();
        for (fault, raw) in self.faults.iter().zip(raw_faults) {
            let span = raw.span();
            let key = if fault.kind.is_link() {
                "between"
            } else {
                "host"
            };
            for h in &fault.hosts {
                if !hosts.contains(h) {
                    let why = if self.mode == Mode::Integrated && self.hives.contains(h) {
                        " (in integrated mode hives run inside the queen)"
                    } else {
                        ""
                    };
                    return Err(src.err(
                        src.key_line(&span, key),
                        key,
                        format!("unknown host '{h}'{why}; hosts: {}", hosts.join(", ")),
                    ));
                }
                if !fault.kind.is_link() && self.keepers.contains(h) {
                    return Err(src.err(
                        src.key_line(&span, key),
                        key,
                        format!(
                            "{} applies to the queen and hives, not to keeper '{h}'",
                            fault.kind.name()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Writes the scenario as a TOML file that [`Scenario::parse`] reads back unchanged.
    pub fn to_toml(&self) -> String {
        use toml::Value;
        let mut top = toml::Table::new();
        top.insert("name".into(), Value::String(self.name.clone()));
        if !self.description.is_empty() {
            top.insert(
                "description".into(),
                Value::String(self.description.clone()),
            );
        }
        top.insert("seed".into(), Value::Integer(self.seed as i64));
        top.insert("mode".into(), Value::String(self.mode.name().into()));
        let strings = |v: &[String]| Value::Array(v.iter().cloned().map(Value::String).collect());
        top.insert("hives".into(), strings(&self.hives));
        top.insert("keepers".into(), strings(&self.keepers));
        top.insert("run_for_ms".into(), Value::Integer(self.run_for_ms as i64));
        top.insert("models".into(), strings(&self.models));
        if self.ttl_ms != DEFAULT_TTL_MS {
            top.insert("ttl_ms".into(), Value::Integer(self.ttl_ms as i64));
        }
        let jobs: Vec<Value> = self
            .jobs
            .iter()
            .map(|j| {
                let mut t = match json_to_toml(&j.operation.to_json()) {
                    Some(Value::Table(t)) => t,
                    _ => toml::Table::new(),
                };
                t.insert("keeper".into(), Value::String(j.keeper.clone()));
                t.insert("at_ms".into(), Value::Integer(j.at_ms as i64));
                if j.connect_after_ms > 0 {
                    t.insert(
                        "connect_after_ms".into(),
                        Value::Integer(j.connect_after_ms as i64),
                    );
                }
                if j.expect != Expect::Any {
                    t.insert("expect".into(), Value::String(j.expect.name().into()));
                }
                match j.behaviour {
                    Behaviour::Follow => {}
                    Behaviour::DisconnectAfter(n) => {
                        t.insert("disconnect_after_events".into(), Value::Integer(n as i64));
                    }
                    Behaviour::NeverConnect => {
                        t.insert("never_connect".into(), Value::Boolean(true));
                    }
                    Behaviour::CancelAt(ms) => {
                        t.insert("cancel_at_ms".into(), Value::Integer(ms as i64));
                    }
                }
                Value::Table(t)
            })
            .collect();
        if !jobs.is_empty() {
            top.insert("jobs".into(), Value::Array(jobs));
        }
        let faults: Vec<Value> = self
            .faults
            .iter()
            .map(|f| {
                let mut t = toml::Table::new();
                t.insert("at_ms".into(), Value::Integer(f.at_ms as i64));
                t.insert("kind".into(), Value::String(f.kind.name().into()));
                if f.kind.is_link() {
                    t.insert("between".into(), strings(&f.hosts));
                } else {
                    t.insert("host".into(), Value::String(f.hosts[0].clone()));
                }
                Value::Table(t)
            })
            .collect();
        if !faults.is_empty() {
            top.insert("faults".into(), Value::Array(faults));
        }
        toml::to_string(&top).expect("scenario serialises")
    }
}

fn parse_job(
    src: &Source,
    table: &toml::Table,
    span: &std::ops::Range<usize>,
) -> Result<JobPlan, ScenarioError> {
    let keeper = get_str(src, table, span, "keeper")?
        .ok_or_else(|| {
            src.err(
                src.line_at(span.start),
                "keeper",
                "every job needs a keeper",
            )
        })?
        .to_owned();
    let at_ms = get_u64(src, table, span, "at_ms")?.unwrap_or(0);
    let connect_after_ms = get_u64(src, table, span, "connect_after_ms")?.unwrap_or(0);
    let expect = match get_str(src, table, span, "expect")? {
        None => Expect::Any,
        Some(e) => Expect::parse(e).ok_or_else(|| {
            src.err(
                src.key_line(span, "expect"),
                "expect",
                format!("'{e}' is not one of done, error, cancelled, lost, any"),
            )
        })?,
    };
    let disconnect = get_u64(src, table, span, "disconnect_after_events")?;
    let never = match table.get("never_connect") {
        None | Some(toml::Value::Boolean(false)) => false,
        Some(toml::Value::Boolean(true)) => true,
        Some(v) => {
            return Err(src.err(
                src.key_line(span, "never_connect"),
                "never_connect",
                format!("expected true or false, got {v}"),
            ))
        }
    };
    let cancel = get_u64(src, table, span, "cancel_at_ms")?;
    let behaviour = match (disconnect, never, cancel) {
        (None, false, None) => Behaviour::Follow,
        (Some(n), false, None) => Behaviour::DisconnectAfter(n),
        (None, true, None) => Behaviour::NeverConnect,
        (None, false, Some(t)) => Behaviour::CancelAt(t),
        _ => {
            let key = if never {
                "never_connect"
            } else {
                "cancel_at_ms"
            };
            return Err(src.err(
                src.key_line(span, key),
                key,
                "use at most one of disconnect_after_events, never_connect, cancel_at_ms",
            ));
        }
    };
    let op: serde_json::Map<String, serde_json::Value> = table
        .iter()
        .filter(|(k, _)| !JOB_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), toml_to_json(v)))
        .collect();
    if !op.contains_key("operation") {
        return Err(src.err(
            src.line_at(span.start),
            "operation",
            "every job needs an operation",
        ));
    }
    let operation = Operation::from_value(serde_json::Value::Object(op)).map_err(|e| {
        // Point at the key the message names, if any; else at `operation`.
        let named =
            e.0.split('`')
                .nth(1)
                .filter(|k| table.contains_key(*k))
                .unwrap_or("operation");
        src.err(src.key_line(span, named), named, e.0.clone())
    })?;
    Ok(JobPlan {
        keeper,
        at_ms,
        operation,
        connect_after_ms,
        expect,
        behaviour,
    })
}

fn parse_fault(
    src: &Source,
    table: &toml::Table,
    span: &std::ops::Range<usize>,
) -> Result<FaultPlan, ScenarioError> {
    for key in table.keys() {
        if !["at_ms", "kind", "between", "host"].contains(&key.as_str()) {
            return Err(src.err(
                src.key_line(span, key),
                key,
                "unknown key in a fault (expected at_ms, kind, between, host)",
            ));
        }
    }
    let at_ms = get_u64(src, table, span, "at_ms")?.unwrap_or(0);
    let kind_s = get_str(src, table, span, "kind")?
        .ok_or_else(|| src.err(src.line_at(span.start), "kind", "every fault needs a kind"))?;
    let kind = FaultKind::parse(kind_s).ok_or_else(|| {
        src.err(
            src.key_line(span, "kind"),
            "kind",
            format!("'{kind_s}' is not one of partition, repair, hold, release, crash, restart"),
        )
    })?;
    let hosts = if kind.is_link() {
        let err = || {
            src.err(
                src.key_line(span, "between"),
                "between",
                format!(
                    "{} needs between = [\"host-a\", \"host-b\"] (two different hosts)",
                    kind.name()
                ),
            )
        };
        let arr = table
            .get("between")
            .and_then(|v| v.as_array())
            .ok_or_else(err)?;
        let hosts: Vec<String> = arr
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        if hosts.len() != 2 || arr.len() != 2 || hosts[0] == hosts[1] || table.contains_key("host")
        {
            return Err(err());
        }
        hosts
    } else {
        let host = get_str(src, table, span, "host")?;
        match host {
            Some(h) if !table.contains_key("between") => vec![h.to_owned()],
            _ => {
                return Err(src.err(
                    src.key_line(span, "host"),
                    "host",
                    format!("{} needs host = \"name\" (and no between)", kind.name()),
                ))
            }
        }
    };
    Ok(FaultPlan { at_ms, kind, hosts })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "name = \"t\"\nhives = [\"hive-a\"]\nkeepers = [\"alice\"]\n";

    fn err(text: &str) -> ScenarioError {
        Scenario::parse("s.toml", text).expect_err("must be rejected")
    }

    #[test]
    fn a_full_scenario_parses_with_defaults() {
        let s = Scenario::parse(
            "s.toml",
            &format!("{HEAD}\n[[jobs]]\nkeeper = \"alice\"\noperation = \"model_download\"\nhive_id = \"hive-a\"\nmodel = \"m\"\ncancel_at_ms = 5\n"),
        )
        .unwrap();
        assert_eq!(s.mode, Mode::Distributed);
        assert_eq!(s.run_for_ms, DEFAULT_RUN_FOR_MS);
        assert_eq!(s.models, ["tinyllama"]);
        assert_eq!(s.jobs[0].behaviour, Behaviour::CancelAt(5));
        assert_eq!(s.jobs[0].expect, Expect::Any);
        assert_eq!(s.hosts(), ["queen", "hive-a", "alice"]);
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases: [(String, usize, &str, &str); 10] = [
            (format!("{HEAD}bogus = 1\n"), 4, "bogus", "unknown field"),
            (format!("{HEAD}run_for_ms = 0\n"), 4, "run_for_ms", "must be 1 to"),
            (format!("{HEAD}ttl_ms = 0\n"), 4, "ttl_ms", "must be 1 to"),
            (format!("{HEAD}\n[[jobs]]\nkeeper = \"alice\"\noperation = \"model_get\"\nhive_id = \"hive-a\"\n"), 7, "operation", "missing field `model`"),
            (format!("{HEAD}\n[[jobs]]\nkeeper = \"alice\"\noperation = \"status\"\ncolour = \"red\"\n"), 8, "colour", "unknown field `colour`"),
            (format!("{HEAD}\n[[jobs]]\nkeeper = \"alice\"\noperation = \"model_list\"\nhive_id = \"hive-z\"\n"), 8, "hive_id", "unknown hive 'hive-z'"),
            (format!("{HEAD}\n[[jobs]]\nkeeper = \"alice\"\noperation = \"status\"\nnever_connect = true\ncancel_at_ms = 3\n"), 8, "never_connect", "at most one"),
            (format!("{HEAD}\n[[jobs]]\nkeeper = \"alice\"\noperation = \"status\"\nat_ms = -4\n"), 8, "at_ms", "non-negative"),
            (format!("{HEAD}\n[[faults]]\nat_ms = 1\nkind = \"partition\"\nbetween = [\"queen\", \"bob\"]\n"), 8, "between", "unknown host 'bob'"),
            (format!("{HEAD}\n[[faults]]\nkind = \"crash\"\nhost = \"alice\"\n"), 7, "host", "not to keeper"),
        ];
        for (text, line, key, needle) in cases {
            let e = err(&text);
            assert_eq!((e.line, e.key.as_str()), (line, key), "{e}\n{text}");
            assert!(e.message.contains(needle), "{e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("s.toml:{line}: `{key}`")),
                "{e}"
            );
        }
    }

    #[test]
    fn a_hive_fault_in_integrated_mode_explains_why() {
        let text = "mode = \"integrated\"\nhives = [\"h\"]\nkeepers = [\"a\"]\n[[faults]]\nkind = \"crash\"\nhost = \"h\"\n";
        assert!(err(text)
            .message
            .contains("integrated mode hives run inside the queen"));
    }

    #[test]
    fn to_toml_round_trips() {
        let text = format!(
            "{HEAD}seed = 3\nttl_ms = 5000\nmode = \"distributed\"\ndescription = \"d\"\n\n[[jobs]]\nkeeper = \"alice\"\nat_ms = 7\noperation = \"infer\"\nhive_id = \"hive-a\"\nmodel = \"m\"\nprompt = \"a b\"\nexpect = \"done\"\ndisconnect_after_events = 2\nconnect_after_ms = 9\n\n[[faults]]\nat_ms = 4\nkind = \"hold\"\nbetween = [\"queen\", \"hive-a\"]\n\n[[faults]]\nat_ms = 5\nkind = \"restart\"\nhost = \"hive-a\"\n"
        );
        let s = Scenario::parse("s.toml", &text).unwrap();
        assert_eq!(s.ttl_ms, 5000);
        let back = Scenario::parse("again.toml", &s.to_toml()).unwrap();
        assert_eq!(back, s);
        assert!(s.validate().is_ok());
    }
}
