#!/usr/bin/env bash
# Runs every command of README.md's ```sh blocks, in order and in one shell, as a reader
# would after a fresh clone, and checks what the README says they print.
#
#   scripts/readme-commands.sh          # every command as written: the release build, then
#                                       # all (~10 min on 2 cores from a fresh clone)
#   scripts/readme-commands.sh --fast   # the same commands on the debug binaries that
#                                       # `cargo test --workspace` built (what .ci/run does)
#
# A command passes when it exits 0 and every expected-output line under it holds: a block's
# own-line comment right after a command (`# …`, where `…` stands for anything) must match
# a line of what that command printed. The summary that the README quotes for
# `explore --seeds 1000 --faults --require-coverage 10` must be its output, exactly.
# Commands that cannot run here are skipped, each with its reason (SKIPS below). Logs:
# target/readme-commands/.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

fast=false
case "${1:-}" in
    --fast) fast=true ;;
    "") ;;
    *) echo "usage: $0 [--fast]" >&2; exit 2 ;;
esac

logs=target/readme-commands
rm -rf "$logs"
mkdir -p "$logs"
# Stop whatever the README started in the background (hive, queen) if a command fails.
trap 'jobs -p | xargs -r kill 2>/dev/null' EXIT

# Commands that need what no machine of ours has: pattern (grep -E) and reason.
SKIPS=(
    '^git checkout <'                       'needs the commit of a GitHub Actions run'
    '^gh run download'                      'needs a GitHub Actions run and its artifact'
    'replay explore-out/seed-1234.toml'     "needs that run's failing-seed artifact"
)
if $fast; then
    SKIPS+=(
        '^cargo test --workspace --locked'  '--fast: .ci/run has just run it'
        '^cargo build --release[^&]*$'      '--fast: the debug build of cargo test stands in for it'
        'explore --seeds 4000 .*--corpus target/gc' '--fast: the corpus recipe takes minutes on a debug build'
        'distill target/gc scenarios --out corpus'  '--fast: rewrites corpus/ from the recipe above'
    )
fi

# The command a reader types, as --fast runs it: on the debug binaries, without the
# release build in front.
translate() {
    local cmd=$1
    if $fast; then
        cmd=${cmd//cargo build --release --workspace --locked && /}
        cmd=${cmd//cargo run --release -p rbee-sim --/./target/debug/rbee-sim}
        cmd=${cmd//.\/target\/release\//.\/target\/debug\/}
    fi
    printf '%s' "$cmd"
}

# Whether `line` (an expected-output comment, `…` for anything) matches a line of `file`.
expect_line() {
    local re
    re=$(printf '%s' "$1" | LC_ALL=C sed -e 's/[][\.*^$+?(){}|/]/\\&/g' -e 's/…/.*/g')
    LC_ALL=C grep -Eq "^${re}\$" "$2"
}

# The ```text block that follows the first line of README.md containing `marker`.
quoted_block() {
    awk -v marker="$1" '
        index($0, marker) { found = 1; next }
        found && /^```text$/ { inside = 1; next }
        inside && /^```$/ { exit }
        inside { print }
    ' README.md
}

pass=0 fail=0 skip=0
n=0
in_block=false
last_out=""
while IFS= read -r line; do
    # Blocks inside list items are indented.
    line=${line#"${line%%[![:space:]]*}"}
    if [[ $line == '```sh' ]]; then in_block=true; last_out=""; continue; fi
    if [[ $line == '```'* ]]; then in_block=false; continue; fi
    $in_block || continue
    [[ -z ${line// } ]] && continue
    if [[ $line == '#'* ]]; then
        # An expected-output line of the command just run (`# …` alone: anything).
        expected=${line#\# }
        if [[ -n $last_out && $expected != "…" ]]; then
            if expect_line "$expected" "$last_out"; then
                echo "  ok   prints: $expected"
            else
                echo "  FAIL prints no line like: $expected (see $last_out)"
                pass=$((pass - 1)) fail=$((fail + 1)) last_out=""
            fi
        fi
        continue
    fi
    n=$((n + 1))
    reason=""
    for ((i = 0; i < ${#SKIPS[@]}; i += 2)); do
        if grep -Eq -- "${SKIPS[i]}" <<<"$line"; then reason=${SKIPS[i + 1]}; break; fi
    done
    if [[ -n $reason ]]; then
        echo "skip [$n] $line  ($reason)"
        skip=$((skip + 1)) last_out=""
        continue
    fi
    cmd=$(translate "$line")
    out=$logs/$n.out
    err=$logs/$n.err
    echo "run  [$n] $cmd"
    if [[ $cmd == *'& '*'=$!' ]]; then
        # A daemon started in the background: it must still be running a moment later.
        eval "$cmd" >"$out" 2>"$err"
        sleep 0.5
        if kill -0 "$!" 2>/dev/null; then
            pass=$((pass + 1))
        else
            echo "  FAIL it exited at once:"; tail -5 "$err"; fail=$((fail + 1))
        fi
        last_out=""
        continue
    fi
    eval "$cmd" >"$out" 2>"$err" </dev/null
    status=$?
    # Both streams, each ending with a newline (curl's body may lack one).
    for f in "$out" "$err"; do
        cat "$f"
        if [[ -s $f && $(tail -c 1 "$f") != "" ]]; then echo; fi
    done >"$logs/$n.all"
    last_out=$logs/$n.all
    if [[ $status -ne 0 ]]; then
        echo "  FAIL exit $status:"; tail -15 "$logs/$n.all"; fail=$((fail + 1)) last_out=""
        continue
    fi
    pass=$((pass + 1))
    if [[ $line == *'explore --seeds 1000 --faults --require-coverage 10' ]]; then
        quoted=$logs/$n.quoted
        quoted_block '--require-coverage 10` passes' >"$quoted"
        if [[ -s $quoted ]] && diff -u "$quoted" "$out" >"$logs/$n.diff"; then
            echo "  ok   prints the summary the README quotes"
        else
            echo "  FAIL the summary differs from the README's (diff: $logs/$n.diff)"
            head -20 "$logs/$n.diff"
            pass=$((pass - 1)) fail=$((fail + 1))
        fi
    fi
done <README.md

echo "readme: $pass passed, $fail failed, $skip skipped"
[[ $fail -eq 0 ]]
