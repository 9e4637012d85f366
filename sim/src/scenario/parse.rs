//! Reading scenario files: TOML in, a validated [`Scenario`] out, or an error that names the
//! file, the line and the key. Nothing runs before a file has passed every check here.
//!
//! The keys a file may hold are the lists [`TOP_KEYS`], [`JOB_KEYS`], [`FAULT_KEYS`] and
//! [`REQUEST_KEYS`]
//! (plus the operation's fields in a job, [`rbee::operation::fields`]): any other key is
//! refused with the closest listed one as a suggestion, and the documentation test checks
//! that docs/scenario-format.md describes every listed key.

use super::{
    AfterEnd, Behaviour, Expect, FaultKind, FaultPlan, JobPlan, Mode, RequestKind, RequestPlan,
    Scenario, ScenarioError, DEFAULT_RUN_FOR_MS, DEFAULT_TICK_MS, DEFAULT_TTL_MS, MAX_CAPACITY,
    MAX_RUN_FOR_MS, MAX_TICK_MS, MAX_TTL_MS,
};
use rbee::operation::Operation;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

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
    capacity: Option<usize>,
    #[serde(default)]
    perturb: bool,
    #[serde(default = "default_tick")]
    tick_ms: u64,
    #[serde(default)]
    jobs: Vec<toml::Spanned<toml::Table>>,
    #[serde(default)]
    faults: Vec<toml::Spanned<toml::Table>>,
    #[serde(default)]
    requests: Vec<toml::Spanned<toml::Table>>,
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
fn default_tick() -> u64 {
    DEFAULT_TICK_MS
}
fn default_models() -> Vec<String> {
    vec!["tinyllama".into()]
}

/// Every top-level key of a scenario file (docs/scenario-format.md, "Top-level keys"). The
/// loader refuses any other key before reading values.
pub const TOP_KEYS: [&str; 15] = [
    "name",
    "description",
    "seed",
    "mode",
    "hives",
    "keepers",
    "run_for_ms",
    "models",
    "ttl_ms",
    "capacity",
    "perturb",
    "tick_ms",
    "jobs",
    "faults",
    "requests",
];

/// Every key of a `[[jobs]]` table besides the operation's fields
/// (docs/scenario-format.md, "Job keys").
pub const JOB_KEYS: [&str; 9] = [
    "keeper",
    "at_ms",
    "connect_after_ms",
    "expect",
    "disconnect_after_events",
    "never_connect",
    "cancel_at_ms",
    "stream_twice",
    "after_end",
];

/// Every key of a `[[requests]]` table (docs/scenario-format.md, "Request keys").
pub const REQUEST_KEYS: [&str; 3] = ["keeper", "at_ms", "kind"];

/// Every key of a `[[faults]]` table (docs/scenario-format.md, "Fault keys").
pub const FAULT_KEYS: [&str; 4] = ["at_ms", "kind", "between", "host"];

