#!/usr/bin/env bash
# The timing tables of README.md ("Against real processes"): for each scenario, how often
# real processes end each job which way over N runs, and how often each timing of
# `rbee-sim real`'s simulated side does over its first K seeds.
#
#   scripts/timing-table.sh [--runs N] [--seeds K] FILE...
#
# Defaults: --runs 6 --seeds 20. A line per file with the real outcomes by keeper
# (`alice cancelled 3/6, alice done 3/6`),
# then one per timing (sim/examples/timing-outcomes.rs). Real runs go one at a time, so
# that they do not load each other's timers.
set -euo pipefail

runs=6
seeds=20
files=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --seeds) seeds="$2"; shift 2 ;;
        -*) echo "usage: $0 [--runs N] [--seeds K] FILE..." >&2; exit 2 ;;
        *) files+=("$1"); shift ;;
    esac
done
if [[ ${#files[@]} -eq 0 ]]; then
    echo "usage: $0 [--runs N] [--seeds K] FILE..." >&2
    exit 2
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --release --workspace --locked --quiet
cargo build --release -p rbee-sim --example timing-outcomes --locked --quiet
sim="$root/target/release/rbee-sim"

for file in "${files[@]}"; do
    # "<keeper> outcome: <outcome>" lines, in job order within each run.
    outcomes=$(for _ in $(seq "$runs"); do
        "$sim" real "$file" 2>/dev/null | grep -oE "^ +[0-9]+ms [^ ]+ outcome: [a-z_]+" | awk '{print $2, $4}' || true
    done | sort | uniq -c | awk -v n="$runs" '{printf "%s%s %s %d/%d", sep, $2, $3, $1, n; sep=", "}')
    echo -e "$file\treal processes\t$outcomes"
    "$root/target/release/examples/timing-outcomes" "$file" --seeds "$seeds"
done
