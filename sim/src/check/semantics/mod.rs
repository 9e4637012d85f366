//! **semantics** — every job's result is one that a sequential model of docs/spec.md §2 allows: a
//! black-box check of what each job *says* against a reference model of a hive
//! ([`model`]), in the style of Jepsen's Knossos.
//!
//! The history is taken from the keepers alone, never from the system's records (a bug
//! that changes state at the wrong moment would agree with its own records). Per hive:
//!
//! - each job on it is an operation, invoked when its keeper submitted it (`at_ms`) and
//!   seen complete when its keeper received its result: the commit line of a write (a
//!   download's completion, a delete's, a spawn's port line, a stop's), the data of a
//!   listing, the line a get or an inference starts with once it found its model, or an
//!   error marker that is one of the model's answers ("already present", "not found");
//! - a job that ended with a marker *before* its commit line did not take effect; unless a
//!   fault cut the queen from the hive (or reset either) while it ran, when even the queen
//!   could not know, and it is treated as lost;
//! - a job whose stream was lost, or whose keeper walked away, may have taken effect at any
//!   time after it was submitted, or never (an optional operation: Knossos's `info`);
//! - a restart of the process holding the hive's state (the hive, or in integrated mode
//!   the queen) resets the model at its time.
//!
//! The run passes if some order consistent with real time explains every result
//! ([`linearize`]). Two overlapping downloads of one absent model cannot both succeed; a
//! listing after a completed download shows its model; a cancelled download that never
//! showed its completion line leaves no model; worker ids count the spawns of this life.
//!
//! What it cannot see: state nobody read (a leaked worker no listing shows), results a
//! keeper did not wait for, and anything on a hive while a fault hides it from the queen.

pub mod linearize;
pub mod model;

use super::view::{faults, keeper_jobs, Fault, KeeperJob};
use super::Violation;
use crate::scenario::{Mode, Scenario};
use crate::trace::Trace;
use linearize::{linearize, Entry, Verdict};
use model::{Hive, Op, Ret, Seen};
use rbee::event::StreamEvent;
use rbee::hive::Worker;
use std::fmt::Write;

/// One operation of a hive's history, and the job it came from.
struct Operation<'a> {
    job: &'a KeeperJob<'a>,
    entry: Entry<Op, Seen>,
}

/// The history of every hive of the run: its operations, in scenario order, then its
/// restarts.
fn histories<'a>(
    scenario: &Scenario,
    jobs: &'a [KeeperJob<'a>],
    faults: &[Fault<'_>],
) -> Vec<(String, Vec<Operation<'a>>, Vec<u64>)> {
    let mut out = Vec::new();
    for hive in &scenario.hives {
        let model = Hive::new(hive, &scenario.models);
        let holder = match scenario.mode {
            Mode::Distributed => hive.as_str(),
            Mode::Integrated => "queen",
        };
        let resets: Vec<u64> = faults
            .iter()
            .filter(|f| f.resets(holder))
            .map(|f| f.t)
            .collect();
        let ops = jobs
            .iter()
            .filter(|k| k.plan.operation.hive_id() == Some(hive.as_str()))
            .filter_map(|k| {
                let op = Op::of(&k.plan.operation)?;
                let hidden = hidden(scenario.mode, hive, k, faults);
                let entry = observe(k, op, &model, hidden)?;
                Some(Operation { job: k, entry })
            })
            .collect();
        out.push((hive.clone(), ops, resets));
    }
    out
}

/// Whether a fault hid the hive from the queen (or reset either) while job `k` ran: then
/// the queen's own verdict on the job may be wrong about its effect.
fn hidden(mode: Mode, hive: &str, k: &KeeperJob, faults: &[Fault]) -> bool {
    let from = k.plan.at_ms;
    let until = k.outcome.map_or(u64::MAX, |(t, _, _)| t);
    faults.iter().any(|f| {
        (from..=until).contains(&f.t)
            && match mode {
                Mode::Distributed => f.cuts_queen_from(hive),
                Mode::Integrated => f.resets("queen"),
            }
    })
}

