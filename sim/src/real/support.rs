//! The one list of scenario features a real run supports, and the check that refuses a
//! file asking for anything else — before any process starts, naming `file:line` and the
//! key (exit code 2).
//!
//! The lists are allow-lists over the keys *written in the file*: a key that the simulator
//! learns later (`tick_ms`, `perturb`, `capacity`, ...) is refused by real runs until
//! someone adds it to [`TOP_KEYS`], [`JOB_KEYS`] or [`FAULT_KEYS`] with the way reality
//! honours it. Which faults reality can inject is [`fault_support`].

use crate::scenario::{FaultKind, Mode, Scenario, ScenarioError};
use serde::Deserialize;

/// How a real run treats one scenario feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Done as in the simulator, whether the harness starts the processes or not.
    Yes,
    /// A setting of the queen and hive processes: the processes the harness starts get it on
    /// their command line; a staging queen (`--queen URL`) must have been started with it
    /// (it cannot be checked from outside).
    ProcessSetting,
    /// Needs processes the harness started itself (it kills them or proxies their links);
    /// refused with `--queen URL`.
    SpawnedOnly,
    /// Simulator only; the text says why.
    No(&'static str),
}

/// Top-level keys and how real runs honour them.
pub const TOP_KEYS: &[(&str, Support)] = &[
    ("name", Support::Yes),
    ("description", Support::Yes),
    // Seeds the simulated side of the comparison; real job ids come from the OS (docs/spec.md §2).
    ("seed", Support::Yes),
    ("mode", Support::ProcessSetting),
    ("hives", Support::ProcessSetting),
    ("keepers", Support::Yes),
    // Real milliseconds from the start.
    ("run_for_ms", Support::Yes),
    ("models", Support::ProcessSetting),
    ("ttl_ms", Support::ProcessSetting),
    ("jobs", Support::Yes),
    ("faults", Support::Yes),
    // The keepers make them with the same keeper code against the real queen.
    ("requests", Support::Yes),
    // The simulator's step size: a real run has no steps, so there is nothing to honour.
    ("tick_ms", Support::Yes),
    (
        "capacity",
        Support::No("real processes use the buffer sizes of docs/spec.md §4; the rbee binary has no such setting"),
    ),
    (
        "perturb",
        Support::No("in-process perturbation is a simulator hook; real processes run as they are"),
    ),
];

/// Keys of a `[[jobs]]` table besides the operation's own fields (which are sent to the
/// queen as they are, so every operation field is supported).
pub const JOB_KEYS: &[(&str, Support)] = &[
    ("keeper", Support::Yes),
    ("at_ms", Support::Yes),
    ("connect_after_ms", Support::Yes),
    ("expect", Support::Yes),
    ("disconnect_after_events", Support::Yes),
    ("never_connect", Support::Yes),
    ("cancel_at_ms", Support::Yes),
    ("stream_twice", Support::Yes),
    ("after_end", Support::Yes),
];

/// Keys of a `[[requests]]` table: the keepers make them with the simulator's own keeper
/// code, so real runs honour every one.
pub const REQUEST_KEYS: &[(&str, Support)] = &[
    ("keeper", Support::Yes),
    ("at_ms", Support::Yes),
    ("kind", Support::Yes),
];

/// Keys of a `[[faults]]` table (what each fault kind can do is [`fault_support`]).
pub const FAULT_KEYS: &[(&str, Support)] = &[
    ("at_ms", Support::Yes),
    ("kind", Support::Yes),
    ("between", Support::Yes),
    ("host", Support::Yes),
];

/// Where the keepers' queen is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The harness starts queen and hives itself.
    Spawned,
    /// A queen someone else started (`--queen URL`).
    Staging,
}

/// How reality injects a fault: crashes kill the process (the harness must own it); link
/// faults act in the harness's proxies, which sit between the queen and each hive it
/// started and between each keeper and the queen; between hosts that never talk (keeper and
/// hive, two keepers, two hives) a link fault has nothing to act on, as in the simulator.
pub fn fault_support(scenario: &Scenario, kind: FaultKind, hosts: &[String]) -> Support {
    let keeper = |h: &String| scenario.keepers.contains(h);
    if !kind.is_link() {
        return Support::SpawnedOnly;
    }
    let queen = hosts.iter().any(|h| h == "queen");
    let other = hosts.iter().find(|h| *h != "queen");
    match other {
        Some(h) if queen && keeper(h) => Support::Yes,
        Some(_) if queen && scenario.mode == Mode::Distributed => Support::SpawnedOnly,
        _ => Support::Yes,
    }
}

