#!/usr/bin/env bash
# Re-introduces each historical bug of SPEC §10 into a throw-away copy of the repository and
# reports which tests and which simulator scenarios catch it, and how fast; see
# docs/mutation.md.
#
#   scripts/historical-bugs.sh                 # every patch in scripts/historical-bugs/
#   scripts/historical-bugs.sh bug08 bug12b    # patches whose names start with these
#
# For each patch: a detached worktree of HEAD (the checkout you run it from is never
# touched), `git apply`, then
#   1. `cargo nextest run -p rbee --no-fail-fast`: every rbee unit and system test that fails,
#      and when the first one failed (tests run in parallel from t = 0);
#   2. `rbee-sim replay` of every file in scenarios/ (the replays `cargo test` performs, one
#      process per file so each verdict is visible), with the wall time of each failing one.
# Results go to target/historical-bugs/<patch>/ (summary.txt plus every log). The last
# lines printed are one row per bug. Exit status 1 if any bug is caught by nothing.
#
# Environment: HISTORICAL_BUGS_NICE (default 10), CARGO_TARGET_DIR (default: a target
# directory of the worktree's own under target/historical-bugs, kept between runs).
set -uo pipefail
cd "$(dirname "$0")/.."
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

rows=()
uncaught=0
for p in "${patches[@]}"; do
    name=$(basename "$p" .patch)
    out="$out_root/$name"
    rm -rf "$out" && mkdir -p "$out"
    (cd "$tree" && git checkout --quiet -- . && git clean --quiet -fd)
    if ! (cd "$tree" && git apply "$root/$p"); then
        echo "$name: the patch no longer applies to HEAD; update it" >&2
        exit 2
    fi
    echo "== $name: $(head -1 "$p")"
    start=$(date +%s)
    if ! (cd "$tree" && nice -n "$nice_level" cargo nextest run -p rbee --no-run \
        && nice -n "$nice_level" cargo build -p rbee-sim --bin rbee-sim) >"$out/build.log" 2>&1; then
        echo "$name: does not build (see $out/build.log)" >&2
        exit 2
    fi
    echo "build $(($(date +%s) - start)) s" >"$out/summary.txt"

    # The profile stops a test that hangs after 60 s (.config/nextest.toml).
    (cd "$tree" && nice -n "$nice_level" cargo nextest run -p rbee --no-fail-fast \
        --profile historical-bugs --status-level fail --final-status-level none) \
        >"$out/nextest.log" 2>&1
    # "FAIL [   0.123s] (3/92) rbee::system relay::bug_12_…" → "0.123 relay::bug_12_…"
    grep -E '^ *(FAIL|TIMEOUT|SIGABRT|SIGSEGV) +\[' "$out/nextest.log" \
        | sed -E 's/^ *[A-Z]+ +\[ *([0-9.]+)s\] +\( *[0-9]+\/[0-9]+\) +[^ ]+ +([^ ]+).*/\1 \2/' \
        | sort -u -k2,2 | sort -n >"$out/failing-tests.txt"
    tests_failed=$(wc -l <"$out/failing-tests.txt")
    tests_run=$(grep -oE '[0-9]+ tests? run' "$out/nextest.log" | tail -1 | grep -oE '^[0-9]+')
    own=$(echo "$name" | grep -oE '^bug[0-9]+')
    # The regression test named after this bug if one fails, else the first to fail.
    first_test=$( (grep -m1 -E " ([a-z_]+::)*${own/bug/bug_}_" "$out/failing-tests.txt" \
        || head -1 "$out/failing-tests.txt") | awk '{print $2 " (" $1 " s)"}')

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

    row="$name: tests ${tests_failed}/${tests_run:-?} failing, e.g. ${first_test:--}; scenarios ${scenarios_failed}/${scenarios_run} failing, e.g. ${first_scenario:--}"
    echo "$row" | tee -a "$out/summary.txt"
    rows+=("$row")
    if [ "$tests_failed" -eq 0 ] && [ "$scenarios_failed" -eq 0 ]; then
        uncaught=$((uncaught + 1))
    fi
done

echo
echo "== historical bugs: $((${#patches[@]} - uncaught)) of ${#patches[@]} caught"
printf '%s\n' "${rows[@]}"
[ "$uncaught" -eq 0 ]
