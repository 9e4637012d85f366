//! **contract** — a job that ends `done` delivered its operation's full narration per
//! docs/spec.md §2 (every progress line, log line and token) and nothing else, in
//! distributed and integrated mode alike.
//!
//! Guards against historical bugs 4, 5 and 12: a narration context never set (empty
//! streams), sub-task output lost by `tokio::spawn`, and relays that re-narrated (a hive's
//! `[DONE]` relayed as a line before the queen's own marker) or lost hive output.

use super::view::{hub_records, keeper_jobs};
use super::Violation;
use crate::scenario::Scenario;
use crate::trace::Trace;
use rbee::event::StreamEvent;
use rbee::hive::expected_tokens;
use rbee::ids::JobId;
use rbee::observer::HubRecord;
use rbee::operation::Operation;
use std::collections::BTreeMap;

/// What a `done` stream of `op` must contain: exact counts of narration actions and data
/// actions (data counted under `data:<action>`).
fn required(op: &Operation, scenario: &Scenario) -> Vec<(String, usize)> {
    let fixed =
        |pairs: &[(&str, usize)]| pairs.iter().map(|(a, n)| ((*a).to_owned(), *n)).collect();
    match op {
        Operation::Status {} => {
            fixed(&[("status_hive", scenario.hives.len()), ("status_summary", 1)])
        }
        Operation::HiveCheck { .. } => fixed(&[
            ("hive_check_start", 1),
            ("hive_check_step", rbee::hive::CHECKS.len()),
            ("hive_check_complete", 1),
        ]),
        Operation::ModelList { .. } => fixed(&[
            ("model_list_start", 1),
            ("data:model_list", 1),
            ("model_list_complete", 1),
        ]),
        Operation::ModelGet { .. } => fixed(&[("model_get_found", 1), ("model_get_details", 1)]),
        Operation::ModelDownload { chunks, .. } => fixed(&[
            ("model_download_start", 1),
            ("model_download_progress", *chunks as usize),
            ("model_download_complete", 1),
        ]),
        Operation::ModelDelete { .. } => {
            fixed(&[("model_delete_start", 1), ("model_delete_complete", 1)])
        }
        Operation::WorkerSpawn { .. } => fixed(&[
            ("worker_spawn_start", 1),
            ("worker_spawn_port", 1),
            ("worker_spawn_complete", 1),
        ]),
        Operation::WorkerList { .. } => fixed(&[("data:worker_list", 1)]),
        Operation::WorkerStop { .. } => fixed(&[("worker_stop", 1), ("worker_stop_complete", 1)]),
        Operation::WorkerInstall { lines, .. } => fixed(&[
            ("worker_install_start", 1),
            ("worker_install_log", *lines as usize),
            ("worker_install_complete", 1),
        ]),
        Operation::Infer { max_tokens, .. } => fixed(&[
            ("infer_start", 1),
            ("data:token", *max_tokens as usize),
            ("infer_complete", 1),
        ]),
    }
}

/// Lines a `done` stream of `op` may carry besides [`required`]: the job-creation lines of
/// queen and hive, the queen's forward notice, and one line per listed item (or "empty").
fn allowed_extra(op: &Operation) -> &'static [&'static str] {
    match op {
        Operation::ModelList { .. } => &[
            "job_create",
            "forward",
            "model_list_entry",
            "model_list_empty",
        ],
        Operation::WorkerList { .. } => &["job_create", "forward", "worker_list_entry"],
        Operation::WorkerSpawn { .. } => &[
            "job_create",
            "forward",
            "worker_startup",
            "worker_log",
            "relay_lagged",
        ],
        _ => &["job_create", "forward"],
    }
}

/// Lines a job may lose to a full buffer: the only ones emitted on the synchronous path
/// (docs/spec.md §4.3), a worker's, which never waits for a reader.
fn droppable(action: &str) -> bool {
    matches!(action, "worker_startup" | "worker_log")
}

/// The actions of the events dropped for a full buffer of queen job `job`, on the queen
/// and on the hive it was forwarded to.
fn dropped_full<'a>(trace: &'a Trace, job: &JobId) -> Vec<&'a str> {
    let mut hive_job: Option<(&str, &JobId)> = None;
    let mut out = Vec::new();
    for r in hub_records(trace) {
        match r.record {
            HubRecord::Forward {
                job: j,
                hive,
                hive_job: hj,
            } if j == job => hive_job = Some((hive, hj)),
            HubRecord::DropFull { job: j, action, .. }
                if (r.host == "queen" && j == job) || hive_job == Some((r.host, j)) =>
            {
                out.push(action.as_str())
            }
            _ => {}
        }
    }
    out
}

