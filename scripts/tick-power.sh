#!/usr/bin/env bash
# Detection power of the simulated tick: for each bug patch and each tick size, explore a
# seed range against the patched system and report how many seeds fail, how soon and how
# fast. BENCHMARKS.md chooses explore's default tick from this table (bugs found per wall
# second, not speed alone).
#
#   scripts/tick-power.sh                      # every scripts/historical-bugs/*.patch
#   scripts/tick-power.sh PATCH...             # these patch files
#   SEEDS=300 TICKS="1 2 5 10" scripts/tick-power.sh
#
# Each patch is applied to a throw-away worktree of HEAD (your checkout is never touched);
# explore runs with faults, without shrinking and without re-runs (so the wall time is the
# search, not the report), on all cores. A row per (patch, tick): failing seeds out of
# SEEDS, the first failing seed, the wall seconds, seeds/s, the estimated wall seconds to
# the first failure (seeds are taken in order: wall x (index + 1) / SEEDS) and failing
# seeds per wall second. A first row per tick runs the unpatched system (its speed, and 0
# failures). Results: target/tick-power/results.tsv.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$(pwd)
unset RUSTFLAGS # would replace .cargo/config.toml's `--cfg tokio_unstable`

seeds="${SEEDS:-300}"
ticks="${TICKS:-1 2 5 10}"
out="$root/target/tick-power"
mkdir -p "$out"
export CARGO_TARGET_DIR="$out/target"

patches=("$@")
if [ ${#patches[@]} -eq 0 ]; then
    patches=(scripts/historical-bugs/*.patch)
fi

tree=$(mktemp -d "${TMPDIR:-/tmp}/rbee-tick-power.XXXXXX")
git worktree add --quiet --detach "$tree" HEAD || exit 2
trap 'git worktree remove --force "$tree"' EXIT

results="$out/results.tsv"
printf 'patch\ttick_ms\tfailing\tseeds\tfirst_failing_seed\twall_s\tseeds_per_s\ts_to_first_failure\tfailing_per_s\n' >"$results"

measure() { # name
    local name=$1 t log
    for t in $ticks; do
        log="$out/$name.tick$t.log"
        "$CARGO_TARGET_DIR/release/rbee-sim" explore --seeds "$seeds" --faults --tick-ms "$t" \
            --shrink-runs 0 --recheck-every 0 --cross-process-every 0 >"$log" 2>"$log.err"
        local failing first wall row
        failing=$(grep -m1 '^failing seeds' "$log" | awk '{print $3}')
        first=$(grep -m1 -E '^seed [0-9]+ failed' "$log" | awk '{print $2}')
        wall=$(grep -m1 -oE 'wall [0-9.]+ s' "$log.err" | awk '{print $2}')
        row=$(awk -v n="$name" -v t="$t" -v f="${failing:-0}" -v s="$seeds" -v first="${first:--}" -v w="${wall:-0}" 'BEGIN {
            sps = (w > 0) ? s / w : 0
            ttf = (first == "-") ? "-" : sprintf("%.2f", w * (first + 1) / s)
            fps = (w > 0) ? f / w : 0
            printf "%s\t%s\t%s\t%s\t%s\t%.1f\t%.0f\t%s\t%.2f", n, t, f, s, first, w, sps, ttf, fps
        }')
        echo "$row" | tee -a "$results"
    done
}

build() {
    (cd "$tree" && nice -n 5 cargo build --quiet --release -p rbee-sim --bin rbee-sim) >"$out/build.log" 2>&1
}

(cd "$tree" && git checkout --quiet -- . && git clean --quiet -fd)
build || { echo "the unpatched tree does not build (see $out/build.log)" >&2; exit 2; }
measure baseline

for p in "${patches[@]}"; do
    name=$(basename "$p" .patch)
    p=$(realpath "$p") # relative to the checkout or absolute
    (cd "$tree" && git checkout --quiet -- . && git clean --quiet -fd)
    if ! (cd "$tree" && git apply "$p"); then
        echo "$name: does not apply to HEAD; skipped" >&2
        continue
    fi
    if ! build; then
        echo "$name: does not build (see $out/build.log); skipped" >&2
        continue
    fi
    measure "$name"
done

echo
echo "== per tick: bugs caught (of the patches), their failing seeds per wall second"
awk -F'\t' 'NR > 1 && $1 != "baseline" {
    caught[$2] += ($3 > 0); n[$2]++; fps[$2] += $9
    if ($8 != "-") { ttf[$2] += $8; k[$2]++ }
} END {
    for (t in n) printf "tick %s ms: %d of %d caught, %.2f failing seeds/s summed, mean %.2f s to the first failure\n", t, caught[t], n[t], fps[t], (k[t] ? ttf[t] / k[t] : 0)
}' "$results" | sort -t' ' -k2 -n
