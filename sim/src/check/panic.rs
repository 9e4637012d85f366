//! **no-panic** — no process panics or errors out, whatever the input or fault.
//!
//! Guards against historical bug 10: a missing channel at stream time hit an `expect` and
//! panicked instead of answering. A panic inside a job's handler does not take its process
//! down (the node turns it into a `failed` job so the client is not left hanging), so it is
//! found here by the failure message the node gives such a job.

use super::Violation;
use crate::scenario::Scenario;
use crate::trace::{Trace, What};
use rbee::node::HANDLER_PANICKED;
use rbee::observer::{HubRecord, JobState};

/// Reports every recorded panic or host software error, and every job whose handler
/// panicked.
pub fn check(_: &Scenario, trace: &Trace) -> Vec<Violation> {
    trace
        .entries
        .iter()
        .filter_map(|e| {
            let (job, message) = match &e.what {
                What::Panic { message } => (String::new(), message.clone()),
                What::Hub {
                    record:
                        HubRecord::State {
                            job,
                            state: JobState::Failed(message),
                        },
                } if message.starts_with(HANDLER_PANICKED) => (job.to_string(), message.clone()),
                _ => return None,
            };
            Some(Violation {
                invariant: "no-panic",
                t: e.t,
                host: e.host.clone(),
                job,
                message,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;

    #[test]
    fn fires_on_a_recorded_panic() {
        let (scenario, mut trace) = two_jobs();
        assert_eq!(check(&scenario, &trace), []);
        trace.entries.push(crate::trace::Entry {
            t: 5,
            host: "sim".into(),
            what: What::Panic {
                message: "boom".into(),
            },
        });
        assert_eq!(check(&scenario, &trace)[0].message, "boom");
    }

    #[test]
    fn fires_on_a_job_whose_handler_panicked() {
        let (scenario, trace) = two_jobs();
        let job = submitted(&trace, 1);
        let message = format!("{HANDLER_PANICKED} (attempt to subtract with overflow)");
        let broken = map_entries(&trace, |e| {
            if let What::Hub {
                record: HubRecord::State { job: j, state },
            } = &mut e.what
            {
                if *j == job && *state == JobState::Completed {
                    *state = JobState::Failed(message.clone());
                }
            }
        });
        let found = check(&scenario, &broken);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].job, job.to_string());
        assert_eq!(found[0].message, message);
    }
}