/// Checks every `done` stream against [`required`] (and nothing beyond [`allowed_extra`]), list lengths against their data
/// payloads, tokens against the prompt, and that nothing was lost (`lagged`).
pub fn check(scenario: &Scenario, trace: &Trace) -> Vec<Violation> {
    let mut out = Vec::new();
    for k in keeper_jobs(scenario, trace) {
        if k.outcome.map(|o| o.1) != Some("done") {
            continue;
        }
        let t = k.outcome.map_or(0, |o| o.0);
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        let mut tokens = Vec::new();
        let mut listed = None;
        let mut progress = Vec::new();
        for (_, e) in &k.received {
            match e {
                StreamEvent::Narration(n) => {
                    *counts.entry(n.action.clone()).or_default() += 1;
                    if n.action == "model_download_progress" {
                        progress.push(n.human.clone());
                    }
                }
                StreamEvent::Data(d) => {
                    *counts.entry(format!("data:{}", d.action)).or_default() += 1;
                    match d.action.as_str() {
                        "token" => {
                            tokens.push(d.payload["token"].as_str().unwrap_or_default().to_owned())
                        }
                        "model_list" => {
                            listed = d.payload["models"]
                                .as_array()
                                .map(|a| ("model_list_entry", a.len()))
                        }
                        "worker_list" => {
                            listed = d.payload["workers"]
                                .as_array()
                                .map(|a| ("worker_list_entry", a.len()))
                        }
                        _ => {}
                    }
                }
                StreamEvent::Lagged(l) => {
                    *counts.entry("lagged".into()).or_default() += l.dropped as usize;
                }
                StreamEvent::Terminal(_) => {}
            }
        }
        let mut problems = Vec::new();
        let required = required(&k.plan.operation, scenario);
        for (action, want) in &required {
            let got = counts.get(action).copied().unwrap_or(0);
            if got != *want {
                problems.push(format!("{want} × {action} required, {got} received"));
            }
        }
        let extra = allowed_extra(&k.plan.operation);
        for (action, n) in &counts {
            let expected = action == "lagged"
                || extra.contains(&action.as_str())
                || required.iter().any(|(a, _)| a == action);
            if !expected {
                problems.push(format!("{n} unexpected × {action}"));
            }
        }
        if let Some((entry, n)) = listed {
            let got = counts.get(entry).copied().unwrap_or(0);
            if got != n {
                problems.push(format!("{n} listed in data but {got} × {entry} lines"));
            }
        }
        if let Operation::Infer {
            prompt, max_tokens, ..
        } = &k.plan.operation
        {
            if tokens != expected_tokens(prompt, *max_tokens) {
                problems.push(format!(
                    "tokens {tokens:?} are not the prompt's words cyclically"
                ));
            }
        }
        if let Operation::ModelDownload { chunks, .. } = &k.plan.operation {
            let ordered = progress
                .iter()
                .enumerate()
                .all(|(i, h)| h.contains(&format!("chunk {}/{chunks}", i + 1)));
            if !ordered {
                problems.push("progress lines out of order".into());
            }
        }
        let lost = counts.get("lagged").copied().unwrap_or(0)
            + counts.get("relay_lagged").copied().unwrap_or(0);
        if lost > 0 || matches!(k.plan.operation, Operation::WorkerSpawn { .. }) {
            let dropped = k
                .submit
                .as_ref()
                .map(|(_, job)| dropped_full(trace, job))
                .unwrap_or_default();
            if lost > 0 && (dropped.is_empty() || !dropped.iter().all(|a| droppable(a))) {
                problems.push(format!(
                    "{lost} lagged notice(s), dropping {dropped:?} (only a worker's lines may be dropped)"
                ));
            }
            if let Operation::WorkerSpawn { .. } = &k.plan.operation {
                let startup = counts.get("worker_startup").copied().unwrap_or(0)
                    + dropped.iter().filter(|a| **a == "worker_startup").count();
                let want = rbee::hive::WORKER_STARTUP_LINES as usize;
                if startup != want {
                    problems.push(format!(
                        "{want} × worker_startup emitted before ready, {startup} delivered or dropped"
                    ));
                }
            }
        }
        for message in problems {
            out.push(Violation {
                invariant: "contract",
                t,
                host: k.plan.keeper.clone(),
                job: k.label(),
                message: format!("{} ended done but: {message}", k.plan.operation.name()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use crate::trace::What;

    #[test]
    fn fires_when_a_done_stream_misses_a_progress_line() {
        let (scenario, trace) = two_jobs();
        assert_eq!(check(&scenario, &trace), []);
        let missing = drop_first(
            &trace,
            |e| matches!(&e.what, What::Received { index: 0, event: StreamEvent::Narration(n), .. } if n.action == "model_download_progress"),
        );
        let v = check(&scenario, &missing);
        assert_eq!(v.len(), 2, "{v:?}"); // the count, and the order of the remaining lines
        assert!(
            v[0].message
                .contains("3 × model_download_progress required, 2 received"),
            "{}",
            v[0]
        );
    }

    #[test]
    fn fires_when_a_done_stream_carries_a_line_its_operation_never_emits() {
        let (scenario, trace) = two_jobs();
        let is_last_line = |e: &crate::trace::Entry| {
            matches!(
                &e.what,
                What::Received {
                    index: 0,
                    event: StreamEvent::Narration(_),
                    ..
                }
            )
        };
        let mut relayed = duplicate_last(&trace, is_last_line);
        let i = relayed.entries.iter().rposition(is_last_line).unwrap();
        if let What::Received {
            event: StreamEvent::Narration(n),
            ..
        } = &mut relayed.entries[i].what
        {
            n.action = "done".into();
            n.human = "[DONE]".into();
        }
        let v = check(&scenario, &relayed);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.ends_with("1 unexpected × done"), "{}", v[0]);
    }
}
