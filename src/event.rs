//! The SSE wire format of a job stream (docs/spec.md §3): the JSON bodies, the markers, and the
//! conversion between them and the events a reader sees.
//!
//! Server and client share these types, so the format is written down exactly once.

use crate::ids::JobId;
use serde::{Deserialize, Serialize};

/// Marker text of the `done` event.
pub const DONE: &str = "[DONE]";
/// Marker text of the `cancelled` event.
pub const CANCELLED: &str = "[CANCELLED]";
/// Prefix of the `error` event's data line.
pub const ERROR_PREFIX: &str = "[ERROR] ";
/// Actor name of the queen's own narration (relayed lines keep the hive's actor, so a
/// reader can tell who said what).
pub const QUEEN_ACTOR: &str = "queen";

/// One narration line: who did what, in words, at what process time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Narration {
    /// Per-job sequence number, from 0.
    pub seq: u64,
    /// The job the line belongs to (on a queen: the queen's job, also for relayed lines).
    pub job_id: JobId,
    /// The component that narrated (`queen`, `hive`, ...).
    pub actor: String,
    /// A stable machine-readable name for the step, e.g. `model_download_progress`.
    pub action: String,
    /// Plain human-readable text (never ANSI, never a marker).
    pub human: String,
    /// Process clock in ms when the line was emitted.
    pub at_ms: u64,
}

/// A structured result emitted by a job (model lists, tokens).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Data {
    /// Per-job sequence number, shared with narration.
    pub seq: u64,
    /// The job the payload belongs to.
    pub job_id: JobId,
    /// What the payload is, e.g. `model_list` or `token`.
    pub action: String,
    /// The structured payload.
    pub payload: serde_json::Value,
}

/// `event: lagged` body: how many events the job's buffer dropped before the next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lagged {
    /// Number of events lost.
    pub dropped: u64,
}

/// How a job ended, as told by the last event of its stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "message")]
pub enum Terminal {
    /// The job completed.
    Done,
    /// The job failed; the one-line message says why.
    Error(String),
    /// The job was cancelled.
    Cancelled,
}

impl Terminal {
    /// The SSE event name.
    pub fn event_name(&self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Error(_) => "error",
            Self::Cancelled => "cancelled",
        }
    }

    /// The SSE data line (a single line: newlines in messages are folded to spaces).
    pub fn data_line(&self) -> String {
        match self {
            Self::Done => DONE.to_owned(),
            Self::Cancelled => CANCELLED.to_owned(),
            Self::Error(msg) => format!("{ERROR_PREFIX}{}", one_line(msg)),
        }
    }
}

/// Everything a reader can see on a job stream, parsed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamEvent {
    /// `event: narration`.
    Narration(Narration),
    /// `event: data`.
    Data(Data),
    /// `event: lagged`.
    Lagged(Lagged),
    /// `event: done | error | cancelled`: always the last event.
    Terminal(Terminal),
}

impl StreamEvent {
    /// The per-job sequence number, for narration and data events.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Self::Narration(n) => Some(n.seq),
            Self::Data(d) => Some(d.seq),
            _ => None,
        }
    }

    /// The fingerprint of a narration or data event's content ([`narration_fingerprint`],
    /// [`data_fingerprint`]); `None` for notices and markers.
    pub fn fingerprint(&self) -> Option<u64> {
        match self {
            Self::Narration(n) => Some(narration_fingerprint(&n.actor, &n.action, &n.human)),
            Self::Data(d) => Some(data_fingerprint(&d.action, &d.payload)),
            _ => None,
        }
    }

    /// The SSE event name this event travels under.
    pub fn event_name(&self) -> &'static str {
        match self {
            Self::Narration(_) => "narration",
            Self::Data(_) => "data",
            Self::Lagged(_) => "lagged",
            Self::Terminal(t) => t.event_name(),
        }
    }

    /// Parses one SSE event from its `event:` name and `data:` line.
    ///
    /// The terminal is recognised by the event *name* only; a narration whose text reads
    /// `[DONE]` stays a narration (historical bug 8).
    pub fn from_sse(event: &str, data: &str) -> Result<Self, String> {
        let json = |e: serde_json::Error| format!("bad {event} event data: {e}");
        Ok(match event {
            "narration" => Self::Narration(serde_json::from_str(data).map_err(json)?),
            "data" => Self::Data(serde_json::from_str(data).map_err(json)?),
            "lagged" => Self::Lagged(serde_json::from_str(data).map_err(json)?),
            "done" => Self::Terminal(Terminal::Done),
            "cancelled" => Self::Terminal(Terminal::Cancelled),
            "error" => Self::Terminal(Terminal::Error(
                data.strip_prefix(ERROR_PREFIX).unwrap_or(data).to_owned(),
            )),
            other => return Err(format!("unknown SSE event '{other}'")),
        })
    }

    /// The single-line SSE `data:` for this event.
    pub fn data_line(&self) -> String {
        match self {
            Self::Narration(n) => serde_json::to_string(n).expect("narration serialises"),
            Self::Data(d) => serde_json::to_string(d).expect("data serialises"),
            Self::Lagged(l) => serde_json::to_string(l).expect("lagged serialises"),
            Self::Terminal(t) => t.data_line(),
        }
    }
}

