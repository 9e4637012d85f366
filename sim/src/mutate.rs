//! Mutation of scenarios: the operators guided exploration ([`crate::guided`]) applies to
//! corpus entries to reach behaviours near the ones they reached.
//!
//! Every operator works on scenario values, and whatever new it brings in (a job, a fault)
//! is drawn from the generator ([`crate::generate::scenario`]) and fitted to the parent's
//! hosts: one source of what a job or a fault may look like. A mutant is kept only when the
//! scenario loader accepts it ([`Scenario::validate`]), and its `expect`s are recomputed
//! by the generator's own rule ([`crate::generate::known_expectations`]), since a mutation
//! (a fault added, a delete beside a get) can change which outcomes are certain.

use crate::generate::{known_expectations, scenario, GenConfig};
use crate::scenario::{Expect, FaultPlan, JobPlan, Mode, Scenario};
use rand::rngs::StdRng;
use rand::Rng;
use rbee::operation::Operation;

/// Most jobs a mutant may have; past [`GROW_UNTIL`] operators that add jobs stand aside.
/// Mutants that keep growing run ever slower, and a guided budget is wall-clock time.
pub const MAX_JOBS: usize = 34;
/// Jobs past which a mutant no longer gains any (`add_job`, `splice`).
pub const GROW_UNTIL: usize = 16;
/// Most faults a mutant may have.
pub const MAX_FAULTS: usize = 16;

/// The mutation operators, by name (reported in a corpus entry's header).
pub const OPERATORS: [&str; 12] = [
    "add_job",
    "drop_job",
    "shift_job",
    "change_operation",
    "change_sizes",
    "change_keeper",
    "add_fault",
    "move_fault",
    "drop_fault",
    "change_capacity",
    "toggle_perturb",
    "splice",
];

/// `parent` changed by 1 to 4 stacked operators (AFL's havoc), with `other` for a splice;
/// `seed` becomes the mutant's seed and names the generated scenario new parts come from.
/// `None` when no stack of operators gave a scenario the loader accepts.
pub fn mutate(
    parent: &Scenario,
    other: &Scenario,
    seed: u64,
    gen: GenConfig,
    rng: &mut StdRng,
) -> Option<(Scenario, Vec<&'static str>)> {
    // New parts come from a scenario the generator makes for this seed.
    let donor = scenario(seed, gen);
    for _attempt in 0..4 {
        let mut s = parent.clone();
        let mut applied = Vec::new();
        for _ in 0..rng.random_range(1..=4) {
            let op = OPERATORS[rng.random_range(0..OPERATORS.len())];
            if apply(op, &mut s, &donor, other, rng) {
                applied.push(op);
            }
        }
        if applied.is_empty() {
            continue;
        }
        s.seed = seed;
        s.name = format!("guided seed {seed}");
        s.description.clear();
        s.faults.sort_by_key(|f| f.at_ms);
        for j in &mut s.jobs {
            j.expect = Expect::Any;
        }
        let s = known_expectations(s);
        if s.jobs.len() <= MAX_JOBS && s.faults.len() <= MAX_FAULTS && s.validate().is_ok() {
            return Some((s, applied));
        }
    }
    None
}