/// The line or data a job shows once its operation has taken effect (a write) or has
/// read the state (a read), with what it says.
fn result_seen(k: &KeeperJob, op: &Op) -> Option<(u64, Ret)> {
    k.received.iter().find_map(|(t, event)| {
        let ret = match (op, event) {
            (Op::Download(_), StreamEvent::Narration(n))
                if n.action == "model_download_complete" =>
            {
                Ret::Ok
            }
            (Op::Delete(_), StreamEvent::Narration(n)) if n.action == "model_delete_complete" => {
                Ret::Ok
            }
            (Op::Stop(_), StreamEvent::Narration(n)) if n.action == "worker_stop_complete" => {
                Ret::Ok
            }
            (Op::Spawn(_), StreamEvent::Narration(n)) if n.action == "worker_spawn_port" => {
                Ret::Spawned(n.human.clone())
            }
            (Op::ModelGet(_), StreamEvent::Narration(n)) if n.action == "model_get_found" => {
                Ret::Ok
            }
            (Op::Infer(_), StreamEvent::Narration(n)) if n.action == "infer_start" => Ret::Ok,
            (Op::ModelList, StreamEvent::Data(d)) if d.action == "model_list" => {
                let models = d.payload["models"].as_array().map(|a| {
                    a.iter()
                        .map(|m| m.as_str().unwrap_or("<not a name>").to_owned())
                        .collect::<Vec<_>>()
                });
                match models {
                    Some(mut m) => {
                        m.sort();
                        Ret::Models(m)
                    }
                    None => Ret::Failed(format!("a listing without models: {}", d.payload)),
                }
            }
            (Op::WorkerList, StreamEvent::Data(d)) if d.action == "worker_list" => {
                let workers: Option<Vec<Worker>> =
                    serde_json::from_value(d.payload["workers"].clone()).ok();
                match workers {
                    Some(w) => {
                        let mut w: Vec<_> = w
                            .into_iter()
                            .map(|w| (w.worker_id, w.model, w.port))
                            .collect();
                        w.sort();
                        Ret::Workers(w)
                    }
                    None => Ret::Failed(format!("a listing without workers: {}", d.payload)),
                }
            }
            _ => return None,
        };
        Some((*t, ret))
    })
}

/// What job `k` tells of its operation: an entry of the history, or `None` if it did not
/// take effect (and read nothing).
fn observe(k: &KeeperJob, op: Op, model: &Hive, hidden: bool) -> Option<Entry<Op, Seen>> {
    let invoke = k.plan.at_ms;
    let required = |respond: u64, op: Op, seen: Seen| Entry {
        invoke,
        respond,
        op,
        seen: Some(seen),
        required: true,
    };
    if let Some((t, ret)) = result_seen(k, &op) {
        return Some(required(t, op, Seen::Exactly(ret)));
    }
    let writes = op.writes();
    let unknown = || {
        writes.then(|| Entry {
            invoke,
            respond: u64::MAX,
            op: op.clone(),
            seen: None,
            required: false,
        })
    };
    match k.outcome {
        Some((t, "error", message)) if model.errors_of(&op).iter().any(|e| e == message) => {
            let failed = Ret::Failed(message.to_owned());
            Some(required(t, op, Seen::Exactly(failed)))
        }
        Some((t, "done", _)) if writes => Some(required(t, op, Seen::Succeeded)),
        Some((_, "done" | "rejected" | "never_connected", _)) => None,
        Some((_, "error" | "cancelled", _)) if !hidden => None,
        _ => unknown(),
    }
}

/// The situations this invariant is about that a run reached (probe names, see
/// [`crate::coverage::PROBES`]), once per occurrence.
pub fn situations(scenario: &Scenario, trace: &Trace) -> Vec<&'static str> {
    let jobs = keeper_jobs(scenario, trace);
    let faults = faults(trace);
    let mut out = Vec::new();
    for (_, ops, resets) in histories(scenario, &jobs, &faults) {
        let seen: Vec<&Entry<Op, Seen>> = ops
            .iter()
            .map(|o| &o.entry)
            .filter(|e| e.required)
            .collect();
        for e in ops.iter().map(|o| &o.entry) {
            if !e.required && e.op.writes() {
                out.push("effect_unknown");
            }
            match (&e.op, &e.seen) {
                (Op::Download(_), Some(Seen::Exactly(Ret::Failed(_)))) => {
                    out.push("download_refused_present")
                }
                (Op::Stop(_), Some(Seen::Exactly(Ret::Ok))) => out.push("worker_stopped"),
                _ => {}
            }
        }
        for (i, a) in seen.iter().enumerate() {
            for b in &seen[i + 1..] {
                if a.invoke <= b.respond && b.invoke <= a.respond {
                    out.push("state_ops_overlap");
                    if a.op == b.op && matches!(a.op, Op::Download(_)) {
                        out.push("download_raced");
                    }
                    if a.op.writes() != b.op.writes() {
                        out.push("read_raced_write");
                    }
                }
            }
        }
        // A restart between two results the model had to reconcile.
        for r in &resets {
            if seen.iter().any(|e| e.respond < *r) && seen.iter().any(|e| e.invoke > *r) {
                out.push("state_reset");
            }
        }
    }
    for k in &jobs {
        let Some(op) = Op::of(&k.plan.operation) else {
            continue;
        };
        let cancelled = matches!(k.outcome, Some((_, "cancelled", _)));
        if op.writes() && cancelled && result_seen(k, &op).is_none() {
            out.push("write_cancelled_before_commit");
        }
    }
    out
}

