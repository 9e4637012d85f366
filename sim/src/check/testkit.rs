//! Test support: a small real run to start from, and trace surgery to break it on purpose.

use crate::scenario::Scenario;
use crate::trace::{Entry, Trace, What};
use crate::world::{run, RunOptions};
use rbee::event::StreamEvent;
use rbee::ids::JobId;
use rbee::observer::HubRecord;

const TWO_JOBS: &str = r#"
name = "two keepers, two jobs on one hive"
seed = 7
hives = ["hive-a"]
keepers = ["alice", "bob"]
run_for_ms = 20000

[[jobs]]
keeper = "alice"
operation = "model_download"
hive_id = "hive-a"
model = "phi-2"
chunks = 3
interval_ms = 50

[[jobs]]
keeper = "bob"
at_ms = 10
operation = "model_list"
hive_id = "hive-a"
"#;

/// A correct run of two concurrent jobs (index 0: alice's download, 1: bob's list).
pub fn two_jobs() -> (Scenario, Trace) {
    let scenario = Scenario::parse("two_jobs.toml", TWO_JOBS).expect("valid scenario");
    let trace = run(&scenario, RunOptions::new(scenario.seed));
    (scenario, trace)
}

/// The job id the scenario job `index` got.
pub fn submitted(trace: &Trace, index: usize) -> JobId {
    trace
        .entries
        .iter()
        .find_map(|e| match &e.what {
            What::Submit { index: i, job } if *i == index => Some(job.clone()),
            _ => None,
        })
        .expect("job was submitted")
}

/// A copy with `f` applied to every entry.
pub fn map_entries(trace: &Trace, f: impl Fn(&mut Entry)) -> Trace {
    let mut t = trace.clone();
    t.entries.iter_mut().for_each(f);
    t
}

/// A copy where the `nth` event (`usize::MAX`: every event) received by job `index` is
/// rewritten by `f`.
pub fn rewrite_received(
    trace: &Trace,
    index: usize,
    nth: usize,
    f: impl Fn(&mut StreamEvent),
) -> Trace {
    let mut t = trace.clone();
    let mut seen = 0;
    for e in &mut t.entries {
        if let What::Received {
            index: i, event, ..
        } = &mut e.what
        {
            if *i == index {
                if nth == usize::MAX || seen == nth {
                    f(event);
                }
                seen += 1;
            }
        }
    }
    t
}

/// Sets the job id inside a narration or data event.
pub fn set_job(event: &mut StreamEvent, job: &JobId) {
    match event {
        StreamEvent::Narration(n) => n.job_id = job.clone(),
        StreamEvent::Data(d) => d.job_id = job.clone(),
        _ => {}
    }
}

/// A copy without the first entry matching `pred`.
pub fn drop_first(trace: &Trace, pred: impl Fn(&Entry) -> bool) -> Trace {
    let mut t = trace.clone();
    let i = t.entries.iter().position(pred).expect("an entry to drop");
    t.entries.remove(i);
    t
}

/// A copy without the last entry matching `pred`.
pub fn drop_last(trace: &Trace, pred: impl Fn(&Entry) -> bool) -> Trace {
    let mut t = trace.clone();
    let i = t.entries.iter().rposition(pred).expect("an entry to drop");
    t.entries.remove(i);
    t
}

/// A copy where the last entry matching `pred` appears twice.
pub fn duplicate_last(trace: &Trace, pred: impl Fn(&Entry) -> bool) -> Trace {
    let mut t = trace.clone();
    let i = t
        .entries
        .iter()
        .rposition(pred)
        .expect("an entry to duplicate");
    let e = t.entries[i].clone();
    t.entries.insert(i + 1, e);
    t
}

/// A copy where the first queen `Deliver` after a `Take` of the same job is replaced by
/// `make(job, action)`.
pub fn replace_first_after_take(trace: &Trace, make: impl Fn(JobId, String) -> HubRecord) -> Trace {
    let mut t = trace.clone();
    let mut taken = Vec::new();
    for e in &mut t.entries {
        if e.host != "queen" {
            continue;
        }
        if let What::Hub { record } = &mut e.what {
            match record {
                HubRecord::Take { job } => taken.push(job.clone()),
                HubRecord::Deliver { job, action, .. } if taken.contains(job) => {
                    *record = make(job.clone(), action.clone());
                    return t;
                }
                _ => {}
            }
        }
    }
    panic!("no delivery after a take");
}

/// A trace made of `(host, what)` entries, 1 ms apart.
pub fn trace_of(entries: Vec<(String, What)>) -> Trace {
    Trace {
        entries: entries
            .into_iter()
            .enumerate()
            .map(|(t, (host, what))| Entry {
                t: t as u64,
                host,
                what,
            })
            .collect(),
    }
}

/// A distributed scenario with one hive called `hive`, one keeper and no jobs.
pub fn scenario_of(hive: &str) -> Scenario {
    Scenario::parse(
        "inline.toml",
        &format!("hives = [\"{hive}\"]\nkeepers = [\"alice\"]\n"),
    )
    .expect("valid scenario")
}
