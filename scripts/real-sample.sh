#!/usr/bin/env bash
# Runs a sample of generated scenarios against real `rbee` processes (`rbee-sim real`) and
# prints the agreement table that README.md publishes ("Against real processes").
#
#   scripts/real-sample.sh [--from S] [--count N] [--faults] [--parallel P] [--out DIR] [-- REAL-ARGS]
#
# Seeds S..S+N-1 are generated exactly as `rbee-sim generate SEED [--faults]` prints them
# (the scenarios `explore` runs). A scenario real runs cannot honour (`capacity`, `perturb`:
# `sim/src/real/support.rs`) is refused by `rbee-sim real` before anything starts and
# counted as such; every other one runs against real processes, and every job is judged by
# whether some simulated seed produces it. Each scenario, its output and its verdict are
# kept in DIR/SEED.toml, .out, .err; a seed whose jobs do not all agree is listed at the
# end with its replay line. Exit 0 when every honoured seed agrees, 1 otherwise.
#
# Defaults: --from 0 --count 600 --parallel 2 --out target/real-sample/{plain,faults}.
# P real runs share the machine: the processes of one run mostly sleep on their timers, so
# 2 on 2 cores halves the wall time (the published table was measured that way).
set -euo pipefail

from=0
count=600
faults=""
parallel=2
out=""
real_args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --from) from="$2"; shift 2 ;;
        --count) count="$2"; shift 2 ;;
        --faults) faults="--faults"; shift ;;
        --parallel) parallel="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --) shift; real_args=("$@"); break ;;
        *) echo "usage: $0 [--from S] [--count N] [--faults] [--parallel P] [--out DIR] [-- REAL-ARGS]" >&2; exit 2 ;;
    esac
done
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [[ -z "$out" ]]; then
    out="target/real-sample/$([[ -n "$faults" ]] && echo faults || echo plain)"
fi
mkdir -p "$out"
cargo build --release --workspace --locked --quiet
sim="$root/target/release/rbee-sim"

# One seed: generate, run real, write "seed rc agree jobs wall_ms refused" to DIR/SEED.res.
# Called by the `bash -c` children that xargs starts (exported below).
# shellcheck disable=SC2329
one() {
    local seed="$1" file="$out/$1.toml"
    # $faults is empty or one flag: unquoted on purpose, so that empty passes nothing.
    # shellcheck disable=SC2086
    "$sim" generate "$seed" $faults > "$file"
    local start end rc=0
    start=$(date +%s%N)
    "$sim" real "$file" "${real_args[@]}" > "$file.out" 2> "$file.err" || rc=$?
    end=$(date +%s%N)
    local refused="-" agree=0 jobs=0
    if [[ $rc -eq 2 ]] && grep -q "is not supported by real runs" "$file.err"; then
        # The backquotes are literal: the message quotes the key in them.
        # shellcheck disable=SC2016
        refused=$(grep -o '`[a-z_]*` is not supported' "$file.err" | head -1 | tr -d '`' | cut -d' ' -f1)
    else
        read -r agree jobs < <(grep -E '^[0-9]+ of [0-9]+ jobs agree' "$file.out" | awk '{print $1, $3}' || echo "0 0")
    fi
    echo "$seed $rc ${agree:-0} ${jobs:-0} $(( (end - start) / 1000000 )) $refused" > "$out/$seed.res"
}
export -f one
export out faults sim
export real_args_str="${real_args[*]:-}"
# Arrays do not cross `export`: re-split the extra arguments in the child (whose shell
# expands them, hence the single quotes).
# shellcheck disable=SC2016
seq "$from" $((from + count - 1)) | xargs -P "$parallel" -I{} bash -c 'real_args=($real_args_str); one {}'

results=$(for s in $(seq "$from" $((from + count - 1))); do cat "$out/$s.res"; done)
echo "== rbee-sim real over generated seeds $from..$((from + count - 1)) ${faults:-(no faults)}"
echo "$results" | sort -k6 | awk '
    $6 != "-" { refused[$6]++; nref++; next }
    { honoured++; jobs += $4; agree += $3; wall += $5
      if ($2 == 0) ok++; else if ($2 == 1) differ++; else cannot++
      if ($3 == $4 && $4 > 0) allagree++ }
    END {
      printf "%-28s %d\n", "seeds honoured", honoured
      for (k in refused) printf "%-28s %d\n", "seeds refused (" k ")", refused[k]
      printf "%-28s %d\n", "seeds whose jobs all agree", allagree
      printf "%-28s %d of %d\n", "jobs that agree", agree, jobs
      printf "%-28s %d / %d / %d\n", "exit 0 / 1 / 2", ok, differ, cannot
      printf "%-28s %.0f s (%.1f s per honoured seed)\n", "wall time of the real runs", wall / 1000, honoured ? wall / 1000 / honoured : 0
    }'
status=0
while read -r seed rc agree jobs _wall refused; do
    if [[ "$refused" == "-" && "$rc" != 0 ]]; then
        echo "seed $seed: exit $rc, $agree of $jobs jobs agree — $sim real $out/$seed.toml"
        status=1
    fi
done <<< "$results"
exit $status
