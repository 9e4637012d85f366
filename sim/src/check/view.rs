//! Derived views of a trace that several checkers share: each scenario job as its keeper
//! saw it, the hub records of each host split at crashes, channel lifetimes, and the
//! faults with what each one cuts.

use crate::scenario::{FaultKind, JobPlan, Scenario};
use crate::trace::{Trace, What};
use rbee::event::StreamEvent;
use rbee::ids::JobId;
use rbee::observer::HubRecord;
use std::collections::BTreeMap;

/// One scenario job, from its keeper's side.
#[derive(Debug)]
pub struct KeeperJob<'a> {
    /// Index in the scenario.
    pub index: usize,
    /// The plan.
    pub plan: &'a JobPlan,
    /// When it was accepted, and its job id.
    pub submit: Option<(u64, JobId)>,
    /// Every event received, with its time.
    pub received: Vec<(u64, &'a StreamEvent)>,
    /// When and how it ended: (t, outcome, message).
    pub outcome: Option<(u64, &'a str, &'a str)>,
}

impl KeeperJob<'_> {
    /// The job id, or `#index` if it was never created.
    pub fn label(&self) -> String {
        self.submit
            .as_ref()
            .map_or_else(|| format!("#{}", self.index), |(_, j)| j.to_string())
    }

    /// The terminal events received.
    pub fn terminals(&self) -> impl Iterator<Item = &(u64, &StreamEvent)> {
        self.received
            .iter()
            .filter(|(_, e)| matches!(e, StreamEvent::Terminal(_)))
    }
}

/// Every scenario job's keeper view, by index.
pub fn keeper_jobs<'a>(scenario: &'a Scenario, trace: &'a Trace) -> Vec<KeeperJob<'a>> {
    let mut jobs: Vec<KeeperJob> = scenario
        .jobs
        .iter()
        .enumerate()
        .map(|(index, plan)| KeeperJob {
            index,
            plan,
            submit: None,
            received: Vec::new(),
            outcome: None,
        })
        .collect();
    for e in &trace.entries {
        match &e.what {
            What::Submit { index, job } => {
                if let Some(k) = jobs.get_mut(*index) {
                    k.submit = Some((e.t, job.clone()));
                }
            }
            What::Received { index, event, .. } => {
                if let Some(k) = jobs.get_mut(*index) {
                    k.received.push((e.t, event));
                }
            }
            What::Outcome {
                index,
                outcome,
                message,
                ..
            } => {
                if let Some(k) = jobs.get_mut(*index) {
                    k.outcome = Some((e.t, outcome.as_str(), message.as_str()));
                }
            }
            _ => {}
        }
    }
    jobs
}

/// A hub record with its time, host and the host's life number (bumped by crash/restart).
#[derive(Debug)]
pub struct HostRecord<'a> {
    /// Simulated time.
    pub t: u64,
    /// Host.
    pub host: &'a str,
    /// How many crash/restart faults hit the host before this record.
    pub life: u32,
    /// The record.
    pub record: &'a HubRecord,
}

/// Every hub record in trace order, with host lives.
pub fn hub_records(trace: &Trace) -> Vec<HostRecord<'_>> {
    let mut lives: BTreeMap<&str, u32> = BTreeMap::new();
    let mut out = Vec::new();
    for e in &trace.entries {
        match &e.what {
            What::Fault { fault, hosts } if fault == "crash" || fault == "restart" => {
                for h in hosts {
                    *lives.entry(h.as_str()).or_default() += 1;
                }
            }
            What::Hub { record } => out.push(HostRecord {
                t: e.t,
                host: &e.host,
                life: lives.get(e.host.as_str()).copied().unwrap_or(0),
                record,
            }),
            _ => {}
        }
    }
    out
}

/// The job id, `seq` and action an event carries, for narration and data events (the ones
/// a stream's job id and sequence apply to); `None` for markers and notices.
pub fn stamped(event: &StreamEvent) -> Option<(&JobId, u64, &str)> {
    match event {
        StreamEvent::Narration(n) => Some((&n.job_id, n.seq, n.action.as_str())),
        StreamEvent::Data(d) => Some((&d.job_id, d.seq, d.action.as_str())),
        _ => None,
    }
}