/// The listed key closest to `key`, if it is close enough to be what a typo meant.
fn closest<'a>(key: &str, listed: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    listed
        .into_iter()
        .map(|k| (strsim::normalized_damerau_levenshtein(key, k), k))
        .filter(|(score, _)| *score >= 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// The message for `key`, which none of `groups` (a name and its keys each) lists.
fn unknown_key(key: &str, place: &str, groups: &[(&str, Vec<&str>)]) -> String {
    let all = groups.iter().flat_map(|(_, keys)| keys.iter().copied());
    let hint = closest(key, all).map_or(String::new(), |k| format!("; did you mean `{k}`?"));
    let lists: Vec<String> = groups
        .iter()
        .map(|(name, keys)| format!("{name}: {}", keys.join(", ")))
        .collect();
    format!(
        "unknown key {place}{hint} ({}; see docs/scenario-format.md)",
        lists.join("; ")
    )
}

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

impl Scenario {
    /// Loads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: file.clone(),
            line: 0,
            key: String::new(),
            message: format!("cannot read the scenario file: {e}"),
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
        let toml_error = |e: toml::de::Error| {
            let line = e.span().map_or(1, |s| src.line_at(s.start));
            let key = e
                .message()
                .split('`')
                .nth(1)
                .filter(|_| e.message().contains("field"))
                .unwrap_or("")
                .to_owned();
            src.err(line, &key, e.message().trim())
        };
        let keys: BTreeMap<toml::Spanned<String>, serde::de::IgnoredAny> =
            toml::from_str(text).map_err(toml_error)?;
        for key in keys.keys() {
            if !TOP_KEYS.contains(&key.get_ref().as_str()) {
                let message = unknown_key(
                    key.get_ref(),
                    "at the top level",
                    &[("top-level keys", TOP_KEYS.to_vec())],
                );
                return Err(src.err(src.line_at(key.span().start), key.get_ref(), message));
            }
        }
        let raw: RawFile = toml::from_str(text).map_err(toml_error)?;
        let mut jobs = Vec::new();
        for spanned in &raw.jobs {
            jobs.push(parse_job(&src, spanned.get_ref(), &spanned.span())?);
        }
        let mut faults = Vec::new();
        for spanned in &raw.faults {
            faults.push(parse_fault(&src, spanned.get_ref(), &spanned.span())?);
        }
        let mut requests = Vec::new();
        for spanned in &raw.requests {
            requests.push(parse_request(&src, spanned.get_ref(), &spanned.span())?);
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
            capacity: raw.capacity,
            perturb: raw.perturb,
            tick_ms: raw.tick_ms,
            jobs,
            faults,
            requests,
        };
        scenario.check_topology(&src, &raw.jobs, &raw.faults, &raw.requests)?;
        Ok(scenario)
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
        raw_requests: &[toml::Spanned<toml::Table>],
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
        if self.capacity.is_some_and(|c| c == 0 || c > MAX_CAPACITY) {
            return Err(src.err(
                src.top_line("capacity"),
                "capacity",
                format!("must be 1 to {MAX_CAPACITY}"),
            ));
        }
        if self.tick_ms == 0 || self.tick_ms > MAX_TICK_MS {
            return Err(src.err(
                src.top_line("tick_ms"),
                "tick_ms",
                format!("must be 1 to {MAX_TICK_MS}"),
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
        for (request, raw) in self.requests.iter().zip(raw_requests) {
            if !self.keepers.contains(&request.keeper) {
                return Err(src.err(
                    src.key_line(&raw.span(), "keeper"),
                    "keeper",
                    format!(
                        "unknown keeper '{}' (keepers: {})",
                        request.keeper,
                        self.keepers.join(", ")
                    ),
                ));
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
}

fn parse_job(
    src: &Source,
    table: &toml::Table,
    span: &std::ops::Range<usize>,
) -> Result<JobPlan, ScenarioError> {
    for key in table.keys() {
        if !JOB_KEYS.contains(&key.as_str()) && !rbee::operation::fields().any(|f| f == key) {
            let message = unknown_key(
                key,
                "in a job",
                &[
                    ("job keys", JOB_KEYS.to_vec()),
                    ("operation fields", rbee::operation::fields().collect()),
                ],
            );
            return Err(src.err(src.key_line(span, key), key, message));
        }
    }
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
                format!(
                    "'{e}' is not one of {}",
                    Expect::ALL.map(Expect::name).join(", ")
                ),
            )
        })?,
    };
    let disconnect = get_u64(src, table, span, "disconnect_after_events")?;
    let flag = |key: &str| match table.get(key) {
        None | Some(toml::Value::Boolean(false)) => Ok(false),
        Some(toml::Value::Boolean(true)) => Ok(true),
        Some(v) => Err(src.err(
            src.key_line(span, key),
            key,
            format!("expected true or false, got {v}"),
        )),
    };
    let never = flag("never_connect")?;
    let twice = flag("stream_twice")?;
    let cancel = get_u64(src, table, span, "cancel_at_ms")?;
    let behaviour = match (disconnect, never, cancel, twice) {
        (None, false, None, false) => Behaviour::Follow,
        (Some(n), false, None, false) => Behaviour::DisconnectAfter(n),
        (None, true, None, false) => Behaviour::NeverConnect,
        (None, false, Some(t), false) => Behaviour::CancelAt(t),
        (None, false, None, true) => Behaviour::StreamTwice,
        _ => {
            let key = if twice {
                "stream_twice"
            } else if never {
                "never_connect"
            } else {
                "cancel_at_ms"
            };
            return Err(src.err(
                src.key_line(span, key),
                key,
                "use at most one of disconnect_after_events, never_connect, cancel_at_ms, stream_twice",
            ));
        }
    };
    let after_end = match get_str(src, table, span, "after_end")? {
        None => None,
        Some(a) => Some(AfterEnd::parse(a).ok_or_else(|| {
            src.err(
                src.key_line(span, "after_end"),
                "after_end",
                format!("'{a}' is not one of cancel, stream"),
            )
        })?),
    };
    if after_end.is_some() && behaviour == Behaviour::NeverConnect {
        return Err(src.err(
            src.key_line(span, "after_end"),
            "after_end",
            "a job that never connects has no end to wait for",
        ));
    }
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
        after_end,
    })
}