#[derive(Deserialize)]
struct Tables {
    #[serde(default)]
    jobs: Vec<toml::Spanned<toml::Table>>,
    #[serde(default)]
    faults: Vec<toml::Spanned<toml::Table>>,
}

/// Refuses what a real run against `target` cannot do. `text` is the file `scenario` was
/// parsed from (it has passed the simulator's loader); `notes` collects the process settings
/// a staging queen is trusted to have.
pub fn check(
    file: &str,
    text: &str,
    scenario: &Scenario,
    target: Target,
    notes: &mut Vec<String>,
) -> Result<(), ScenarioError> {
    let err = |line: usize, key: &str, message: String| ScenarioError {
        file: file.to_owned(),
        line,
        key: key.to_owned(),
        message,
    };
    let bad_toml = |e: toml::de::Error| err(1, "", e.message().to_owned());
    let top: toml::Table = toml::from_str(text).map_err(bad_toml)?;
    let tables: Tables = toml::from_str(text).map_err(bad_toml)?;
    let refuse = |support: Support, line: usize, key: &str, what: &str| match (support, target) {
        (Support::No(why), _) => Err(err(
            line,
            key,
            format!("{what} is not supported by real runs: {why}"),
        )),
        (Support::SpawnedOnly, Target::Staging) => Err(err(
            line,
            key,
            format!(
                "{what} needs processes that rbee-sim starts itself; it cannot be done to a \
                 queen given with --queen"
            ),
        )),
        _ => Ok(()),
    };
    for key in top.keys() {
        let line = top_line(text, key);
        let support = lookup(TOP_KEYS, key).unwrap_or(Support::No(
            "only the simulator knows it (add it to real::support::TOP_KEYS once reality can honour it)",
        ));
        refuse(support, line, key, &format!("`{key}`"))?;
        if support == Support::ProcessSetting && target == Target::Staging {
            notes.push(format!(
                "{file}:{line}: `{key}` describes the staging processes; they must have been started with it"
            ));
        }
    }
    for (job, raw) in scenario.jobs.iter().zip(&tables.jobs) {
        let fields = job.operation.to_json();
        for key in raw.get_ref().keys() {
            let support = lookup(JOB_KEYS, key).or_else(|| fields.get(key).map(|_| Support::Yes));
            let support = support.unwrap_or(Support::No(
                "only the simulator knows this job key (add it to real::support::JOB_KEYS once reality can honour it)",
            ));
            let line = key_line(text, &raw.span(), key);
            refuse(support, line, key, &format!("job key `{key}`"))?;
        }
    }
    for (fault, raw) in scenario.faults.iter().zip(&tables.faults) {
        for key in raw.get_ref().keys() {
            let support = lookup(FAULT_KEYS, key).unwrap_or(Support::No(
                "only the simulator knows this fault key (add it to real::support::FAULT_KEYS)",
            ));
            refuse(
                support,
                key_line(text, &raw.span(), key),
                key,
                &format!("fault key `{key}`"),
            )?;
        }
        let key = if fault.kind.is_link() {
            "between"
        } else {
            "host"
        };
        let what = format!("a {} of {}", fault.kind.name(), fault.hosts.join(" and "));
        refuse(
            fault_support(scenario, fault.kind, &fault.hosts),
            key_line(text, &raw.span(), key),
            key,
            &what,
        )?;
    }
    if target == Target::Spawned {
        if let Some(m) = scenario.models.iter().find(|m| m.contains(',')) {
            return Err(err(
                top_line(text, "models"),
                "models",
                format!("model '{m}': a real hive takes its catalogue comma-separated on its command line, so a name cannot contain ','"),
            ));
        }
    }
    Ok(())
}

/// How `list` says real runs honour `key`, if it names it.
pub fn lookup(list: &[(&str, Support)], key: &str) -> Option<Support> {
    list.iter().find(|(k, _)| *k == key).map(|(_, s)| *s)
}

fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line where `key =` is written inside `span`, else the span's first line.
fn key_line(text: &str, span: &std::ops::Range<usize>, key: &str) -> usize {
    let (start, end) = (span.start.min(text.len()), span.end.min(text.len()));
    let mut offset = start;
    for line in text[start..end].split_inclusive('\n') {
        let t = line.trim_start().trim_start_matches('"');
        if let Some(rest) = t.strip_prefix(key) {
            if rest.trim_start_matches('"').trim_start().starts_with('=') {
                return line_at(text, offset);
            }
        }
        offset += line.len();
    }
    line_at(text, start)
}

