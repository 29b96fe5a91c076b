#!/usr/bin/env bash
# Builds every libFuzzer target of fuzz/ (--config=fuzz: clang-14, ASan and
# UBSan) and runs each for a bounded time on a copy of its seed corpus
# (plus its past crashes, fuzz/regressions/<name>/). Fails if any fuzzer
# finds a crash, a leak, UB or a broken property; the input is kept and its
# path printed, to be fixed and added to fuzz/regressions/<name>/.
#
#   tools/fuzz.sh [seconds_per_fuzzer] [name...]   (default 20 s, all)
set -uo pipefail
cd "$(dirname "$0")/.."

secs=${1:-20}
shift || true
if [ "$#" -gt 0 ]; then
  names=("$@")
else
  names=()
  for f in fuzz/*_fuzzer.cc; do
    n=$(basename "$f" _fuzzer.cc)
    names+=("$n")
  done
fi
targets=()
for n in "${names[@]}"; do targets+=("//fuzz:${n}_fuzzer"); done

work=$(mktemp -d "${TMPDIR:-/tmp}/hvdr-fuzz.XXXXXX")
echo "fuzz: building ${#targets[@]} fuzzers (--config=fuzz)"
bazel build --config=fuzz "${targets[@]}" > "$work/build.log" 2>&1
build_rc=$?
grep -v -E '^(INFO|Loading|Analyzing|\[)' "$work/build.log" | tail -n 30
if [ "$build_rc" != 0 ]; then
  echo "fuzz: build failed (exit $build_rc); log $work/build.log"
  exit 1
fi
bin=$(bazel info --config=fuzz bazel-bin 2>/dev/null)
failed=()
for n in "${names[@]}"; do
  mkdir -p "$work/$n/corpus" "$work/$n/artifacts"
  cp -r "fuzz/corpus/$n/." "$work/$n/corpus/"
  echo "=== fuzz $n (${secs}s)"
  # stdout closed (-close_fd_mask=1): the code under test logs there.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$bin/fuzz/${n}_fuzzer" -max_total_time="$secs" -timeout=30 -rss_limit_mb=2048 \
      -close_fd_mask=1 -print_final_stats=1 -artifact_prefix="$work/$n/artifacts/" \
      "$work/$n/corpus" "fuzz/regressions/$n" > "$work/$n/log" 2>&1
  rc=$?
  grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$work/$n/log" | tail -n 2
  if [ "$rc" != 0 ]; then
    failed+=("$n")
    echo "--- fuzz $n: FAILED (exit $rc); log $work/$n/log; input(s):"
    ls "$work/$n/artifacts/"
    grep -E 'ERROR|runtime error|property broken|SUMMARY' "$work/$n/log" | head -n 5
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]} (work dir $work)"
  exit 1
fi
rm -rf "$work"
echo "fuzz: ${#names[@]} fuzzers, no crash in ${secs}s each"
