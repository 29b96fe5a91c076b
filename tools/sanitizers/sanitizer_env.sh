#!/usr/bin/env bash
# Runs "$@" with LSAN_OPTIONS naming lsan.supp by an absolute path, so that a
# child process that changes directory still finds it.
set -euo pipefail
supp=""
for f in "${TEST_SRCDIR:-}/hvdr/tools/sanitizers/lsan.supp" "$0.runfiles/hvdr/tools/sanitizers/lsan.supp"; do
  if [ -f "$f" ]; then supp=$(readlink -f "$f"); break; fi
done
if [ -z "$supp" ]; then
  echo "sanitizer_env: lsan.supp not found in the runfiles" >&2
  exit 1
fi
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$supp:print_suppressions=0"
exec "$@"