fn parse_request(
    src: &Source,
    table: &toml::Table,
    span: &std::ops::Range<usize>,
) -> Result<RequestPlan, ScenarioError> {
    for key in table.keys() {
        if !REQUEST_KEYS.contains(&key.as_str()) {
            let message = unknown_key(
                key,
                "in a request",
                &[("request keys", REQUEST_KEYS.to_vec())],
            );
            return Err(src.err(src.key_line(span, key), key, message));
        }
    }
    let keeper = get_str(src, table, span, "keeper")?
        .ok_or_else(|| {
            src.err(
                src.line_at(span.start),
                "keeper",
                "every request needs a keeper",
            )
        })?
        .to_owned();
    let at_ms = get_u64(src, table, span, "at_ms")?.unwrap_or(0);
    let kind_s = get_str(src, table, span, "kind")?.ok_or_else(|| {
        src.err(
            src.line_at(span.start),
            "kind",
            "every request needs a kind",
        )
    })?;
    let kind = RequestKind::parse(kind_s).ok_or_else(|| {
        let kinds: Vec<&str> = RequestKind::ALL.iter().map(|k| k.name()).collect();
        src.err(
            src.key_line(span, "kind"),
            "kind",
            format!("'{kind_s}' is not one of {}", kinds.join(", ")),
        )
    })?;
    Ok(RequestPlan {
        keeper,
        at_ms,
        kind,
    })
}

