//! The project's own contract (`docs/spec.md`) and scenario reference
//! (`docs/scenario-format.md`) kept true to the code: every key the scenario loader accepts
//! is documented with the way real runs honour it, nothing is documented that the loader
//! refuses, every invariant is in the contract, and every citation of the contract names a
//! section it has. The key lists come from the loader itself (`rbee_sim::scenario::TOP_KEYS`
//! and its siblings, `rbee::operation::fields`), so a key added there fails here until it
//! is documented.

use rbee_sim::real::support::{self, Support};
use rbee_sim::scenario::{
    Expect, FaultKind, RequestKind, FAULT_KEYS, JOB_KEYS, REQUEST_KEYS, TOP_KEYS,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The rows of the first table under the heading `## {heading}` of `doc`: the first cell
/// without its backticks, then the other cells, trimmed.
fn table(doc: &str, heading: &str) -> BTreeMap<String, Vec<String>> {
    let start = doc
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("docs/scenario-format.md has no section `## {heading}`"));
    let body = &doc[start + heading.len() + 5..];
    let body = &body[..body.find("\n## ").unwrap_or(body.len())];
    body.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect();
            (cells[0].trim_matches('`').to_owned(), cells[1..].to_vec())
        })
        .collect()
}

/// How docs/scenario-format.md's `real` column words `support`.
fn real_word(support: Support) -> &'static str {
    match support {
        Support::Yes => "yes",
        Support::ProcessSetting => "process setting",
        Support::SpawnedOnly => "spawned only",
        Support::No(_) => "no",
    }
}

/// Every way the `## {heading}` table of `doc` differs from `keys` (the loader's list) and,
/// where given, from the way real runs honour each key.
fn key_problems(
    doc: &str,
    heading: &str,
    keys: &[&str],
    real: Option<&[(&str, Support)]>,
) -> Vec<String> {
    let rows = table(doc, heading);
    let mut out = Vec::new();
    for key in keys {
        let Some(cells) = rows.get(*key) else {
            out.push(format!(
                "`{key}` is accepted by the loader but has no row in `## {heading}`"
            ));
            continue;
        };
        let Some(real) = real else { continue };
        let want = support::lookup(real, key).map_or("yes", real_word);
        // The columns are: type, default, real, meaning, example.
        let got = cells.get(2).map_or("", String::as_str);
        if !(got == want || got.starts_with(&format!("{want} ("))) {
            out.push(format!(
                "`{key}` in `## {heading}`: the real column says `{got}`, real runs: `{want}`"
            ));
        }
    }
    for key in rows.keys() {
        if !keys.contains(&key.as_str()) {
            out.push(format!(
                "`{key}` has a row in `## {heading}` but the loader refuses it"
            ));
        }
    }
    out
}

/// Proves every key the scenario loader accepts (top level, job, operation field, fault)
/// has a row in docs/scenario-format.md whose `real` column says how real runs honour it,
/// and no row documents a key the loader refuses.
#[test]
fn every_scenario_key_is_documented() {
    let doc = read("docs/scenario-format.md");
    let fields: Vec<&str> = rbee::operation::fields().collect();
    let mut problems = Vec::new();
    problems.extend(key_problems(
        &doc,
        "Top-level keys",
        &TOP_KEYS,
        Some(support::TOP_KEYS),
    ));
    problems.extend(key_problems(
        &doc,
        "Job keys",
        &JOB_KEYS,
        Some(support::JOB_KEYS),
    ));
    problems.extend(key_problems(&doc, "Operation fields", &fields, Some(&[])));
    problems.extend(key_problems(
        &doc,
        "Fault keys",
        &FAULT_KEYS,
        Some(support::FAULT_KEYS),
    ));
    problems.extend(key_problems(
        &doc,
        "Request keys",
        &REQUEST_KEYS,
        Some(support::REQUEST_KEYS),
    ));
    let kinds = RequestKind::ALL.map(RequestKind::name);
    problems.extend(key_problems(&doc, "Request kinds", &kinds, None));
    let expects = Expect::ALL.map(Expect::name);
    problems.extend(key_problems(&doc, "`expect` values", &expects, None));
    let kinds = FaultKind::ALL.map(FaultKind::name);
    problems.extend(key_problems(&doc, "Fault kinds", &kinds, None));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Proves the key check fires: on a key without a row, on a row the loader refuses, and on
/// a `real` column that disagrees with real runs.
#[test]
fn the_key_check_fires_on_a_missing_a_stale_and_a_wrong_row() {
    let doc = "# x\n\n## Keys\n\n| key | type | default | real | meaning | example |\n|---|---|---|---|---|---|\n\
               | `seed` | integer | 0 | yes | the seed | `seed = 1` |\n\
               | `capacity` | integer | none | yes (it is not) | a buffer | `capacity = 1` |\n\
               | `gone` | string | none | yes | old | `gone = 1` |\n";
    let real = [
        ("seed", Support::Yes),
        ("capacity", Support::No("simulator only")),
    ];
    let problems = key_problems(doc, "Keys", &["seed", "capacity", "ttl_ms"], Some(&real));
    assert_eq!(
        problems,
        [
            "`capacity` in `## Keys`: the real column says `yes (it is not)`, real runs: `no`",
            "`ttl_ms` is accepted by the loader but has no row in `## Keys`",
            "`gone` has a row in `## Keys` but the loader refuses it",
        ]
    );
}

/// Proves every invariant the simulator checks is in the contract: the §9 table or the
/// checks it lists after the table.
#[test]
fn every_invariant_is_in_the_contract() {
    let spec = read("docs/spec.md");
    let start = spec.find("\n## 9. ").expect("docs/spec.md has a §9");
    let section = &spec[start..];
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |i| i + 1)];
    let names = rbee_sim::check::CHECKERS
        .iter()
        .map(|c| c.name)
        .chain(["determinism"]);
    for name in names {
        assert!(
            section.contains(&format!("| {name} |")) || section.contains(&format!("**{name}**")),
            "invariant `{name}` is not in docs/spec.md §9"
        );
    }
}

