//! Coverage: which rare situations a run actually reached.
//!
//! A checker whose trigger never happens passes on every run and proves nothing. Each
//! situation an invariant is about has a named *probe*; this module owns the catalogue of
//! probes and counts, per run, how often each was hit. Three sources feed it:
//!
//! - the system's own code probes ([`rbee::probe::Probe`]), recorded at the line where the
//!   situation happens and carried in the trace as hub records;
//! - situations that are patterns over records the trace already has (a drop for a job whose
//!   channel was removed vs. expired vs. never created, two jobs' events in one millisecond,
//!   two jobs running at once on one hive), named here;
//! - the simulator's perturbation points ([`rbee::perturb::Point`]), one probe each.
//!
//! Each checker declares its triggers ([`crate::check::CHECKERS`]); reports say how often a
//! checker was exercised, and `explore --require-coverage` fails while any probe is unhit.

use crate::scenario::{Expect, Mode, Scenario};
use crate::trace::{Trace, What};
use rbee::event::StreamEvent;
use rbee::ids::JobId;
use rbee::observer::{HubRecord, JobState};
use std::collections::{BTreeMap, BTreeSet};

/// A reader's silence limit (docs/spec.md §3).
const SILENCE_MS: u64 = 15_000;

/// How often each probe was hit in one run (or a sum of runs), by name.
pub type Hits = BTreeMap<&'static str, u64>;