/// A 64-bit fingerprint of what a narration line says (its actor, action and text), without
/// its job id, `seq` or time. A relayed line keeps actor, action and text while the queen
/// re-stamps the rest, so the source line and its relayed copy share a fingerprint: a
/// harness compares a relayed stream with the hive stream it came from by fingerprints,
/// without recording every line twice.
pub fn narration_fingerprint(actor: &str, action: &str, human: &str) -> u64 {
    fingerprint(&["narration", actor, action, human])
}

/// The fingerprint of a `data` event's content (its action and payload); see
/// [`narration_fingerprint`].
pub fn data_fingerprint(action: &str, payload: &serde_json::Value) -> u64 {
    fingerprint(&["data", action, &payload.to_string()])
}

/// FNV-1a over the parts, each followed by a byte that UTF-8 text never contains, so that
/// moving a character from one part to the next changes the fingerprint. Stable across
/// processes, machines and releases (unlike `std`'s hasher, whose algorithm may change).
fn fingerprint(parts: &[&str]) -> u64 {
    const PRIME: u64 = 0x100_0000_01b3;
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for part in parts {
        for b in part.bytes().chain([0xff]) {
            hash = (hash ^ u64::from(b)).wrapping_mul(PRIME);
        }
    }
    hash
}

/// Folds any line breaks so a message fits one SSE data line.
pub fn one_line(s: &str) -> String {
    s.split(['\r', '\n'])
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn narration(human: &str) -> StreamEvent {
        StreamEvent::Narration(Narration {
            seq: 4,
            job_id: JobId::from_bits(1),
            actor: "hive".into(),
            action: "x".into(),
            human: human.into(),
            at_ms: 12,
        })
    }

    #[test]
    fn every_event_round_trips_through_its_sse_form() {
        let events = [
            narration("hello"),
            StreamEvent::Data(Data {
                seq: 5,
                job_id: JobId::from_bits(1),
                action: "model_list".into(),
                payload: serde_json::json!({"models": ["a"]}),
            }),
            StreamEvent::Lagged(Lagged { dropped: 17 }),
            StreamEvent::Terminal(Terminal::Done),
            StreamEvent::Terminal(Terminal::Cancelled),
            StreamEvent::Terminal(Terminal::Error("model not found".into())),
        ];
        for e in events {
            let back = StreamEvent::from_sse(e.event_name(), &e.data_line()).unwrap();
            assert_eq!(back, e);
        }
    }

    #[test]
    fn a_narration_reading_done_is_not_a_terminal() {
        let e = narration(DONE);
        let back = StreamEvent::from_sse("narration", &e.data_line()).unwrap();
        assert!(matches!(back, StreamEvent::Narration(n) if n.human == DONE));
    }

    /// A fingerprint covers what an event says, not where or when: a relayed copy with
    /// another job id, `seq` and time keeps it, a changed word or actor does not.
    #[test]
    fn fingerprints_cover_content_only() {
        let line = narration("hello world");
        let StreamEvent::Narration(n) = &line else {
            unreachable!()
        };
        let relayed = StreamEvent::Narration(Narration {
            seq: 9,
            job_id: JobId::from_bits(2),
            at_ms: 9_999,
            ..n.clone()
        });
        assert_eq!(line.fingerprint(), relayed.fingerprint());
        let other_actor = StreamEvent::Narration(Narration {
            actor: "queen".into(),
            ..n.clone()
        });
        assert_ne!(line.fingerprint(), other_actor.fingerprint());
        assert_ne!(line.fingerprint(), narration("hello  world").fingerprint());
        assert_ne!(
            narration_fingerprint("a", "bc", "d"),
            narration_fingerprint("ab", "c", "d")
        );
        assert_eq!(
            StreamEvent::Lagged(Lagged { dropped: 1 }).fingerprint(),
            None
        );
    }

    #[test]
    fn error_messages_are_one_line() {
        let t = Terminal::Error("a\nb\r\nc".into());
        assert_eq!(t.data_line(), "[ERROR] a b c");
    }

    #[test]
    fn wire_json_has_exactly_the_spec_fields() {
        let line = narration("hi").data_line();
        assert_eq!(
            line,
            r#"{"seq":4,"job_id":"job-00000000000000000000000000000001","actor":"hive","action":"x","human":"hi","at_ms":12}"#
        );
    }
}