/// Runs the model against every hive's history.
pub fn check(scenario: &Scenario, trace: &Trace) -> Vec<Violation> {
    let jobs = keeper_jobs(scenario, trace);
    let faults = faults(trace);
    let mut out = Vec::new();
    for (hive, ops, resets) in histories(scenario, &jobs, &faults) {
        if ops.is_empty() {
            continue;
        }
        let mut entries: Vec<Entry<Op, Seen>> = ops.iter().map(|o| o.entry.clone()).collect();
        entries.extend(resets.iter().map(|t| Entry {
            invoke: *t,
            respond: *t,
            op: Op::Reset,
            seen: None,
            required: true,
        }));
        if entries.len() > linearize::MAX_ENTRIES {
            out.push(violation(
                &hive,
                0,
                format!(
                    "{} operations are more than the model judges",
                    entries.len()
                ),
            ));
            continue;
        }
        let model = Hive::new(&hive, &scenario.models);
        let message = match linearize(&model, &entries) {
            Verdict::Explained(_) => continue,
            Verdict::Undecided(steps) => format!("undecided after {steps} search steps"),
            Verdict::Unexplained(stuck) => explain(&ops, &entries, &stuck),
        };
        let t = ops
            .iter()
            .map(|o| o.entry.respond)
            .filter(|t| *t != u64::MAX)
            .max()
            .unwrap_or(0);
        out.push(violation(&hive, t, message));
    }
    out
}

fn violation(hive: &str, t: u64, message: String) -> Violation {
    Violation {
        invariant: "semantics",
        t,
        host: hive.to_owned(),
        job: String::new(),
        message,
    }
}

/// Names an entry: its job (or a restart) and what it did.
fn describe(ops: &[Operation], entries: &[Entry<Op, Seen>], i: usize) -> String {
    let e = &entries[i];
    let Some(o) = ops.get(i) else {
        return format!("restart at {} ms", e.invoke);
    };
    let seen = match &e.seen {
        Some(Seen::Exactly(r)) => format!("saw {}", show(r)),
        Some(Seen::Succeeded) => "saw done".to_owned(),
        None => "outcome unknown".to_owned(),
    };
    let until = if e.respond == u64::MAX {
        "…".to_owned()
    } else {
        format!("{}", e.respond)
    };
    format!(
        "job #{} {} ({}, {}..{} ms) {seen}",
        o.job.index,
        o.job.label(),
        op_name(&e.op),
        e.invoke,
        until
    )
}

fn op_name(op: &Op) -> String {
    match op {
        Op::ModelList => "model_list".into(),
        Op::ModelGet(m) => format!("model_get {m}"),
        Op::Download(m) => format!("model_download {m}"),
        Op::Delete(m) => format!("model_delete {m}"),
        Op::Spawn(m) => format!("worker_spawn {m}"),
        Op::WorkerList => "worker_list".into(),
        Op::Stop(w) => format!("worker_stop {w}"),
        Op::Infer(m) => format!("infer {m}"),
        Op::Reset => "restart".into(),
    }
}

