//! Each fault kind changes the run the way docs/spec.md §6/§8a says it must — and never makes the
//! system hang until the time limit.

use super::harness::*;

const PARTITION: &str = r#"
[[faults]]
at_ms = 800
kind = "partition"
between = ["queen", "hive-a"]
"#;

/// Baseline: without faults the download ends `done` in about 2 s.
#[test]
fn without_faults_the_download_is_done() {
    let s = download_with("", 20);
    let t = run_it(&s);
    let (at, outcome, _) = outcome(&t, 0);
    assert_eq!(outcome, "done");
    assert!(at < 3_000, "{at}");
}

/// A partition makes the forwarded job end in an error naming the hive, after the 15 s
/// silence limit — not at the 60 s time limit.
#[test]
fn partition_ends_the_forwarded_job_in_an_error_naming_the_hive() {
    let s = download_with(PARTITION, 20);
    let t = run_it(&s);
    let (at, outcome, message) = outcome(&t, 0);
    assert_eq!(outcome, "error");
    assert!(message.contains("hive 'hive-a'"), "{message}");
    assert!((15_000..20_000).contains(&at), "ended at {at} ms");
    assert!(violations(&s, &t).is_empty(), "{:#?}", violations(&s, &t));
}

/// A repair heals a partition: a job submitted after it runs normally, while the same job
/// without the repair cannot reach the queen at all.
#[test]
fn repair_heals_a_partition() {
    let cut = r#"
[[faults]]
at_ms = 0
kind = "partition"
between = ["alice", "queen"]
"#;
    let healed = format!(
        "{cut}\n[[faults]]\nat_ms = 200\nkind = \"repair\"\nbetween = [\"alice\", \"queen\"]\n"
    );
    let mut s = download_with(cut, 3);
    s.jobs[0].at_ms = 500;
    let t = run_it(&s);
    assert_ne!(outcome(&t, 0).1, "done");
    let mut s = download_with(&healed, 3);
    s.jobs[0].at_ms = 500;
    assert_eq!(outcome(&run_it(&s), 0).1, "done");
}

/// A hold shorter than the silence limit only delays the stream; without a release the
/// held link looks like silence and the job ends in an error.
#[test]
fn hold_delays_and_release_delivers() {
    let hold = r#"
[[faults]]
at_ms = 400
kind = "hold"
between = ["queen", "hive-a"]
"#;
    let released = format!(
        "{hold}\n[[faults]]\nat_ms = 6000\nkind = \"release\"\nbetween = [\"queen\", \"hive-a\"]\n"
    );
    let s = download_with(&released, 10);
    let t = run_it(&s);
    let (at, outcome_released, _) = outcome(&t, 0);
    assert_eq!(outcome_released, "done");
    assert!(at >= 6_000, "the hold delayed nothing: {at}");
    assert!(violations(&s, &t).is_empty());
    let s = download_with(hold, 10);
    assert_eq!(outcome(&run_it(&s), 0).1, "error");
}

/// A hive crash ends the forwarded job in an error at once; a restarted hive serves again
/// (from its initial catalogue), an un-restarted one does not.
#[test]
fn crash_fails_the_job_and_restart_brings_the_hive_back() {
    let crash = "[[faults]]\nat_ms = 700\nkind = \"crash\"\nhost = \"hive-a\"\n";
    let later = "[[jobs]]\nkeeper = \"alice\"\nat_ms = 5000\noperation = \"model_list\"\nhive_id = \"hive-a\"\n";
    let s = download_with(&format!("{later}\n{crash}"), 20);
    let t = run_it(&s);
    assert_eq!(outcome(&t, 0).1, "error");
    assert!(outcome(&t, 0).0 < 2_000);
    assert_eq!(outcome(&t, 1).1, "error", "no hive to serve the later job");
    let restart =
        format!("{crash}\n[[faults]]\nat_ms = 1500\nkind = \"restart\"\nhost = \"hive-a\"\n");
    let s = download_with(&format!("{later}\n{restart}"), 20);
    let t = run_it(&s);
    assert_eq!(outcome(&t, 1).1, "done");
    assert!(violations(&s, &t).is_empty(), "{:#?}", violations(&s, &t));
}