/// The job a hub record is about.
pub fn record_job(record: &HubRecord) -> Option<&JobId> {
    match record {
        HubRecord::Create { job, .. }
        | HubRecord::Take { job }
        | HubRecord::Execute { job }
        | HubRecord::Deliver { job, .. }
        | HubRecord::DropNoChannel { job, .. }
        | HubRecord::DropFull { job, .. }
        | HubRecord::Remove { job }
        | HubRecord::State { job, .. }
        | HubRecord::Forget { job }
        | HubRecord::Forward { job, .. } => Some(job),
        HubRecord::Probe { job, .. } => job.as_ref(),
        HubRecord::Request { .. } | HubRecord::Reply { .. } => None,
    }
}

/// Tracks which channels are live on which host as records are replayed in order.
#[derive(Default, Debug)]
pub struct Channels<'a> {
    live: BTreeMap<(&'a str, u32, &'a JobId), bool>,
}

impl<'a> Channels<'a> {
    /// Applies a record (Create opens, Remove closes, Take marks taken).
    pub fn apply(&mut self, r: &HostRecord<'a>) {
        match r.record {
            HubRecord::Create { job, .. } => {
                self.live.insert((r.host, r.life, job), false);
            }
            HubRecord::Remove { job } => {
                self.live.remove(&(r.host, r.life, job));
            }
            HubRecord::Take { job } => {
                if let Some(taken) = self.live.get_mut(&(r.host, r.life, job)) {
                    *taken = true;
                }
            }
            _ => {}
        }
    }

    /// `Some(taken)` if the job has a live channel on that host life.
    pub fn state(&self, host: &str, life: u32, job: &JobId) -> Option<bool> {
        let live: &BTreeMap<(&str, u32, &JobId), bool> = &self.live;
        live.get(&(host, life, job)).copied()
    }
}

/// The last state of each job on the queen.
pub fn queen_final_states(trace: &Trace) -> BTreeMap<&JobId, &rbee::observer::JobState> {
    let mut out = BTreeMap::new();
    for r in hub_records(trace) {
        if let (true, HubRecord::State { job, state }) = (r.host == "queen", r.record) {
            out.insert(job, state);
        }
    }
    out
}

/// A fault, as the trace recorded it.
#[derive(Clone, Copy, Debug)]
pub struct Fault<'a> {
    /// When it fired.
    pub t: u64,
    /// Its kind.
    pub kind: FaultKind,
    /// The hosts it names.
    pub hosts: &'a [String],
}

impl Fault<'_> {
    /// Whether it names `host`.
    pub fn names(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h == host)
    }

    /// Whether it ends the life of the process on `host` (a crash, or a restart).
    pub fn resets(&self, host: &str) -> bool {
        matches!(self.kind, FaultKind::Crash | FaultKind::Restart) && self.names(host)
    }

    /// Whether it cuts or resets `keeper`'s path to the queen.
    pub fn cuts_keeper(&self, keeper: &str) -> bool {
        match self.kind {
            FaultKind::Partition | FaultKind::Hold => self.names("queen") && self.names(keeper),
            _ => self.resets("queen"),
        }
    }

    /// Whether it takes `hive` away from the queen.
    pub fn cuts_hive(&self, hive: &str) -> bool {
        match self.kind {
            FaultKind::Partition | FaultKind::Hold => self.names("queen") && self.names(hive),
            _ => self.resets(hive),
        }
    }

    /// Whether it may keep anything the queen sends from reaching `hive`: it takes the hive
    /// away, or resets the queen itself.
    pub fn cuts_queen_from(&self, hive: &str) -> bool {
        self.cuts_hive(hive) || self.resets("queen")
    }
}

/// Every fault of the trace, in trace order.
pub fn faults(trace: &Trace) -> Vec<Fault<'_>> {
    trace
        .entries
        .iter()
        .filter_map(|e| match &e.what {
            What::Fault { fault, hosts } => Some(Fault {
                t: e.t,
                kind: FaultKind::parse(fault)?,
                hosts,
            }),
            _ => None,
        })
        .collect()
}