fn show(ret: &Ret) -> String {
    match ret {
        Ret::Ok => "ok".into(),
        Ret::Spawned(line) => format!("\"{line}\""),
        Ret::Models(m) => format!("models [{}]", m.join(", ")),
        Ret::Workers(w) => format!(
            "workers [{}]",
            w.iter()
                .map(|(id, m, p)| format!("{id} {m} :{p}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Ret::Failed(m) => format!("error \"{m}\""),
        Ret::Reset => "restart".into(),
    }
}

fn explain(
    ops: &[Operation],
    entries: &[Entry<Op, Seen>],
    stuck: &linearize::Stuck<Ret>,
) -> String {
    let mut m = format!(
        "no order of its {} operations consistent with real time explains every result;",
        entries.len()
    );
    if stuck.prefix.is_empty() {
        m.push_str(" none can go first.");
    } else {
        m.push_str(" the longest explained order is: ");
        let steps: Vec<String> = stuck
            .prefix
            .iter()
            .map(|i| describe(ops, entries, *i))
            .collect();
        m.push_str(&steps.join("; "));
        m.push('.');
    }
    for (i, ret) in &stuck.misfits {
        let _ = write!(
            m,
            " Then {}, but the model says {}.",
            describe(ops, entries, *i),
            show(ret)
        );
    }
    m
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use crate::trace::What;
    use rbee::event::Narration;

    /// The test kit's run passes: alice's download of phi-2 and bob's listing.
    #[test]
    fn passes_on_a_correct_run() {
        let (scenario, trace) = two_jobs();
        assert_eq!(check(&scenario, &trace), []);
    }

    /// A listing that shows a model nobody downloaded is explained by no order.
    #[test]
    fn fires_on_a_listing_of_a_model_that_was_never_there() {
        let (scenario, trace) = two_jobs();
        let broken = map_entries(&trace, |e| {
            if let What::Received {
                index: 1,
                event: StreamEvent::Data(d),
                ..
            } = &mut e.what
            {
                d.payload = serde_json::json!({"models": ["qwen", "tinyllama"]});
            }
        });
        let v = check(&scenario, &broken);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].message.contains("models [qwen, tinyllama]"),
            "{}",
            v[0].message
        );
    }

    /// A second download of the same model that also completes: one of the two must have
    /// found the model present.
    #[test]
    fn fires_when_two_downloads_of_one_model_both_complete() {
        let (mut scenario, trace) = two_jobs();
        let mut second = scenario.jobs[0].clone();
        second.at_ms = 5;
        scenario.jobs[1] = second;
        let mut broken = trace.clone();
        let job = submitted(&trace, 1);
        let done = broken
            .entries
            .iter()
            .position(|e| matches!(&e.what, What::Outcome { index: 1, .. }))
            .unwrap();
        let t = broken.entries[done].t;
        broken.entries.retain(|e| {
            !matches!(
                &e.what,
                What::Received { index: 1, .. } | What::Outcome { index: 1, .. }
            )
        });
        let line = StreamEvent::Narration(Narration {
            seq: 5,
            job_id: job.clone(),
            actor: "hive".into(),
            action: "model_download_complete".into(),
            human: "Downloaded model 'phi-2'".into(),
            at_ms: t,
        });
        broken.entries.push(crate::trace::Entry {
            t,
            host: "bob".into(),
            what: What::Received {
                index: 1,
                job: job.clone(),
                event: line,
            },
        });
        broken.entries.push(crate::trace::Entry {
            t,
            host: "bob".into(),
            what: What::Outcome {
                index: 1,
                job: Some(job),
                outcome: "done".into(),
                message: String::new(),
            },
        });
        let v = check(&scenario, &broken);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("already present"), "{}", v[0].message);
    }

    /// A download whose keeper saw `cancelled` before the completion line did not take
    /// effect: a later listing that shows its model is unexplained.
    #[test]
    fn fires_when_a_cancelled_download_left_its_model() {
        let (scenario, trace) = two_jobs();
        // Alice's job "was cancelled" before its completion line, while bob's listing
        // shows phi-2.
        let broken = map_entries(&trace, |e| match &mut e.what {
            What::Received {
                index: 0,
                event: StreamEvent::Narration(n),
                ..
            } if n.action == "model_download_complete" => {
                n.action = "model_download_progress".into();
            }
            What::Outcome {
                index: 0, outcome, ..
            } => *outcome = "cancelled".into(),
            What::Received {
                index: 1,
                event: StreamEvent::Data(d),
                ..
            } => {
                d.payload = serde_json::json!({"models": ["phi-2", "tinyllama"]});
            }
            _ => {}
        });
        let v = check(&scenario, &broken);
        assert_eq!(v.len(), 1, "{v:?}");
    }
}
