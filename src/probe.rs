//! Code probes: named rare situations, recorded when they actually happen.
//!
//! An invariant whose trigger never happens is checked on every run and exercised on none.
//! A probe marks, at the exact line where it happens, a situation that an invariant is
//! about — a wait for buffer space, a cancel racing a completion, a relay losing its hive —
//! so that a harness can report which ones no run reached (FoundationDB's `CODE_PROBE`,
//! Antithesis's "sometimes" assertions).
//!
//! Probes travel through the process's [`crate::observer::Observer`] as
//! [`crate::observer::HubRecord::Probe`]; with no observer (a real process) nothing is built
//! or recorded. Situations that the observer's other records already show (a drop for a
//! missing channel, a 409) are named by the harness from those records, not probed twice.

use serde::{Deserialize, Serialize};

/// A rare situation in the system's own code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Probe {
    /// An emitter on the waiting path found the job's buffer full and waited for space
    /// (backpressure; recorded once per job).
    BackpressureWait,
    /// A job was cancelled while still queued (no stream had taken it).
    CancelQueued,
    /// A `DELETE` arrived after the job had completed or failed but before its stream ended
    /// (the cancel lost the race: 409).
    CancelAfterCompletion,
    /// A handler finished after its job had been cancelled (the completion lost the race
    /// and must not overwrite the cancel).
    CompletionAfterCancel,
    /// The queen's relay cancelled its hive job because the queen job ended first.
    CancelForwarded,
    /// A client dropped its stream while the job was still running (the job is cancelled).
    ClientDisconnect,
    /// A job never streamed reached its TTL and expired.
    TtlExpired,
    /// The queen's relay found the hive refusing connections and retried.
    RelayConnectRetry,
    /// The queen's relay heard nothing from the hive for the silence limit.
    RelaySilence,
    /// The queen's relay lost its hive stream before the hive's marker (crash, reset).
    RelayLinkLost,
    /// The queen's relay read a hive event after the queen job had ended: it was dropped.
    RelayAfterEnd,
    /// A sub-task started with the spawn helper delivered narration into its job's stream
    /// (recorded once per sub-task).
    SubtaskLineDelivered,
    /// A sub-task was still running when its job ended and was aborted.
    SubtaskAborted,
    /// A stream took a job whose payload could no longer be executed (the job had ended
    /// between take and start): at most once held.
    ExecuteRefused,
    /// A worker started by `worker_spawn` narrated after its spawning job had ended.
    WorkerOutlivedJob,
    /// An operation reached its commit point after its job had ended (cancelled, client
    /// gone): the effect was not applied.
    CommitRefused,
    /// A download waited for another download of the same model on the same hive.
    DownloadWaited,
    /// A cancelled forwarded job kept its stream open until its hive confirmed the cancel.
    CancelDrained,
}

impl Probe {
    /// Every probe the system can record, in declaration order.
    pub const ALL: [Probe; 18] = [
        Self::BackpressureWait,
        Self::CancelQueued,
        Self::CancelAfterCompletion,
        Self::CompletionAfterCancel,
        Self::CancelForwarded,
        Self::ClientDisconnect,
        Self::TtlExpired,
        Self::RelayConnectRetry,
        Self::RelaySilence,
        Self::RelayLinkLost,
        Self::RelayAfterEnd,
        Self::SubtaskLineDelivered,
        Self::SubtaskAborted,
        Self::ExecuteRefused,
        Self::WorkerOutlivedJob,
        Self::CommitRefused,
        Self::DownloadWaited,
        Self::CancelDrained,
    ];

    /// The probe's stable name (its JSON form).
    pub fn name(self) -> &'static str {
        match self {
            Self::BackpressureWait => "backpressure_wait",
            Self::CancelQueued => "cancel_queued",
            Self::CancelAfterCompletion => "cancel_after_completion",
            Self::CompletionAfterCancel => "completion_after_cancel",
            Self::CancelForwarded => "cancel_forwarded",
            Self::ClientDisconnect => "client_disconnect",
            Self::TtlExpired => "ttl_expired",
            Self::RelayConnectRetry => "relay_connect_retry",
            Self::RelaySilence => "relay_silence",
            Self::RelayLinkLost => "relay_link_lost",
            Self::RelayAfterEnd => "relay_after_end",
            Self::SubtaskLineDelivered => "subtask_line_delivered",
            Self::SubtaskAborted => "subtask_aborted",
            Self::ExecuteRefused => "execute_refused",
            Self::WorkerOutlivedJob => "worker_outlived_job",
            Self::CommitRefused => "commit_refused",
            Self::DownloadWaited => "download_waited",
            Self::CancelDrained => "cancel_drained",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_json_form_and_all_lists_every_probe_once() {
        let mut names: Vec<&str> = Probe::ALL.iter().map(|p| p.name()).collect();
        for p in Probe::ALL {
            assert_eq!(
                serde_json::to_value(p).unwrap(),
                serde_json::Value::String(p.name().into())
            );
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Probe::ALL.len());
    }
}
