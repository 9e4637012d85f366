//! **determinism** — the same scenario and seed give the identical trace hash.
//!
//! Guards the harness itself: a replay that differs from the run it replays proves nothing.
//! Sources of drift it catches: unseeded randomness, wall-clock reads, `HashMap` iteration
//! order reaching output, an unseeded tokio scheduler (`tokio_unstable` missing).

use super::Violation;
use crate::trace::Trace;

/// Compares two traces of the same scenario and seed; names the first differing entry.
pub fn check(a: &Trace, b: &Trace) -> Vec<Violation> {
    if a.hash() == b.hash() {
        return Vec::new();
    }
    let i = a
        .entries
        .iter()
        .zip(&b.entries)
        .position(|(x, y)| x != y)
        .unwrap_or(a.entries.len().min(b.entries.len()));
    let show = |t: &Trace| {
        t.entries.get(i).map_or("<end of trace>".into(), |e| {
            serde_json::to_string(e).unwrap_or_default()
        })
    };
    vec![Violation {
        invariant: "determinism",
        t: a.entries.get(i).or(b.entries.get(i)).map_or(0, |e| e.t),
        host: a
            .entries
            .get(i)
            .or(b.entries.get(i))
            .map_or("sim".into(), |e| e.host.clone()),
        job: String::new(),
        message: format!(
            "hashes {} and {} differ at entry {i}: {} vs {}",
            a.hash(),
            b.hash(),
            show(a),
            show(b)
        ),
    }]
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;

    #[test]
    fn equal_traces_pass_and_a_changed_time_fires() {
        let (_, trace) = two_jobs();
        assert_eq!(check(&trace, &trace.clone()), []);
        let mut other = trace.clone();
        other.entries[3].t += 1;
        let v = check(&trace, &other);
        assert_eq!(v.len(), 1);
        assert!(v[0].message.contains("differ at entry 3"), "{}", v[0]);
    }
}