fn parse_fault(
    src: &Source,
    table: &toml::Table,
    span: &std::ops::Range<usize>,
) -> Result<FaultPlan, ScenarioError> {
    for key in table.keys() {
        if !FAULT_KEYS.contains(&key.as_str()) {
            let message = unknown_key(key, "in a fault", &[("fault keys", FAULT_KEYS.to_vec())]);
            return Err(src.err(src.key_line(span, key), key, message));
        }
    }
    let at_ms = get_u64(src, table, span, "at_ms")?.unwrap_or(0);
    let kind_s = get_str(src, table, span, "kind")?
        .ok_or_else(|| src.err(src.line_at(span.start), "kind", "every fault needs a kind"))?;
    let kind = FaultKind::parse(kind_s).ok_or_else(|| {
        src.err(
            src.key_line(span, "kind"),
            "kind",
            format!(
                "'{kind_s}' is not one of {}",
                FaultKind::ALL.map(FaultKind::name).join(", ")
            ),
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
        let cases: [(String, usize, &str, &str); 13] = [
            (format!("{HEAD}bogus = 1\n"), 4, "bogus", "unknown key at the top level"),
            (format!("{HEAD}run_for_ms = 0\n"), 4, "run_for_ms", "must be 1 to"),
            (format!("{HEAD}ttl_ms = 0\n"), 4, "ttl_ms", "must be 1 to"),
            (format!("{HEAD}capacity = 0\n"), 4, "capacity", "must be 1 to"),
            (format!("{HEAD}tick_ms = 101\n"), 4, "tick_ms", "must be 1 to"),
            (format!("{HEAD}\n[[jobs]]\nkeeper = \"alice\"\noperation = \"status\"\nstream_twice = true\nnever_connect = true\n"), 8, "stream_twice", "at most one"),
            (format!("{HEAD}\n[[jobs]]\nkeeper = \"alice\"\noperation = \"model_get\"\nhive_id = \"hive-a\"\n"), 7, "operation", "missing field `model`"),
            (format!("{HEAD}\n[[jobs]]\nkeeper = \"alice\"\noperation = \"status\"\ncolour = \"red\"\n"), 8, "colour", "unknown key in a job"),
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

    /// Proves a mistyped key is refused naming the key as written, its line, the closest
    /// listed key and the keys its place allows, at the top level, in a job (where the
    /// operation's fields count too) and in a fault; a key nothing resembles gets no guess.
    #[test]
    fn a_mistyped_key_is_named_with_a_suggestion() {
        let job = |line: &str| {
            format!("{HEAD}\n[[jobs]]\nkeeper = \"alice\"\noperation = \"status\"\n{line}\n")
        };
        let cases = [
            (
                format!("{HEAD}keeprs = [\"bob\"]\n"),
                4,
                "keeprs",
                "`keepers`",
            ),
            (job("expekt = \"done\""), 8, "expekt", "`expect`"),
            (
                format!("{HEAD}\n[[jobs]]\nkeepr = \"alice\"\noperation = \"status\"\n"),
                6,
                "keepr",
                "`keeper`",
            ),
            (job("chunk = 3"), 8, "chunk", "`chunks`"),
            (
                format!("{HEAD}\n[[faults]]\nkind = \"crash\"\nhots = \"hive-a\"\n"),
                7,
                "hots",
                "`host`",
            ),
        ];
        for (text, line, key, guess) in cases {
            let e = err(&text);
            assert_eq!((e.line, e.key.as_str()), (line, key), "{e}\n{text}");
            assert!(e.message.contains(&format!("did you mean {guess}?")), "{e}");
            assert!(e.message.contains("docs/scenario-format.md"), "{e}");
        }
        let e = err(&job("expekt = \"done\""));
        for listed in ["at_ms", "expect", "keeper", "hive_id", "max_tokens"] {
            assert!(e.message.contains(listed), "{listed} not listed: {e}");
        }
        let e = err(&job("zzzzzz = 1"));
        assert!(!e.message.contains("did you mean"), "{e}");
        assert!(e.message.starts_with("unknown key in a job"), "{e}");
    }

    /// Proves the key lists are the parser's whole vocabulary: every listed top-level key is
    /// a field of the file's struct, and serde's own list of those fields is exactly
    /// [`TOP_KEYS`] (a field added to the struct but not to the list could never be used).
    #[test]
    fn the_top_level_list_is_exactly_the_files_fields() {
        for key in TOP_KEYS {
            let text = format!("{key} = {{ x = 1 }}\n");
            let e = toml::from_str::<RawFile>(&text)
                .err()
                .expect("a table fits no field");
            assert!(!e.message().contains("unknown field"), "{key}: {e}");
        }
        let e = toml::from_str::<RawFile>("not_a_key = 1\n")
            .err()
            .expect("unknown");
        let listed: Vec<&str> = e
            .message()
            .split_once("expected one of")
            .expect("serde lists the fields")
            .1
            .split('`')
            .skip(1)
            .step_by(2)
            .collect();
        let mut want = TOP_KEYS.to_vec();
        want.sort_unstable();
        let mut got = listed.clone();
        got.sort_unstable();
        assert_eq!(got, want, "{e}");
    }

    /// Proves a file that cannot be read is reported without a line number.
    #[test]
    fn an_unreadable_file_is_named_without_a_line() {
        let e = Scenario::load(Path::new("no/such/scenario.toml")).expect_err("missing");
        let text = e.to_string();
        assert!(
            text.starts_with("no/such/scenario.toml: cannot read the scenario file: "),
            "{text}"
        );
    }

    #[test]
    fn a_hive_fault_in_integrated_mode_explains_why() {
        let text = "mode = \"integrated\"\nhives = [\"h\"]\nkeepers = [\"a\"]\n[[faults]]\nkind = \"crash\"\nhost = \"h\"\n";
        assert!(err(text)
            .message
            .contains("integrated mode hives run inside the queen"));
    }
}
