//! Operations a job can carry (docs/spec.md §2): their JSON form, validation, and deadlines.
//!
//! Parsing is the validation: a POST body that does not deserialise into [`Operation`] and
//! pass [`Operation::validate`] is refused with 400 before anything is created.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Largest `chunks` of a download: bounds a job's narration volume.
pub const MAX_CHUNKS: u32 = 100_000;
/// Largest `interval_ms` of a download.
pub const MAX_INTERVAL_MS: u64 = 60_000;
/// Largest `lines` of a worker install.
pub const MAX_LINES: u32 = 1_000_000;
/// Largest `max_tokens` of an inference.
pub const MAX_TOKENS: u32 = 100_000;

/// One job's work. Internally tagged by `operation`, snake_case; unknown fields are errors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "operation", rename_all = "snake_case", deny_unknown_fields)]
pub enum Operation {
    /// Queen: one line per known hive, then a summary.
    Status {},
    /// Hive: a self-check.
    HiveCheck {
        /// Target hive.
        hive_id: String,
    },
    /// Hive: list the model catalogue.
    ModelList {
        /// Target hive.
        hive_id: String,
    },
    /// Hive: details of one model.
    ModelGet {
        /// Target hive.
        hive_id: String,
        /// Model name.
        model: String,
    },
    /// Hive: download a model, narrating progress per chunk.
    ModelDownload {
        /// Target hive.
        hive_id: String,
        /// Model name.
        model: String,
        /// Number of progress steps (default 10).
        #[serde(default = "default_chunks")]
        chunks: u32,
        /// Process-clock ms between chunks (default 100).
        #[serde(default = "default_interval_ms")]
        interval_ms: u64,
    },
    /// Hive: delete a model from the catalogue.
    ModelDelete {
        /// Target hive.
        hive_id: String,
        /// Model name.
        model: String,
    },
    /// Hive: start a worker for a model.
    WorkerSpawn {
        /// Target hive.
        hive_id: String,
        /// Model name.
        model: String,
    },
    /// Hive: list workers.
    WorkerList {
        /// Target hive.
        hive_id: String,
    },
    /// Hive: stop a worker.
    WorkerStop {
        /// Target hive.
        hive_id: String,
        /// Worker id as returned by `worker_spawn`.
        worker_id: String,
    },
    /// Hive: build a worker; a high-volume log emitted from a sub-task.
    WorkerInstall {
        /// Target hive.
        hive_id: String,
        /// Number of build log lines (default 2000).
        #[serde(default = "default_lines")]
        lines: u32,
    },
    /// Hive: generate tokens from a prompt.
    Infer {
        /// Target hive.
        hive_id: String,
        /// Model name.
        model: String,
        /// Prompt; its whitespace-separated words are the tokens, cyclically.
        prompt: String,
        /// Number of tokens (default 16).
        #[serde(default = "default_max_tokens")]
        max_tokens: u32,
    },
}

fn default_chunks() -> u32 {
    10
}
fn default_interval_ms() -> u64 {
    100
}
fn default_lines() -> u32 {
    2000
}
fn default_max_tokens() -> u32 {
    16
}

/// The JSON type an operation field must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldType {
    /// A string.
    Text,
    /// An integer that fits in a `u32`.
    U32,
    /// A non-negative integer.
    U64,
}

/// Every field an operation may carry, `operation` included, with its type: a field name
/// has the same type in every operation. One list for the type check below and for
/// whoever must name the fields (the scenario loader's "did you mean", its documentation
/// test); `every_operation_field_is_listed` keeps it complete.
const FIELD_TYPES: [(&str, FieldType); 9] = [
    ("operation", FieldType::Text),
    ("hive_id", FieldType::Text),
    ("model", FieldType::Text),
    ("chunks", FieldType::U32),
    ("interval_ms", FieldType::U64),
    ("lines", FieldType::U32),
    ("prompt", FieldType::Text),
    ("max_tokens", FieldType::U32),
    ("worker_id", FieldType::Text),
];

