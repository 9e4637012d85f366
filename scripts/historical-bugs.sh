#!/usr/bin/env bash
# Re-introduces each historical bug of docs/spec.md §10 (and two sources of nondeterminism) into a
# throw-away copy of the repository and reports which tests and which simulator scenarios
# catch it, and how fast; see docs/mutation.md.
#
#   scripts/historical-bugs.sh                 # every patch in scripts/historical-bugs/
#   scripts/historical-bugs.sh bug08 bug12b    # patches whose names start with these
#
# For each patch: a detached worktree of HEAD (the checkout you run it from is never
# touched), `git apply`, then
#   1. `cargo nextest run -p rbee --no-fail-fast`: every rbee unit and system test that fails,
#      and when the first one failed (tests run in parallel from t = 0);
#   2. `rbee-sim replay` of every file in scenarios/ (the replays `cargo test` performs, one
#      process per file so each verdict is visible), with the wall time of each failing one;
#   3. `cargo nextest run -p rbee-sim --test sim --no-fail-fast`: every simulator test that
#      fails — scenario invariants and snapshots, property tests, the CI seed budget of
#      `explore` with its re-runs compared (the determinism check), the CLI, `rbee-sim real`;
#   4. `rbee-sim explore --seeds 300 --faults` (no shrinking, no re-runs): how many seeds
#      fail, and for each checker that fires, on how many seeds and the first one.
# Each test binary runs under nextest's `historical-bugs` profile, which stops a test still
# running after 60 s (a hang, or an explore that shrinks a failure on every seed) and
# counts it as failing (TIMEOUT in the logs).
# Results go to target/historical-bugs/<patch>/ (summary.txt plus every log). The last
# lines printed are one row per bug. Exit status 1 if any bug is caught by nothing.
#
# Environment: HISTORICAL_BUGS_NICE (default 10), CARGO_TARGET_DIR (default: a target
# directory of the worktree's own under target/historical-bugs, kept between runs).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$(pwd)
unset RUSTFLAGS # would replace .cargo/config.toml's `--cfg tokio_unstable`

out_root="$root/target/historical-bugs"
mkdir -p "$out_root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$out_root/target}"
nice_level="${HISTORICAL_BUGS_NICE:-10}"

patches=()
for p in scripts/historical-bugs/*.patch; do
    name=$(basename "$p" .patch)
    if [ $# -eq 0 ]; then
        patches+=("$p")
    else
        for want in "$@"; do
            case "$name" in "$want"*) patches+=("$p") ;; esac
        done
    fi
done
if [ ${#patches[@]} -eq 0 ]; then
    echo "no patch in scripts/historical-bugs/ matches: $*" >&2
    exit 2
fi

tree=$(mktemp -d "${TMPDIR:-/tmp}/rbee-historical-bug.XXXXXX")
git worktree add --quiet --detach "$tree" HEAD || exit 2
trap 'git worktree remove --force "$tree"' EXIT

# nextest PACKAGE-ARGS… LOG LIST OWN: runs one package's tests in the patched tree under
# the `historical-bugs` profile (a test still running after 60 s is stopped and counted,
# .config/nextest.toml), writes LOG and LIST ("0.123 relay::bug_12_…", one failing test a
# line, by time of failure), and sets the caller's counters: `tests_*` for rbee,
# `sim_*` for the simulator. OWN (may be empty): a failing test whose name contains it (the
# regression test written for this bug) is named first, else the first test to fail.
nextest() {
    local args=() log list own failed run first
    while [ $# -gt 3 ]; do args+=("$1"); shift; done
    log="$out/$1.log" list="$out/$2.txt" own=$3
    # INSTA_UPDATE=no: a snapshot that differs fails its own test and writes no `.snap.new`,
    # which the snapshot header tests running beside it would report too.
    (cd "$tree" && INSTA_UPDATE=no nice -n "$nice_level" cargo nextest run "${args[@]}" --no-fail-fast \
        --profile historical-bugs --status-level fail --final-status-level none) >"$log" 2>&1
    # "FAIL [   0.123s] (3/92) rbee::system relay::bug_12_…" → "0.123 relay::bug_12_…"
    grep -E '^ *(FAIL|TIMEOUT|SIGABRT|SIGSEGV) +\[' "$log" \
        | sed -E 's/^ *[A-Z]+ +\[ *([0-9.]+)s\] +\( *[0-9]+\/[0-9]+\) +[^ ]+ +([^ ]+).*/\1 \2/' \
        | sort -u -k2,2 | sort -n >"$list"
    failed=$(wc -l <"$list")
    run=$(grep -oE '[0-9]+ tests? run' "$log" | tail -1 | grep -oE '^[0-9]+')
    first=
    if [ -n "$own" ]; then first=$(grep -m1 -F "$own" "$list"); fi
    [ -n "$first" ] || first=$(head -1 "$list")
    first=$(echo "$first" | awk 'NF {print $2 " (" $1 " s)"}')
    if [ "${args[0]}" = "-p" ] && [ "${args[1]}" = "rbee" ]; then
        tests_failed=$failed tests_run=$run first_test=$first
    else
        sim_failed=$failed sim_run=$run first_sim=$first
    fi
}

