#!/usr/bin/env bash
# Mutation testing of the system crate (`rbee`) with cargo-mutants; see docs/mutation.md.
#
#   scripts/mutants.sh                          # every module below, one after another
#   scripts/mutants.sh --shard 0/4              # a quarter of the mutants (run 0/4 .. 3/4)
#   scripts/mutants.sh --file src/hub.rs        # only hub.rs (replaces the default list)
#   scripts/mutants.sh --list                   # list the mutants, run nothing
#   scripts/mutants.sh -- --no-fail-fast        # anything after `--` goes to the test tool
#
# Every argument is passed to `cargo mutants` (so --shard k/n, --timeout, --jobs, -o DIR,
# --iterate, --test-workspace=true ... all work). If no `--file` is given, the default
# module list below is used. Settings that are decisions of the project (the oracle, the
# test tool, the equivalent mutants we skip) live in .cargo/mutants.toml.
#
# Environment:
#   MUTANTS_TIMEOUT  per-mutant test timeout in seconds (default 60: the oracle takes
#                    ~10 s; a hung mutant is bounded by the tests' own 5-15 s limits anyway)
#   MUTANTS_NICE     niceness of the whole run (default 19: it runs for hours)
set -euo pipefail
cd "$(dirname "$0")/.."

# The build must keep .cargo/config.toml's `--cfg tokio_unstable`; an inherited RUSTFLAGS
# would replace it (see .ci/run).
unset RUSTFLAGS

if ! cargo mutants --version >/dev/null 2>&1; then
    echo "cargo-mutants not found: installing it" >&2
    cargo install --locked cargo-mutants
fi

# The job pipeline: hub and registry, the job life cycle (lifecycle: its steps; node: the
# routes that take them), the stream (server: SSE out; event: wire format; sse_reader: SSE
# in), the relay, the operations (parsing and validation; the hive's handlers) and the
# narration context.
MODULES=(
    src/hub.rs
    src/registry.rs
    src/lifecycle.rs
    src/node.rs
    src/server.rs
    src/event.rs
    src/sse_reader.rs
    src/relay.rs
    src/operation.rs
    src/hive.rs
    src/context.rs
)

files=()
for arg in "$@"; do
    case "$arg" in
        --) break ;;
        --file | --file=* | -f) files=(given) ;;
    esac
done
if [ ${#files[@]} -eq 0 ]; then
    files=()
    for m in "${MODULES[@]}"; do
        files+=(--file "$m")
    done
else
    files=()
fi

timeout_args=()
case " $* " in
    *" --timeout"*) ;;
    *) timeout_args=(--timeout "${MUTANTS_TIMEOUT:-60}") ;;
esac

# Options must precede a `--` in "$@", so ours go first.
exec nice -n "${MUTANTS_NICE:-19}" cargo mutants "${files[@]}" "${timeout_args[@]}" "$@"
