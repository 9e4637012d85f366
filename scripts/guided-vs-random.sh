#!/usr/bin/env bash
# Guided against random exploration on equal wall-clock budgets, side by side in one run
# (BENCHMARKS.md, "Guided exploration"):
#
#   scripts/guided-vs-random.sh [SECONDS] [REPS] [EXTRA EXPLORE FLAGS…]
#
# Each repetition explores a fresh seed range (rep r starts at seed r * 10,000,000) once
# at random and once guided, each for SECONDS of wall time (default 60), with faults, no
# shrinking (a failure is counted, not shrunk) and the default re-runs. Then one row per
# repetition: seeds run, distinct behaviours (all, and job histories), hits on the ten
# probes the random run hit least (ties by name), and the first failing seed's position.
# Then, for each probe named in $TARGETS (default: the three rarest at 1,000 seeds), a
# guided run steered at it (`--target`) on repetition 0's seeds and budget: its hits
# against the random run's. JSON summaries stay in target/guided-vs-random/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
reps="${2:-3}"
shift $(( $# < 2 ? $# : 2 ))
out=target/guided-vs-random
mkdir -p "$out"
cargo build --release -p rbee-sim --locked --quiet
sim=./target/release/rbee-sim
for rep in $(seq 0 $((reps - 1))); do
    from=$((rep * 10000000))
    for mode in random guided; do
        flag=()
        [ "$mode" = guided ] && flag=(--guided)
        "$sim" explore --seeds 1000000 --from "$from" --faults --shrink-seeds 0 \
            --budget-secs "$secs" --json "$out/$mode-$rep.json" "${flag[@]}" "$@" \
            >/dev/null 2>"$out/$mode-$rep.err" || true
    done
done
read -r -a targets <<<"${TARGETS:-subtask_aborted no_channel_expired@hive commit_refused}"
for t in "${targets[@]}"; do
    "$sim" explore --seeds 1000000 --from 0 --faults --shrink-seeds 0 --budget-secs "$secs" \
        --guided --target "$t" --json "$out/target-$t.json" "$@" >/dev/null 2>&1 || true
done
python3 - "$out" "$reps" "${targets[@]}" <<'EOF'
import json, sys
out, reps = sys.argv[1], int(sys.argv[2])
print("| rep | mode | seeds | behaviours | job histories | 10 rarest probes (hits) | first failure (seed #) |")
print("|---|---|---|---|---|---|---|")
for rep in range(reps):
    r = json.load(open(f"{out}/random-{rep}.json"))
    rare = sorted(r["probes"], key=lambda p: (r["probes"][p]["hits"], p))[:10]
    for mode in ("random", "guided"):
        s = json.load(open(f"{out}/{mode}-{rep}.json"))
        b = s["behaviours"]
        distinct = len(b["jobs"]) + len(b["pairs"]) + len(b["counts"])
        hits = sum(s["probes"][p]["hits"] for p in rare)
        first = min((f["seed"] - s["from"] for f in s["failures"]), default=None)
        print(f"| {rep} | {mode} | {s['seeds_run']} | {distinct} | {len(b['jobs'])} | {hits} | {first if first is not None else '-'} |")
    print(f"| {rep} | (rarest) | | | | {', '.join(rare)} | |")
r = json.load(open(f"{out}/random-0.json"))
print()
print("| --target | random hits (seeds) | guided --target hits (seeds) | ratio |")
print("|---|---|---|---|")
for t in sys.argv[3:]:
    g = json.load(open(f"{out}/target-{t}.json"))
    a, b = r["probes"][t]["hits"], g["probes"][t]["hits"]
    print(f"| {t} | {a} ({r['seeds_run']}) | {b} ({g['seeds_run']}) | {b / max(a, 1):.1f}x |")
EOF
