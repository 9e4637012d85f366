//! **no-panic** — no process panics or errors out, whatever the input or fault.
//!
//! Guards against historical bug 10: a missing channel at stream time hit an `expect` and
//! panicked instead of answering.

use super::Violation;
use crate::scenario::Scenario;
use crate::trace::{Trace, What};

/// Reports every recorded panic or host software error.
pub fn check(_: &Scenario, trace: &Trace) -> Vec<Violation> {
    trace
        .entries
        .iter()
        .filter_map(|e| match &e.what {
            What::Panic { message } => Some(Violation {
                invariant: "no-panic",
                t: e.t,
                host: e.host.clone(),
                job: String::new(),
                message: message.clone(),
            }),
            _ => None,
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
}