/// Every probe, with what it means, in report order.
pub const PROBES: [(&str, &str); 74] = [
    // Sends for a job without a channel (docs/spec.md §4.3), by why there is none and where.
    (
        "no_channel_removed@queen",
        "a line for a job whose channel was removed, on the queen",
    ),
    (
        "no_channel_removed@hive",
        "a line for a job whose channel was removed, on a hive",
    ),
    (
        "no_channel_expired@queen",
        "a line for a job that expired, on the queen",
    ),
    (
        "no_channel_expired@hive",
        "a line for a job that expired, on a hive",
    ),
    (
        "no_channel_never_created@queen",
        "a line for a job id the queen never created",
    ),
    (
        "no_channel_never_created@hive",
        "a line for a job id a hive never created",
    ),
    (
        "worker_outlived_job",
        "a worker narrated after its spawning job ended",
    ),
    (
        "relay_after_end",
        "the relay read a hive event after its queen job ended",
    ),
    // Full buffers.
    (
        "drop_full",
        "a line dropped on the synchronous path because the buffer was full",
    ),
    (
        "lagged_notice",
        "a stream told its reader how many events were dropped",
    ),
    ("backpressure_wait", "an emitter waited for buffer space"),
    // Take.
    (
        "take_early",
        "a stream taken within 20 ms of its job's creation",
    ),
    (
        "take_late",
        "a stream taken 1 s or more after creation, its lines buffered meanwhile",
    ),
    (
        "stream_404",
        "a stream request for an unknown or finished job (404)",
    ),
    (
        "stream_409",
        "a second stream request for a taken job (409)",
    ),
    (
        "execute_refused",
        "a taken job that had already ended was not executed",
    ),
    // Concurrency.
    (
        "interleaved_jobs",
        "events of two or more jobs delivered on the queen in one ms",
    ),
    (
        "concurrent_hive_jobs",
        "two or more jobs running at once on one hive",
    ),
    // Cancel.
    ("cancel_queued", "a queued job cancelled"),
    (
        "cancel_after_completion",
        "a cancel that arrived after the job completed (409)",
    ),
    (
        "completion_after_cancel",
        "a completion that arrived after the job was cancelled",
    ),
    (
        "cancel_forwarded",
        "a queen job's cancel sent on to its hive job",
    ),
    (
        "cancel_before_hive_stream",
        "a queen job cancelled while its hive job was still queued, unstreamed",
    ),
    (
        "cancel_during_forward",
        "a queen job cancelled while its forward's POST or the hive's reply was on the wire",
    ),
    // Ends without a marker.
    ("client_disconnect", "a client dropped its stream mid-job"),
    ("ttl_expired", "a never-streamed job expired"),
    // Relay.
    ("relay_connect_retry", "the relay retried a refused connect"),
    ("relay_silence", "the relay's silence limit fired"),
    (
        "relay_link_lost",
        "the relay lost its hive stream before the marker",
    ),
    (
        "hive_crash_mid_stream",
        "a hive crashed while a job forwarded to it was running",
    ),
    // Sub-tasks.
    (
        "subtask_line_delivered",
        "a sub-task's narration reached its job's stream",
    ),
    (
        "subtask_aborted",
        "a sub-task was aborted when its job ended",
    ),
    // Order made visible, state re-created.
    (
        "list_workers_2plus",
        "a worker listing with two or more workers",
    ),
    (
        "list_models_2plus",
        "a model listing with two or more models",
    ),
    ("job_after_restart", "a restarted process created a job"),
    // Slow but healthy.
    (
        "silence_kept_alive",
        "a job ended done after 15 s or more without an event",
    ),
    (
        "outlived_ttl",
        "a streamed job ended done later than its TTL after submit",
    ),
    // Marker text that is not a marker.
    (
        "marker_text_in_narration",
        "a keeper received a narration line whose text holds [DONE]",
    ),
    // Outcomes the checkers judge.
    ("job_executed", "a job's payload was executed"),
    ("job_failed", "a job ended in a handler error"),
    (
        "expect_declared",
        "a job with a declared expected outcome ended",
    ),
    ("keeper_lost", "a keeper lost its connection"),
    (
        "error_naming_hive",
        "a keeper saw an error marker naming a hive",
    ),
    // What jobs say, judged by the reference model of a hive (semantics).
    (
        "commit_refused",
        "an operation reached its commit point after its job ended: no effect",
    ),
    (
        "download_waited",
        "a download waited for another download of the same model",
    ),
    (
        "cancel_drained",
        "a cancelled forwarded job relayed on until its hive confirmed the cancel",
    ),
    (
        "state_ops_overlap",
        "two operations on one hive's state overlapped in time, both seen done",
    ),
    (
        "download_raced",
        "two downloads of one model on one hive overlapped",
    ),
    (
        "download_refused_present",
        "a download was refused: the model was already present",
    ),
    (
        "read_raced_write",
        "a listing, get or inference overlapped a write on its hive",
    ),
    (
        "effect_unknown",
        "a write whose keeper could not know whether it took effect",
    ),
    (
        "write_cancelled_before_commit",
        "a write cancelled before its commit line: it must leave no effect",
    ),
    ("worker_stopped", "a worker_stop stopped a worker"),
    (
        "state_reset",
        "a restart reset a hive's state between two results",
    ),
    // A forwarded job's stream against its hive's (relay).
    (
        "relayed_job",
        "a keeper received hive events relayed by the queen",
    ),
    (
        "relay_lagged_line",
        "a hive's dropped events announced on the queen as relay_lagged",
    ),
    (
        "hive_error_relayed",
        "a hive job's error became its queen job's error",
    ),
    // Timers (timeliness).
    (
        "keep_alive_seen",
        "a keeper's stream showed a keep-alive comment",
    ),
    (
        "keeper_silence",
        "a keeper gave up on a stream silent for 15 s",
    ),
    (
        "cancel_ended_stream",
        "a running job's stream ended after its keeper's DELETE was answered",
    ),
    // Statuses (http).
    (
        "request_refused",
        "a process refused a request (400, 404, 409, 413)",
    ),
    (
        "refused_on_purpose",
        "a keeper made a request the contract refuses, on purpose",
    ),
    (
        "asked_after_end",
        "a keeper asked for its job again after the job ended",
    ),
    ("cancel_accepted", "a DELETE was answered 200"),
    // Perturbation points.
    ("perturb_take_start", "perturbed between take and start"),
    (
        "perturb_finish_close",
        "perturbed between the final state and closing the channel",
    ),
    (
        "perturb_forward",
        "perturbed between the hive's 201 and the relay's stream request",
    ),
    ("perturb_relay", "perturbed between relayed events"),
    ("perturb_emit", "perturbed before a handler's emit"),
    ("perturb_cancel", "perturbed before a cancel"),
    ("perturb_abort_lag", "an ended job's aborts lagged"),
    ("perturb_straggler", "a late line for an ended job"),
    ("perturb_stray", "a line for a job id never created"),
    ("perturb_any", "any perturbation point fired"),
];

