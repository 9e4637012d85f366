#!/usr/bin/env bash
# Time to first failure, guided against random exploration, for each patch of
# scripts/historical-bugs/ (BENCHMARKS.md, "Guided exploration"):
#
#   scripts/first-failure.sh [SECONDS] [PATCH PREFIX…]
#
# For each patch: a detached worktree of HEAD (this checkout is never touched), `git
# apply`, a release build, then `explore --faults` at random and `explore --guided`, each
# for at most SECONDS of wall time (default 30), without shrinking or re-runs. The time to
# first failure is estimated as SECONDS × (position of the first failing seed + 1) / seeds
# run (seeds run in order in both modes). One row per patch; "-" when the budget found
# none. JSON summaries stay in target/first-failure/<patch>/.
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
echo "| patch | random: s to first failure (seeds run) | guided: s to first failure (seeds run) | ratio |"
echo "|---|---|---|---|"
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
        echo "| $name | cannot apply | | |"
        continue
    }
    (cd "$tree" && cargo build --release -p rbee-sim --quiet 2>"$out/build.log") || {
        echo "| $name | build failed | | |"
        continue
    }
    for mode in random guided; do
        flag=()
        [ "$mode" = guided ] && flag=(--guided)
        "$CARGO_TARGET_DIR/release/rbee-sim" explore --seeds 1000000 --faults --shrink-seeds 0 \
            --recheck-every 0 --cross-process-every 0 --budget-secs "$secs" \
            --json "$out/$mode.json" "${flag[@]}" >/dev/null 2>"$out/$mode.err"
    done
    python3 - "$out" "$secs" "$name" <<'EOF'
import json, sys
out, secs, name = sys.argv[1], float(sys.argv[2]), sys.argv[3]
cells, times = [], []
for mode in ("random", "guided"):
    s = json.load(open(f"{out}/{mode}.json"))
    first = min((f["seed"] - s["from"] for f in s["failures"]), default=None)
    t = None if first is None else secs * (first + 1) / max(s["seeds_run"], 1)
    times.append(t)
    cells.append("-" if t is None else f"{t:.2f} ({s['seeds_run']})")
r, g = times
ratio = "-" if r is None or g is None else f"{r / g:.2f}x"
print(f"| {name} | {cells[0]} | {cells[1]} | {ratio} |")
EOF
done
