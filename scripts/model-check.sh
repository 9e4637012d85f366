#!/usr/bin/env bash
# Model check of the hub, registry and job life cycle under thread interleavings
# (tests/model, shuttle; see docs/mutation.md §3).
#
#   scripts/model-check.sh                    # what CI runs: fixed seed, 10,000 executions per
#                                             # scheduler (random and PCT), debug build
#   scripts/model-check.sh --hunt [N]         # a fresh seed, N executions per scheduler
#                                             # (default 200,000), release build
#   scripts/model-check.sh --replay SCHEDULE  # replays one schedule a failure printed
#   scripts/model-check.sh --bug NAME|FILE    # puts scripts/model-bugs/NAME*.patch (or any
#                                             # patch FILE) into a throw-away worktree, runs
#                                             # both schedulers there, replays what they print
#
# RBEE_MODEL_SEED and RBEE_MODEL_ITERATIONS override the seed and the executions. A failure
# prints `failing schedule: "…"`; `--replay` with that string (whitespace is ignored) runs
# exactly that interleaving again, on the code it was found on.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
unset RUSTFLAGS # would replace .cargo/config.toml's `--cfg tokio_unstable`
# A target directory of its own: the feature rebuilds the `rbee` binary on shuttle's
# primitives, which must never replace target/debug/rbee (the system tests and `rbee-sim
# real` run that binary). It costs one build of the dependencies, kept between runs.
export CARGO_TARGET_DIR="${RBEE_MODEL_TARGET_DIR:-$root/target/model-check}"

model=(cargo test --locked -p rbee --features model-check --test model)

case "${1:-}" in
"")
    exec "${model[@]}"
    ;;
--hunt)
    export RBEE_MODEL_ITERATIONS="${2:-200000}"
    RBEE_MODEL_SEED="$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')"
    export RBEE_MODEL_SEED
    echo "model check: seed $RBEE_MODEL_SEED, $RBEE_MODEL_ITERATIONS executions per scheduler"
    exec "${model[@]}" --release schedules_keep_every_property
    ;;
--replay)
    [ $# -ge 2 ] || { echo "usage: $0 --replay SCHEDULE" >&2; exit 64; }
    export RBEE_MODEL_SCHEDULE="$2"
    exec "${model[@]}" replay_a_printed_schedule -- --ignored --exact
    ;;
--bug)
    [ $# -ge 2 ] || { echo "usage: $0 --bug NAME|FILE (names: $(ls scripts/model-bugs))" >&2; exit 64; }
    if [ -f "$2" ]; then
        patch="$2" # any patch, e.g. one of scripts/historical-bugs/
    else
        patch=$(find scripts/model-bugs -maxdepth 1 -name "$2*.patch" | sort | head -1)
        [ -n "$patch" ] || { echo "no patch scripts/model-bugs/$2*.patch" >&2; exit 64; }
    fi
    out="$root/target/model-bugs/$(basename "$patch" .patch)"
    rm -rf "$out" && mkdir -p "$out"
    tree=$(mktemp -d "${TMPDIR:-/tmp}/rbee-model-bug.XXXXXX")
    git worktree add --quiet --detach "$tree" HEAD
    trap 'git worktree remove --force "$tree"' EXIT
    (cd "$tree" && git apply "$(cd "$root" && realpath "$patch")")
    # A target directory of its own, kept between runs: cargo names rbee's artifacts the
    # same from any checkout and judges them fresh by the sources of the checkout that
    # built them, so sharing the checkout's own would leave stale binaries behind.
    export CARGO_TARGET_DIR="$root/target/model-bugs/target"
    echo "== $(head -1 "$patch")"
    if (cd "$tree" && "${model[@]}" --no-run) >"$out/build.log" 2>&1; then :; else
        echo "does not build: $out/build.log" >&2
        exit 2
    fi
    caught=0
    for scheduler in random pct; do
        log="$out/$scheduler.log"
        t0=$(date +%s.%N)
        if (cd "$tree" && "${model[@]}" "${scheduler}_schedules_keep_every_property" -- --exact) \
            >"$log" 2>&1; then
            echo "$scheduler: NOT CAUGHT in ${RBEE_MODEL_ITERATIONS:-10000} executions ($log)"
            continue
        fi
        t1=$(date +%s.%N)
        caught=$((caught + 1))
        found="$(grep -m1 -oE '^model check failed in execution [0-9]+' "$log"): $(grep -m1 -E \
            '^(model check, execution [0-9]+: |deadlock!)' "$log" | sed -E 's/^model check, execution [0-9]+: //')"
        schedule=$(awk '/^failing schedule:/ { getline; inside = 1; next }
            inside && /^"/ { exit } inside { printf "%s", $0 }' "$log")
        echo "$schedule" >"$out/$scheduler.schedule"
        awk -v a="$t0" -v b="$t1" -v s="$scheduler" -v f="$found" \
            'BEGIN { printf "%s: caught in %.1f s: %s\n", s, b - a, f }'
        echo "  failing schedule: $schedule"
        if (cd "$tree" && RBEE_MODEL_SCHEDULE="$schedule" "${model[@]}" replay_a_printed_schedule \
            -- --ignored --exact) >"$out/$scheduler.replay.log" 2>&1; then
            echo "  replay did NOT reproduce it ($out/$scheduler.replay.log)"
            exit 1
        fi
        echo "  replayed: $(grep -m1 -E '^(model check, execution [0-9]+: |deadlock!)' \
            "$out/$scheduler.replay.log")"
    done
    [ "$caught" -gt 0 ] || exit 1
    echo "logs: $out"
    ;;
*)
    sed -n '2,16p' "$0" >&2
    exit 64
    ;;
esac