/// Applies one operator; whether it changed anything.
fn apply(op: &str, s: &mut Scenario, donor: &Scenario, other: &Scenario, rng: &mut StdRng) -> bool {
    let pick = |n: usize, rng: &mut StdRng| rng.random_range(0..n);
    match op {
        "add_job" | "splice" if s.jobs.len() >= GROW_UNTIL => return false,
        "add_job" => {
            let j = &donor.jobs[pick(donor.jobs.len(), rng)];
            let j = fit_job(j, s, rng);
            s.jobs.push(j);
        }
        "drop_job" if s.jobs.len() > 1 => {
            let i = pick(s.jobs.len(), rng);
            s.jobs.remove(i);
        }
        "shift_job" => {
            let i = pick(s.jobs.len(), rng);
            let by = rng.random_range(1..=400u64);
            let j = &mut s.jobs[i];
            j.at_ms = if rng.random_bool(0.5) {
                j.at_ms.saturating_sub(by)
            } else {
                j.at_ms + by
            };
        }
        "change_operation" => {
            let i = pick(s.jobs.len(), rng);
            let from = fit_job(&donor.jobs[pick(donor.jobs.len(), rng)], s, rng);
            s.jobs[i].operation = from.operation;
        }
        "change_sizes" => {
            let i = pick(s.jobs.len(), rng);
            return change_sizes(&mut s.jobs[i].operation, rng);
        }
        "change_keeper" => {
            let i = pick(s.jobs.len(), rng);
            let from = &donor.jobs[pick(donor.jobs.len(), rng)];
            let job = &mut s.jobs[i];
            job.behaviour = from.behaviour;
            job.after_end = from.after_end;
            job.connect_after_ms = from.connect_after_ms;
            // A cancel time drawn for another job keeps its distance from that job's submit.
            if let crate::scenario::Behaviour::CancelAt(at) = from.behaviour {
                job.behaviour =
                    crate::scenario::Behaviour::CancelAt(job.at_ms + at.saturating_sub(from.at_ms));
            }
        }
        "add_fault" => {
            if donor.faults.is_empty() {
                return false;
            }
            let f = &donor.faults[pick(donor.faults.len(), rng)];
            let f = fit_fault(f, s, rng);
            s.faults.push(f);
        }
        "move_fault" if !s.faults.is_empty() => {
            let i = pick(s.faults.len(), rng);
            let by = rng.random_range(1..=500u64);
            let f = &mut s.faults[i];
            f.at_ms = if rng.random_bool(0.5) {
                f.at_ms.saturating_sub(by)
            } else {
                f.at_ms + by
            };
        }
        "drop_fault" if !s.faults.is_empty() => {
            let i = pick(s.faults.len(), rng);
            s.faults.remove(i);
        }
        "change_capacity" => {
            s.capacity = match s.capacity {
                Some(_) if rng.random_bool(0.3) => None,
                _ => Some(rng.random_range(1..=16)),
            };
        }
        "toggle_perturb" => s.perturb = !s.perturb,
        "splice" => {
            // The parent's jobs before a cut, the other entry's after it (on the parent's
            // hosts); faults likewise.
            let cut = rng.random_range(0..3000u64);
            let theirs: Vec<JobPlan> = other
                .jobs
                .iter()
                .filter(|j| j.at_ms >= cut)
                .map(|j| fit_job(j, s, rng))
                .collect();
            let faults: Vec<FaultPlan> = other
                .faults
                .iter()
                .filter(|f| f.at_ms >= cut)
                .map(|f| fit_fault(f, s, rng))
                .collect();
            let ours = s.jobs.iter().filter(|j| j.at_ms < cut).count();
            if (theirs.is_empty() && faults.is_empty()) || ours + theirs.len() == 0 {
                return false;
            }
            s.jobs.retain(|j| j.at_ms < cut);
            s.jobs.extend(theirs);
            s.faults.retain(|f| f.at_ms < cut);
            s.faults.extend(faults);
        }
        _ => return false,
    }
    true
}

/// Scales one of the operation's sizes (chunks, pacing, lines, tokens) up or down.
fn change_sizes(op: &mut Operation, rng: &mut StdRng) -> bool {
    let mut scale = |v: u64, low: u64, high: u64| -> u64 {
        let v = if rng.random_bool(0.5) { v * 2 } else { v / 2 };
        v.clamp(low, high)
    };
    match op {
        Operation::ModelDownload {
            chunks,
            interval_ms,
            ..
        } => {
            *chunks = scale(u64::from(*chunks), 1, 16) as u32;
            *interval_ms = scale(*interval_ms, 10, 1_000);
        }
        Operation::WorkerInstall { lines, .. } => {
            *lines = scale(u64::from(*lines), 1, 2_000) as u32
        }
        Operation::Infer { max_tokens, .. } => {
            *max_tokens = scale(u64::from(*max_tokens).max(1), 0, 24) as u32
        }
        _ => return false,
    }
    true
}

