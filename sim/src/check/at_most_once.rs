//! **at-most-once** — every job's payload is executed at most once, and a queen job is
//! forwarded to a hive at most once.
//!
//! Guards against historical bugs 1 and 12: re-subscription re-running a job, and relays
//! that lost (or repeated) the hive job.

use super::view::hub_records;
use super::Violation;
use crate::scenario::Scenario;
use crate::trace::Trace;
use rbee::ids::JobId;
use rbee::observer::HubRecord;
use std::collections::BTreeMap;

/// Counts `Execute` per (host, job) and `Forward` per queen job.
pub fn check(_: &Scenario, trace: &Trace) -> Vec<Violation> {
    let mut executed: BTreeMap<(&str, &JobId), u32> = BTreeMap::new();
    let mut forwarded: BTreeMap<&JobId, u32> = BTreeMap::new();
    let mut out = Vec::new();
    for r in hub_records(trace) {
        let (count, what) = match r.record {
            HubRecord::Execute { job } => (executed.entry((r.host, job)).or_default(), "executed"),
            HubRecord::Forward { job, .. } => (forwarded.entry(job).or_default(), "forwarded"),
            _ => continue,
        };
        *count += 1;
        if *count > 1 {
            out.push(Violation {
                invariant: "at-most-once",
                t: r.t,
                host: r.host.to_owned(),
                job: super::view::record_job(r.record)
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                message: format!("{what} {count} times"),
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
    fn fires_on_a_second_execution() {
        let (scenario, trace) = two_jobs();
        assert_eq!(check(&scenario, &trace), []);
        let twice = duplicate_last(&trace, |e| {
            matches!(
                &e.what,
                What::Hub {
                    record: HubRecord::Execute { .. }
                }
            )
        });
        let v = check(&scenario, &twice);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("executed 2 times"));
    }
}