/// The line of a top-level `key =` (before the first table), else 1.
fn top_line(text: &str, key: &str) -> usize {
    let end = text.find("\n[").map_or(text.len(), |i| i + 1);
    key_line(text, &(0..end), key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "name = \"t\"\nhives = [\"hive-a\"]\nkeepers = [\"alice\"]\n\n[[jobs]]\nkeeper = \"alice\"\noperation = \"model_list\"\nhive_id = \"hive-a\"\n";

    fn run_check(text: &str, target: Target) -> Result<Vec<String>, ScenarioError> {
        let scenario = Scenario::parse("s.toml", text).expect("valid scenario");
        let mut notes = Vec::new();
        check("s.toml", text, &scenario, target, &mut notes).map(|()| notes)
    }

    /// Proves a simulator-only key (`capacity`), and a key the lists do not know at all,
    /// are refused naming file, line and key, while `tick_ms` (meaningless in real time) is
    /// accepted.
    #[test]
    fn a_key_missing_from_the_lists_is_refused_with_file_line_and_key() {
        let scenario = Scenario::parse("s.toml", BASE).expect("valid");
        let text = format!("capacity = 5\n{BASE}");
        let e = check("s.toml", &text, &scenario, Target::Spawned, &mut Vec::new())
            .expect_err("refused");
        assert_eq!((e.line, e.key.as_str()), (1, "capacity"), "{e}");
        assert!(e.to_string().starts_with("s.toml:1: `capacity`: "), "{e}");
        let text = format!("tick_ms = 5\n{BASE}");
        assert!(check("s.toml", &text, &scenario, Target::Spawned, &mut Vec::new()).is_ok());
        let text = BASE.replace("hive_id", "perturb = 3\nhive_id");
        let e = check("s.toml", &text, &scenario, Target::Spawned, &mut Vec::new())
            .expect_err("refused");
        assert_eq!((e.line, e.key.as_str()), (8, "perturb"), "{e}");
    }

    /// Proves every fault kind is accepted when the harness owns the processes, and that a
    /// staging queen refuses crashes and queen↔hive link faults but honours keeper↔queen ones.
    #[test]
    fn faults_are_refused_only_where_reality_cannot_inject_them() {
        let fault = |kind: &str, hosts: &str| {
            let (key, value) = if hosts.contains(',') {
                ("between", format!("[{hosts}]"))
            } else {
                ("host", hosts.to_owned())
            };
            format!("{BASE}\n[[faults]]\nat_ms = 5\nkind = \"{kind}\"\n{key} = {value}\n")
        };
        let queen_hive = "\"queen\", \"hive-a\"";
        let keeper_queen = "\"alice\", \"queen\"";
        for text in [
            fault("crash", "\"hive-a\""),
            fault("restart", "\"queen\""),
            fault("partition", queen_hive),
            fault("hold", queen_hive),
            fault("release", keeper_queen),
            fault("repair", "\"alice\", \"hive-a\""),
        ] {
            assert_eq!(run_check(&text, Target::Spawned), Ok(vec![]), "{text}");
        }
        let e = run_check(&fault("crash", "\"queen\""), Target::Staging).expect_err("refused");
        assert_eq!((e.line, e.key.as_str()), (13, "host"), "{e}");
        assert!(e.message.contains("--queen"), "{e}");
        let e = run_check(&fault("partition", queen_hive), Target::Staging).expect_err("refused");
        assert_eq!(e.key, "between", "{e}");
        assert!(run_check(&fault("hold", keeper_queen), Target::Staging).is_ok());
    }

    /// Proves process settings are passed on when the harness starts the processes and are
    /// noted (not refused) for a staging queen; a model name the command line cannot carry is
    /// refused.
    #[test]
    fn process_settings_are_noted_for_a_staging_queen() {
        let text = format!("ttl_ms = 5000\n{BASE}");
        assert_eq!(run_check(&text, Target::Spawned), Ok(vec![]));
        let notes = run_check(&text, Target::Staging).expect("accepted");
        assert!(
            notes.iter().any(|n| n.starts_with("s.toml:1: `ttl_ms`")),
            "{notes:?}"
        );
        let text = format!("models = [\"a,b\"]\n{BASE}");
        let e = run_check(&text, Target::Spawned).expect_err("refused");
        assert_eq!((e.line, e.key.as_str()), (1, "models"), "{e}");
    }
}