/// `job` with its keeper and hive replaced by the parent's (the same position modulo their
/// number, so a donor's two keepers stay two where the parent has two).
fn fit_job(job: &JobPlan, s: &Scenario, rng: &mut StdRng) -> JobPlan {
    let mut j = job.clone();
    j.keeper = fit_name(&j.keeper, &s.keepers, rng);
    if let Some(hive) = j.operation.hive_id().map(str::to_owned) {
        let to = fit_name(&hive, &s.hives, rng);
        j.operation = with_hive(j.operation, to);
    }
    j
}

/// `fault` on the parent's hosts: a keeper for a keeper, a hive for a hive (the queen for
/// a hive where the parent runs integrated).
fn fit_fault(fault: &FaultPlan, s: &Scenario, rng: &mut StdRng) -> FaultPlan {
    let mut f = fault.clone();
    for h in &mut f.hosts {
        *h = if h == "queen" {
            h.clone()
        } else if h.starts_with("keeper") || s.keepers.contains(h) {
            fit_name(h, &s.keepers, rng)
        } else if s.mode == Mode::Distributed {
            fit_name(h, &s.hives, rng)
        } else {
            "queen".to_owned()
        };
    }
    f
}

/// The name at the same position among `names` (by its trailing number), else a random one.
fn fit_name(name: &str, names: &[String], rng: &mut StdRng) -> String {
    if names.iter().any(|n| n == name) {
        return name.to_owned();
    }
    let n: Option<usize> = name.rsplit('-').next().and_then(|d| d.parse().ok());
    match n {
        Some(n) if n >= 1 => names[(n - 1) % names.len()].clone(),
        _ => names[rng.random_range(0..names.len())].clone(),
    }
}

/// The operation aimed at `hive` instead.
fn with_hive(mut op: Operation, hive: String) -> Operation {
    match &mut op {
        Operation::Status {} => {}
        Operation::HiveCheck { hive_id }
        | Operation::ModelList { hive_id }
        | Operation::ModelGet { hive_id, .. }
        | Operation::ModelDownload { hive_id, .. }
        | Operation::ModelDelete { hive_id, .. }
        | Operation::WorkerSpawn { hive_id, .. }
        | Operation::WorkerList { hive_id }
        | Operation::WorkerStop { hive_id, .. }
        | Operation::WorkerInstall { hive_id, .. }
        | Operation::Infer { hive_id, .. } => *hive_id = hive,
    }
    op
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Proves mutants are valid scenarios with the mutant's seed, differ from their
    /// parent, stay within the limits, and that every operator is applied somewhere.
    #[test]
    fn mutants_are_valid_and_every_operator_applies() {
        let gen = GenConfig::default();
        let mut used = std::collections::BTreeSet::new();
        for seed in 0..60u64 {
            let parent = scenario(seed, gen);
            let other = scenario(seed + 1000, gen);
            let mut rng = StdRng::seed_from_u64(seed);
            let (m, ops) = mutate(&parent, &other, 5000 + seed, gen, &mut rng)
                .unwrap_or_else(|| panic!("seed {seed}: no valid mutant"));
            m.validate().unwrap();
            assert_eq!(m.seed, 5000 + seed);
            assert!(m.jobs.len() <= MAX_JOBS);
            used.extend(ops);
        }
        assert_eq!(used.len(), OPERATORS.len(), "{used:?}");
    }

    /// Proves mutation is a function of its inputs: the same rng state gives the same mutant.
    #[test]
    fn the_same_inputs_give_the_same_mutant() {
        let gen = GenConfig::default();
        let (p, o) = (scenario(3, gen), scenario(4, gen));
        let a = mutate(&p, &o, 9, gen, &mut StdRng::seed_from_u64(1));
        let b = mutate(&p, &o, 9, gen, &mut StdRng::seed_from_u64(1));
        assert_eq!(a, b);
    }
}