/// The word that marks a citation of the contract's old name, built so that this file
/// does not cite it.
fn old_name() -> String {
    ["SP", "EC"].concat()
}

/// Every way `text` (the file `file`) cites the contract wrongly: by its old name, or a
/// section of `docs/spec.md` that `sections` (its `## N.` headings) does not have.
fn citation_problems(file: &str, text: &str, sections: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let old = old_name();
    for (n, line) in text.lines().enumerate() {
        let at = format!("{file}:{}", n + 1);
        let old_citation = line.match_indices(&old).any(|(i, _)| {
            let before = line[..i].chars().next_back();
            let after = line[i + old.len()..].chars().next();
            !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if old_citation {
            out.push(format!(
                "{at}: cites the contract as `{old}`: write docs/spec.md §N"
            ));
        }
        for (i, _) in line.match_indices("spec.md §") {
            let section: String = line[i + "spec.md §".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            if !sections.contains(&section) {
                out.push(format!("{at}: docs/spec.md has no §{section}"));
            }
        }
    }
    out
}

/// The text files of the repository that may cite the contract.
fn cited_files() -> Vec<PathBuf> {
    let root = root();
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = [
        "src",
        "sim/src",
        "sim/tests",
        "sim/benches",
        "tests",
        "benches",
        "scripts",
        "docs",
        "scenarios",
        ".cargo",
        ".ci",
        ".github",
        ".config",
    ]
    .iter()
    .map(|d| root.join(d))
    .collect();
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("readable").path();
            // This file holds the check's own samples of wrong citations.
            let this = path.ends_with("sim/tests/sim/docs.rs");
            if path.is_dir() {
                dirs.push(path);
            } else if !this && !path.extension().is_some_and(|x| x == "png" || x == "svg") {
                out.push(path);
            }
        }
    }
    for file in [
        "README.md",
        "BENCHMARKS.md",
        "Cargo.toml",
        "sim/Cargo.toml",
        "clippy.toml",
    ] {
        out.push(root.join(file));
    }
    out.sort();
    out
}

/// Proves every citation of the contract in code, messages, tests, scripts and docs points
/// at docs/spec.md and names a section it has (the contract used to be cited under a name
/// that no file in the repository had).
#[test]
fn every_citation_of_the_contract_names_a_section_of_docs_spec_md() {
    let spec = read("docs/spec.md");
    let sections: Vec<String> = spec
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .filter_map(|l| l.split_once(". ").map(|(n, _)| n.to_owned()))
        .collect();
    assert!(sections.contains(&"8a".to_owned()), "{sections:?}");
    let root = root();
    let mut problems = Vec::new();
    let files = cited_files();
    assert!(files.len() > 100, "found only {} files", files.len());
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let shown = path
            .strip_prefix(&root)
            .unwrap_or(&path)
            .display()
            .to_string();
        problems.extend(citation_problems(&shown, &text, &sections));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Proves the citation check fires on the old name and on a section that does not exist,
/// and passes words that merely contain the old name's letters.
#[test]
fn the_citation_check_fires_on_the_old_name_and_a_missing_section() {
    let sections = vec!["4".to_owned(), "8a".to_owned()];
    let old = old_name();
    let text = format!(
        "see docs/spec.md §4 and §8a\nsee {old} §4\nsee docs/spec.md §12\nsee docs/spec.md §8a\nINSPECTOR {old}S\n"
    );
    assert_eq!(
        citation_problems("f.rs", &text, &sections),
        [
            format!("f.rs:2: cites the contract as `{old}`: write docs/spec.md §N"),
            "f.rs:3: docs/spec.md has no §12".to_owned(),
        ]
    );
}
