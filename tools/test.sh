#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, lints the API, builds
# everything and runs every test. Ends with one line "N passed, N failed"
# counting individual test cases. Exit status 0 only if all passed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

bash tools/install-deps.sh --windows --systemd --clang || { echo "0 passed, 1 failed"; exit 1; }
echo "--- install-deps: ok (${SECONDS} s)"  # where CI's time goes, step by step

failed_steps=()
passed=0
failed=0

step() {  # step NAME COMMAND...: a check that counts as one test case
  local name=$1; shift
  local start=$SECONDS
  echo "=== $name"
  if "$@"; then
    passed=$((passed + 1)); echo "--- $name: ok ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1)); failed_steps+=("$name"); echo "--- $name: FAILED ($((SECONDS - start)) s)"
  fi
}

bazel_quiet() {  # bazel ARGS...: bazel's output without its progress lines
  bazel "$@" 2>&1 | grep -v -E '^(INFO|Loading|Analyzing)' | tail -n 60
  return "${PIPESTATUS[0]}"
}

step "buf lint" buf lint

echo "=== bazel test //..."
bazel_start=$SECONDS
bazel test //... 2>&1 | grep -v -E '^(INFO|Loading|Analyzing)' | tail -n 60
bazel_rc=${PIPESTATUS[0]}
echo "--- bazel test //...: exit ${bazel_rc} ($((SECONDS - bazel_start)) s)"

# Count test cases from the JUnit XML each test wrote.
while IFS= read -r xml; do
  t=$(grep -m1 -o '<testsuites[^>]*' "$xml" | grep -o ' tests="[0-9]*"' | grep -o '[0-9]*' || echo 0)
  f=$(grep -m1 -o '<testsuites[^>]*' "$xml" | grep -o ' failures="[0-9]*"' | grep -o '[0-9]*' || echo 0)
  e=$(grep -m1 -o '<testsuites[^>]*' "$xml" | grep -o ' errors="[0-9]*"' | grep -o '[0-9]*' || echo 0)
  t=${t:-0}; f=${f:-0}; e=${e:-0}
  passed=$((passed + t - f - e))
  failed=$((failed + f + e))
done < <(find -L bazel-testlogs/ -name test.xml 2>/dev/null)
if [ "$bazel_rc" != 0 ]; then
  # A test that crashed or did not build wrote no failures into its XML.
  failed=$((failed + 1)); failed_steps+=("bazel test (exit $bazel_rc)")
fi

step "windows: mingw-w64 build of the WMI COM layer, probe under Wine" bash tools/windows-check.sh
step "deploy: systemd units verify, example scenarios load" bash tools/deploy-check.sh
step "quick start: tools/demo.sh rehearses the site plan, then fails the site over (planned)" bash tools/quickstart-check.sh
step "clang-format: every C++ file as .clang-format says" bash tools/format-check.sh
# Last, so that the steps above see the default configuration's outputs. Each
# config has its own output directory (.bazelrc): none rebuilds another's.
# --keep_going: every file clang refuses is listed, not only the first.
step "clang-14: bazel build --config=asan //... (-Wthread-safety -Werror, ASan, UBSan)" bazel_quiet build --config=asan --keep_going //...
step "asan+ubsan+lsan: bazel test --config=asan //..." bazel_quiet test --config=asan //...
step "fuzz: every libFuzzer target 10 s (clang-14, ASan, UBSan), no crash" bash tools/fuzz.sh 10

if [ "${#failed_steps[@]}" -gt 0 ]; then
  echo "Failed: ${failed_steps[*]}"
fi
echo "total: ${SECONDS} s"
echo "${passed} passed, ${failed} failed"
[ "$failed" = 0 ]