/// The name of every field an operation may carry (`operation` first): what a scenario
/// file may write in a job besides the job's own keys.
pub fn fields() -> impl Iterator<Item = &'static str> {
    FIELD_TYPES.iter().map(|(name, _)| *name)
}

/// Refuses a field whose JSON type does not fit, naming the field (docs/spec.md §2: "wrong
/// field (message names it)"). serde's own type errors for an internally tagged enum do not
/// say which field was wrong ("invalid type: integer `7`, expected a string"), so the types
/// are checked here first. Unknown fields are left to serde, whose message names them.
fn check_field_type(name: &str, value: &serde_json::Value) -> Result<(), InvalidOperation> {
    let Some((_, ty)) = FIELD_TYPES.iter().find(|(n, _)| *n == name) else {
        return Ok(());
    };
    let (fits, expected) = match ty {
        FieldType::Text => (value.is_string(), "a string"),
        FieldType::U32 => (
            value.as_u64().is_some_and(|n| u32::try_from(n).is_ok()),
            "an integer from 0 to 4294967295",
        ),
        FieldType::U64 => (value.is_u64(), "a non-negative integer"),
    };
    if fits {
        return Ok(());
    }
    let got = match value {
        serde_json::Value::Null => "null".to_owned(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(_) => "a string".to_owned(),
        serde_json::Value::Array(_) => "an array".to_owned(),
        serde_json::Value::Object(_) => "an object".to_owned(),
    };
    Err(InvalidOperation(format!(
        "field `{name}` must be {expected}, got {got}"
    )))
}

/// Why an operation is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidOperation(pub String);

impl Operation {
    /// Parses and validates a request body.
    pub fn from_json(body: &[u8]) -> Result<Self, InvalidOperation> {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| InvalidOperation(format!("malformed JSON: {e}")))?;
        Self::from_value(value)
    }

    /// Parses and validates an already-decoded JSON value.
    pub fn from_value(value: serde_json::Value) -> Result<Self, InvalidOperation> {
        if !value.is_object() {
            return Err(InvalidOperation(
                "operation must be a JSON object with an \"operation\" field".into(),
            ));
        }
        if value.get("operation").is_none() {
            return Err(InvalidOperation("missing field `operation`".into()));
        }
        if let Some(fields) = value.as_object() {
            for (name, field) in fields {
                check_field_type(name, field)?;
            }
        }
        let op: Self = serde_json::from_value(value)
            .map_err(|e| InvalidOperation(format!("invalid operation: {e}")))?;
        op.validate()?;
        Ok(op)
    }

    /// Range and content checks that serde cannot express.
    pub fn validate(&self) -> Result<(), InvalidOperation> {
        let bad = |m: String| Err(InvalidOperation(m));
        if let Some(h) = self.hive_id() {
            if h.trim().is_empty() {
                return bad("field `hive_id` must not be empty".into());
            }
        }
        match self {
            Self::ModelGet { model, .. }
            | Self::ModelDelete { model, .. }
            | Self::WorkerSpawn { model, .. }
            | Self::ModelDownload { model, .. }
            | Self::Infer { model, .. }
                if model.trim().is_empty() =>
            {
                return bad("field `model` must not be empty".into());
            }
            Self::WorkerStop { worker_id, .. } if worker_id.trim().is_empty() => {
                return bad("field `worker_id` must not be empty".into());
            }
            _ => {}
        }
        match self {
            Self::ModelDownload { chunks, .. } if *chunks == 0 || *chunks > MAX_CHUNKS => bad(
                format!("field `chunks` must be 1 to {MAX_CHUNKS}, got {chunks}"),
            ),
            Self::ModelDownload { interval_ms, .. } if *interval_ms > MAX_INTERVAL_MS => bad(
                format!("field `interval_ms` must be at most {MAX_INTERVAL_MS}, got {interval_ms}"),
            ),
            Self::WorkerInstall { lines, .. } if *lines > MAX_LINES => bad(format!(
                "field `lines` must be at most {MAX_LINES}, got {lines}"
            )),
            Self::Infer { max_tokens, .. } if *max_tokens > MAX_TOKENS => bad(format!(
                "field `max_tokens` must be at most {MAX_TOKENS}, got {max_tokens}"
            )),
            Self::Infer {
                prompt, max_tokens, ..
            } if *max_tokens > 0 && prompt.split_whitespace().next().is_none() => {
                bad("field `prompt` must contain at least one word".into())
            }
            _ => Ok(()),
        }
    }

    /// The operation's name as it appears in JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Status {} => "status",
            Self::HiveCheck { .. } => "hive_check",
            Self::ModelList { .. } => "model_list",
            Self::ModelGet { .. } => "model_get",
            Self::ModelDownload { .. } => "model_download",
            Self::ModelDelete { .. } => "model_delete",
            Self::WorkerSpawn { .. } => "worker_spawn",
            Self::WorkerList { .. } => "worker_list",
            Self::WorkerStop { .. } => "worker_stop",
            Self::WorkerInstall { .. } => "worker_install",
            Self::Infer { .. } => "infer",
        }
    }

    /// The hive a hive operation targets; `None` for queen operations.
    pub fn hive_id(&self) -> Option<&str> {
        match self {
            Self::Status {} => None,
            Self::HiveCheck { hive_id }
            | Self::ModelList { hive_id }
            | Self::ModelGet { hive_id, .. }
            | Self::ModelDownload { hive_id, .. }
            | Self::ModelDelete { hive_id, .. }
            | Self::WorkerSpawn { hive_id, .. }
            | Self::WorkerList { hive_id }
            | Self::WorkerStop { hive_id, .. }
            | Self::WorkerInstall { hive_id, .. }
            | Self::Infer { hive_id, .. } => Some(hive_id),
        }
    }

    /// How long the operation may take once started before a waiting queen or keeper gives
    /// up on it: its own scheduled time plus a fixed 30 s allowance for the network and
    /// processing. The relay enforces it; the simulator's liveness checker uses it too.
    pub fn deadline(&self) -> Duration {
        const SLACK_MS: u64 = 30_000;
        let own_ms = match self {
            Self::ModelDownload {
                chunks,
                interval_ms,
                ..
            } => u64::from(*chunks) * interval_ms,
            Self::WorkerInstall { lines, .. } => {
                u64::from(*lines / crate::hive::INSTALL_LINES_PER_MS)
            }
            Self::Infer { max_tokens, .. } => u64::from(*max_tokens) / 10,
            _ => 0,
        };
        Duration::from_millis(own_ms + SLACK_MS)
    }

    /// The JSON form, as sent to a hive.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("operation serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Operation, String> {
        Operation::from_json(s.as_bytes()).map_err(|e| e.0)
    }

    #[test]
    fn defaults_are_filled_in() {
        let op = parse(r#"{"operation":"model_download","hive_id":"h","model":"m"}"#).unwrap();
        assert_eq!(
            op,
            Operation::ModelDownload {
                hive_id: "h".into(),
                model: "m".into(),
                chunks: 10,
                interval_ms: 100
            }
        );
        assert_eq!(
            parse(r#"{"operation":"status"}"#).unwrap(),
            Operation::Status {}
        );
    }

    #[test]
    fn bad_bodies_are_refused_with_a_message_naming_the_problem() {
        let cases = [
            ("{", "malformed JSON"),
            ("[1]", "JSON object"),
            (r#"{"hive_id":"h"}"#, "missing field `operation`"),
            (r#"{"operation":"fly"}"#, "unknown variant `fly`"),
            (
                r#"{"operation":"model_get","hive_id":"h"}"#,
                "missing field `model`",
            ),
            (
                r#"{"operation":"model_list","hive_id":7}"#,
                "field `hive_id` must be a string, got 7",
            ),
            (
                r#"{"operation":"infer","hive_id":"h","model":"m","prompt":"p","max_tokens":-1}"#,
                "field `max_tokens`",
            ),
            (r#"{"operation":7}"#, "field `operation` must be a string"),
            (
                r#"{"operation":"model_list","hive_id":"h","colour":1}"#,
                "unknown field `colour`",
            ),
            (
                r#"{"operation":"model_list","hive_id":""}"#,
                "`hive_id` must not be empty",
            ),
            (
                r#"{"operation":"model_download","hive_id":"h","model":"m","chunks":0}"#,
                "`chunks`",
            ),
            (
                r#"{"operation":"infer","hive_id":"h","model":"m","prompt":"  "}"#,
                "`prompt`",
            ),
        ];
        for (body, needle) in cases {
            let err = parse(body).unwrap_err();
            assert!(err.contains(needle), "{body}: {err}");
        }
    }

    #[test]
    fn json_round_trip_keeps_the_spec_shape() {
        let op =
            parse(r#"{"operation":"infer","hive_id":"h","model":"m","prompt":"a b"}"#).unwrap();
        let v = op.to_json();
        assert_eq!(v["operation"], "infer");
        assert_eq!(v["max_tokens"], 16);
        assert_eq!(Operation::from_value(v).unwrap(), op);
    }

    #[test]
    fn deadlines_grow_with_scheduled_work() {
        let slow = parse(r#"{"operation":"model_download","hive_id":"h","model":"m","chunks":100,"interval_ms":1000}"#).unwrap();
        assert_eq!(slow.deadline(), Duration::from_millis(130_000));
        assert_eq!(
            parse(r#"{"operation":"status"}"#).unwrap().deadline(),
            Duration::from_secs(30)
        );
    }

    /// Every limit accepts its bound and refuses one past it, naming the field; blank
    /// strings are refused wherever a name is required.
    #[test]
    fn each_limit_accepts_its_bound_and_refuses_one_more() {
        let download = |extra: &str| {
            parse(&format!(
                r#"{{"operation":"model_download","hive_id":"h","model":"m",{extra}}}"#
            ))
        };
        let install = |lines: u64| {
            parse(&format!(
                r#"{{"operation":"worker_install","hive_id":"h","lines":{lines}}}"#
            ))
        };
        let infer = |max_tokens: u64| {
            parse(&format!(
                r#"{{"operation":"infer","hive_id":"h","model":"m","prompt":"p","max_tokens":{max_tokens}}}"#
            ))
        };
        let edges = [
            (
                "chunks",
                download(&format!(r#""chunks":{MAX_CHUNKS}"#)),
                download(&format!(r#""chunks":{}"#, MAX_CHUNKS + 1)),
            ),
            (
                "interval_ms",
                download(&format!(r#""interval_ms":{MAX_INTERVAL_MS}"#)),
                download(&format!(r#""interval_ms":{}"#, MAX_INTERVAL_MS + 1)),
            ),
            (
                "lines",
                install(u64::from(MAX_LINES)),
                install(u64::from(MAX_LINES) + 1),
            ),
            (
                "max_tokens",
                infer(u64::from(MAX_TOKENS)),
                infer(u64::from(MAX_TOKENS) + 1),
            ),
        ];
        for (field, at_bound, past_bound) in edges {
            assert!(at_bound.is_ok(), "{field} at its bound: {at_bound:?}");
            let err = past_bound.expect_err(field);
            assert!(
                err.contains(&format!("field `{field}` must")),
                "{field}: {err}"
            );
        }
        assert!(download(r#""chunks":1"#).is_ok());
        assert!(download(r#""interval_ms":0"#).is_ok());
        assert!(install(0).is_ok());
        assert!(infer(0).is_ok());
        let no_words =
            r#"{"operation":"infer","hive_id":"h","model":"m","prompt":" ","max_tokens":0}"#;
        assert!(
            parse(no_words).is_ok(),
            "a prompt needs words only if tokens are asked for"
        );
        let blank_model = [
            r#"{"operation":"model_get","hive_id":"h","model":" "}"#,
            r#"{"operation":"model_delete","hive_id":"h","model":""}"#,
            r#"{"operation":"worker_spawn","hive_id":"h","model":" "}"#,
            r#"{"operation":"model_download","hive_id":"h","model":""}"#,
            r#"{"operation":"infer","hive_id":"h","model":" ","prompt":"p"}"#,
        ];
        for body in blank_model {
            assert_eq!(
                parse(body).unwrap_err(),
                "field `model` must not be empty",
                "{body}"
            );
        }
        assert_eq!(
            parse(r#"{"operation":"worker_stop","hive_id":"h","worker_id":" "}"#).unwrap_err(),
            "field `worker_id` must not be empty"
        );
        assert_eq!(
            download(r#""interval_ms":"fast""#).unwrap_err(),
            "field `interval_ms` must be a non-negative integer, got a string"
        );
    }

    /// `name()` is the JSON tag: what the narration and the simulator's reports call an
    /// operation is what a client sends.
    #[test]
    fn every_operation_is_named_by_its_json_tag() {
        let bodies = [
            r#"{"operation":"status"}"#,
            r#"{"operation":"hive_check","hive_id":"h"}"#,
            r#"{"operation":"model_list","hive_id":"h"}"#,
            r#"{"operation":"model_get","hive_id":"h","model":"m"}"#,
            r#"{"operation":"model_download","hive_id":"h","model":"m"}"#,
            r#"{"operation":"model_delete","hive_id":"h","model":"m"}"#,
            r#"{"operation":"worker_spawn","hive_id":"h","model":"m"}"#,
            r#"{"operation":"worker_list","hive_id":"h"}"#,
            r#"{"operation":"worker_stop","hive_id":"h","worker_id":"w"}"#,
            r#"{"operation":"worker_install","hive_id":"h"}"#,
            r#"{"operation":"infer","hive_id":"h","model":"m","prompt":"p"}"#,
        ];
        for body in bodies {
            let op = parse(body).unwrap();
            assert_eq!(op.to_json()["operation"], op.name(), "{body}");
        }
    }

    /// Proves [`fields`] names every field of every operation, defaults included: the
    /// scenario loader refuses a job key that is neither a job key nor listed here.
    #[test]
    fn every_operation_field_is_listed() {
        let bodies = [
            r#"{"operation":"status"}"#,
            r#"{"operation":"hive_check","hive_id":"h"}"#,
            r#"{"operation":"model_list","hive_id":"h"}"#,
            r#"{"operation":"model_get","hive_id":"h","model":"m"}"#,
            r#"{"operation":"model_download","hive_id":"h","model":"m"}"#,
            r#"{"operation":"model_delete","hive_id":"h","model":"m"}"#,
            r#"{"operation":"worker_spawn","hive_id":"h","model":"m"}"#,
            r#"{"operation":"worker_list","hive_id":"h"}"#,
            r#"{"operation":"worker_stop","hive_id":"h","worker_id":"w"}"#,
            r#"{"operation":"worker_install","hive_id":"h"}"#,
            r#"{"operation":"infer","hive_id":"h","model":"m","prompt":"p"}"#,
        ];
        let listed: Vec<&str> = fields().collect();
        let mut used = std::collections::BTreeSet::new();
        for body in bodies {
            let json = parse(body).unwrap().to_json();
            for key in json.as_object().unwrap().keys() {
                assert!(
                    listed.contains(&key.as_str()),
                    "{body}: `{key}` is not listed"
                );
                used.insert(key.clone());
            }
        }
        assert_eq!(used.len(), listed.len(), "a listed field no operation has");
    }

    #[test]
    fn install_and_infer_deadlines_include_their_scheduled_time() {
        let install = parse(r#"{"operation":"worker_install","hive_id":"h","lines":50000}"#);
        assert_eq!(install.unwrap().deadline(), Duration::from_millis(35_000));
        let infer = parse(
            r#"{"operation":"infer","hive_id":"h","model":"m","prompt":"p","max_tokens":90000}"#,
        );
        assert_eq!(infer.unwrap().deadline(), Duration::from_millis(39_000));
    }
}