rows=()
uncaught=0
for p in "${patches[@]}"; do
    name=$(basename "$p" .patch)
    out="$out_root/$name"
    rm -rf "$out" && mkdir -p "$out"
    (cd "$tree" && git checkout --quiet -- . && git clean --quiet -fdx)
    if ! (cd "$tree" && git apply "$root/$p"); then
        echo "$name: the patch no longer applies to HEAD; update it" >&2
        exit 2
    fi
    echo "== $name: $(head -1 "$p")"
    start=$(date +%s)
    # rbee's tests first: they build the `rbee` binary that `rbee-sim real` starts.
    if ! (cd "$tree" && nice -n "$nice_level" cargo nextest run -p rbee --no-run \
        && nice -n "$nice_level" cargo build -p rbee-sim --bin rbee-sim \
        && nice -n "$nice_level" cargo nextest run -p rbee-sim --test sim --no-run) \
        >"$out/build.log" 2>&1; then
        echo "$name: does not build (see $out/build.log)" >&2
        exit 2
    fi
    echo "build $(($(date +%s) - start)) s" >"$out/summary.txt"

    own=$(echo "$name" | grep -oE '^bug[0-9]+')
    tests_failed=0 tests_run=0 first_test=
    nextest -p rbee nextest failing-tests "${own:+bug_${own#bug}_}"

    : >"$out/failing-scenarios.txt"
    scenarios_run=0
    for f in "$tree"/scenarios/*.toml; do
        scenarios_run=$((scenarios_run + 1))
        s=$(basename "$f" .toml)
        t0=$(date +%s%N)
        timeout 120 "$CARGO_TARGET_DIR/debug/rbee-sim" replay "$f" >"$out/$s.replay" 2>&1
        rc=$?
        ms=$((($(date +%s%N) - t0) / 1000000))
        if [ $rc -ne 0 ]; then
            echo "$ms $s rc=$rc" >>"$out/failing-scenarios.txt"
        fi
    done
    scenarios_failed=$(wc -l <"$out/failing-scenarios.txt")
    # The scenario written for this bug if it fails, else the first failing one.
    first_scenario=$(grep -m1 -E "^[0-9]+ ${own}_" "$out/failing-scenarios.txt" \
        || head -1 "$out/failing-scenarios.txt")
    first_scenario=$(echo "$first_scenario" | awk 'NF {printf "%s (%.1f s)", $2, $1 / 1000}')

    sim_failed=0 sim_run=0 first_sim=
    sim_start=$(date +%s)
    nextest -p rbee-sim --test sim sim-tests failing-sim-tests ""
    echo "sim tests $(($(date +%s) - sim_start)) s" >>"$out/summary.txt"
    # A determinism failure names how the second run was made and the first entry that
    # differs; keep the first such line.
    grep -m1 -oE '(in-process|cross-process) re-run: .{0,1200}' "$out/sim-tests.log" \
        | sed 's/^/divergence: /' >>"$out/summary.txt"

    # The swarm, as `explore` runs it: failing seeds per checker, and the first of each.
    (cd "$tree" && timeout 900 nice -n "$nice_level" "$CARGO_TARGET_DIR/debug/rbee-sim" explore \
        --seeds 300 --faults --shrink-seeds 0 --recheck-every 0 --cross-process-every 0 \
        --json "$out/explore.json") >"$out/explore.txt" 2>&1
    swarm=$(python3 - "$out/explore.json" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    print("explore did not finish")
    sys.exit()
by = {}
for f in d["failures"]:
    for inv in f["violated"]:
        n, first = by.get(inv, (0, f["seed"]))
        by[inv] = (n + 1, min(first, f["seed"]))
checkers = ", ".join(f"{k} {n} (first seed {s})" for k, (n, s) in sorted(by.items()))
print(f"explore {d['failing_seeds']}/{d['seeds_run']} seeds failing" + (f": {checkers}" if checkers else ""))
PY
)
    echo "$swarm" >>"$out/summary.txt"

    row="$name: tests ${tests_failed}/${tests_run:-?} failing, e.g. ${first_test:--}; sim tests ${sim_failed}/${sim_run:-?} failing, e.g. ${first_sim:--}; scenarios ${scenarios_failed}/${scenarios_run} failing, e.g. ${first_scenario:--}; ${swarm}"
    echo "total $(($(date +%s) - start)) s" >>"$out/summary.txt"
    echo "$row" | tee -a "$out/summary.txt"
    rows+=("$row")
    if [ "$tests_failed" -eq 0 ] && [ "$sim_failed" -eq 0 ] && [ "$scenarios_failed" -eq 0 ]; then
        uncaught=$((uncaught + 1))
    fi
done

echo
echo "== historical bugs: $((${#patches[@]} - uncaught)) of ${#patches[@]} caught"
printf '%s\n' "${rows[@]}"
[ "$uncaught" -eq 0 ]
