#!/usr/bin/env bash
# Time to first failure, guided against random exploration, for each patch of
# scripts/historical-bugs/ (BENCHMARKS.md, "Guided exploration"):
#
#   scripts/first-failure.sh [SECONDS] [PATCH PREFIX…]
#
# For each patch: a detached worktree of HEAD (this checkout is never touched), `git
# apply`, a release build, then three searches, each for at most SECONDS of wall time
# (default 30), without shrinking or re-runs: `explore --faults` at random, `explore
# --guided` from an empty corpus, and `explore --guided` from a copy of `corpus/` (as the
# nightly guided shards start). Every search starts at seed 10,000,000, past the seeds of
# `corpus/`, so that a corpus entry that fails on the patched tree (reported first, under
# its own seed) counts as found before seed 0 of the range.
#
# The time to first failure is then measured, not estimated: each search is run again over
# only the seeds up to and including its first failing one, timed five times, the median
# kept. That prefix makes the same scenarios, because a guided round's scenarios depend
# only on the corpus as the round began. The process start counts in every mode alike.
# One row per patch; "-" when the budget found no failure. JSON summaries stay in
# target/first-failure/<patch>/.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$(pwd)
unset RUSTFLAGS
secs="${1:-30}"
[ $# -gt 0 ] && shift
out_root="$root/target/first-failure"
mkdir -p "$out_root"
export CARGO_TARGET_DIR="$out_root/target"
tree=$(mktemp -d "${TMPDIR:-/tmp}/rbee-first-failure.XXXXXX")
git worktree add --quiet --detach "$tree" HEAD || exit 2
trap 'git worktree remove --force "$tree"' EXIT
echo "| patch | random: first failing seed #, s | guided: #, s | guided from corpus/: #, s | ratio guided | ratio from corpus/ |"
echo "|---|---|---|---|---|---|"
for p in scripts/historical-bugs/*.patch; do
    name=$(basename "$p" .patch)
    if [ $# -gt 0 ]; then
        hit=0
        for want in "$@"; do case "$name" in "$want"*) hit=1 ;; esac; done
        [ $hit = 1 ] || continue
    fi
    out="$out_root/$name"
    mkdir -p "$out"
    (cd "$tree" && git checkout --quiet --force HEAD -- . && git clean -fdq && git apply "$root/$p") || {
        echo "| $name | cannot apply | | | | |"
        continue
    }
    (cd "$tree" && cargo build --release -p rbee-sim --quiet 2>"$out/build.log") || {
        echo "| $name | build failed | | | | |"
        continue
    }
    sim="$CARGO_TARGET_DIR/release/rbee-sim"
    for mode in random guided corpus; do
        flags=(explore --faults --from 10000000 --shrink-seeds 0 --recheck-every 0 --cross-process-every 0)
        case $mode in
            guided) flags+=(--guided) ;;
            corpus) flags+=(--guided --corpus "$out/corpus") ;;
        esac
        fresh_corpus() { [ "$mode" != corpus ] || { rm -rf "$out/corpus" && cp -r "$root/corpus" "$out/corpus"; }; }
        fresh_corpus
        "$sim" "${flags[@]}" --seeds 1000000 --budget-secs "$secs" --json "$out/$mode.json" \
            >/dev/null 2>"$out/$mode.err"
        first=$(python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); print(min((f["seed"] - s["from"] for f in s["failures"]), default=""))' "$out/$mode.json")
        : >"$out/$mode.times"
        [ -n "$first" ] || continue
        for _ in 1 2 3 4 5; do
            fresh_corpus
            start=$(date +%s.%N)
            "$sim" "${flags[@]}" --seeds $((first < 0 ? 1 : first + 1)) --json "$out/$mode-prefix.json" >/dev/null 2>&1
            echo "$( ((first < 0)) && echo entry || echo "$first") $start $(date +%s.%N)" >>"$out/$mode.times"
        done
    done
    python3 - "$out" "$name" <<'EOF'
import statistics, sys
out, name = sys.argv[1], sys.argv[2]
cells, times = [], []
for mode in ("random", "guided", "corpus"):
    rows = [line.split() for line in open(f"{out}/{mode}.times")]
    if not rows:
        times.append(None)
        cells.append("-")
        continue
    t = statistics.median(float(end) - float(start) for _, start, end in rows)
    times.append(t)
    cells.append(f"{rows[0][0]}, {t:.2f}")
r = times[0]
ratios = ["-" if r is None or g is None else f"{r / g:.2f}x" for g in times[1:]]
print(f"| {name} | {' | '.join(cells)} | {' | '.join(ratios)} |")
EOF
done
