#!/usr/bin/env bash
# The benchmark suite: builds optimized binaries and runs bench/drbench,
# which prints one table (ceilings and product figures, median/min/max of
# several runs, and the targets) and writes the same numbers to
# bench-results.json. Extra flags go to drbench (e.g. --quick, --runs=5,
# --only=fanout).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
bazel build -c opt --noshow_progress //server:drserver //hvagent:hvagent //bench:noop_server //bench:drbench
BIN=$(bazel info -c opt bazel-bin 2>/dev/null)
exec "$BIN/bench/drbench" --bin_dir="$BIN" --json="$(pwd)/bench-results.json" "$@"