/// The catalogue's entry for `name` (the `&'static str` every count is keyed by).
fn key(name: &str) -> &'static str {
    PROBES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, _)| *n)
        .unwrap_or_else(|| panic!("probe '{name}' is not in the catalogue"))
}

/// A zero for every probe, so a report lists the unhit ones too.
pub fn zero() -> Hits {
    PROBES.iter().map(|(n, _)| (*n, 0)).collect()
}

/// Adds `other` into `total`.
pub fn add(total: &mut Hits, other: &Hits) {
    for (name, n) in other {
        *total.entry(name).or_default() += n;
    }
}

/// The probes `hits` never reached, in catalogue order.
pub fn unhit(hits: &Hits) -> Vec<&'static str> {
    PROBES
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| hits.get(n).copied().unwrap_or(0) == 0)
        .collect()
}

/// Per-host life of records: crash and restart start a new life (a fresh process).
#[derive(Default)]
struct Lives<'a>(BTreeMap<&'a str, u32>);

impl<'a> Lives<'a> {
    fn of(&self, host: &str) -> u32 {
        self.0.get(host).copied().unwrap_or(0)
    }
}

/// Counts every probe in one run.
pub fn hits(scenario: &Scenario, trace: &Trace) -> Hits {
    let mut out = zero();
    let mut hit = |name: &str| *out.entry(key(name)).or_default() += 1;

    // Which hive each queen job is about (integrated mode runs hive jobs on the queen).
    let mut hive_of: BTreeMap<&JobId, &str> = BTreeMap::new();
    for e in &trace.entries {
        if let What::Submit { index, job } = &e.what {
            if let Some(h) = scenario
                .jobs
                .get(*index)
                .and_then(|j| j.operation.hive_id())
            {
                hive_of.insert(job, h);
            }
        }
    }

    // Per scenario job: when it was submitted, its last event, its longest silence.
    let mut submitted_at: BTreeMap<usize, u64> = BTreeMap::new();
    let mut last_event: BTreeMap<usize, u64> = BTreeMap::new();
    let mut longest_gap: BTreeMap<usize, u64> = BTreeMap::new();
    let mut lives = Lives::default();
    let mut restarted: BTreeSet<&str> = BTreeSet::new();
    let mut created: BTreeMap<(&str, u32, &JobId), u64> = BTreeMap::new();
    let mut expired: BTreeSet<(&str, u32, &JobId)> = BTreeSet::new();
    let mut running: BTreeMap<(&str, u32), BTreeSet<&JobId>> = BTreeMap::new();
    let mut per_ms: BTreeMap<u64, BTreeSet<&JobId>> = BTreeMap::new();
    // Queen jobs forwarded to each hive and not yet ended.
    let mut in_flight: BTreeMap<&str, BTreeSet<&JobId>> = BTreeMap::new();
    let mut forwarded_to: BTreeMap<&JobId, &str> = BTreeMap::new();
    // Each forwarded queen job's hive job, and the latest state of every hive job.
    let mut hive_job_of: BTreeMap<&JobId, (&str, u32, &JobId)> = BTreeMap::new();
    let mut hive_state: BTreeMap<(&str, u32, &JobId), &JobState> = BTreeMap::new();
    // Queen jobs whose relay has announced its forward (the POST is on its way).
    let mut forwarding: BTreeSet<&JobId> = BTreeSet::new();

    for e in &trace.entries {
        let host = e.host.as_str();
        match &e.what {
            What::Fault { fault, hosts } => {
                for h in hosts {
                    if fault == "crash" || fault == "restart" {
                        *lives.0.entry(h.as_str()).or_default() += 1;
                    }
                    if fault == "restart" {
                        restarted.insert(h.as_str());
                    }
                    if fault == "crash" && in_flight.get(h.as_str()).is_some_and(|s| !s.is_empty())
                    {
                        hit("hive_crash_mid_stream");
                    }
                }
            }
            What::Perturb { point } => {
                hit(&format!("perturb_{point}"));
                hit("perturb_any");
            }
            What::Received { event, index, .. } => {
                let last = last_event
                    .insert(*index, e.t)
                    .or(submitted_at.get(index).copied());
                if let Some(last) = last {
                    let gap = longest_gap.entry(*index).or_default();
                    *gap = (*gap).max(e.t.saturating_sub(last));
                }
                match event {
                    StreamEvent::Lagged(_) => hit("lagged_notice"),
                    StreamEvent::Narration(n) if n.human.contains(rbee::event::DONE) => {
                        hit("marker_text_in_narration")
                    }
                    StreamEvent::Data(d) => {
                        let listed = |field: &str| d.payload[field].as_array().map_or(0, Vec::len);
                        if d.action == "worker_list" && listed("workers") >= 2 {
                            hit("list_workers_2plus");
                        }
                        if d.action == "model_list" && listed("models") >= 2 {
                            hit("list_models_2plus");
                        }
                    }
                    StreamEvent::Terminal(rbee::event::Terminal::Error(m))
                        if m.contains("hive '") =>
                    {
                        hit("error_naming_hive")
                    }
                    _ => {}
                }
            }
            What::Submit { index, .. } => {
                submitted_at.insert(*index, e.t);
            }
            What::Outcome { outcome, index, .. } => {
                if outcome == "lost" {
                    hit("keeper_lost");
                }
                if outcome == "done" {
                    if let Some(since) = submitted_at.get(index) {
                        if e.t.saturating_sub(*since) > scenario.ttl_ms {
                            hit("outlived_ttl");
                        }
                    }
                    if longest_gap.get(index).copied().unwrap_or(0) >= SILENCE_MS {
                        hit("silence_kept_alive");
                    }
                }
                if scenario
                    .jobs
                    .get(*index)
                    .is_some_and(|j| j.expect != Expect::Any)
                {
                    hit("expect_declared");
                }
            }
            What::Hub { record } => {
                let life = lives.of(host);
                match record {
                    HubRecord::Probe { probe, .. } => hit(probe.name()),
                    HubRecord::Create { job, .. } => {
                        created.insert((host, life, job), e.t);
                        if restarted.contains(host) {
                            hit("job_after_restart");
                        }
                    }
                    HubRecord::Take { job } => {
                        if let Some(at) = created.get(&(host, life, job)) {
                            match e.t - at {
                                d if d < 50 => hit("take_early"),
                                d if d >= 1000 => hit("take_late"),
                                _ => {}
                            }
                        }
                    }
                    HubRecord::Execute { .. } => hit("job_executed"),
                    HubRecord::DropFull { .. } => hit("drop_full"),
                    HubRecord::DropNoChannel { job, .. } => {
                        let why = if !created.contains_key(&(host, life, job)) {
                            "never_created"
                        } else if expired.contains(&(host, life, job)) {
                            "expired"
                        } else {
                            "removed"
                        };
                        let role = if host == "queen" { "queen" } else { "hive" };
                        hit(&format!("no_channel_{why}@{role}"));
                    }
                    HubRecord::Deliver { job, action, .. } if host == "queen" => {
                        if action == "forward" {
                            forwarding.insert(job);
                        }
                        if action == "relay_lagged" {
                            hit("lagged_notice");
                        }
                        let jobs = per_ms.entry(e.t).or_default();
                        if jobs.insert(job) && jobs.len() == 2 {
                            hit("interleaved_jobs");
                        }
                    }
                    HubRecord::Reply {
                        route: rbee::observer::Route::Stream,
                        status,
                        ..
                    } => match status {
                        404 => hit("stream_404"),
                        409 => hit("stream_409"),
                        _ => {}
                    },
                    HubRecord::Forward {
                        job,
                        hive,
                        hive_job,
                    } => {
                        in_flight.entry(hive.as_str()).or_default().insert(job);
                        forwarded_to.insert(job, hive.as_str());
                        hive_job_of.insert(job, (hive.as_str(), lives.of(hive), hive_job));
                    }
                    HubRecord::State { job, state } => {
                        if host != "queen" {
                            hive_state.insert((host, life, job), state);
                        } else if *state == JobState::Cancelled {
                            let queued = hive_job_of
                                .get(job)
                                .and_then(|k| hive_state.get(k))
                                .is_some_and(|s| **s == JobState::Queued);
                            if queued {
                                hit("cancel_before_hive_stream");
                            } else if forwarding.contains(job) && !hive_job_of.contains_key(job) {
                                hit("cancel_during_forward");
                            }
                        }
                        // The hive a running job occupies: the hive process itself, or in
                        // integrated mode the hive a queen job is about.
                        let hive = if host != "queen" {
                            Some(host)
                        } else if scenario.mode == Mode::Integrated {
                            hive_of.get(job).copied()
                        } else {
                            None
                        };
                        match state {
                            JobState::Running => {
                                if let Some(h) = hive {
                                    let set = running.entry((h, life)).or_default();
                                    if set.insert(job) && set.len() == 2 {
                                        hit("concurrent_hive_jobs");
                                    }
                                }
                            }
                            s if s.is_terminal() => {
                                if let Some(h) = hive {
                                    if let Some(set) = running.get_mut(&(h, life)) {
                                        set.remove(job);
                                    }
                                }
                                if host == "queen" {
                                    if let Some(h) = forwarded_to.get(job) {
                                        if let Some(set) = in_flight.get_mut(h) {
                                            set.remove(job);
                                        }
                                    }
                                }
                                if *s == JobState::Expired {
                                    expired.insert((host, life, job));
                                }
                                if matches!(s, JobState::Failed(_)) {
                                    hit("job_failed");
                                }
                            }
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    for name in crate::check::semantics::situations(scenario, trace)
        .into_iter()
        .chain(crate::check::relay::situations(scenario, trace))
        .chain(crate::check::timeliness::situations(scenario, trace))
        .chain(crate::check::http::situations(scenario, trace))
    {
        hit(name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_names_every_system_probe_and_perturbation_point_once() {
        let names: BTreeSet<&str> = PROBES.iter().map(|(n, _)| *n).collect();
        assert_eq!(names.len(), PROBES.len(), "a probe is listed twice");
        for p in rbee::probe::Probe::ALL {
            assert!(names.contains(p.name()), "{} missing", p.name());
        }
        for p in rbee::perturb::Point::ALL {
            let name = format!("perturb_{}", p.name());
            assert!(names.contains(name.as_str()), "{name} missing");
        }
    }

    #[test]
    fn a_drop_is_classified_by_why_the_job_has_no_channel() {
        use crate::check::testkit::{scenario_of, trace_of};
        let (a, b, c) = (
            JobId::from_bits(1),
            JobId::from_bits(2),
            JobId::from_bits(3),
        );
        let hub = |host: &str, record: HubRecord| (host.to_owned(), What::Hub { record });
        let drop = |job: &JobId| HubRecord::DropNoChannel {
            job: job.clone(),
            action: "late".into(),
        };
        let trace = trace_of(vec![
            hub(
                "queen",
                HubRecord::Create {
                    job: a.clone(),
                    operation: "status".into(),
                },
            ),
            hub("queen", HubRecord::Remove { job: a.clone() }),
            hub("queen", drop(&a)),
            hub(
                "hive-a",
                HubRecord::Create {
                    job: b.clone(),
                    operation: "model_list".into(),
                },
            ),
            hub(
                "hive-a",
                HubRecord::State {
                    job: b.clone(),
                    state: JobState::Expired,
                },
            ),
            hub("hive-a", drop(&b)),
            hub("hive-a", drop(&c)),
        ]);
        let h = hits(&scenario_of("hive-a"), &trace);
        assert_eq!(h["no_channel_removed@queen"], 1);
        assert_eq!(h["no_channel_expired@hive"], 1);
        assert_eq!(h["no_channel_never_created@hive"], 1);
        assert_eq!(h["no_channel_removed@hive"], 0);
        assert!(unhit(&h).contains(&"drop_full"));
    }
}
